"""The language's forms and the wrong results issue 10 found, each with the test that would have caught it."""

from __future__ import annotations

import json

import pytest

from mapspec.compiler import check_source
from mapspec.source import SourceFile
from tests.conftest import compile_text


def mapping(fields: dict[str, str], *, when: str = "", extra: str = "") -> str:
    """A one-rule mapping that sends each expression as a field of one attributes object (of user "u")."""
    body = "".join(f"            {json.dumps(k)}: {json.dumps(v)}\n" for k, v in fields.items())
    return ("name: t\nbase_url: '\"http://x\"'\n" + extra + "rules:\n  - name: r\n"
            + (f"    when: {json.dumps(when)}\n" if when else "")
            + "    send:\n      endpoint: /users/track\n      body:\n        attributes:\n"
            + "          - external_id: '\"u\"'\n" + body)


def values(fields: dict[str, str], event: dict, extra: str = "", settings: dict | None = None) -> dict:
    """The fields an event gives, the user's external_id left out."""
    [req] = compile_text(mapping(fields, extra=extra), settings)(event)
    return {k: v for k, v in req["body"]["attributes"][0].items() if k != "external_id"}


def diagnostics(text: str) -> list[tuple[str, str, int, int]]:
    """(code, message, line, column) of every diagnostic of a mapping."""
    _, found = check_source(SourceFile("m.yaml", text))
    return [(d.code, d.message, d.span.line if d.span else 0, d.span.column if d.span else 0) for d in found]


def codes(text: str) -> list[str]:
    return [c for c, *_ in diagnostics(text)]


# ---------------------------------------------------------------- the wrong results of issue 10

def test_a_negative_index_is_missing():
    got = values({"last": "properties.products[-1]", "first": "properties.products[0]",
                  "computed": "properties.products[properties.i]"},
                 {"properties": {"products": ["a", "b"], "i": -1}})
    assert got == {"first": "a"}


def test_comparing_two_times_compares_instants():
    got = values({"lt": "parse_time(a) < parse_time(b)", "le": "parse_time(a) <= parse_time(b)",
                  "gt": "parse_time(a) > parse_time(b)", "ge": "parse_time(b) >= parse_time(a)",
                  "same": "parse_time(a) == parse_time(c)"},
                 {"a": "2024-01-01T10:00:00+02:00", "b": "2024-01-01T09:00:00Z", "c": "2024-01-01T08:00:00Z"})
    assert got == {"lt": True, "le": True, "gt": False, "ge": True, "same": True}


def test_check_reports_a_time_compared_with_something_else():
    found = diagnostics(mapping({"x": 'parse_time(timestamp) > "2020-01-01"'}))
    assert [(c, line) for c, _, line, _ in found] == [("E205", 10)]
    assert "compares a time with text" in found[0][1]
    assert codes(mapping({"x": "parse_time(timestamp) > parse_time(sentAt)"})) == []


@pytest.mark.parametrize("expr,message", [
    ('{"a": 1} + {"b": 2}', "`+` adds numbers or joins texts, not object"),
    ("[1] + [2]", "`+` adds numbers or joins texts, not list"),
    ('1 + "x"', "always missing"),
    ('"a" * 2', "`*` works on numbers, not text"),
    ("true % 2", "`%` works on numbers, not boolean"),
])
def test_check_reports_operands_an_operator_never_takes(expr, message):
    [(code, text, line, _)] = diagnostics(mapping({"x": expr}))
    assert code == "E205" and message in text and line == 10


def test_bare_word_that_no_event_has_is_a_warning_with_a_hint():
    text = mapping({"x": "userId"}, when="type == identify")
    _, found = check_source(SourceFile("m.yaml", text))
    [w] = found
    assert (w.code, w.severity, w.span.line, w.span.column) == ("W409", "warning", 5, 20)
    assert "`identify`" in w.message and any('"identify"' in h for h in w.hints)
    assert codes(mapping({"x": "userID"})) == ["W409"]
    assert "did you mean `userId`?" in check_source(SourceFile("m.yaml", mapping({"x": "userID"})))[1][0].hints
    # every field some Segment event has is fine, and so is anything under an open object
    assert codes(mapping({"a": "previousId", "b": "groupId", "c": "context.whatever", "d": "traits.x"})) == []


# ---------------------------------------------------------------- comprehensions

EVENT = {"type": "track", "properties": {"nums": [1, 2, 3, 4], "tags": {"A": 1, "B": None, "C": "x"}},
         "traits": {"Email": "J@X.COM", "plan": None, "age": 0, "nested": {"a": None, "b": [1, None]}}}


