"""JSON in and out for events and requests, with one rule for what JSON cannot carry exactly.

Every command reads events through `loads` and writes requests through `dumps`, so the rule is the same in
`run`, `translate`, `explain` and `diff --events`:

- `NaN`, `Infinity`, `-Infinity` and number literals beyond a double (`1e400`) are not JSON numbers;
- an integer beyond 64 bits (outside -2**63 .. 2**64-1) would be rounded (by orjson, by Braze): never rounded
  here, it is refused;
- a lone surrogate escape (`"\\ud800"`) is not a character, and cannot be written as UTF-8;
- a value nested deeper than a parser takes (about 1,000 levels).

A line holding any of these is not an event: `loads` raises `BadJSON` with the reason (`run` dead-letters the
line, `translate` reports it on its line), and `dumps` raises `Unencodable` for a value that holds one, where
a bare orjson would write `null` for NaN. orjson is used when installed (`pip install mapspec[fast]`) and the
environment does not set MAPSPEC_NO_ORJSON; the standard library gives the same results, more slowly.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None
if os.environ.get("MAPSPEC_NO_ORJSON"):
    _orjson = None
_NEWLINE = _orjson.OPT_APPEND_NEWLINE if _orjson is not None else 0

INT_MIN, INT_MAX = -(2**63), 2**64 - 1
#: the UTF-8 byte order mark some editors and Windows tools put at the start of a file: taken away from the start
#: of a file of events (its first line), as JSON readers commonly do; anywhere else it is not JSON
BOM = b"\xef\xbb\xbf"

# an integer beyond 64 bits has 19 digits or more: only a text with such a run of digits is read by the
# standard library, which keeps every digit (orjson would round it to a float without a word)
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadJSON(ValueError):
    """A text that is not a JSON value mapspec can carry exactly; the message says why."""


class Unencodable(ValueError):
    """A value that cannot be written as JSON exactly; the message says why."""


def kind(value: Any) -> str:
    """A JSON value's kind in JSON's words, for messages: "an object", "an array", "a string", ..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__)


def _constant(name: str) -> Any:
    raise BadJSON(f"invalid JSON: {name} is not a number JSON allows")


def _float(text: str) -> float:
    value = float(text)
    if value - value != 0:
        raise BadJSON(f"invalid JSON: the number {_short(text)} is beyond the range of a double")
    return value


def _int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # more digits than Python converts
        value = None
    if value is None or not INT_MIN <= value <= INT_MAX:
        raise BadJSON(f"the integer {_short(text)} is beyond 64 bits: Braze would not keep it exactly (send it "
                      "as text)")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 30 else f"{text[:12]}...{text[-6:]} ({len(text)} characters)"


_DECODE = json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_int).decode


def loads(data: bytes | str) -> Any:
    """The JSON value of one line; raises BadJSON with the reason for anything else."""
    if _orjson is not None and isinstance(data, bytes) and _LONG_RUN not in data.translate(_DIGITS):
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # read again below, for the reason in the standard library's words
    return _careful_loads(data)


def plain_numbers(lines: list[bytes | None]) -> bool:
    """Whether none of these lines holds a run of 19 digits or more, so that orjson reads every number in them
    exactly (see `fast_loads`): one test for a block of lines."""
    if _orjson is None or None in lines:
        return False
    for part in getattr(lines, "raw", None) or (b"\n".join(lines),):  # type: ignore[arg-type]
        if _LONG_RUN in part.translate(_DIGITS):
            return False
    return True


#: for lines `plain_numbers` passed: orjson's loads, and the error it raises (then `loads` gives the reason)
fast_loads, FastError = (_orjson.loads, _orjson.JSONDecodeError) if _orjson is not None else (None, ValueError)

def _careful_loads(data: bytes | str) -> Any:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadJSON(f"invalid UTF-8: {e.reason} at byte {e.start}") from None
    else:
        text = data
    if not text.strip():
        raise BadJSON("empty line")
    try:
        value = _DECODE(text)
    except BadJSON:
        raise
    except RecursionError:
        raise BadJSON("invalid JSON: nested deeper than JSON parsers take") from None
    except ValueError as e:
        raise BadJSON(f"invalid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(text) and _lone_surrogate(value):
        raise BadJSON("invalid JSON: a lone surrogate escape (\\ud800 to \\udfff) is not a character")
    return value


def _walk(value: Any):
    """Every value inside a JSON value, keys included, without recursion."""
    stack = [value]
    while stack:
        v = stack.pop()
        yield v
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _lone_surrogate(value: Any) -> bool:
    for v in _walk(value):
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _no_fast(value: Any, option: int = 0) -> None:
    return None


#: orjson.dumps when installed, else a function giving None: for a hot loop that checks the result itself
#: (orjson writes NaN as null: a result with null in it must go through `dumps`)
fast_dumps = _orjson.dumps if _orjson is not None else _no_fast
#: `fast_dumps`'s option for a line of NDJSON (the newline written with it)
NEWLINE = _NEWLINE


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; raises Unencodable for what JSON cannot carry exactly (see the module's rule)."""
    if _orjson is not None:
        try:
            out = _orjson.dumps(value)
        except TypeError:
            pass  # beyond 64 bits, a lone surrogate, deeper than 255, not JSON: the standard library says which
        else:
            # orjson writes NaN and Infinity as null: look closer only when there is one
            if b"null" not in out or _finite(value):
                return out
    return _careful_dumps(value)


def dumps_line(value: Any) -> bytes:
    """`dumps(value)` and a newline: a line of NDJSON."""
    if _orjson is not None:
        try:
            out = _orjson.dumps(value, option=_NEWLINE)
        except TypeError:
            pass
        else:
            # orjson writes a number that is not finite as null: a null that is not None means one
            if b"null" not in out or _finite(value):
                return out
    return _careful_dumps(value) + b"\n"


def _finite(value: Any) -> bool:
    """Whether no float in a value (a request of the plain JSON kinds orjson wrote) is NaN or infinite."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        v = pop()
        c = v.__class__
        if c is dict:
            extend(v.values())
        elif c is list:
            extend(v)
        elif isinstance(v, float):
            if v - v != 0.0:
                return False
        elif isinstance(v, dict):
            extend(v.values())
        elif isinstance(v, (list, tuple)):
            extend(v)
    return True


def _careful_dumps(value: Any) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise Unencodable("nested deeper than JSON writers take") from None
    except ValueError:
        raise Unencodable("NaN and Infinity are not numbers JSON allows") from None
    except TypeError as e:
        raise Unencodable(f"not a JSON value: {e}") from None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unencodable("a lone surrogate (\\ud800 to \\udfff) is not a character UTF-8 can write") from None
    if _LONG_RUN in data.translate(_DIGITS):
        for v in _walk(value):
            if isinstance(v, int) and not isinstance(v, bool) and not INT_MIN <= v <= INT_MAX:
                raise Unencodable(f"the integer {_short(str(v))} is beyond 64 bits: Braze would not keep it "
                                  "exactly")
    return data

