"""The standard library of mapping functions: each a spec with its signature, documentation and
examples (the examples are run by the tests, so the documentation cannot drift from the code).

A function's implementation is the helper of the same name in `mapspec.runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .syntax.ast import MISSING

JSON = frozenset({"null", "bool", "int", "float", "str", "list", "object"})
ANY = JSON | {"time"}
STR = frozenset({"str"})
NUM = frozenset({"int", "float"})
INT = frozenset({"int"})
BOOL = frozenset({"bool"})
LIST = frozenset({"list"})
OBJ = frozenset({"object"})
TIME = frozenset({"time"})
M = frozenset({"missing"})


@dataclass(frozen=True)
class Param:
    name: str
    kinds: frozenset[str]
    optional: bool = False
    #: must be known when the mapping is compiled (a literal, or made of settings)
    constant: bool = False


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[Param, ...]
    returns: frozenset[str]
    doc: str
    examples: tuple[tuple[str, Any], ...] = ()
    #: same arguments, same result: may be evaluated when the mapping is compiled
    pure: bool = True

    @property
    def helper(self) -> str:
        return self.name

    def arity(self) -> tuple[int, int]:
        return sum(1 for p in self.params if not p.optional), len(self.params)

    def signature(self) -> str:
        ps = ", ".join(p.name + ("?" if p.optional else "") for p in self.params)
        return f"{self.name}({ps})"


def _f(name, params, returns, doc, *examples):
    return Function(name, tuple(params), frozenset(returns), doc, tuple(examples))


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    _f("lower", [Param("text", STR)], STR | M, "Text in lower case.", ('lower("Female")', "female")),
    _f("upper", [Param("text", STR)], STR | M, "Text in upper case.", ('upper("f")', "F")),
    _f("trim", [Param("text", STR)], STR | M, "Text without leading and trailing white space.",
       ('trim("  Jane ")', "Jane")),
    _f("split", [Param("text", STR), Param("separator", STR), Param("limit", INT, optional=True)],
       LIST | M, "Text cut at each separator; with a limit, at most that many cuts.",
       ('split("a b c", " ")', ["a", "b", "c"]), ('split("Jane Q Doe", " ", 1)', ["Jane", "Q Doe"])),
    _f("join", [Param("items", LIST), Param("separator", STR)], STR | M,
       "The items of a list as text, separated.", ('join(["a", 1, true], "-")', "a-1-true")),
    _f("replace", [Param("text", STR), Param("old", STR), Param("new", STR)], STR | M,
       "Text with every occurrence of `old` replaced by `new`.", ('replace("a-b-c", "-", "_")', "a_b_c")),
    _f("matches", [Param("text", ANY), Param("pattern", STR, constant=True)], BOOL,
       "Whether a regular expression (Python syntax, `(?i)` for any case) matches the start of the text; "
       "false for anything that is not text.",
       ("matches(\"Order Completed\", '(?i)order[ _]?completed$')", True), ('matches(5, "5")', False)),
    _f("starts_with", [Param("text", ANY), Param("prefix", STR)], BOOL, "Whether text starts with a prefix.",
       ('starts_with("Viewed Home", "Viewed")', True)),
    _f("ends_with", [Param("text", ANY), Param("suffix", STR)], BOOL, "Whether text ends with a suffix.",
       ('ends_with("Home Page", "Page")', True)),
    _f("length", [Param("value", STR | LIST | OBJ)], INT | M,
       "The number of characters, elements or fields.", ('length([1, 2])', 2)),
    _f("non_empty", [Param("value", JSON)], STR | LIST | OBJ | M,
       "The value when it is non-empty text, a non-empty list or a non-empty object; otherwise missing.",
       ('non_empty("")', MISSING), ('non_empty("u1")', "u1"), ("non_empty({})", MISSING)),
    _f("to_number", [Param("value", JSON)], NUM | M,
       "A number from a number or numeric text; anything else is missing.",
       ('to_number("12.5")', 12.5), ('to_number("x")', MISSING)),
    _f("to_string", [Param("value", JSON)], STR | M,
       "A value as text (numbers as JavaScript writes them; lists and objects as JSON).",
       ("to_string(1.0)", "1"), ("to_string(true)", "true")),
    _f("to_json", [Param("value", JSON)], STR | M, "A value as compact JSON text (keys sorted).",
       ('to_json({"b": 1, "a": [true]})', '{"a":[true],"b":1}')),
    _f("is_string", [Param("value", ANY | M)], BOOL, "Whether a value is text.", ('is_string("")', True)),
    _f("is_number", [Param("value", ANY | M)], BOOL, "Whether a value is a number (not a boolean).",
       ("is_number(true)", False), ("is_number(1.5)", True)),
    _f("is_bool", [Param("value", ANY | M)], BOOL, "Whether a value is true or false.",
       ("is_bool(false)", True)),
    _f("is_list", [Param("value", ANY | M)], BOOL, "Whether a value is a list.", ("is_list([])", True)),
    _f("is_object", [Param("value", ANY | M)], BOOL, "Whether a value is an object.",
       ("is_object({})", True)),
    _f("exists", [Param("value", ANY | M)], BOOL, "Whether a value is there (null is there; missing is not).",
       ("exists(null)", True)),
    _f("parse_time", [Param("value", JSON)], TIME | M,
       "A time from ISO 8601 text (a date, or a date-time; no offset means UTC) or from epoch "
       "milliseconds; missing when it cannot be read.",
       ('format_time(parse_time("1991-09-26T23:30:00-05:00"), "%Y-%m-%d")', "1991-09-27"),
       ('iso8601(parse_time("soon"))', MISSING)),
    _f("format_time", [Param("time", TIME), Param("format", STR)], STR | M,
       "A time as UTC text in strftime's format; `%L` is milliseconds.",
       ('format_time(parse_time(0), "%Y-%m-%dT%H:%M:%S.%LZ")', "1970-01-01T00:00:00.000Z")),
    _f("iso8601", [Param("time", TIME)], STR | M, "A time as `YYYY-MM-DDTHH:MM:SS.sssZ` in UTC.",
       ('iso8601(parse_time("2015-02-23T22:28:55.111+01:00"))', "2015-02-23T21:28:55.111Z")),
    _f("iso_time", [Param("value", JSON)], STR | M,
       "`iso8601(parse_time(value))`: any time Segment sends, as Braze wants it.",
       ('iso_time("2015-01-01")', "2015-01-01T00:00:00.000Z"), ('iso_time(1420070400000)',
                                                                 "2015-01-01T00:00:00.000Z")),
    _f("loose_get", [Param("object", OBJ), Param("key", STR)], JSON | M,
       "A field of an object by key, comparing keys in lower case without spaces, `_` or other "
       "punctuation (so `First Name` is found as `firstName`); the first such key wins (Segment's obj-case).",
       ('loose_get({"First Name": "Jane"}, "firstName")', "Jane"),
       ('loose_get({"first_name": "a", "firstName": "b"}, "firstName")', "a")),
    _f("index_of", [Param("text", STR), Param("search", STR)], INT | M,
       "Where `search` first occurs in the text, counting from 0; -1 when it does not.",
       ('index_of("Jane Q Doe", " ")', 4), ('index_of("Jane", " ")', -1)),
    _f("slice", [Param("value", STR | LIST), Param("start", INT), Param("end", INT, optional=True)],
       STR | LIST | M, "Text or a list from `start` up to (not including) `end`; negative counts from the end.",
       ('slice("Jane Q Doe", 5)', "Q Doe"), ("slice([1, 2, 3], 0, -1)", [1, 2])),
    _f("js_string", [Param("value", ANY | M)], STR,
       "A value as JavaScript's String() writes it: missing is `undefined`, null `null`, an object "
       "`[object Object]`, a list its elements joined by commas.",
       ("js_string(missing_field)", "undefined"), ('js_string({"a": 1})', "[object Object]"),
       ("js_string([1, null, 2.0])", "1,,2")),
    Function("now", (), TIME, "The current time (read when the event is translated).",
             (("exists(now())", True),), pure=False),
)}

#: functions the code generator writes as plain Python, with no helper
INLINE = {"is_string", "is_number", "is_bool", "is_list", "is_object", "exists"}
