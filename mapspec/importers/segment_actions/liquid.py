"""The part of Liquid (`@liquid`) that mapspec writes out: text, `{{ value | filter: args }}` outputs, and
`{% if %}`/`{% unless %}` blocks; everything else is a `DirectiveError` naming what is not translated.

Semantics kept from LiquidJS 10 (which Segment runs): a value renders as JavaScript's `String()` writes it,
with nil as "" and a list as its elements run together; only nil and false are false (`""` and 0 are true);
`and`/`or` group from the right (`a or b and c` is `a or (b and c)`); `default` replaces nil, false, "" and
an empty list; `size`, `first` and `last` read a list or text. Segment refuses the tags `case`, `for`,
`include`, `layout`, `render` and `tablerow` and some filters, with its own messages: so does the import.
"""

from __future__ import annotations

import re

from . import expr as x
from .expr import E

DISABLED_TAGS = ("case", "for", "include", "layout", "render", "tablerow")
DISABLED_FILTERS = ("array_to_sentence_string", "concat", "find", "find_exp", "find_index", "find_index_exp",
                    "group_by", "group_by_exp", "has", "has_exp", "map", "newline_to_br", "reject", "reject_exp",
                    "reverse", "sort", "sort_natural", "uniq", "where_exp", "type")
MAX_LENGTH = 1000

_TOKEN = re.compile(r"(\{\{-?.*?-?\}\}|\{%-?.*?-?%\})", re.S)
_EXPR_TOKEN = re.compile(r"""\s*(?:(?P<str>"[^"]*"|'[^']*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<>|<=|>=|<|>|\||:|,)
                             |(?P<word>[A-Za-z_][\w-]*\??)|(?P<dot>\.)|(?P<lb>\[)|(?P<rb>\]))""", re.X)


class LiquidError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        m = _EXPR_TOKEN.match(text, i)
        if not m or m.end() == i:
            raise LiquidError(f"cannot read `{text[i:i + 20]}`")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        i = m.end()
        while i < len(text) and text[i].isspace():
            i += 1
    return out


class _Exprs:
    """Values, filters and conditions of one tag or output."""

    def __init__(self, translator, root: E | None, text: str):
        self.t, self.root = translator, root
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0):
        return self.tokens[self.i + k] if self.i + k < len(self.tokens) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def done(self) -> bool:
        return self.i >= len(self.tokens)

    def value(self) -> E:
        kind, text = self.take()
        if kind == "str":
            return x.string(text[1:-1])
        if kind == "num":
            return x.literal(float(text) if "." in text else int(text))
        if kind != "word":
            raise LiquidError(f"expected a value, not `{text}`")
        if text in ("true", "false"):
            return x.literal(text == "true")
        if text in ("nil", "null"):
            return x.NULL
        if text in ("empty", "blank"):
            raise LiquidError(f"`{text}` is not translated")
        steps: list[str | int] = [text]
        while self.peek()[0] in ("dot", "lb"):
            kind, _ = self.take()
            if kind == "dot":
                _, name = self.take()
                steps.append(name)
            else:
                k, key = self.take()
                if k not in ("num", "str"):
                    raise LiquidError(f"a key `{key}` in brackets is not translated")
                steps.append(int(key) if k == "num" else key[1:-1])
                if self.take()[0] != "rb":
                    raise LiquidError("a `[` is never closed")
        special = steps[-1] if len(steps) > 1 and steps[-1] in ("size", "first", "last") else None
        if special:
            steps = steps[:-1]
        base = x.path(self.root, steps)
        if special == "size":
            return x.call("length", base)
        if special == "first":
            return E(f"{base.at(x.ATOM)}[0]")
        if special == "last":
            return self.t.helpers.call("last_element", base)
        return base

    def output(self) -> E:
        """The output's text."""
        value, is_text = self.value(), False
        while not self.done():
            kind, text = self.take()
            if text != "|":
                raise LiquidError(f"unexpected `{text}` in an output")
            _, name = self.take()
            args: list[E] = []
            if self.peek()[1] == ":":
                self.take()
                args.append(self.value())
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.value())
            value, is_text = self.t.filter(name, value, args, is_text)
        return value if is_text else self.t.text(value)

    def condition(self) -> E:
        """`a == b and c or d`: grouped from the right, as Liquid does."""
        first = self.comparison()
        if self.done():
            return first
        kind, word = self.take()
        if word not in ("and", "or"):
            raise LiquidError(f"expected `and` or `or`, not `{word}`")
        rest = self.condition()
        return x.and_(first, rest) if word == "and" else x.or_(first, rest)

    def comparison(self) -> E:
        left = self.value()
        kind, op = self.peek()
        if kind == "op" and op in ("==", "!=", "<>", "<", ">", "<=", ">="):
            self.take()
            right = self.value()
            if op in ("==", "!="):
                return x.eq(left, right) if op == "==" else x.ne(left, right)
            if op == "<>":
                return x.ne(left, right)
            return x.binary(op, left, right)
        if kind == "word" and op == "contains":
            self.take()
            right = self.value()
            return self.t.helpers.call("liquid_contains", left, right)
        return self.t.helpers.call("liquid_truthy", left)


