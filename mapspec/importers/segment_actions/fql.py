"""Segment's Filter Query Language (FQL), as written in subscription triggers, to a mapspec condition.

The lexer follows `@segment/fql-ts`: identifiers of letters, digits, `_` and `-` (a backslash escapes
any character, so `properties.first\\ name` is one path), strings in single or double quotes with no
escapes, numbers, `null`, `=` `!=` `<` `<=` `>` `>=`, `and`, `or`, `!`, parentheses, and the functions
`contains(path, "text")`, `match(path, "glob*")`, `lowercase(path)`, `length(path)` and `typeof(path)`,
and `"value" in path`. `and` binds more tightly than `or`.

Comparisons are strict, as in Segment: `=` compares a value with the literal as written, without
converting types (`properties.count = 5` does not hold for `"5"`), and holds for no missing value;
`!=` is its negation, so it holds when the path is missing; `= null` holds when the path is missing or
null, `!= null` when it is neither; `<` `<=` `>` `>=` hold only for numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import expr as x
from .expr import E


class FQLError(ValueError):
    """A trigger that is not valid FQL, or that uses what the importer does not translate."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


#: how deeply parentheses and `!` may nest in a trigger
MAX_NESTING = 32


@dataclass(frozen=True)
class Token:
    kind: str  # ident string number null op conditional lparen rparen comma lbrack rbrack dot eos
    value: str
    pos: int


def _is_ident_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_-\\")


