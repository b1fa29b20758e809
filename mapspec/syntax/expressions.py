"""Expression text -> syntax tree, with every node's span in file coordinates.

`parse_expression(text, locate)` takes a `locate(start, end) -> Span` that turns offsets in the
expression text into a span of the mapping file (the YAML loader knows where the scalar sits), so
diagnostics point into the file however the expression was quoted.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import limits
from ..diagnostics import DiagnosticBag
from ..source import Span
from . import ast
from .reader import Unread, read

if TYPE_CHECKING:
    import lark

Locate = Callable[[int, int], Span]

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'"}

#: readable names for the grammar's terminals, used in "expected ..." messages
_TERMINALS = {
    "RPAR": "`)`", "LPAR": "`(`", "RSQB": "`]`", "LSQB": "`[`", "RBRACE": "`}`", "LBRACE": "`{`",
    "COMMA": "`,`", "COLON": "`:`", "DOT": "`.`", "NAME": "a name", "FIELD": "a field name", "VAR": "a `$variable`",
    "NUMBER": "a number", "DQ_STRING": "a string", "SQ_STRING": "a string", "COMPARE": "a comparison",
    "ELSE": "`else`", "IF": "`if`", "AND": "`and`", "OR": "`or`", "NOT": "`not`", "IN": "`in`",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "PERCENT": "`%`", "WITHOUT": "`without`",
    "FOR": "`for`", "KEY_WORD": "a field name", "__ANON_0": "`...`", "$END": "the end of the expression",
}


class ExpressionError(Exception):
    def __init__(self, message: str, start: int, end: int, label: str = "", code: str = "E101",
                 span: Span | None = None):
        super().__init__(message)
        self.message, self.start, self.end, self.label, self.code = message, start, end, label, code
        #: where it is in the file, when that is known already (otherwise start and end are located)
        self.span = span

    def where(self, locate: Locate) -> Span:
        return self.span or locate(self.start, max(self.end, self.start + 1))


def parse_expression(text: str, locate: Locate, diags: DiagnosticBag, yaml_quotes: str = "") -> ast.Node | None:
    """Parse one expression; on a syntax error, add a diagnostic and return None.

    `yaml_quotes` is the quote YAML wrote the value in (`"` or `'`), which YAML removes: `name: "Signed Up"`
    is the expression `Signed Up`. An error in words that read as text says how to write the text."""
    try:
        return _parse(text, 0, locate)
    except ExpressionError as e:
        message, label, hints = e.message, e.label, []
        words = _words_around(text, e.start) if e.code == "E101" else None
        whole = words is not None and words[0] == 0 and words[1] == len(text.rstrip())
        if len(text) > 200:  # a long text is not quoted back whole in a message
            words = None
            whole = False
        if yaml_quotes and whole:
            q = yaml_quotes
            message = f"YAML took the quotes of {q}{text}{q}: it is read as the expression `{text}`, not as text"
            label = "not an expression"
            hints = [f"for the text {_json_text(text)}, put a string's quotes inside YAML's: {_yaml_string(text)}",
                     "every value of a mapping is an expression: YAML's own quotes are not part of it"]
            diags.error(e.code, message, locate(0, max(len(text), 1)), label=label, hints=hints)
            return None
        if words is not None:
            start, end = words
            phrase = text[start:end]
            if whole:
                fix = _yaml_string(phrase)
            else:
                fix = text[:start] + _json_text(phrase) + text[end:]
                fix = _yaml_string_of(fix) if yaml_quotes or fix[:1] in "\"'[{" else fix
            message = f"{message}: `{phrase}` reads as words of an expression, not as text"
            label = "text needs quotes"
            hints = [f"if it is meant as text, write it as a string: {fix}"]
        diags.error(e.code, message, e.where(locate), label=label, hints=hints)
        return None


_KEYWORDS = {"and", "or", "not", "in", "if", "else", "without", "for"}
_WORDY = re.compile(r"[A-Za-z_][\w'.,!?:;&/-]*")


def _words_around(text: str, at: int) -> tuple[int, int] | None:
    """Where the run of two or more bare words around offset `at` is (`Product Viewed` of
    `event == Product Viewed`), when the error is at a word that follows another: text written without quotes."""
    chunks = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    index = next((i for i, (a, b) in enumerate(chunks) if a <= at < b), None)
    if index is None or not _WORDY.fullmatch(text[slice(*chunks[index])]):
        return None
    first = last = index
    while first > 0 and _WORDY.fullmatch(text[slice(*chunks[first - 1])]):
        first -= 1
    while last + 1 < len(chunks) and _WORDY.fullmatch(text[slice(*chunks[last + 1])]):
        last += 1
    while first < index and first > 0 and text[slice(*chunks[first])] in _KEYWORDS:
        first += 1  # `x == "a" and Signed Up`: the words after the keyword
    if last == first:
        return None
    return chunks[first][0], chunks[last][1]


def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _yaml_string(text: str) -> str:
    """A string literal for the text, as a YAML value: `'"Signed Up"'`."""
    return _yaml_string_of(_json_text(text))


def _yaml_string_of(expression: str) -> str:
    """An expression as a single-quoted YAML value (YAML doubles a `'` inside)."""
    return "'" + expression.replace("'", "''") + "'"


def parse_for_head(text: str, locate: Locate, diags: DiagnosticBag) -> tuple[tuple[str, ...], ast.Node] | None:
    """The head of a `for` item: `$x in ITER` or `$i, $x in ITER`: (its variables, the iterable)."""
    try:
        return _parse(text, 0, locate, start="for_head")  # type: ignore[return-value]
    except ExpressionError as e:
        diags.error(e.code, e.message, e.where(locate),
                    label=e.label or "for example `$product in properties.products`")
        return None


def _parse(text: str, base: int, locate: Locate, start: str = "start"):
    if not text.strip():
        raise ExpressionError("empty expression", base, base + 1, "an expression is needed here")
    try:  # the grammar's own reader, which gives the same tree (tests/test_expression_reader.py), when it can
        return read(text, start, _Nodes(text, base, locate))
    except (Unread, ExpressionError, RecursionError):
        pass  # lark says what is wrong, and where, exactly as always
    return _parse_with_lark(text, base, locate, start)


def _parse_with_lark(text: str, base: int, locate: Locate, start: str):
    import lark

    from .grammar import parser

    try:
        tree = parser().parse(text, start=start)
    except lark.UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        raise ExpressionError(f"unexpected character `{ch}`", base + e.pos_in_stream,
                              base + e.pos_in_stream + 1, "not valid here") from None
    except lark.UnexpectedToken as e:
        raise _token_error(e, text, base) from None
    except lark.UnexpectedEOF:
        raise ExpressionError("the expression ends too early", base + len(text), base + len(text) + 1,
                              "something is missing here") from None
    _guard_depth(tree, base)
    try:
        return _lark_builder()(text, base, locate).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, ExpressionError):
            raise e.orig_exc from None
        raise


def _guard_depth(tree: lark.Tree, base: int) -> None:
    """Refuse a parse tree deeper than the transformer (which recurses) can build, before it tries.

    This only guards: the limit itself (`limits.MAX_DEPTH`, on the syntax tree with the definitions a value
    uses) is applied to the whole document once it is read. A parse tree has at most two levels for one
    of the syntax tree (a call and its arguments), so anything deeper than twice the limit is beyond it."""
    import lark

    stack: list[tuple[lark.Tree, int, lark.Tree | None]] = [(tree, 1, None)]
    while stack:
        node, depth, beyond = stack.pop()
        if depth == limits.MAX_DEPTH + 1:
            beyond = node  # where it goes beyond the limit, which the error points at
        if depth > 2 * limits.MAX_DEPTH:
            at = beyond if beyond is not None and not beyond.meta.empty else node
            start = at.meta.start_pos if not at.meta.empty else 0
            raise ExpressionError(f"this expression is {limits.too_deep()}", base + start, base + start + 1,
                                  "too deep here", "E006")
        stack.extend((child, depth + 1, beyond) for child in node.children if isinstance(child, lark.Tree))


def _token_error(e: lark.UnexpectedToken, text: str, base: int) -> ExpressionError:
    if {"NAME", "NUMBER", "DQ_STRING"} <= set(e.expected):
        want = "an expression"
    else:
        expected = sorted({_TERMINALS.get(t, f"`{t.lower()}`") for t in e.expected})
        want = ", ".join(expected[:6]) + (", ..." if len(expected) > 6 else "")
    if e.token.type == "$END":
        pos = len(text.rstrip())
        return ExpressionError("the expression ends too early", base + pos, base + pos + 1,
                               f"expected {want}")
    start = e.token.start_pos if e.token.start_pos is not None else 0
    end = e.token.end_pos if e.token.end_pos is not None else start + 1
    return ExpressionError(f"unexpected `{e.token.value}`", base + start, base + end, f"expected {want}")


@functools.cache
def _lark_builder() -> type:
    """`_Nodes` as a lark Transformer of parse trees (a class made when lark is first needed)."""
    from lark import Transformer, v_args

    def __init__(self, text: str, base: int, locate: Locate) -> None:
        Transformer.__init__(self)
        _Nodes.__init__(self, text, base, locate)

    methods = {k: v for k, v in vars(_Nodes).items() if k not in ("__dict__", "__weakref__")}
    return v_args(meta=True, inline=True)(type("_Builder", (Transformer,), {**methods, "__init__": __init__}))


class _Nodes:
    """The syntax tree's nodes, one method per rule of the grammar that makes one: `(meta, *children)`, where
    meta has the rule's `start_pos` and `end_pos` and a token is text with its own."""

    def __init__(self, text: str, base: int, locate: Locate):
        self.text, self.base, self.locate = text, base, locate
        self._bare: dict[int, ast.Node] = {}

    def _span(self, meta) -> Span:
        return self.locate(self.base + meta.start_pos, self.base + meta.end_pos)

    def _tspan(self, tok: Any) -> Span:
        return self.locate(self.base + tok.start_pos, self.base + tok.end_pos)

    # ---- names and paths
    def name(self, meta, tok):
        node = ast.Path(self._span(meta), "", (str(tok),))
        self._bare[id(node)] = node  # a bare name: as the key of an object, it is that name
        return node

    def var(self, meta, tok):
        if str(tok) == "$event":  # the whole event: a path with no steps
            return ast.Path(self._span(meta), "", ())
        return ast.Path(self._span(meta), str(tok), ())

    def setting(self, meta, tok):
        return ast.Setting(self._span(meta), str(tok))

    def getattr(self, meta, base, tok):
        if isinstance(base, ast.Path):
            return ast.Path(self._span(meta), base.root, base.steps + (str(tok),))
        return ast.Index(self._span(meta), base, ast.Literal(self._tspan(tok), str(tok)))

    def getitem(self, meta, base, key):
        if (isinstance(base, ast.Path) and isinstance(key, ast.Literal)
                and type(key.value) in (str, int)):
            return ast.Path(self._span(meta), base.root, base.steps + (key.value,))
        return ast.Index(self._span(meta), base, key)

    def call(self, meta, tok, args=None):
        return ast.Call(self._span(meta), str(tok), tuple(args.children) if args else (), self._tspan(tok))

    # ---- comprehensions: (variables, iterable, condition) from `comp_for` and `for_head`
    def comp_for(self, meta, *children):
        names = [c for c in children if not isinstance(c, ast.Node)]
        rest = [c for c in children if isinstance(c, ast.Node)]
        for tok in names:
            if str(tok) == "$event":
                raise ExpressionError("`$event` is the whole event: a loop variable needs another name",
                                      self.base + tok.start_pos, self.base + tok.end_pos, "choose another name",
                                      "E204")
        if len(names) == 2 and str(names[0]) == str(names[1]):
            raise ExpressionError(f"`{names[0]}` is named twice", self.base + names[1].start_pos,
                                  self.base + names[1].end_pos, "the two variables need two names", "E204")
        return tuple(str(t) for t in names), rest[0], (rest[1] if len(rest) > 1 else None)

    def for_head(self, meta, *children):
        names, iterable, _ = self.comp_for(meta, *children)
        return names, iterable

    def list_comp(self, meta, value, head):
        names, iterable, condition = head
        return ast.ListComp(self._span(meta), value, names[-1], iterable, condition,
                            names[0] if len(names) == 2 else None)

    def object_comp(self, meta, key, value, head):
        names, iterable, condition = head
        return ast.ObjectComp(self._span(meta), key, value, names[-1], iterable, condition,
                              names[0] if len(names) == 2 else None)

    # ---- literals
    def number(self, meta, tok):
        s = str(tok)
        digits = sum(c.isdigit() for c in s)
        value = float(s) if any(c in s for c in ".eE") and digits <= limits.MAX_NUMBER_DIGITS else \
            int(s) if digits <= limits.MAX_NUMBER_DIGITS else None
        problem = limits.number_problem(value, digits)
        if problem is not None:
            raise ExpressionError(problem, self.base + tok.start_pos, self.base + tok.end_pos,
                                  "beyond the limits", "E007")
        return ast.Literal(self._span(meta), value)

    def true(self, meta):
        return ast.Literal(self._span(meta), True)

    def false(self, meta):
        return ast.Literal(self._span(meta), False)

    def null(self, meta):
        return ast.Literal(self._span(meta), None)

    def missing(self, meta):
        return ast.Literal(self._span(meta), ast.MISSING)

    def raw_string(self, meta, tok):
        return ast.Literal(self._span(meta), _unquote_raw(str(tok)))

    def template(self, meta, tok):
        return self._template(tok, self._span(meta))

    def _template(self, tok: Any, span: Span) -> ast.Node:
        parts = _template_parts(str(tok), self.base + tok.start_pos, self.locate)
        if all(isinstance(p, str) for p in parts):
            return ast.Literal(span, "".join(parts))  # type: ignore[arg-type]
        return ast.Template(span, tuple(parts))

    def list(self, meta, *items):
        return ast.List(self._span(meta), tuple(items))

    def object(self, meta, *entries):
        return ast.Object(self._span(meta), tuple(entries))

    def field(self, meta, key, value):
        return ast.Field(self._span(meta), self._key(key), value)

    def field_word(self, meta, tok, value):
        return ast.Field(self._span(meta), ast.Literal(self._tspan(tok), str(tok)), value)

    def _key(self, key: ast.Node) -> ast.Node:
        """The key of an object literal: a name, a string, a template; `{true: 1}` has the key "true"."""
        if self._bare.get(id(key)) is key:
            return ast.Literal(key.span, key.steps[0])  # type: ignore[attr-defined]
        if isinstance(key, ast.Template) or (isinstance(key, ast.Literal) and isinstance(key.value, str)):
            return key
        if isinstance(key, ast.Literal) and (key.value is None or isinstance(key.value, bool)
                                             or key.value is ast.MISSING):
            word = "null" if key.value is None else "missing" if key.value is ast.MISSING else str(key.value).lower()
            return ast.Literal(key.span, word)
        raise ExpressionError("a key in an object is a name or a string", 0, 0,
                              'to compute a key, write a template: "{$k}"', span=key.span)

    def spread(self, meta, value):
        return ast.Spread(self._span(meta), value)

    # ---- operators
    def coalesce(self, meta, *items):
        flat: list[ast.Node] = []
        for item in items:
            flat.extend(item.items if isinstance(item, ast.Coalesce) else (item,))
        return ast.Coalesce(self._span(meta), tuple(flat))

    def guard(self, meta, value, cond):
        return ast.Guard(self._span(meta), value, cond)

    def conditional(self, meta, then, cond, otherwise):
        return ast.Conditional(self._span(meta), then, cond, otherwise)

    def or_(self, meta, a, b):
        return ast.Binary(self._span(meta), "or", a, b)

    def and_(self, meta, a, b):
        return ast.Binary(self._span(meta), "and", a, b)

    def not_(self, meta, a):
        return ast.Unary(self._span(meta), "not", a)

    def compare(self, meta, a, op, b):
        return ast.Binary(self._span(meta), str(op), a, b)

    def in_(self, meta, a, b):
        return ast.Binary(self._span(meta), "in", a, b)

    def not_in(self, meta, a, b):
        return ast.Binary(self._span(meta), "not in", a, b)

    def without(self, meta, a, b):
        return ast.Binary(self._span(meta), "without", a, b)

    def add(self, meta, a, b):
        return ast.Binary(self._span(meta), "+", a, b)

    def sub(self, meta, a, b):
        return ast.Binary(self._span(meta), "-", a, b)

    def mul(self, meta, a, b):
        return ast.Binary(self._span(meta), "*", a, b)

    def div(self, meta, a, b):
        return ast.Binary(self._span(meta), "/", a, b)

    def mod(self, meta, a, b):
        return ast.Binary(self._span(meta), "%", a, b)

    def neg(self, meta, a):
        if isinstance(a, ast.Literal) and type(a.value) in (int, float):
            return ast.Literal(self._span(meta), -a.value)
        return ast.Unary(self._span(meta), "-", a)


