"""What the checker says about a regular expression written in a mapping (or given as a setting).

`problems(pattern)` lists, as (severity, code, message, label):

- E207, an error: the pattern does not compile, nests too deeply for Python to compile, or repeats
  something more than `limits.MAX_REGEX_REPEAT` times (`a{4294967296}`);
- W408, a warning: a quantifier applies to something that itself holds an unbounded quantifier, as in
  `(a+)+` or `(\\w+\\s?)*$`. Python's matcher backtracks: on text that almost matches, such a pattern
  tries every way of splitting the text between the two quantifiers, which takes seconds per event for
  a few dozen characters. A possessive quantifier (`a++`) or an atomic group (`(?>...)`) inside does not
  backtrack, and is not warned about.
"""

from __future__ import annotations

import re
from typing import Any

from . import limits

try:  # the parser `re` itself uses; private, so the warnings are skipped if it ever moves
    from re import _constants as _c
    from re import _parser as _sre
except ImportError:  # pragma: no cover
    _sre = _c = None  # type: ignore[assignment]

Problem = tuple[str, str, str, str]


def problems(pattern: str) -> list[Problem]:
    try:
        re.compile(pattern)
    except re.error as e:
        return [("error", "E207", f"invalid regular expression: {e.msg}",
                 f"at position {e.pos}" if e.pos is not None else "")]
    except OverflowError:
        return [("error", "E207", "a repetition count too large for a regular expression: "
                 f"the limit is {limits.MAX_REGEX_REPEAT}", "")]
    except RecursionError:
        return [("error", "E207", "the regular expression is nested too deeply to compile", "")]
    if _sre is None:  # pragma: no cover
        return []
    try:
        parsed = _sre.parse(pattern)
    except Exception:  # noqa: BLE001 - it compiled; a parser that differs only loses the warnings
        return []
    return _walk(parsed)


def _repeat_ops() -> tuple[Any, ...]:
    return (_c.MAX_REPEAT, _c.MIN_REPEAT)


def _walk(parsed: Any) -> list[Problem]:
    """Repetition counts over the limit, and quantifiers over unbounded quantifiers; without recursion."""
    out: list[Problem] = []
    warned = False
    # (subpattern, inside a quantifier that repeats)
    stack: list[tuple[Any, bool]] = [(parsed, False)]
    while stack:
        items, repeated = stack.pop()
        for op, arg in items:
            if op in _repeat_ops() or op == getattr(_c, "POSSESSIVE_REPEAT", None):
                low, high, body = arg
                count = max(c for c in (low, high) if c != _c.MAXREPEAT) if low != _c.MAXREPEAT else low
                if count != _c.MAXREPEAT and count > limits.MAX_REGEX_REPEAT:
                    out.append(("error", "E207", f"a repetition count of {count} in a regular expression: "
                                f"the limit is {limits.MAX_REGEX_REPEAT}", ""))
                unbounded = high == _c.MAXREPEAT
                if repeated and unbounded and op in _repeat_ops() and not warned:
                    warned = True
                    out.append(("warning", "W408", "a quantifier over an unbounded quantifier, as in `(a+)+`: "
                                "on text that almost matches, this can take seconds per event",
                                "can backtrack catastrophically"))
                # a possessive quantifier never gives back what it took: nothing inside it backtracks
                inner = (repeated or high > 1) and op in _repeat_ops()
                stack.append((body, inner))
            elif op == _c.SUBPATTERN:
                stack.append((arg[-1], repeated))
            elif op == _c.BRANCH:
                stack.extend((branch, repeated) for branch in arg[1])
            elif op == getattr(_c, "ATOMIC_GROUP", None):
                stack.append((arg, False))
            elif op in (_c.ASSERT, _c.ASSERT_NOT):
                stack.append((arg[1], repeated))
            elif op == _c.GROUPREF_EXISTS:
                stack.extend((b, repeated) for b in arg[1:] if b is not None)
    return out
