"""Numbers and JSON written as JavaScript writes them, checked against node's own output.

`tests/data/js_numbers.txt` and `tests/data/js_json.ndjson` were written by node (`node
tests/data/js_numbers.mjs`): over 10,000 doubles of every magnitude with their `String(x)` and
`JSON.stringify(x)`, and 1,000 nested values with their `JSON.stringify`."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mapspec import runtime
from tests.conftest import compile_text

DATA = Path(__file__).resolve().parent / "data"


def doubles() -> list[tuple[float, str, str]]:
    out = []
    for line in (DATA / "js_numbers.txt").read_text(encoding="utf-8").splitlines():
        bits, string, stringified = line.split(" ")
        out.append((struct.unpack(">d", bytes.fromhex(bits))[0], string, stringified))
    return out


DOUBLES = doubles()
VALUES = [json.loads(line) for line in (DATA / "js_json.ndjson").read_text(encoding="utf-8").split("\n") if line]

TEXTS = """
name: texts
base_url: '"http://x"'
rules:
  - send:
      endpoint: /users/track
      body:
        attributes:
          - external_id: '"u"'
            to_string: to_string(properties.x)
            js_string: js_string(properties.x)
            template: '"<{properties.x}>"'
            join: join([properties.x, properties.x], ",")
            to_json: to_json(properties.x)
            in_list: to_json([properties.x])
"""


def test_the_data_is_what_the_issue_asks_for():
    assert len(DOUBLES) >= 10_000
    assert {(0.000001, "0.000001"), (1e-7, "1e-7"), (1.2345678901234568e20, "123456789012345680000"),
            (1e21, "1e+21")} <= {(x, s) for x, s, _ in DOUBLES}


def test_numbers_as_text_match_javascript_in_every_form():
    translate = compile_text(TEXTS)
    wrong = []
    for x, string, stringified in DOUBLES:
        [req] = translate({"properties": {"x": x}})
        got = req["body"]["attributes"][0]
        want = {"external_id": "u", "to_string": string, "js_string": string, "template": f"<{string}>", "join": f"{string},{string}",
                "to_json": stringified, "in_list": f"[{stringified}]"}
        if got != want:
            wrong.append((x, got, want))
    assert not wrong, wrong[:5]


def test_integers_beyond_double_precision_are_written_as_javascript_holds_them():
    # JSON.parse gives JavaScript a double for every number: 2**53 + 1 is 9007199254740992 there
    assert runtime.number_text(2 ** 53 + 1) == "9007199254740992"
    assert runtime.number_text(10 ** 21) == "1e+21"
    assert runtime.number_text(-(10 ** 400)) == "-Infinity"
    assert runtime.json_text(10 ** 400) == "null"


def test_json_matches_json_stringify():
    wrong = [(v, runtime.to_json(v), want) for v, want in VALUES if runtime.to_json(v) != want]
    assert not wrong, wrong[:3]


def test_json_keeps_key_order_and_never_fails_on_deep_values():
    assert runtime.to_json({"b": 1.0, "a": {"d": [], "c": None}}) == '{"b":1,"a":{"d":[],"c":null}}'
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    assert runtime.to_json(deep) is runtime.MISSING
    assert runtime.text(deep) is runtime.MISSING


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers(value):
    assert runtime.to_json(value) == "null" and runtime.to_json([value]) == "[null]"
    assert runtime.number_text(value) in ("NaN", "Infinity", "-Infinity")