def _unquote_raw(tok: str) -> str:
    body = tok[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "'\\":
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _template_parts(tok: str, start: int, locate: Locate) -> list[str | ast.Node]:
    """Split `"text {expr} text"` (with its quotes; `start` is the quote's offset) into parts."""
    parts: list[str | ast.Node] = []
    buf: list[str] = []
    i, n = 1, len(tok) - 1
    while i < n:
        ch = tok[i]
        if ch == "\\":
            esc = tok[i + 1]
            if esc == "u":
                code = _hex4(tok, i, start)
                i += 6
                if 0xD800 <= code <= 0xDBFF and tok.startswith("\\u", i) and 0xDC00 <= _hex4(tok, i, start) <= 0xDFFF:
                    code = 0x10000 + ((code - 0xD800) << 10) + (_hex4(tok, i, start) - 0xDC00)  # a pair, as in JSON
                    i += 6
                elif 0xD800 <= code <= 0xDFFF:
                    raise ExpressionError(f"`\\u{code:04x}` is half of a surrogate pair, not a character",
                                          start + i - 6, start + i, "write the character, or both halves "
                                          "(\\ud83d\\ude00)", "E102")
                buf.append(chr(code))
                continue
            if esc not in _ESCAPES:
                raise ExpressionError(f"unknown escape `\\{esc}`", start + i, start + i + 2,
                                      "use `\\\\` for a backslash, or a 'single-quoted' string", "E102")
            buf.append(_ESCAPES[esc])
            i += 2
        elif tok.startswith("{{", i) or tok.startswith("}}", i):
            buf.append(ch)
            i += 2
        elif ch == "{":
            end = _closing_brace(tok, i)
            if end < 0:
                raise ExpressionError("a `{` in a string is never closed", start + i, start + i + 1,
                                      "close it with `}`, or write `{{` for a literal brace", "E102")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(_parse(tok[i + 1:end], start + i + 1, locate))
            i = end + 1
        elif ch == "}":
            raise ExpressionError("a lone `}` in a string", start + i, start + i + 1,
                                  "write `}}` for a literal brace", "E102")
        else:
            buf.append(ch)
            i += 1
    if buf or not parts:
        parts.append("".join(buf))
    return parts


def _hex4(tok: str, i: int, start: int) -> int:
    """The number in `\\uXXXX` at `tok[i]`."""
    digits = tok[i + 2:i + 6]
    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ExpressionError("bad `\\u` escape: four hex digits must follow", start + i, start + i + 2,
                              code="E102")
    return int(digits, 16)


def _closing_brace(tok: str, i: int) -> int:
    quote = None
    j = i + 1
    while j < len(tok) - 1:
        c = tok[j]
        if quote:
            if c == "\\":
                j += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "}":
            return j
        j += 1
    return -1
