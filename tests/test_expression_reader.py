"""The hand-written expression reader (mapspec/syntax/reader.py) against lark's parse of the grammar: on every
expression it takes, the same tree with the same spans; on what it does not take, lark reads the text."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from mapspec.syntax import ast, expressions, reader
from mapspec.syntax.grammar import grammar_text

ROOT = Path(__file__).resolve().parent.parent


def shape(node: object) -> object:
    """A node with its spans (which `==` and repr leave out), to compare trees exactly."""
    if isinstance(node, ast.Node):
        return (type(node).__name__, node.span, tuple((f, shape(getattr(node, f))) for f in ast._fields(type(node))))
    if isinstance(node, tuple | list):
        return tuple(shape(n) for n in node)
    return node


def both(text: str, start: str = "start", base: int = 0) -> tuple[object, object]:
    """(what the reader gives: a tree's shape, or "unread"; what lark gives: a shape, or the error)."""

    def locate(a: int, b: int) -> tuple[int, int]:
        return (a, b)

    try:
        fast = shape(reader.read(text, start, expressions._Nodes(text, base, locate)))
    except (reader.Unread, expressions.ExpressionError):
        fast = "unread"
    try:
        slow = shape(expressions._parse_with_lark(text, base, locate, start))
    except expressions.ExpressionError as e:
        slow = ("error", e.code, e.message, e.start, e.end)
    return fast, slow


def agree(text: str, start: str = "start") -> bool:
    """Whether the reader took the text; it fails the test if the reader's tree is not lark's."""
    fast, slow = both(text, start)
    if fast == "unread":
        return False
    assert fast == slow, text
    return True


def test_the_terminals_are_the_grammars():
    grammar = grammar_text()
    for name in ("NAME", "FIELD", "KEY_WORD", "VAR", "NUMBER", "DQ_STRING", "SQ_STRING"):
        written = re.search(rf"^{name}(?:\.-?\d+)?: /(.*)/$", grammar, re.M).group(1)
        assert getattr(reader, name).pattern.strip("()") == written.strip("()"), name


def bundled_expressions() -> list[tuple[str, str]]:
    """Every expression of the bundled mappings, and of the test fixtures, as the document reader meets them."""
    from mapspec.compiler import check_source, read_mapping

    seen: list[tuple[str, str]] = []
    parse = expressions._parse

    def spy(text: str, base: int, locate, start: str = "start"):
        seen.append((text, start))
        return parse(text, base, locate, start)

    files = sorted({*ROOT.glob("mappings/**/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")})
    expressions._parse = spy
    try:
        for path in files:
            if not path.name.endswith(".test.yaml"):
                try:
                    check_source(read_mapping(str(path)))
                except Exception:  # noqa: BLE001, S112 - a fixture that is not a mapping
                    continue
    finally:
        expressions._parse = parse
    return list(dict.fromkeys(seen))


def test_every_bundled_expression_reads_as_lark_reads_it():
    taken = [agree(text, start) for text, start in bundled_expressions()]
    assert len(taken) > 500
    assert sum(taken) / len(taken) > 0.95  # the reader takes nearly all of them (what it is for)


CASES = [
    "a", "a.b.c", "a[0]['x']", "$x.y", "$event", "settings.app_id", "settings . x", "f()", "f(a, b,)", "f (a)",
    "f(x).y[0]", "1", "1.5e3", "-1", "-(1)", "- -a", "-a.b", "not a", "not not a", "not a == b", "a not in b",
    "a in [1, 2]", "a == b", "a != b and c < d or e >= f", "a + b * c - d / e % f", "(a + b) * c", "((a)).b",
    "(a).b", "a without b without c", "a else b else c", "(a else b) else c", "a if b", "a if b else c",
    "a if b else c if d else e", "a else b if c else d", "(a if b) else c", "[]", "[a,]", "[a, b, [c]]",
    "[x for $x in xs]", "[x for $i, $x in xs if $i > 0]", "[a if b for $x in y]", "{}", "{a: 1}", "{a: 1,}",
    "{if: 1, for: 2, in: 3, else: 4}", "{not: 1, settings: 2}", "{true: 1, null: 2, missing: 3}",
    '{"a b": 1}', '{"{x}": 1}', "{...a, b: 2}", "{...a.b[0]}", "{k: v for $k, $v in o}", "{k: v for $k in o if c}",
    '"text"', '"a {b} c"', '"{{literal}}"', '"{f("x")}"', "'raw \\' text'", '"\\u00e9"', "true", "false", "null",
    "missing", "a # comment", "a\n.b", "  a  ", "a.if.in.true", "traits.not", "nothing", "notx", "trueish",
    "a iffy", "a orb", "a andy", "1else 2", "a == b == c", "a not b", "{a.b: 1}", "{a}", "[,]", "f(,)", "a..b",
    "a...b", "settings", "settings.1", "$", "a.1", "1e", "a =b", "a ! b", '"unclosed', "'unclosed", "a)", "(a",
    "{1: 2}", "[a, b for $x in y]", "{not: 1 for $x in y}", "{a.b: v for $x in y}", "[x for $event in y]",
    "[x for $a, $a in y]", "1" * 50, "a\tb", "a\vb", "noté", "inédit", "a iné", "café.x", "a.é",
]


@pytest.mark.parametrize("text", CASES)
def test_cases(text: str):
    agree(text)


@pytest.mark.parametrize("text", ["$x in xs", "$i, $x in xs.y else []", "$x in", "$x, in y", "x in y",
                                  "$x in y if z", "$x in[1]", "$x inxs"])
def test_for_heads(text: str):
    agree(text, "for_head")


def test_what_it_takes():
    for text in ["a.b", "f(x, [1, 2])", "{a: 1, ...b}", '"a {b}"', "[x for $x in y if z]", "a if b else c",
                 "{if: 1}", "not a in b"]:
        assert agree(text), text


def test_deep_nesting_is_left_to_lark():
    for text in ["(" * 300 + "a" + ")" * 300, "[" * 200 + "]" * 200, "-" * 500 + "a", "not " * 300 + "a",
                 "a" + ".b" * 300, "a" + " + b" * 300]:
        assert not agree(text)
    assert agree("(" * 20 + "a" + ")" * 20)


# ---- generated expressions: random trees of the grammar, written with random spacing, and broken at random

_ATOMS = ["a", "b.c", "$x", "$x.y[0]", "settings.s", "1", "2.5", "true", "null", "missing", '"t"', '"t {a} u"',
          "'r'", "f()", "[]", "{}", "traits.if", "notx", "in_"]
_BINARY = ["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "in", "not in", "and", "or", "without", "else"]


def _expr(rnd: random.Random, depth: int) -> str:  # noqa: C901 - one case per form
    if depth <= 0:
        return rnd.choice(_ATOMS)
    k = rnd.randrange(14)
    e = lambda: _expr(rnd, depth - 1)  # noqa: E731
    if k < 3:
        return f"{e()} {rnd.choice(_BINARY)} {e()}"
    if k == 3:
        return f"({e()})"
    if k == 4:
        return rnd.choice(["-", "not "]) + e()
    if k == 5:
        return f"{e()} if {e()}" + (f" else {e()}" if rnd.random() < 0.5 else "")
    if k == 6:
        return f"{e()}.{rnd.choice(['x', 'if', 'true', 'not'])}"
    if k == 7:
        return f"{e()}[{e()}]"
    if k == 8:
        return f"f({', '.join(e() for _ in range(rnd.randrange(3)))})"
    if k == 9:
        return f"[{', '.join(e() for _ in range(rnd.randrange(3)))}]"
    if k == 10:
        keys = ["a", "if", "not", "true", '"k"', "settings"]
        entries = [f"{rnd.choice(keys)}: {e()}" if rnd.random() < 0.8 else f"...{e()}" for _ in range(rnd.randrange(3))]
        return "{" + ", ".join(entries) + "}"
    if k == 11:
        return f"[{e()} for $v in {e()}" + (f" if {e()}" if rnd.random() < 0.5 else "") + "]"
    if k == 12:
        return f"{{{e()}: {e()} for $k, $v in {e()}}}"
    return f'"x {{{e()}}} y"'


def _respace(rnd: random.Random, text: str) -> str:
    out = []
    for ch in text:
        if ch == " " and rnd.random() < 0.3:
            ch = rnd.choice(["", "  ", "\n", " # c\n"])
        out.append(ch)
    return "".join(out)


def _break(rnd: random.Random, text: str) -> str:
    i = rnd.randrange(len(text) + 1)
    what = rnd.choice(["drop", "insert", "swap"])
    if what == "drop":
        return text[:i] + text[i + 1:]
    if what == "insert":
        return text[:i] + rnd.choice(["(", ")", ",", ".", " if ", "[", "}", ":", "..."]) + text[i:]
    j = rnd.randrange(len(text) + 1)
    return text[:min(i, j)] + text[max(i, j):]


def test_generated_expressions():
    rnd = random.Random(14)
    taken = 0
    for _ in range(3000):
        text = _respace(rnd, _expr(rnd, rnd.randrange(5)))
        taken += agree(text)
        agree(_break(rnd, text))
    assert taken > 2000