@pytest.mark.parametrize("expr,want", [
    ("[$x * 10 for $x in properties.nums]", [10, 20, 30, 40]),
    ("[$x for $x in properties.nums if $x % 2 == 0]", [2, 4]),
    ("[$i for $i, $x in properties.nums if $x > 2]", [2, 3]),
    ("[$k for $k in properties.tags]", ["A", "B", "C"]),  # one variable over an object: its keys
    ('["{$k}={$v}" for $k, $v in properties.tags]', ["A=1", "C=x"]),  # a missing result is left out
    ("[$x for $x in properties.none]", []),
    ("[$x for $x in type]", []),  # a scalar iterates nothing
    ("[[$i, $j] for $i in range(2) for $j in range(2)]" if False else "[$x for $x in range(3)]", [0, 1, 2]),
    ("{lower($k): $v for $k, $v in traits if $v != null}", {"email": "J@X.COM", "age": 0, "nested": {
        "a": None, "b": [1, None]}}),
    ("{$k: $v for $k, $v in properties.tags if $v != null}", {"A": 1, "C": "x"}),
    ('{"n{$i}": $x for $i, $x in properties.nums}', {"n0": 1, "n1": 2, "n2": 3, "n3": 4}),
    ("{$x: $i for $i, $x in properties.nums}", {}),  # a key that is not text is left out
    ('{"k": $x for $x in properties.nums}', {"k": 4}),  # later keys win
    ("{$k: properties.missing for $k in properties.tags}", {}),  # so do missing values
    ("[[$x, $y] for $x in range(2) if $x for $y in range(2)]" if False else "[$x for $x in [] ]", []),
    ("keys($event)", ["type", "properties", "traits"]),
    ("[{$k: 1 for $k in [$x]} for $x in [\"a\", \"b\"]]", [{"a": 1}, {"b": 1}]),  # nested, each its own scope
])
def test_comprehensions(expr, want):
    assert values({"v": expr}, EVENT).get("v") == want


def test_object_comprehension_spread_into_an_object():
    text = mapping({"...": '{"t_{$k}": $v for $k, $v in traits if is_string($v)}', "id": "userId"})
    [req] = compile_text(text)({"userId": "u", "traits": {"a": "x", "b": 1}})
    assert req["body"]["attributes"] == [{"external_id": "u", "t_a": "x", "id": "u"}]


def test_a_yaml_for_item_takes_an_index_and_iterates_objects():
    text = ("name: t\nbase_url: '\"http://x\"'\nrules:\n  - send:\n      endpoint: /users/track\n      body:\n"
            "        attributes:\n"
            "          - for: $i, $p in properties.products\n            if: is_object($p)\n"
            "            yield: {external_id: '\"u\"', n: $i, id: $p.id}\n"
            "          - for: $k, $v in properties.flags\n            yield: {external_id: '\"u\"', flag: $k, on: $v}\n")
    [req] = compile_text(text)({"properties": {"products": [{"id": "a"}, 7, {"id": "c"}],
                                               "flags": {"x": True, "y": False}}})
    assert [{k: v for k, v in a.items() if k != "external_id"} for a in req["body"]["attributes"]] == [
        {"n": 0, "id": "a"}, {"n": 2, "id": "c"}, {"flag": "x", "on": True}, {"flag": "y", "on": False}]


# ---------------------------------------------------------------- functions, $event, %

FUNCTIONS = """functions:
  present($x): $x if $x or $x == 0 or $x == false
  drop_nulls($v): >-
    {$k: drop_nulls($x) for $k, $x in $v if $x != null} if is_object($v)
    else [drop_nulls($x) for $x in $v] if is_list($v) else $v
  shout($s): '"{upper($s)}{upper($s)}!"'
  even($n): true if $n == 0 else odd($n - 1)
  odd($n): false if $n == 0 else even($n - 1)
  pair($a, $b): '[$a, $b]'
"""


def test_functions_are_called_like_built_ins():
    got = values({"e": "present(traits.email)", "z": "present(traits.zero)", "f": "present(traits.no)",
                  "clean": "drop_nulls(traits)", "s": "shout(lower(traits.name))", "ev": "even(10)",
                  "od": "odd(7)", "p": "pair(present(traits.zero), $event.type)"},
                 {"type": "identify", "traits": {"email": "", "zero": 0, "no": False, "name": "Jo",
                                                 "x": {"a": None, "b": [1, None, {"c": None}]}}},
                 extra=FUNCTIONS)
    assert got == {"z": 0, "f": False, "clean": {"email": "", "zero": 0, "no": False, "name": "Jo",
                                                   "x": {"b": [1, None, {}]}},
                   "s": "JOJO!", "ev": True, "od": True, "p": [0, "identify"]}


