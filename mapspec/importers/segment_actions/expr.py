"""Building mapspec expression text with the fewest parentheses.

An `E` is a piece of expression text and how tightly it binds; the constructors below put a child in
parentheses only when it binds more loosely than its place needs. Strings are written as mapspec
literals (double-quoted with `{{` for braces, or single-quoted when that reads better), names as
paths when they are names and as `["key"]` otherwise.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

# binding strength, loosest first (the grammar's levels)
COND, ELSE, OR, AND, NOT, CMP, WITHOUT, SUM, PRODUCT, UNARY, ATOM = range(11)

#: words a bare name may not be (they can still be read after a dot)
KEYWORDS = frozenset({"and", "or", "not", "in", "if", "else", "without", "true", "false", "null", "missing",
                      "settings", "for"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class E:
    text: str
    prec: int = ATOM

    def at(self, prec: int) -> str:
        """The text, in parentheses when it binds more loosely than `prec`."""
        return f"({self.text})" if self.prec < prec else self.text

    def __str__(self) -> str:
        return self.text


MISSING = E("missing")
TRUE = E("true")
FALSE = E("false")
NULL = E("null")


def is_name(key: str) -> bool:
    return bool(_NAME.match(key))


def dq(s: str) -> str:
    """A double-quoted mapspec string: JSON escapes, and braces doubled (they would interpolate)."""
    return json.dumps(s, ensure_ascii=False).replace("{", "{{").replace("}", "}}")


def sq(s: str) -> str:
    """A single-quoted mapspec string, taken as written: only a quote and a backslash are escaped."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def string(s: str) -> E:
    """A string literal, in the quotes that read best."""
    if ("\\" in s or '"' in s) and "\n" not in s and not any(ord(c) < 32 for c in s):
        return E(sq(s))
    return E(dq(s))


def number(n: int | float) -> E:
    if isinstance(n, float):
        if not math.isfinite(n):
            raise ValueError("not a JSON number")
        if n.is_integer() and abs(n) < 1e16:
            text = str(int(n))
        else:
            text = repr(n)
    else:
        text = str(n)
    if text.startswith("-"):
        return E(text, UNARY)
    return E(text)


def literal(value) -> E:
    """A JSON value as a literal expression."""
    if value is None:
        return NULL
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, list):
        return lst([literal(v) for v in value])
    if isinstance(value, dict):
        return obj([(k, literal(v)) for k, v in value.items()])
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def key_text(key: str) -> str:
    """An object key: a name as it is, anything else quoted."""
    if is_name(key):
        return key
    return dq(key) if not ("\\" in key or '"' in key) else sq(key)


def path(root: E | None, steps: list[str | int] | tuple[str | int, ...]) -> E:
    """A path from the event (`root` None) or from an expression."""
    out = root.at(ATOM) if root is not None else ""
    for step in steps:
        if isinstance(step, int):
            if not out:
                out = "$event"
            out += f"[{step}]"
        elif is_name(step):
            out += f".{step}" if out else (step if step not in KEYWORDS else f"$event.{step}")
        else:
            if not out:
                out = "$event"
            out += f"[{string(step).text}]"
    return E(out or "$event")


def var(name: str) -> E:
    return E("$" + name)


def call(name: str, *args: E) -> E:
    return E(f"{name}({', '.join(a.text for a in args)})")


def lst(items: list[E]) -> E:
    return E("[" + ", ".join(i.text for i in items) + "]")


def obj(entries: list[tuple[str | None, E]]) -> E:
    """An object: (key, value) pairs; a None key spreads the value."""
    parts = []
    for k, v in entries:
        if k is None:
            parts.append(f"...{v.at(ATOM)}")
        else:
            parts.append(f"{key_text(k)}: {v.text}")
    return E("{" + ", ".join(parts) + "}")


def binary(op: str, a: E, b: E) -> E:
    if op in ("or", "and"):
        p = OR if op == "or" else AND
        return E(f"{a.at(p)} {op} {b.at(p)}", p)  # associative: no parentheses needed on either side
    if op in ("==", "!=", "<", "<=", ">", ">=", "in", "not in"):
        return E(f"{a.at(WITHOUT)} {op} {b.at(WITHOUT)}", CMP)
    if op == "without":
        return E(f"{a.at(WITHOUT)} without {b.at(SUM)}", WITHOUT)
    if op in ("+", "-"):
        return E(f"{a.at(SUM)} {op} {b.at(PRODUCT)}", SUM)
    if op in ("*", "/", "%"):
        return E(f"{a.at(PRODUCT)} {op} {b.at(UNARY)}", PRODUCT)
    raise ValueError(op)


def eq(a: E, b: E) -> E:
    return binary("==", a, b)


def ne(a: E, b: E) -> E:
    return binary("!=", a, b)


#: a longer chain of `and` or `or` is written as halves in parentheses, so that its depth grows with the log
#: of its length (a mapping's expressions may nest only so deep)
CHAIN = 8


def _chain(op: str, items: tuple[E, ...]) -> E:
    if len(items) > CHAIN:
        half = len(items) // 2
        p = OR if op == "or" else AND
        return E(f"({_chain(op, items[:half]).text}) {op} ({_chain(op, items[half:]).text})", p)
    out = items[0]
    for i in items[1:]:
        out = binary(op, out, i)
    return out


def and_(*items: E) -> E:
    items = tuple(i for i in items if i is not TRUE)
    if not items:
        return TRUE
    return _chain("and", items)


def or_(*items: E) -> E:
    return _chain("or", items)


def not_(a: E) -> E:
    if a is TRUE:
        return FALSE
    if a is FALSE:
        return TRUE
    return E(f"not {a.at(NOT)}", NOT)


def neg(a: E) -> E:
    return E(f"-{a.at(UNARY)}", UNARY)


def coalesce(*items: E) -> E:
    """`a else b else c`: the first neither missing nor null."""
    if len(items) == 1:
        return items[0]
    return E(" else ".join(i.at(OR) for i in items), ELSE)


def guard(value: E, cond: E) -> E:
    """`value if cond`: missing when the condition does not hold."""
    if cond is TRUE:
        return value
    if cond is FALSE:
        return MISSING
    return E(f"{value.at(ELSE)} if {cond.at(OR)}", COND)


def cond(then: E, condition: E, otherwise: E) -> E:
    """`then if condition else otherwise` (a missing branch leaves the value missing)."""
    if otherwise is MISSING:
        return guard(then, condition)
    if then is MISSING:
        return guard(otherwise, not_(condition))
    if condition is TRUE:
        return then
    if condition is FALSE:
        return otherwise
    return E(f"{then.at(ELSE)} if {condition.at(OR)} else {otherwise.at(COND)}", COND)


def list_comp(body: E, names: tuple[str, ...], iterable: E, condition: E | None = None) -> E:
    """`[body for $x in iterable if condition]` (two names: index or key, and value)."""
    head = ", ".join("$" + n for n in names)
    tail = f" if {condition.at(OR)}" if condition is not None else ""
    return E(f"[{body.at(ELSE)} for {head} in {iterable.at(SUM)}{tail}]")


def object_comp(key: E, value: E, names: tuple[str, ...], iterable: E, condition: E | None = None) -> E:
    """`{key: value for $k, $v in iterable if condition}`."""
    head = ", ".join("$" + n for n in names)
    tail = f" if {condition.at(OR)}" if condition is not None else ""
    return E(f"{{{key.at(ELSE)}: {value.at(ELSE)} for {head} in {iterable.at(SUM)}{tail}}}")
