"""Every standard-library function runs its documented examples, through the compiler and without it."""

from __future__ import annotations

import json
import re

import pytest

from mapspec import runtime, stdlib
from mapspec.syntax.ast import MISSING
from tests.conftest import compile_text

EXAMPLES = [(fn.name, expr, want) for fn in stdlib.FUNCTIONS.values() for expr, want in fn.examples]


def evaluate(expr: str):
    """The value of an expression, via a one-rule mapping that sends it (folded or not)."""
    text = (
        "name: eval\n"
        "base_url: '\"http://x\"'\n"
        "rules:\n"
        "  - send:\n"
        "      endpoint: /users/track\n"
        "      body:\n"
        "        attributes:\n"
        "          - external_id: '\"u1\"'\n"
        f"            value: {json.dumps(expr)}\n"
    )
    result = compile_text(text)({"v": 1})[0]["body"]["attributes"][0]
    return result.get("value", MISSING)


@pytest.mark.parametrize("name,expr,want", EXAMPLES, ids=[f"{n}:{e}" for n, e, _ in EXAMPLES])
def test_examples(name, expr, want):
    assert evaluate(expr) == want


def test_every_function_has_an_example_and_a_helper():
    for fn in stdlib.FUNCTIONS.values():
        assert fn.examples, fn.name
        if fn.name not in stdlib.INLINE:
            assert callable(getattr(runtime, fn.helper)), fn.name
            assert fn.helper in runtime.DEPS, f"{fn.helper} needs its DEPS entry, for the standalone module"


ODD = [MISSING, None, True, 0, -1, -1.5, 1e308, float("nan"), float("inf"), 10 ** 30, "", "x", "\ud800", [], [1],
       {}, {"a": 1}, [[[]]]]


def test_strict_functions_give_missing_for_a_missing_first_argument():
    """The generated code calls a strict function's helper only when its first argument is there: each one
    marked so gives missing for a missing first argument whatever the others are."""
    strict = [fn for fn in stdlib.FUNCTIONS.values() if fn.strict and fn.name not in stdlib.INLINE]
    assert len(strict) > 25 and not stdlib.FUNCTIONS["coalesce"].strict
    for fn in strict:
        helper = getattr(runtime, fn.helper)
        lo, hi = fn.arity()
        assert hi >= 1, fn.name
        for n in range(max(lo, 1), min(hi, 3) + 1):
            for b in ODD:
                args = [MISSING] + [re.compile("x") if fn.param(i).regex else b for i in range(1, n)]
                assert helper(*args) is MISSING, (fn.name, args)


def test_functions_give_back_the_values_they_say_they_pass_as_they_are():
    """A function's `passes` kinds skip its helper in the generated code (a class test instead): the helper
    gives each such value back, the very object, and the class test is the kind's."""
    passing = [fn for fn in stdlib.FUNCTIONS.values() if fn.passes]
    assert passing and all(fn.arity()[0] == 1 for fn in passing)
    samples = {"str": ["", "x", "\ud800", " 1 ", "1.0", "true"], "int": [0, -1, 10 ** 30], "float": [1.5, 1e308],
               "list": [[], [1]], "object": [{}, {"a": 1}]}
    for fn in passing:
        helper = getattr(runtime, fn.helper)
        for kind in fn.passes:
            for value in samples[kind]:
                assert helper(value) is value, (fn.name, value)


def test_helpers_never_raise_on_odd_input():
    for fn in stdlib.FUNCTIONS.values():
        if fn.name in stdlib.INLINE:
            continue
        helper = getattr(runtime, fn.helper)
        lo, hi = fn.arity()
        for a in ODD:
            for b in ODD:
                for n in range(lo, min(hi, 3) + 1):
                    args = [a, b, a][:n]
                    for i in range(n):
                        param = fn.param(i)
                        if param is not None and param.regex:  # always compiled, from a written-out pattern
                            args[i] = re.compile(r"(\d)(?P<x>a)?")
                    helper(*args)


@pytest.mark.parametrize("text,expected", [
    ("2015-01-01", "2015-01-01T00:00:00.000Z"),
    ("2015-01-01T10:00:00Z", "2015-01-01T10:00:00.000Z"),
    ("2015-01-01T10:00:00.123456789+02:00", "2015-01-01T08:00:00.123Z"),
    ("2015-01-01 10:00", "2015-01-01T10:00:00.000Z"),
    ("2015-01-01T10:00:00-0530", "2015-01-01T15:30:00.000Z"),
    (1420070400000, "2015-01-01T00:00:00.000Z"),
    ("2015-13-01", MISSING), ("yesterday", MISSING), (True, MISSING), (None, MISSING),
])
def test_time_parsing(text, expected):
    assert runtime.iso_time(text) == expected


def test_truthiness_is_javascripts():
    assert [runtime.truthy(v) for v in ([], {}, "0", float("nan"), 0.0, "", None, MISSING)] == [
        True, True, True, False, False, False, False, False]


def test_equality_is_strict():
    assert not runtime.eq(True, 1) and not runtime.eq("1", 1) and runtime.eq(1, 1.0)


def _written_time_by_every_format(s):
    """What parse_time read from written-out text before it learned to rule formats out: RFC 2822, then
    every strptime format in turn. The fast path must read exactly this."""
    import datetime
    import email.utils

    try:
        t = email.utils.parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        t = None
    if t is not None:
        return t.replace(tzinfo=datetime.UTC) if t.tzinfo is None else t.astimezone(datetime.UTC)
    for fmt in runtime._WRITTEN_FORMATS:
        try:
            return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.UTC)
        except ValueError:
            continue
    return MISSING


