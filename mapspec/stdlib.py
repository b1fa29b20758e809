"""The standard library of mapping functions: each a spec with its signature, documentation and
examples (the examples are run by the tests, so the documentation cannot drift from the code).

A function's implementation is the helper of the same name in `mapspec.runtime`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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
    #: a regular expression (constant): checked and compiled once, when the mapping is compiled
    regex: bool = False


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[Param, ...]
    returns: frozenset[str]
    doc: str
    examples: tuple[tuple[str, Any], ...] = ()
    #: same arguments, same result: may be evaluated when the mapping is compiled
    pure: bool = True
    #: the last parameter may be given any number of times (at least once)
    variadic: bool = False
    #: the runtime helper's name, when it differs from the function's (`round` is `round_number`, so that
    #: no helper hides a Python builtin in the generated module)
    helper_name: str = ""
    #: missing when its first argument is missing, whatever the others (the generated code tests that
    #: argument and calls the helper only when it is there; tests/test_stdlib.py holds each one to it)
    strict: bool = False
    #: the kinds of value it gives back as they are (`to_string` of text): the generated code tests the
    #: argument's class and calls the helper only for others (tests/test_stdlib.py holds each one to it)
    passes: frozenset[str] = frozenset()

    @property
    def helper(self) -> str:
        return self.helper_name or self.name

    def arity(self) -> tuple[int, float]:
        """The least and the most arguments (the most is infinite for a variadic function)."""
        least = sum(1 for p in self.params if not p.optional)
        return least, (math.inf if self.variadic else len(self.params))

    def param(self, index: int) -> Param | None:
        """The parameter that the argument at `index` fills."""
        if index < len(self.params):
            return self.params[index]
        return self.params[-1] if self.variadic and self.params else None

    def signature(self) -> str:
        ps = ", ".join(p.name + ("?" if p.optional else "") for p in self.params)
        if self.variadic:
            ps += ", ..."
        return f"{self.name}({ps})"


def _f(name, params, returns, doc, *examples, **options):
    return Function(name, tuple(params), frozenset(returns), doc, tuple(examples), **options)


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
    _f("ireplace", [Param("text", STR), Param("old", STR), Param("new", STR)], STR | M,
       "`replace` ignoring case: every occurrence of `old`, in any case, replaced by `new` (literal text, "
       "not a pattern).", ('ireplace("Order COMPLETED", "completed", "Done")', "Order Done"),
       ('ireplace("a.b.A", "A", "x")', "x.b.x")),
    _f("regex_replace", [Param("text", STR), Param("pattern", STR, constant=True, regex=True),
                         Param("replacement", STR), Param("count", INT, optional=True)], STR | M,
       "Text with the matches of a regular expression (written out; `(?i)` for any case) replaced; the "
       "replacement refers to groups as `\\1` or `\\g<name>`; `count` 0 or left out replaces every match.",
       ("regex_replace(\"2024-05-01\", '(\\d+)-(\\d+)-(\\d+)', '\\3/\\2/\\1')", "01/05/2024"),
       ("regex_replace(\"a1b22c333\", '\\d+', \"#\", 2)", "a#b#c333"),
       ("regex_replace(\"Hello hello\", '(?i)hello', \"bye\")", "bye bye")),
    _f("regex_capture", [Param("text", STR), Param("pattern", STR, constant=True, regex=True)],
       STR | LIST | OBJ | M,
       "The first match of a regular expression anywhere in the text: an object of its named groups when "
       "it names groups, otherwise the list of its groups, or the matched text when it has none; missing "
       "when nothing matches.",
       ("regex_capture(\"order 42 of 50\", '(?P<n>\\d+) of (?P<total>\\d+)')", {"n": "42", "total": "50"}),
       ("regex_capture(\"v1.2\", '(\\d+)\\.(\\d+)')", ["1", "2"]),
       ("regex_capture(\"id: AB-7\", '[A-Z]+-\\d+')", "AB-7"), ("regex_capture(\"none\", '\\d')", MISSING)),
    _f("matches", [Param("text", ANY), Param("pattern", STR, constant=True, regex=True)], BOOL,
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
       ("to_string(1.0)", "1"), ("to_string(true)", "true"), passes=STR),
    _f("to_json", [Param("value", JSON)], STR | M,
       "A value as JavaScript's JSON.stringify writes it: keys in their order, no spaces, numbers as "
       "JavaScript writes them.",
       ('to_json({"b": 1.0, "a": [true, 1e21, 0.000001]})', '{"b":1,"a":[true,1e+21,0.000001]}')),
    _f("json_decode", [Param("text", STR)], JSON | M,
       "The JSON value a text holds; missing when it is not valid JSON (non-finite numbers are not JSON).",
       ("""json_decode('{"a": [1, null]}')""", {"a": [1, None]}), ("json_decode('{a: 1}')", MISSING),
       ('json_decode("NaN")', MISSING)),
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
    _f("round", [Param("number", NUM), Param("digits", INT, optional=True)], NUM | M,
       "A number rounded to `digits` decimals (none when left out; negative rounds to tens, hundreds, ...), "
       "half away from zero, on the number as it is written.",
       ("round(2.5)", 3), ("round(-2.5)", -3), ("round(2.675, 2)", 2.68), ("round(1234, -2)", 1200),
       helper_name="round_number"),
    _f("floor", [Param("number", NUM)], NUM | M, "The greatest integer not above a number.",
       ("floor(-1.5)", -2), ("floor(2)", 2), helper_name="floor_number"),
    _f("ceil", [Param("number", NUM)], NUM | M, "The least integer not below a number.",
       ("ceil(1.2)", 2), ("ceil(-1.5)", -1), helper_name="ceil_number"),
    _f("abs", [Param("number", NUM)], NUM | M, "A number without its sign.", ("abs(-3.5)", 3.5),
       helper_name="abs_number"),
    _f("min", [Param("a", NUM), Param("b", NUM)], NUM | M,
       "The least of two or more numbers; missing if any of them is not a number.",
       ("min(3, 1.5, 2)", 1.5), ('min(1, missing_field)', MISSING), variadic=True, helper_name="min_number"),
    _f("max", [Param("a", NUM), Param("b", NUM)], NUM | M,
       "The greatest of two or more numbers; missing if any of them is not a number.",
       ("max(3, 1.5, 2)", 3), variadic=True, helper_name="max_number"),
    _f("sha256", [Param("text", STR)], STR | M, "The SHA-256 digest of text (as UTF-8), in lower-case hex.",
       ('sha256("abc")', "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")),
    _f("sha1", [Param("text", STR)], STR | M, "The SHA-1 digest of text (as UTF-8), in lower-case hex.",
       ('sha1("abc")', "a9993e364706816aba3e25717850c26c9cd0d89d")),
    _f("md5", [Param("text", STR)], STR | M, "The MD5 digest of text (as UTF-8), in lower-case hex.",
       ('md5("abc")', "900150983cd24fb0d6963f7d28e17f72")),
    _f("keys", [Param("object", OBJ)], LIST | M, "The keys of an object, in order.",
       ('keys({"b": 1, "a": 2})', ["b", "a"])),
    _f("values", [Param("object", OBJ)], LIST | M, "The values of an object, in order.",
       ('values({"b": 1, "a": 2})', [1, 2])),
    _f("coalesce", [Param("a", ANY | M)], ANY | M,
       "The first argument that is neither missing nor null: `coalesce(a, b, c)` is `a else b else c`.",
       ("coalesce(missing_field, null, 0, 1)", 0), ("coalesce(missing_field)", MISSING), variadic=True),
    _f("range", [Param("start_or_count", NUM), Param("end", NUM, optional=True)], LIST | M,
       "`range(n)`: the integers 0 to n-1; `range(start, end)`: start to end-1; missing for more than "
       "100,000 of them.", ("range(3)", [0, 1, 2]), ("range(2, 5)", [2, 3, 4]), ("range(5, 2)", []),
       helper_name="range_list"),
    _f("flatten", [Param("value", JSON), Param("separator", STR), Param("omit_arrays", ANY, optional=True)],
       OBJ | M,
       "A nested object as a flat object whose keys are the paths joined by the separator; lists are "
       "flattened by index unless `omit_arrays` holds (Segment's mapping-kit `@flatten`).",
       ('flatten({"a": {"b": 1, "c": [2]}}, ".")', {"a.b": 1, "a.c.0": 2}),
       ('flatten({"a": {"c": [2]}}, "_", true)', {"a_c": [2]})),
)}

#: the functions that give missing for a missing first argument: all but those that say something about any
#: value (`matches(missing, ...)` is false, `js_string(missing)` is "undefined"), take the first of their
#: arguments that is there (`coalesce`) or make an object of anything (`flatten`)
_NOT_STRICT = {"matches", "starts_with", "ends_with", "js_string", "coalesce", "flatten", "now"}
FUNCTIONS = {name: replace(f, strict=name not in _NOT_STRICT) for name, f in FUNCTIONS.items()}

#: functions the code generator writes as plain Python, with no helper
INLINE = {"is_string", "is_number", "is_bool", "is_list", "is_object", "exists"}
