"""A hand-written reader of the expression grammar (`grammar/mapspec.lark`), for speed.

lark reads the grammar's LALR tables and builds a lexer for each of its states (about 0.2 s of a process's
start-up in all, with its import); this reader reads the same expressions by recursive descent, directly
into the syntax tree, in a fraction of the time. It takes only what it is sure of: on anything else (a syntax
error, a word that runs into a keyword, nesting deeper than it reads, any error a node reports) it raises
`Unread`, and lark reads the text instead, so every diagnostic is lark's as before. On what it takes, it gives
the tree lark's parse gives, spans included (`tests/test_expression_reader.py` checks both on every expression of the
bundled mappings and on generated ones).

Spans are those of lark's `propagate_positions`: a node runs from the first token of its rule to the last,
where a child in parentheses counts with its parentheses (`(a + b) * c` starts at the `(`), though its own
span does not include them.
"""

from __future__ import annotations

import re
from typing import Any

# the grammar's terminals (tests/test_expression_reader.py checks that they are the grammar's)
NAME = re.compile(r"(?!(?:and|or|not|in|if|else|for|without|true|false|null|missing|settings)\b)[A-Za-z_][A-Za-z0-9_]*")
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEY_WORD = re.compile(r"(?:not|settings)(?=\s*:)")
VAR = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
DQ_STRING = re.compile(r"""("(?:[^"\\{]|\\.|\{\{|\{(?:[^{}"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\}|\{)*")""")
SQ_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
#: what lark ignores between tokens: whitespace (common.WS) and comments
_SKIP = re.compile(r"(?:[ \t\f\r\n]+|#[^\n]*)*")

_COMPARE = ("==", "!=", "<=", ">=", "<", ">")
_KEYWORDS = ("without", "else", "and", "not", "for", "if", "in", "or")
_PUNCT = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", ".", "[", "]", "(", ")", "{", "}", ",", ":")
_CONSTANTS = {"true": "true", "false": "false", "null": "null", "missing": "missing"}

#: the deepest nesting read here (Python's stack), and the deepest parse tree (lark's tree is checked against
#: twice limits.MAX_DEPTH, 128; this bound on it stays below)
_MAX_NESTING = 40
_MAX_TREE = 120


class Unread(Exception):
    """The reader does not take this text: lark reads it."""


class _Tok(str):
    """A token: its text, and where it is (`start_pos`, `end_pos`, as lark's tokens have)."""

    start_pos: int
    end_pos: int


class _Meta:
    __slots__ = ("start_pos", "end_pos")

    def __init__(self, start: int, end: int):
        self.start_pos, self.end_pos = start, end


class _Args:
    __slots__ = ("children",)

    def __init__(self, children: list):
        self.children = children


def read(text: str, start: str, nodes: Any) -> Any:
    """The syntax tree of `text` from rule `start` (`start` or `for_head`), built by `nodes` (the methods lark's
    transformer has), or `Unread`."""
    r = _Reader(text, nodes)
    if start == "start":
        value = r.expr()[0]
    elif start == "for_head":
        value = r.for_head()
    else:
        raise Unread(start)
    if r.op() != "":
        raise Unread(r.pos)
    return value