_PIECES = ["1991", "26", "9", "09", "1", "31", "12", "2015", "00", "59", "٢٦", "١٩٩١", "September", "Sep", "sept",
           "SEPTEMBER", "Thu", "Jan", "GMT", "+0200", "-0000", "EST", "Z", "not", "a", "date", "N/A", " ", "  ", ", ",
           ",", "/", ":", "-", ".", "T", "\t", "ſeptember", "_"]


@pytest.mark.parametrize("text", [
    "not a date", "", "N/A", "unknown", "May 1990", "17/05/1990", "05/17/1990", "1991/09/26", "1991/9/26 10:00:00",
    "09/26/1991 23:59:59", "September 26, 1991", "Sep 26 1991", "26 September 1991", "26 Sep 1991",
    "Thu, 01 Jan 2015 00:00:00 GMT", "01 Jan 2015 00:00 +0200", "Thu, 01-Jan-2015 00:00:00 GMT",
    "September 26,1991", "1991/09/26T10:00:00", "September  26,  1991", "sept 26, 1991", "SEP 26 1991",
    "1991/02/30", "٢٦ Sep ١٩٩١", "26\tSep\t1991", "Sep 1991 26", "1 2", "1/2", "1:2", "Sep 1 1991", "1 Sep 1991",
    "9/1/1991", "Thu, 1 Jan 15 0:0 GMT",
])
def test_written_times_read_as_every_format_would(text):
    assert runtime._parse_written_time(text) == _written_time_by_every_format(text)


def test_written_times_read_as_every_format_would_on_random_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=1000, deadline=None, derandomize=True)
    @given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join) | st.text(max_size=20))
    def check(text):
        assert runtime._parse_written_time(text) == _written_time_by_every_format(text)

    check()


def test_iso_time_is_iso8601_of_parse_time():
    """iso_time takes short cuts for the common text; it must give what its definition gives."""
    import datetime

    from hypothesis import given, settings
    from hypothesis import strategies as st

    zones = st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+02:00", "-05:30", "+0530", "+14:00", "-12:00", " Z"])

    @settings(max_examples=2000, deadline=None, derandomize=True)
    @given(st.datetimes(min_value=datetime.datetime(2, 1, 1), max_value=datetime.datetime(9998, 12, 31)), zones,
           st.sampled_from(["T", " "]), st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]))
    def check(t, zone, sep, spec):
        text = t.isoformat(sep=sep, timespec=spec) + zone
        assert runtime.iso_time(text) == runtime.iso8601(runtime.parse_time(text)), text

    check()


def test_new_helpers_survive_hostile_values():
    """Integers beyond a double, values nested thousands deep, texts whose replacement would take gigabytes:
    missing, never an exception (not even MemoryError)."""
    deep: list = []
    node = deep
    for _ in range(3000):
        node.append({"k": []})
        node = node[0]["k"]
    huge = 10 ** 5000
    assert runtime.round_number(huge) is MISSING and runtime.floor_number(-huge) is MISSING
    assert runtime.max_number(1, huge) is MISSING and runtime.abs_number(2 ** 1023) == 2 ** 1023
    assert runtime.to_json(deep) is MISSING and runtime.flatten(deep, ".") is MISSING
    assert runtime.flatten({"a": {"b": 1}}, "x" * 200_000) is MISSING  # keys of gigabytes
    assert runtime.json_decode("[" * 100_000 + "]" * 100_000) is MISSING
    assert runtime.json_decode("1" * 5000) is MISSING  # more digits than Python reads as an integer
    long = "ab" * 50_000
    assert runtime.ireplace(long, "", "x" * 1000) is MISSING and runtime.ireplace(long, "B", "c") == "ac" * 50_000
    assert runtime.regex_replace(long, re.compile("(?=(.*))"), r"\1") is MISSING  # n²/2 characters
    assert runtime.regex_replace(long, re.compile("b"), r"[\g<0>]", 2) == "a[b]a[b]" + "ab" * 49_998


def test_iso_time_gives_text_already_in_brazes_form_as_it_is_and_reads_the_rest():
    """iso_time returns text already written YYYY-MM-DDTHH:MM:SS.sssZ without formatting it again: the same
    text formatting gives, for every such time; text that only looks like it (a week date, an hour 24, a
    day 30 of February) is read, or missing, as before."""
    import datetime
    import random

    rng = random.Random(3)
    for _ in range(3000):
        t = datetime.datetime(rng.randrange(1, 10000), rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24),
                              rng.randrange(60), rng.randrange(60), rng.randrange(1000) * 1000)
        text = t.isoformat(timespec="milliseconds") + "Z"
        assert runtime.iso_time(text) == text == runtime.iso8601(runtime.parse_time(text))
    for text in ("2024-W18-3T12:00:00.000Z", "2024-05-01T24:00:00.000Z", "2024-02-30T12:00:00.000Z",
                 "2024-05-01 12:00:00.000Z", "2024-05-01T12:00:00,123Z", "2024-05-01T12:00:00.123z",
                 "+024-05-01T12:00:00.000Z", "2024-05-01T12:00:00.1234Z"):
        assert runtime.iso_time(text) == runtime.iso8601(runtime.parse_time(text)), text