def lex(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r":
            i += 1
            continue
        start = i
        if c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise FQLError("a string is never closed", start)
            tokens.append(Token("string", text[i + 1:end], start))
            i = end + 1
            continue
        if c.isdigit() or (c in "-+" and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
            m = re.match(r"[-+]?(\d+(\.\d+)?|\.\d+)", text[i:])
            if not m:
                raise FQLError(f"invalid number at `{text[i:i + 10]}`", start)
            end = i + m.end()
            if end + 1 < n and text[end] == "." and text[end + 1].isdigit():
                raise FQLError("a number with more than one decimal point", end)
            tokens.append(Token("number", m.group(0), start))
            i = end
            continue
        two = text[i:i + 2]
        if two in ("!=", "<=", ">="):
            tokens.append(Token("op", two, start))
            i += 2
            continue
        if c in "=<>":
            tokens.append(Token("op", c, start))
            i += 1
            continue
        if c == "!":
            tokens.append(Token("not", c, start))
            i += 1
            continue
        single = {"(": "lparen", ")": "rparen", ",": "comma", "[": "lbrack", "]": "rbrack", ".": "dot"}
        if c in single:
            tokens.append(Token(single[c], c, start))
            i += 1
            continue
        if c.isascii() and (c.isalpha() or c in "_\\"):
            buf = []
            while i < n and _is_ident_char(text[i]):
                if text[i] == "\\":
                    if i + 1 >= n:
                        raise FQLError("a backslash at the end of the trigger", i)
                    buf.append(text[i + 1])
                    i += 2
                else:
                    buf.append(text[i])
                    i += 1
            word = "".join(buf)
            raw = text[start:i]
            if raw in ("and", "or"):
                tokens.append(Token("conditional", raw, start))
            elif raw == "null":
                tokens.append(Token("null", raw, start))
            else:
                tokens.append(Token("ident", word, start))
            continue
        raise FQLError(f"unexpected character `{c}`", start)
    tokens.append(Token("eos", "", n))
    return tokens


# ---------------------------------------------------------------------------- the syntax tree


@dataclass(frozen=True)
class Path:
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Func:
    name: str  # lowercase, length, typeof
    arg: Path


@dataclass(frozen=True)
class Compare:
    left: Path | Func
    op: str
    value: str | float | int | bool | None  # a literal


@dataclass(frozen=True)
class Contains:
    left: Path | Func
    text: str


@dataclass(frozen=True)
class Match:
    left: Path | Func
    glob: str


@dataclass(frozen=True)
class In:
    value: str | float | int | bool | None
    right: Path


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class Group:
    op: str  # and, or
    items: tuple


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = lex(text)
        self.i = 0
        self.depth = 0  # parentheses and `!` open around the current position

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str | None = None, what: str = "") -> Token:
        t = self.tokens[self.i]
        if kind is not None and t.kind != kind:
            found = "the end of the trigger" if t.kind == "eos" else f"`{t.value}`"
            raise FQLError(f"expected {what or kind} but found {found}", t.pos)
        self.i += 1
        return t

    def parse(self):
        if self.peek().kind == "eos":
            raise FQLError("the trigger is empty")
        node = self.or_()
        t = self.peek()
        if t.kind != "eos":
            raise FQLError(f"unexpected `{t.value}`", t.pos)
        return node

    def or_(self):
        items = [self.and_()]
        while self.peek().kind == "conditional" and self.peek().value == "or":
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Group("or", tuple(items))

    def and_(self):
        items = [self.unary()]
        while self.peek().kind == "conditional" and self.peek().value == "and":
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else Group("and", tuple(items))

    def unary(self):
        t = self.peek()
        if t.kind in ("not", "lparen"):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise FQLError(f"nested more than {MAX_NESTING} levels deep (parentheses and `!`)", t.pos)
            self.take()
            if t.kind == "not":
                inner = Not(self.unary())
            else:
                inner = self.or_()
                self.take("rparen", "`)`")
            self.depth -= 1
            return inner
        if t.kind in ("string", "number", "null") or (t.kind == "ident" and t.value in ("true", "false")
                                                     and self.tokens[self.i + 1].kind == "ident"
                                                     and self.tokens[self.i + 1].value == "in"):
            value = self.literal()
            word = self.take("ident", "`in`")
            if word.value != "in":
                raise FQLError(f"expected `in` after a value but found `{_cut(word.value)}`", word.pos)
            return In(value, self.path())
        if t.kind == "ident" and self.tokens[self.i + 1].kind == "lparen":
            return self.function()
        left = self.path()
        op = self.take("op", "a comparison such as `=` or `!=`")
        return Compare(left, op.value, self.literal())

    def function(self):
        name = self.take("ident")
        self.take("lparen")
        if name.value in ("contains", "match"):
            left = self.operand()
            self.take("comma", "`,`")
            arg = self.take("string", f"a string as the second argument of {name.value}()")
            self.take("rparen", "`)`")
            return Contains(left, arg.value) if name.value == "contains" else Match(left, arg.value)
        if name.value in ("lowercase", "length", "typeof"):
            arg = self.path()
            self.take("rparen", "`)`")
            func = Func(name.value, arg)
            op = self.take("op", f"a comparison after {name.value}()")
            return Compare(func, op.value, self.literal())
        raise FQLError(f"the function `{name.value}` is not translated (contains, match, lowercase, length and "
                       f"typeof are)", name.pos)

    def operand(self):
        t = self.peek()
        if t.kind == "ident" and t.value == "lowercase" and self.tokens[self.i + 1].kind == "lparen":
            self.take()
            self.take("lparen")
            arg = self.path()
            self.take("rparen", "`)`")
            return Func("lowercase", arg)
        return self.path()

    def path(self) -> Path:
        first = self.take("ident", "a field such as `event` or `properties.plan`")
        steps = [first.value]
        while self.peek().kind == "dot":
            self.take()
            t = self.peek()
            if t.kind in ("ident", "number", "null"):
                self.take()
                steps.append(t.value)
            else:
                raise FQLError(f"expected a field name after `.` but found `{_cut(t.value) or 'the end'}`", t.pos)
        return Path(tuple(steps))

    def literal(self):
        t = self.take()
        if t.kind == "string":
            return t.value
        if t.kind == "number":
            f = float(t.value)
            return int(f) if f.is_integer() and "." not in t.value else f
        if t.kind == "null":
            return None
        if t.kind == "ident" and t.value in ("true", "false"):
            return t.value == "true"
        found = "the end of the trigger" if t.kind == "eos" else f"`{t.value}`"
        raise FQLError(f"expected a value (a string, a number, true, false or null) but found {found}", t.pos)


def parse(text: str):
    """The syntax tree of a trigger; FQLError when it is not valid FQL."""
    return _Parser(text).parse()


# ---------------------------------------------------------------------------- to mapspec


def _path(p: Path) -> E:
    steps: list[str | int] = []
    for s in p.steps:
        steps.append(int(s) if s.isdigit() else s)
    return x.path(None, steps)


def _operand(node: Path | Func) -> E:
    if isinstance(node, Path):
        return _path(node)
    arg = _path(node.arg)
    if node.name == "lowercase":
        return x.call("lower", arg)
    if node.name == "length":
        return x.call("length", arg)
    # typeof: JavaScript's names for JSON values
    return x.call("typeof", arg)


def _glob(glob: str) -> str:
    """A glob (`*` any text, `?` one character) as an anchored regular expression."""
    out = []
    for ch in glob:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "(?s)" + "".join(out) + r"\Z"


@dataclass(frozen=True)
class _OneOf:
    """`path = "a" or path = "b" or ...` (or, negated, `path != "a" and path != "b" and ...`) as one test."""
    left: object
    texts: tuple[str, ...]
    negated: bool


def _lists(group: Group) -> list:
    """The group's items, the comparisons of one path with three texts or more (`=` in an `or`, `!=` in an
    `and`) gathered into one `in` test where the first of them stood: the same meaning (a missing or null
    value is in no list of texts), read at a glance, and as light for the checker as one comparison."""
    op = "=" if group.op == "or" else "!="
    texts: dict = {}
    for item in group.items:
        if isinstance(item, Compare) and item.op == op and isinstance(item.value, str):
            texts.setdefault(item.left, []).append(item.value)
    out: list = []
    done: set = set()
    for item in group.items:
        if isinstance(item, Compare) and item.op == op and isinstance(item.value, str) \
                and len(texts[item.left]) >= 3:
            if item.left not in done:
                done.add(item.left)
                out.append(_OneOf(item.left, tuple(texts[item.left]), op == "!="))
            continue
        out.append(item)
    return out


def condition(node) -> E:
    """A mapspec condition for a parsed trigger."""
    if isinstance(node, Group):
        parts = [condition(i) for i in _lists(node)]
        return x.and_(*parts) if node.op == "and" else x.or_(*parts)
    if isinstance(node, Not):
        if isinstance(node.item, Contains):
            return x.binary("not in", x.string(node.item.text), _operand(node.item.left))
        if isinstance(node.item, Compare) and node.item.op in ("=", "!=") and node.item.value is not None:
            return condition(Compare(node.item.left, "!=" if node.item.op == "=" else "=", node.item.value))
        return x.not_(condition(node.item))
    if isinstance(node, In):
        return x.binary("in", x.literal(node.value), _path(node.right))
    if isinstance(node, _OneOf):
        return x.binary("not in" if node.negated else "in", _operand(node.left), x.literal(list(node.texts)))
    if isinstance(node, Contains):
        left = _operand(node.left)
        return x.binary("in", x.string(node.text), left)
    if isinstance(node, Match):
        left = _operand(node.left)
        g = node.glob
        body = g.strip("*")
        if "?" not in g and "*" not in body:
            if g == "*":
                return x.call("is_string", left)
            if g.endswith("*") and not g.startswith("*"):
                return x.call("starts_with", left, x.string(body))
            if g.startswith("*") and not g.endswith("*"):
                return x.call("ends_with", left, x.string(body))
            if g.startswith("*") and g.endswith("*"):
                return x.binary("in", x.string(body), left)
            return x.eq(left, x.string(g))
        return x.call("matches", left, x.E(x.sq(_glob(g))))
    assert isinstance(node, Compare)
    left = _operand(node.left)
    op, value = node.op, node.value
    if value is None:
        if op == "=":
            return x.or_(x.not_(x.call("exists", left)), x.eq(left, x.NULL))
        if op == "!=":
            return x.and_(x.call("exists", left), x.ne(left, x.NULL))
        raise FQLError(f"`{op} null` is never true")
    if op in ("=", "!="):
        return x.eq(left, x.literal(value)) if op == "=" else x.ne(left, x.literal(value))
    if isinstance(value, bool) or value is None:
        raise FQLError(f"`{op}` needs a number, not {str(value).lower()}")
    if isinstance(value, str):
        # Segment compares numbers only: the text must be a number
        try:
            num = float(value)
        except ValueError:
            return x.FALSE
        value = int(num) if num.is_integer() else num
    return x.and_(x.call("is_number", left), x.binary(op, left, x.literal(value)))


def translate(text: str) -> E:
    """A trigger as a mapspec condition (`true` for the empty trigger, which takes every event)."""
    if not text.strip():
        return x.TRUE
    return condition(parse(text))
