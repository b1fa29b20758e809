"""Every standard-library function runs its documented examples, through the compiler and without it."""

from __future__ import annotations

import json

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
            assert callable(getattr(runtime, fn.name)), fn.name


def test_helpers_never_raise_on_odd_input():
    odd = [MISSING, None, True, 0, -1.5, float("nan"), "", "x", [], [1], {}, {"a": 1}]
    for fn in stdlib.FUNCTIONS.values():
        if fn.name in stdlib.INLINE or fn.name == "matches":
            continue
        helper = getattr(runtime, fn.name)
        lo, hi = fn.arity()
        for a in odd:
            for b in odd:
                for n in range(lo, hi + 1):
                    helper(*[a, b, a][:n])


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
