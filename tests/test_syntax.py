"""The expression parser and the YAML reader."""

from __future__ import annotations

import pytest

from mapspec.diagnostics import DiagnosticBag
from mapspec.source import SourceFile, Span
from mapspec.syntax import ast
from mapspec.syntax.expressions import parse_expression


def parse(text: str) -> ast.Node:
    source = SourceFile("e", text)
    diags = DiagnosticBag()
    node = parse_expression(text, lambda a, b: Span(source, a, b), diags)
    assert not diags.items, [d.render() for d in diags.items]
    return node


def error(text: str) -> str:
    source = SourceFile("e", text)
    diags = DiagnosticBag()
    assert parse_expression(text, lambda a, b: Span(source, a, b), diags) is None
    return diags.items[0].message


def test_paths_are_flat():
    assert parse("traits.address.city") == ast.Path(None, "", ("traits", "address", "city"))
    assert parse('traits["First Name"][0]') == ast.Path(None, "", ("traits", "First Name", 0))
    assert parse("$product.price") == ast.Path(None, "$product", ("price",))


def test_keywords_after_a_dot_are_field_names():
    assert parse("traits.if.in") == ast.Path(None, "", ("traits", "if", "in"))
    assert parse("properties.settings") == ast.Path(None, "", ("properties", "settings"))


def test_settings_and_calls():
    assert parse("settings.app_id") == ast.Setting(None, "app_id")
    node = parse('lower(traits.gender, "x")')
    assert isinstance(node, ast.Call) and node.name == "lower" and len(node.args) == 2


def test_conditional_guard_and_fallback():
    node = parse('a if c else b else "x"')
    assert isinstance(node, ast.Conditional) and isinstance(node.otherwise, ast.Coalesce)
    node = parse("a if c else b if d else e")
    assert isinstance(node.otherwise, ast.Conditional)
    assert isinstance(parse("a if c"), ast.Guard)
    node = parse("(a if c) else (b if d) else e")
    assert isinstance(node, ast.Coalesce) and [type(i) for i in node.items] == [ast.Guard, ast.Guard, ast.Path]
    node = parse("a else b if c")
    assert isinstance(node, ast.Guard) and isinstance(node.value, ast.Coalesce)


def test_precedence():
    node = parse("not a == 1 and b or c")
    assert isinstance(node, ast.Binary) and node.op == "or"
    assert node.left.op == "and" and isinstance(node.left.left, ast.Unary)
    node = parse("properties without [\"a\"] else {}")
    assert isinstance(node, ast.Coalesce) and node.items[0].op == "without"
    assert parse("1 + 2 * 3").right.op == "*"
    assert parse("-1") == ast.Literal(None, -1)


def test_templates():
    node = parse('"Viewed {category} {name} Page"')
    assert isinstance(node, ast.Template)
    assert [p if isinstance(p, str) else p.steps for p in node.parts] == [
        "Viewed ", ("category",), " ", ("name",), " Page"]
    assert parse('"no braces"') == ast.Literal(None, "no braces")
    assert parse('"{{literal}} \\n \\u00e9"') == ast.Literal(None, "{literal} \n é")
    inner = parse('"a {x else "b"} c"')
    assert isinstance(inner.parts[1], ast.Coalesce)


def test_raw_strings_keep_backslashes():
    assert parse(r"'^\d{4}-\d{2}$'") == ast.Literal(None, r"^\d{4}-\d{2}$")
    assert parse(r"'it\'s'") == ast.Literal(None, "it's")


def test_literals():
    assert parse("[1, 2.5, true, null, \"s\"]") == ast.List(None, tuple(
        ast.Literal(None, v) for v in (1, 2.5, True, None, "s")))
    obj = parse('{a: 1, "b c": 2, ...x}')
    assert isinstance(obj, ast.Object) and isinstance(obj.entries[2], ast.Spread)


@pytest.mark.parametrize("text,message", [
    ("a and", "ends too early"),
    ("a or or", "unexpected `or`"),
    ("f(1", "ends too early"),
    ("a ? b", "unexpected character `?`"),
    ('"x \\q"', "unknown escape"),
    ('"x } y"', "lone `}`"),
    ('"x { y"', "never closed"),
    ("", "empty expression"),
])
def test_syntax_errors(text, message):
    assert message in error(text)


def test_spans_are_in_file_coordinates():
    node = parse("lower(traits.email)")
    assert (node.span.start, node.span.end) == (0, 19)
    assert (node.args[0].span.start, node.args[0].span.end) == (6, 18)
    assert (node.name_span.start, node.name_span.end) == (0, 5)