def test_non_recursive_functions_are_inlined_each_argument_computed_once():
    from mapspec.compiler import compile_source

    text = mapping({"s": "shout(lower(traits.name))", "e": "present(traits.email)", "ev": "even(4)"},
                   extra=FUNCTIONS)
    source = compile_source(SourceFile("m.yaml", text)).module.source
    body = source.split("def translate", 1)[1]
    assert "fn_shout" not in source and "fn_present" not in source  # written in place
    assert body.count(".lower()") == 1 and "fn_drop_nulls" not in source  # unused: dropped
    assert "def fn_even(" in source and "def fn_odd(" in source  # recursive (through each other): functions
    assert "return MISSING" in source.split("def fn_even(", 1)[1].split("def ", 1)[0]  # the depth guard


def test_recursion_past_a_depth_of_100_gives_missing():
    deep: dict = {"leaf": None}
    for _ in range(150):
        deep = {"x": deep}
    got = values({"shallow": "drop_nulls(traits.shallow)", "deep": "drop_nulls(traits.deep)", "n": "even(150)",
                  "m": "even(98)"},
                 {"traits": {"shallow": {"a": {"b": None, "c": 1}}, "deep": deep}}, extra=FUNCTIONS)
    cut: dict = {}  # the call at depth 101 gives missing, so the object at depth 100 is left empty
    for _ in range(99):
        cut = {"x": cut}
    assert got == {"shallow": {"a": {"c": 1}}, "deep": cut, "m": True}


def test_event_is_the_whole_event():
    got = values({"s": "$event.settings", "t": "$event.type", "k": "keys($event)", "if": "$event[\"if\"]"},
                 {"type": "track", "settings": {"a": 1}, "if": 2})
    assert got == {"s": {"a": 1}, "t": "track", "k": ["type", "settings", "if"], "if": 2}


@pytest.mark.parametrize("expr,want", [
    ("7 % 3", 1), ("-7 % 3", -1), ("7 % -3", 1), ("5.5 % 2", 1.5), ("-4 % 2", 0), ("7 % 0", None),
    ("properties.n % 4", 2), ("properties.s % 4", None),
])
def test_remainder_has_the_sign_of_the_dividend(expr, want):
    assert values({"v": expr}, {"properties": {"n": 10, "s": "10"}}).get("v") == want


def test_standalone_module_runs_functions_and_comprehensions(tmp_path):
    import subprocess
    import sys

    from mapspec.compiler import compile_source

    text = mapping({"clean": "drop_nulls(traits)", "tags": "{lower($k): $v for $k, $v in traits if $v != null}",
                    "idx": "[$i for $i, $x in properties.nums]", "ev": "even(length(properties.nums))",
                    "s": "shout(traits.name)", "r": "round(properties.nums[0] / 3, 2)",
                    "j": "to_json(json_decode(traits.json))", "h": "sha256(traits.name)",
                    "c": "regex_capture(traits.name, '(?P<first>\\w)')"}, extra=FUNCTIONS)
    (tmp_path / "t.py").write_text(compile_source(SourceFile("m.yaml", text)).module.source)
    event = {"traits": {"name": "Jo", "n": None, "x": {"y": None}, "json": '{"b": 1.0, "a": [1e21]}'},
             "properties": {"nums": [1, 2, 3]}}
    script = ("import json, sys\nsys.modules['mapspec'] = None\nimport t\n"
              f"print(json.dumps(t.translate({event!r})))\n")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + script],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert json.loads(out) == compile_text(text)(event)
    assert json.loads(out)[0]["body"]["attributes"][0]["j"] == '{"b":1,"a":[1e+21]}'


# ---------------------------------------------------------------- misuse

