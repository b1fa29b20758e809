"""A translator never fails on event data: whatever an event holds, it returns requests or raises Rejected.

The helpers generated code calls are tried on the values that broke them (times at the ends of the calendar
with offsets, integers of hundreds of digits, values nested a thousand deep), and the bundled mappings on
random hostile events (hypothesis).
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mapspec
from mapspec import runtime
from mapspec.runtime import MISSING
from tests.conftest import ROOT, inproc


def nested(depth: int, leaf=1, kind=list):
    value = leaf
    for _ in range(depth):
        value = [value] if kind is list else {"a": value}
    return value


EDGE_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+14:00",
              "9999-12-31T23:59:59.999999-14:00", "0001-01-01", "9999-12-31", "0001-01-01T00:30:00 +01:00",
              "9999-12-31 23:59:59-0100", "Mon, 01 Jan 0001 00:00:00 +0100", "Fri, 31 Dec 9999 23:59:59 -0100"]


@pytest.mark.parametrize("value", EDGE_TIMES)
def test_times_at_the_ends_of_the_calendar_give_missing_or_a_time(value):
    for helper in (runtime.iso_time, runtime.parse_time):
        out = helper(value)
        assert out is MISSING or out is not None
    assert runtime.format_time(runtime.parse_time(value), "%Y-%m-%d") is not None


@pytest.mark.parametrize("value", [10**400, -(10**400), 10**20, 2**63, -(2**63) - 1, 1e308, -1e308, float("inf"),
                                   float("nan"), 8.64e15, 8.64e15 + 1], ids=lambda v: repr(v)[:24])
def test_huge_timestamps_give_missing_or_a_time(value):
    assert runtime.iso_time(value) is MISSING or isinstance(runtime.iso_time(value), str)
    assert runtime.parse_time(value) is MISSING or runtime.parse_time(value).year >= 1


@pytest.mark.parametrize("depth", [999, 1000, 5000])
def test_deep_values_as_text_are_missing_not_an_error(depth):
    deep = nested(depth)
    assert runtime.to_string(deep) is MISSING
    assert runtime.text(deep) is MISSING
    assert runtime.to_json(deep) is MISSING
    assert runtime.template(["g-", ""], [deep]) is MISSING
    assert runtime.join([deep, "a"], ",") == "a"
    assert isinstance(runtime.js_string(deep), str) or runtime.js_string(deep) is MISSING
    assert runtime.eq(deep, nested(depth)) in (True, False)
    assert runtime.member(deep, [nested(depth)]) in (True, False)


def test_shallow_values_still_convert():
    assert runtime.to_string([1, {"a": "é"}]) == '[1,{"a":"é"}]'
    assert runtime.to_json({"b": 1, "a": [True, None]}) == '{"b":1,"a":[true,null]}'  # JSON.stringify: keys in their order
    assert runtime.js_string([1, [2, None]]) == "1,2,"


def test_arithmetic_never_makes_a_number_json_cannot_carry():
    assert runtime.arith("*", 1e308, 10) is MISSING  # inf
    assert runtime.add(1e308, 1e308) is MISSING
    assert runtime.neg(float("inf")) is MISSING
    assert runtime.arith("*", 10**400, 1.5) is MISSING  # too large to become a float
    assert runtime.arith("*", 2**40, 2**40) == 2**80  # integers stay exact (run refuses to send one beyond 64 bits)
    assert runtime.add(2**63 - 1, 0) == 2**63 - 1
    assert runtime.arith("/", 1, 3) == 1 / 3
    assert runtime.to_number("1" * 30) == int("1" * 30)
    assert runtime.to_number(float("nan")) is MISSING
    assert runtime.to_number("12") == 12


def test_other_helpers_on_extreme_arguments():
    assert runtime.split("a,b,c", ",", 10**400) == ["a", "b", "c"]
    assert runtime.slice("abc", 10**400) == ""
    assert runtime.slice("abc", -(10**400), 10**400) == "abc"
    assert runtime.text(10**5000) == "Infinity"  # more digits than Python writes: JavaScript's Infinity
    assert runtime.js_string(-(10**5000)) == "-Infinity"
    assert runtime.format_time(runtime.parse_time("2024-01-01"), "%Y\ud800") is MISSING


# ------------------------------------------------------------------ the bundled mappings on hostile events

SETTINGS = {
    "segment-braze": [{}, {"track_all_pages": True, "app_id": "a", "log_purchase_when_revenue_present": True}],
    "segment-classic": [json.loads((ROOT / "mappings/examples/segment-classic.settings.json").read_text())],
}
TRANSLATORS = [(name, mapspec.load(name, s)) for name, options in SETTINGS.items() for s in options]


def _outcome(translate, event):
    try:
        return translate(event)
    except mapspec.Rejected as e:
        return e


@pytest.mark.parametrize("name,translate", TRANSLATORS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TRANSLATORS)])
@pytest.mark.parametrize("case", ["timestamp", "receivedAt", "birthday", "groupId", "deep everywhere"])
def test_the_events_from_the_issue(name, translate, case):
    for bad in [*EDGE_TIMES, 10**400, -(10**400), nested(1000), nested(1000, kind=dict), "\ud800", float("nan")]:
        if case == "timestamp":
            event = {"type": "track", "userId": "u", "event": "E", "timestamp": bad}
        elif case == "receivedAt":
            event = {"type": "page", "userId": "u", "name": "Home", "receivedAt": bad}
        elif case == "birthday":
            event = {"type": "identify", "userId": "u", "traits": {"birthday": bad, "name": bad, "gender": bad}}
        elif case == "groupId":
            event = {"type": "group", "userId": "u", "groupId": bad, "traits": {"n": bad}}
        else:
            event = {"type": "track", "userId": bad, "event": bad, "properties": {"products": [bad, {"price": bad}]},
                     "timestamp": bad, "integrations": {"Braze": {"braze_id": bad}}}
        _outcome(translate, event)  # returns or raises Rejected, nothing else


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**60), max_value=10**60),
    st.sampled_from([10**400, -(2**63) - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(EDGE_TIMES + ["2024-05-01T12:00:00Z", "", "Order Completed", "\ud800", "track", "u1"]),
)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["price", "quantity", "product_id", "id", "sku", "currency", "revenue", "name", "birthday", "gender",
         "email", "firstName", "x", "time", "event_name"]) | st.text(max_size=5), inner, max_size=5)),
    max_leaves=20)


@st.composite
def hostile_events(draw):
    event = draw(st.dictionaries(st.sampled_from(
        ["userId", "anonymousId", "event", "name", "category", "groupId", "previousId", "timestamp", "receivedAt",
         "properties", "traits", "context", "integrations"]), json_value, max_size=8))
    event["type"] = draw(st.sampled_from(["identify", "track", "page", "screen", "group", "alias", "delete", "x"])
                         | json_value)
    if draw(st.booleans()):
        event["userId"] = draw(st.sampled_from(["u1", "", "0"]) | json_value)
    if event["type"] == "track" and draw(st.booleans()):
        event["event"] = draw(st.sampled_from(["Order Completed", "completed_order", "Signed Up"]))
        event["properties"] = draw(st.fixed_dictionaries({"products": st.lists(json_value, max_size=3)},
                                                         optional={"revenue": json_value, "currency": json_value,
                                                                   "price": json_value}))
    if draw(st.integers(0, 9)) == 0:
        key = draw(st.sampled_from(["properties", "traits", "groupId", "timestamp", "userId"]))
        event[key] = nested(draw(st.integers(900, 1100)), leaf=draw(json_leaf),
                            kind=draw(st.sampled_from([list, dict])))
    return event


@settings(max_examples=int(os.environ.get("MAPSPEC_PROPERTY_EXAMPLES", 150)), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(event=hostile_events())
def test_translators_never_fail_on_event_data(event):
    for _, translate in TRANSLATORS:
        out = _outcome(translate, event)
        if isinstance(out, list):
            for request in out:
                assert isinstance(request["url"], str) and isinstance(request["body"], dict)



# ------------------------------------------------------------------ the commands on hostile events

HOSTILE_LINES = [  # four events, six lines that are not events (mapspec.jsonio's rule), two events
    b'{"type":"track","userId":"u","event":"E","timestamp":"0001-01-01T00:00:00+01:00"}',
    b'{"type":"identify","userId":"u","traits":{"birthday":"9999-12-31T23:59:59-01:00"}}',
    b'{"type":"track","userId":"u","event":"E","timestamp":"+275760-09-13T00:00:00Z"}',
    b'{"type":"group","userId":"u","groupId":' + b"[" * 900 + b"1" + b"]" * 900 + b"}",
    b'{"type":"identify","userId":"u","traits":{"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
    b'{"type":"identify","userId":"\\ud800"}',
    b'{"type":"identify","userId":"u","traits":{"score":NaN}}',
    b'{"type":"identify","userId":"u","traits":{"score":Infinity}}',
    b'{"type":"identify","userId":"u","traits":{"score":1e400}}',
    b'{"type":"track","userId":"u","event":"E","timestamp":' + b"9" * 400 + b"}",
    b'{"type":"identify","userId":"u","traits":{"id":18446744073709551615}}',
    b'{"type":"identify","userId":"u","traits":{"id":"123456789012345678901234"}}',
]


@pytest.mark.parametrize("codec", ["orjson", "stdlib"])
def test_translate_goes_through_every_hostile_line(codec, monkeypatch):
    from mapspec import jsonio

    if codec == "stdlib":
        monkeypatch.setattr(jsonio, "_orjson", None)
        monkeypatch.setattr(jsonio, "fast_dumps", jsonio._no_fast)
    proc = inproc("translate", "-", input=b"\n".join(HOSTILE_LINES) + b"\n")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == len(HOSTILE_LINES)
    kinds = [next(iter(o)) for o in out]
    assert kinds == ["rejected", "requests", "rejected", "requests"] + ["error"] * 6 + ["requests"] * 2, out
    assert out[0]["rejected"]["message"].startswith("the event has no time Braze can read")  # before the year 1
    assert "dob" not in out[1]["requests"][0]["body"]["attributes"][0]  # after 9999: no birthday
    assert out[3]["requests"][0]["body"]["attributes"][0]["external_id"] == "u"
    messages = [o["error"]["message"] for o in out[4:10]]
    assert "nested deeper" in messages[0] and "surrogate" in messages[1]
    assert "NaN is not a number JSON allows" in messages[2] and "Infinity is not" in messages[3]
    assert "1e400 is beyond the range of a double" in messages[4]
    assert "999999999999...999999 (400 characters) is beyond 64 bits" in messages[5]
    assert out[10]["requests"][0]["body"]["attributes"][0]["id"] == 18446744073709551615  # 64 bits: exact
    assert out[11]["requests"][0]["body"]["attributes"][0]["id"] == "123456789012345678901234"


def test_explain_and_diff_take_hostile_events(tmp_path):
    for line in HOSTILE_LINES[:4]:
        (tmp_path / "e.json").write_bytes(line)
        proc = inproc("explain", "segment-braze", "--event", str(tmp_path / "e.json"))
        assert proc.returncode == 0 and b"decided" in proc.stdout, proc.stderr.decode()[-2000:]
    for line in HOSTILE_LINES[4:10]:
        (tmp_path / "e.json").write_bytes(line)
        proc = inproc("explain", "segment-braze", "--event", str(tmp_path / "e.json"))
        assert proc.returncode == 2 and b"is not one JSON event" in proc.stderr and b"Traceback" not in proc.stderr
    (tmp_path / "events.ndjson").write_bytes(b"\n".join(HOSTILE_LINES) + b"\n")
    for fmt in ("text", "json"):
        proc = inproc("diff", "segment-classic", "segment-braze", "--events", str(tmp_path / "events.ndjson"),
                      "--old-settings", str(ROOT / "mappings/examples/segment-classic.settings.json"), "--format", fmt)
        assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]


def test_a_translator_that_fails_is_shown_failing_not_a_traceback(monkeypatch):
    from mapspec import diff
    from mapspec.compiler import compile_source, load_compiled, read_mapping
    from mapspec.explain import explain_report

    def broken(x):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(runtime, "iso_time", broken)
    compiled = compile_source(read_mapping("segment-braze"), {}, standalone=False)
    event = {"type": "track", "userId": "u", "event": "E", "timestamp": "2024-05-01T00:00:00Z"}
    text, failed = explain_report(compiled, event)
    assert failed and "the translator failed on this event: ZeroDivisionError: a bug" in text
    monkeypatch.undo()
    good = load_compiled(compiled)
    monkeypatch.setattr(runtime, "iso_time", broken)
    result = diff.behaviour(good, load_compiled(compiled), [(1, event), (2, {"type": "alias", "userId": "u"})])
    assert result.differing == 1 and result.outcomes == {"newly failing": 1}


def test_to_number_takes_decimal_text_only():
    for text, number in [("12", 12), (" -1.5 ", -1.5), ("+7", 7), ("1e3", 1000.0), (".5", 0.5), ("5.", 5.0)]:
        assert runtime.to_number(text) == number and type(runtime.to_number(text)) is type(number), text
    # Python's int() and float() take these; they are not numbers in an event
    for text in ["1_000", "nan", "Infinity", "-inf", "١٢", "１２", "0x10", "", " ", "12abc", "1e400", "9" * 5000]:
        assert runtime.to_number(text) is MISSING, text


def test_a_time_is_written_in_ascii_digits():
    assert runtime.iso_time("2024-01-01T10:00:00Z") == "2024-01-01T10:00:00.000Z"
    # Python's fromisoformat takes Arabic-Indic digits; no JavaScript Date does
    assert runtime.iso_time("٢٠٢٤-٠١-٠١T10:00:00Z") is MISSING
    assert runtime.parse_time("２０２４-01-01") is MISSING


def test_an_integer_beyond_64_bits_among_many_lines_is_still_refused():
    """translate tests a block of lines at once for the runs of digits orjson would round: the one line that
    holds one is refused, the lines around it (in the same block) are translated."""
    good = b'{"type":"identify","userId":"u","traits":{"n":12345678901234567}}'
    bad = b'{"type":"identify","userId":"u","traits":{"n":123456789012345678901}}'
    lines = [good] * 500 + [bad] + [good] * 500
    proc = inproc("translate", "-", input=b"\n".join(lines) + b"\n")
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == 1001 and ["error" in o for o in out].count(True) == 1 and "error" in out[500]
    assert "beyond 64 bits" in out[500]["error"]["message"]
    assert out[0]["requests"][0]["body"]["attributes"][0]["n"] == 12345678901234567