class LiquidTranslator:
    def __init__(self, helpers):
        self.helpers = helpers

    def template(self, text: str, root: E | None) -> E:
        if len(text) > MAX_LENGTH:
            raise LiquidError(f"liquid template values are limited to {MAX_LENGTH} characters")
        if text == "":
            return x.string("")
        parts = _TOKEN.split(text)
        # whitespace control: {{- -}} {%- -%} strip the neighbouring text
        for k in range(1, len(parts), 2):
            tag = parts[k]
            if tag[2] == "-":
                parts[k - 1] = parts[k - 1].rstrip()
            if tag[-3] == "-":
                parts[k + 1] = parts[k + 1].lstrip()
        self.parts, self.pos = parts, 0
        out = self.block(root, ())
        return out

    def block(self, root: E | None, ends: tuple[str, ...]) -> E:
        """Pieces up to one of the `ends` tags (left for the caller), concatenated."""
        pieces: list[E | str] = []
        while self.pos < len(self.parts):
            piece = self.parts[self.pos]
            if self.pos % 2 == 0:
                if piece:
                    pieces.append(piece)
                self.pos += 1
                continue
            if piece.startswith("{{"):
                body = piece[2:-2].strip("-").strip()
                pieces.append(_Exprs(self, root, body).output())
                self.pos += 1
                continue
            body = piece[2:-2].strip("-").strip()
            name, _, rest = body.partition(" ")
            if name in ends:
                break
            self.pos += 1
            if name in DISABLED_TAGS:
                raise LiquidError(f'tag "{name}" is disabled')
            if name in ("if", "unless"):
                pieces.append(self.if_block(name, rest, root))
            elif name == "comment":
                self.skip_until("endcomment")
            elif name == "raw":
                pieces.append(self.raw_until())
            else:
                raise LiquidError(f"the tag `{name}` is not translated")
        return _concat(pieces)

    def if_block(self, name: str, condition: str, root: E | None) -> E:
        cond = _Exprs(self, root, condition).condition()
        if name == "unless":
            cond = x.not_(cond)
        branches: list[tuple[E | None, E]] = []
        while True:
            body = self.block(root, ("elsif", "else", "endif", "endunless"))
            branches.append((cond, body))
            if self.pos >= len(self.parts):
                raise LiquidError(f"`{{% {name} %}}` is never closed")
            tag = self.parts[self.pos][2:-2].strip("-").strip()
            self.pos += 1
            word, _, rest = tag.partition(" ")
            if word == "elsif":
                cond = _Exprs(self, root, rest).condition()
                continue
            if word == "else":
                otherwise = self.block(root, ("endif", "endunless"))
                self.pos += 1
                break
            otherwise = x.string("")
            break
        out = otherwise
        for c, body in reversed(branches):
            out = x.cond(body, c, out)
        return out

    def skip_until(self, end: str) -> None:
        while self.pos < len(self.parts):
            piece = self.parts[self.pos]
            self.pos += 1
            if self.pos % 2 == 0 and piece.startswith("{%") and piece[2:-2].strip("-").strip() == end:
                return
        raise LiquidError(f"`{{% {end} %}}` is missing")

    def raw_until(self) -> E:
        text = []
        while self.pos < len(self.parts):
            piece = self.parts[self.pos]
            self.pos += 1
            if piece.startswith("{%") and piece[2:-2].strip("-").strip() == "endraw":
                return x.string("".join(text))
            text.append(piece)
        raise LiquidError("`{% endraw %}` is missing")

    def text(self, value: E, is_text: bool = False) -> E:
        """A value as Liquid renders it (text already, a literal string, or through liquid_text)."""
        if is_text or re.fullmatch(r'"(?:[^"\\{}]|\\.)*"', value.text):
            return value
        return self.helpers.call("liquid_text", value)

    def filter(self, name: str, value: E, args: list[E], is_text: bool) -> tuple[E, bool]:
        """A filter applied: its result, and whether that is text."""
        if name in DISABLED_FILTERS:
            raise LiquidError(f'filter "{name}" is disabled')
        h = self.helpers
        text = self.text(value, is_text)
        texts = {"upcase": lambda: x.call("upper", text), "downcase": lambda: x.call("lower", text),
                 "capitalize": lambda: h.call("liquid_capitalize", text), "strip": lambda: x.call("trim", text),
                 "lstrip": lambda: x.call("regex_replace", text, E(x.sq(r"^\s+")), x.string("")),
                 "rstrip": lambda: x.call("regex_replace", text, E(x.sq(r"\s+$")), x.string(""))}
        values = {"size": lambda: x.call("length", value), "first": lambda: E(f"{value.at(x.ATOM)}[0]"),
                  "last": lambda: h.call("last_element", value),
                  "abs": lambda: x.call("abs", h.call("liquid_number", value)),
                  "ceil": lambda: x.call("ceil", h.call("liquid_number", value)),
                  "floor": lambda: x.call("floor", h.call("liquid_number", value))}
        if name in texts and not args:
            return texts[name](), True
        if name in values and not args:
            return values[name](), False
        if name == "round" and len(args) <= 1:
            return x.call("round", h.call("liquid_number", value), *(args or [x.number(0)])), False
        if name == "default" and len(args) == 1:
            return h.call("liquid_default", value, args[0]), False
        if name in ("append", "prepend") and len(args) == 1:
            other = self.text(args[0])
            return (x.binary("+", text, other) if name == "append" else x.binary("+", other, text)), True
        if name in ("replace", "replace_first") and len(args) == 2 or name in ("remove", "remove_first") \
                and len(args) == 1:
            new = self.text(args[1]) if name.startswith("replace") else x.string("")
            if name.endswith("_first"):
                return h.call("replace_first", text, self.text(args[0]), new), True
            return x.call("replace", text, self.text(args[0]), new), True
        if name in ("plus", "minus", "times", "divided_by", "modulo") and len(args) == 1:
            op = {"plus": "+", "minus": "-", "times": "*", "divided_by": "/", "modulo": "%"}[name]
            return x.binary(op, h.call("liquid_number", value), h.call("liquid_number", args[0])), False
        if name == "split" and len(args) == 1:
            return x.call("split", text, self.text(args[0])), False
        if name == "join" and len(args) <= 1:
            return x.call("join", value, self.text(args[0]) if args else x.string(" ")), True
        known = name in texts or name in values
        raise LiquidError(f"the filter `{name}`{' with these arguments' if known else ''} is not translated")


def _concat(pieces: list[E | str]) -> E:
    if not pieces:
        return x.string("")
    if len(pieces) == 1:
        p = pieces[0]
        return x.string(p) if isinstance(p, str) else p
    body = []
    for p in pieces:
        body.append(x.dq(p)[1:-1] if isinstance(p, str) else "{" + p.text + "}")
    return E('"' + "".join(body) + '"')