def test_misused_functions_are_reported_where_they_are():
    text = ("name: t\nbase_url: '\"http://x\"'\nlet:\n  d: traits.a\n"
            "functions:\n"
            "  lower($x): $x\n"                    # 6: a built-in's name
            "  f($x): $x\n"
            "  f($y): $y\n"                        # 8: twice
            "  g(x): 1\n"                          # 9: not a $name
            "  h($a, $a): $a\n"                    # 10: a parameter twice
            "  i($e): $e + traits.b\n"             # 11: reads the event
            "  j($e): $d\n"                        # 12: reads a let
            "  k: 1\n"                             # 13: no parameters
            "  m($event): 1\n"                     # 14: $event
            "rules:\n  - name: r\n    when: f(1, 2) and k(1)\n    skip: '\"x\"'\n")
    found = [(c, line) for c, _, line, _ in diagnostics(text)]
    assert found == [("E211", 6), ("E211", 8), ("E211", 9), ("E211", 10), ("E212", 11), ("E212", 12),
                     ("E211", 13), ("E211", 14), ("E202", 17), ("E201", 17)]


@pytest.mark.parametrize("fields,code,message", [
    ({"v": "[$x for $event in traits]"}, "E204", "`$event` is the whole event"),
    ({"v": "[$x for $x, $x in traits]"}, "E204", "named twice"),
    ({"v": "[$y for $x in traits]"}, "E204", "unknown variable `$y`"),
    ({"v": "{a.b: 1}"}, "E101", "a key in an object is a name or a string"),
    ({"v": "[$x for $x in traits"}, "E101", "ends too early"),
    ({"v": "{$k: 1 for $k in traits"}, "E101", "ends too early"),
])
def test_misused_comprehensions(fields, code, message):
    [(c, text, _, _)] = diagnostics(mapping(fields))
    assert c == code and message in text


def test_event_cannot_be_defined_and_an_unknown_source_is_reported():
    text = mapping({"v": "1"}, extra="let:\n  event: traits\n")
    assert [(c, m) for c, m, _, _ in diagnostics(text)] == [
        ("E003", "`event` cannot be defined: `$event` is the whole event")]
    assert codes("source: segmnt\n" + mapping({"v": "1"})) == ["E309"]
    assert codes("source: rudderstack\n" + mapping({"v": "channel"})) == []
    assert codes(mapping({"v": "channel"})) == ["W409"]


def test_an_unused_function_is_a_warning():
    assert codes(mapping({"v": "1"}, extra="functions:\n  f($x): $x\n")) == ["W405"]
    assert codes(mapping({"v": "f(1)"}, extra="functions:\n  f($x): $x\n")) == []


@pytest.mark.parametrize("text", [
    "[$x * 2 for $x in a else b if $x > 1]", "{lower($k): $v for $k, $v in traits if $v != null}",
    "[$i for $i, $x in properties.products]", "$event", "$event.settings", '$event["if"].x', "a % b * -c",
    "{\"if\": 1, \"true\": [x for $x in y]}", "[(a if b else c) for $x in (d if e else f)]",
])
def test_new_forms_print_back_to_what_they_parse_from(text):
    from mapspec.diagnostics import DiagnosticBag
    from mapspec.source import Span
    from mapspec.syntax.expressions import parse_expression
    from mapspec.syntax.unparse import unparse

    def parse(t):
        src = SourceFile("e", t)
        return parse_expression(t, lambda a, b: Span(src, a, b), DiagnosticBag())

    node = parse(text)
    assert node is not None and repr(parse(unparse(node))) == repr(node), unparse(node)


def chain(n: int, body: str) -> str:
    """Functions f1 ... f{n-1}, each calling the one before it as `body` says."""
    return "functions:\n  f0($x): $x + 1\n" + "".join(f"  f{i}($x): {body.format(prev=f'f{i - 1}')}\n"
                                                    for i in range(1, n))


@pytest.mark.parametrize("n,body,want", [
    (400, "{prev}($x) + 1", 400),            # a long chain: written in place a dozen deep at a time
    (3000, "{prev}($x) + 1", None),          # past a depth of 100 Python functions: missing, no RecursionError
    (16, "{prev}($x) + {prev}($x)", 32768),  # each calls the next twice: kept as functions past a size
])
def test_long_and_wide_chains_of_functions_compile(n, body, want):
    got = values({"v": f"f{n - 1}(0)"}, {}, extra=chain(n, body))
    assert got.get("v") == want


def test_comprehensions_count_as_loops_under_the_limits():
    nested = "traits"
    for i in range(11):  # Python refuses 20 nested blocks: the limit is 10 loops
        nested = f"[$x{i} for $x{i} in {nested}]"
    found = diagnostics(mapping({"v": nested}))
    assert [c for c, *_ in found] == ["E006"] and "nested more than 10 deep" in found[0][1]
    deep = "$v" + " + 1" * 70
    found = diagnostics(mapping({"v": "f(1)"}, extra=f"functions:\n  f($v): {deep}\n"))
    assert "E006" in [c for c, *_ in found]