# A value read is (node, start, end, depth): start and end are those of its container (with parentheses), depth
# a bound on the height of lark's parse tree for it.
class _Reader:
    def __init__(self, text: str, nodes: Any):
        self.text, self.n, self.nodes = text, len(text), nodes
        self.pos = 0
        self.nesting = 0

    # ---- tokens
    def skip(self) -> int:
        self.pos = _SKIP.match(self.text, self.pos).end()
        return self.pos

    def op(self) -> str:
        """The operator or punctuation at the position ("" at the end, "?" for anything else), not consumed. A
        keyword that runs into a word (`a iffy`, which lark reads as `a if fy`) is "?": left to lark."""
        at = self.skip()
        if at >= self.n:
            return ""
        text = self.text
        for p in _PUNCT:
            if text.startswith(p, at):
                return p
        for k in _KEYWORDS:
            if text.startswith(k, at):
                after = at + len(k)
                if after < self.n and (text[after].isalnum() or text[after] == "_"):
                    return "?"
                return k
        return "?"

    def take(self, what: str) -> tuple[int, int]:
        """Consume operator `what`, which must come next: its start and end."""
        if self.op() != what:
            raise Unread(self.pos)
        at = self.pos
        self.pos += len(what)
        return at, self.pos

    def token(self, pattern: re.Pattern) -> _Tok | None:
        at = self.skip()
        m = pattern.match(self.text, at)
        if m is None or m.end() == at:
            return None
        tok = _Tok(m.group())
        tok.start_pos, tok.end_pos = at, m.end()
        self.pos = m.end()
        return tok

    def word(self) -> str:
        at = self.skip()
        m = FIELD.match(self.text, at)
        return m.group() if m else ""

    # ---- the rules, loosest first
    def expr(self) -> tuple:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise Unread(self.pos)
        value = self.fallback()
        if self.op() == "if":
            self.take("if")
            cond = self.or_expr()
            if self.op() == "else":
                self.take("else")
                other = self.expr()
                value = self.make("conditional", value, other, value[0], cond[0], other[0], depth=(cond,))
            else:
                value = self.make("guard", value, cond, value[0], cond[0])
        self.nesting -= 1
        return value

    def fallback(self) -> tuple:
        first = self.or_expr()
        items = [first]
        while self.op() == "else":
            self.take("else")
            items.append(self.or_expr())
        if len(items) == 1:
            return first
        return self.make("coalesce", first, items[-1], *(i[0] for i in items), depth=items)

    def or_expr(self) -> tuple:
        value = self.and_expr()
        while self.op() == "or":
            self.take("or")
            right = self.and_expr()
            value = self.make("or_", value, right, value[0], right[0])
        return value

    def and_expr(self) -> tuple:
        value = self.not_expr()
        while self.op() == "and":
            self.take("and")
            right = self.not_expr()
            value = self.make("and_", value, right, value[0], right[0])
        return value

    def prefix(self, rule: str, width: int, operand) -> tuple:
        """A prefix operator of `width` characters at the current position, applied to `operand()`."""
        start = self.pos
        self.pos += width
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise Unread(start)
        inner = operand()
        self.nesting -= 1
        return self.make(rule, (None, start, start + width, 0), inner, inner[0])

    def not_expr(self) -> tuple:
        if self.word() == "not" and not NAME.match(self.text, self.pos):
            return self.prefix("not_", 3, self.not_expr)
        return self.comparison()

    def comparison(self) -> tuple:
        left = self.without()
        o = self.op()
        if o in _COMPARE:
            at, end = self.take(o)
            tok = _Tok(o)
            tok.start_pos, tok.end_pos = at, end
            right = self.without()
            return self.make("compare", left, right, left[0], tok, right[0])
        if o == "in":
            self.take("in")
            right = self.without()
            return self.make("in_", left, right, left[0], right[0])
        if o == "not":
            self.take("not")
            self.take("in")
            right = self.without()
            return self.make("not_in", left, right, left[0], right[0])
        return left

    def without(self) -> tuple:
        value = self.sum()
        while self.op() == "without":
            self.take("without")
            right = self.sum()
            value = self.make("without", value, right, value[0], right[0])
        return value

    def sum(self) -> tuple:
        value = self.product()
        while (o := self.op()) in ("+", "-"):
            self.take(o)
            right = self.product()
            value = self.make("add" if o == "+" else "sub", value, right, value[0], right[0])
        return value

    def product(self) -> tuple:
        value = self.unary()
        while (o := self.op()) in ("*", "/", "%"):
            self.take(o)
            right = self.unary()
            value = self.make({"*": "mul", "/": "div", "%": "mod"}[o], value, right, value[0], right[0])
        return value

    def unary(self) -> tuple:
        self.skip()
        if self.text.startswith("-", self.pos):
            return self.prefix("neg", 1, self.unary)
        return self.postfix()

    def postfix(self) -> tuple:
        value = self.atom()
        while True:
            o = self.op()
            if o == ".":
                self.take(".")
                tok = self.token(FIELD)
                if tok is None:
                    raise Unread(self.pos)
                value = self.make("getattr", value, _end(tok), value[0], tok)
            elif o == "[":
                self.take("[")
                key = self.expr()
                _, end = self.take("]")
                value = self.make("getitem", value, _end(end), value[0], key[0], depth=(key,))
            else:
                return value

    def atom(self) -> tuple:  # noqa: C901 - one case per kind of atom
        at = self.skip()
        if at >= self.n:
            raise Unread(at)
        c = self.text[at]
        if c == "$":
            tok = self.token(VAR)
            if tok is None:
                raise Unread(at)
            return self.leaf("var", tok)
        if c.isdigit():
            return self.leaf("number", self.token(NUMBER))
        if c == '"':
            tok = self.token(DQ_STRING)
            if tok is None:
                raise Unread(at)
            return self.leaf("template", tok)
        if c == "'":
            tok = self.token(SQ_STRING)
            if tok is None:
                raise Unread(at)
            return self.leaf("raw_string", tok)
        if c == "[":
            return self.list_()
        if c == "{":
            return self.object_()
        if c == "(":
            self.take("(")
            inner = self.expr()
            _, end = self.take(")")
            return (inner[0], at, end, inner[3])
        tok = self.token(NAME)
        if tok is not None:
            if self.op() == "(":
                self.take("(")
                args: list = []
                while self.op() != ")":
                    args.append(self.expr())
                    if self.op() != ",":
                        break
                    self.take(",")
                _, end = self.take(")")
                return self.make("call", _start(tok), _end(end), tok, *([_Args([a[0] for a in args])] if args else []),
                                 depth=args)
            return self.leaf("name", tok)
        word = self.word()
        if word in _CONSTANTS:
            self.pos = at + len(word)
            return self.make(_CONSTANTS[word], (None, at, self.pos, 0), (None, at, self.pos, 0))
        if word == "settings":
            self.pos = at + len(word)
            self.take(".")
            tok = self.token(FIELD)
            if tok is None:
                raise Unread(self.pos)
            return self.make("setting", (None, at, at, 0), _end(tok), tok)
        raise Unread(at)

    def list_(self) -> tuple:
        start, _ = self.take("[")
        items: list = []
        if self.op() != "]":
            first = self.expr()
            if self.op() == "for":
                head = self.comp_for()
                _, end = self.take("]")
                return self.make("list_comp", _start(start), _end(end), first[0], head[0], depth=(first, head))
            items.append(first)
            while self.op() == ",":
                self.take(",")
                if self.op() == "]":
                    break
                items.append(self.expr())
        _, end = self.take("]")
        return self.make("list", _start(start), _end(end), *(i[0] for i in items), depth=items)

    def object_(self) -> tuple:
        start, _ = self.take("{")
        entries: list = []
        if self.op() != "}":
            entry = self.entry()
            if entry[0] == "field" and self.op() == "for":  # {KEY: VALUE for ...}
                _, key, value = entry
                head = self.comp_for()
                _, end = self.take("}")
                return self.make("object_comp", _start(start), _end(end), key[0], value[0], head[0],
                                 depth=(key, value, head))
            entries.append(self.make_entry(*entry))
            while self.op() == ",":
                self.take(",")
                if self.op() == "}":
                    break
                entries.append(self.make_entry(*self.entry()))
        _, end = self.take("}")
        return self.make("object", _start(start), _end(end), *(e[0] for e in entries), depth=entries)

    def entry(self) -> tuple:
        """An entry of an object, read but not made: (rule, its first part, its value)."""
        at = self.skip()
        if self.text.startswith("...", at):
            self.pos = at + 3
            return "spread", _start(at), self.postfix()
        tok = self.token(KEY_WORD)
        if tok is None and not NAME.match(self.text, at) and self.word() not in (*_CONSTANTS, "not", "settings"):
            tok = self.token(FIELD)  # a keyword that is no expression: `{if: 1}`
        if tok is not None:
            self.take(":")
            return "field_word", tok, self.expr()
        key = self.expr()
        self.take(":")
        return "field", key, self.expr()

    def make_entry(self, rule: str, first: Any, value: tuple) -> tuple:
        if rule == "spread":
            return self.make("spread", first, value, value[0])
        if rule == "field_word":
            return self.make("field_word", _start(first), value, first, value[0])
        return self.make("field", first, value, first[0], value[0])

    def comp_for(self) -> tuple:
        start, _ = self.take("for")
        names = [self.var()]
        if self.op() == ",":
            self.take(",")
            names.append(self.var())
        self.take("in")
        iterable = self.fallback()
        parts = [iterable]
        if self.op() == "if":
            self.take("if")
            parts.append(self.or_expr())
        return self.make("comp_for", _start(start), parts[-1], *names, *(p[0] for p in parts), depth=parts)

    def for_head(self) -> Any:
        names = [self.var()]
        if self.op() == ",":
            self.take(",")
            names.append(self.var())
        self.take("in")
        iterable = self.fallback()
        return self.make("for_head", _start(names[0]), iterable, *names, iterable[0])[0]

    def var(self) -> _Tok:
        tok = self.token(VAR)
        if tok is None:
            raise Unread(self.pos)
        return tok

    # ---- nodes
    def leaf(self, rule: str, tok: _Tok | None) -> tuple:
        if tok is None:
            raise Unread(self.pos)
        return self.make(rule, _start(tok), _end(tok), tok)

    def make(self, rule: str, first: tuple, last: tuple, *children: Any, depth: Any = ()) -> tuple:
        """Node `rule` from `children`, its rule's first and last parts giving its span."""
        start, end = first[1], last[2]
        height = 2 + max(first[3], last[3], *(d[3] for d in depth))
        if height > _MAX_TREE:
            raise Unread(start)
        return getattr(self.nodes, rule)(_Meta(start, end), *children), start, end, height


def _start(at: Any) -> tuple:
    """A token (or an offset) as the first part of a rule."""
    pos = at.start_pos if isinstance(at, _Tok) else at
    return (None, pos, pos, 0)


def _end(at: Any) -> tuple:
    """A token (or an end offset) as the last part of a rule."""
    pos = at.end_pos if isinstance(at, _Tok) else at
    return (None, pos, pos, 0)
