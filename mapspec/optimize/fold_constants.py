"""Evaluate what is known when the mapping is compiled, with the very helpers the translator uses.

    false and type == "page"          ==>  false
    "x" if true                       ==>  "x"
    "x" if false else y               ==>  y
    MISSING else traits.a else "USD"  ==>  traits.a else "USD"
    "USD" else traits.currency        ==>  "USD"
    lower("ABC")                      ==>  "abc"
    ["a", MISSING]                    ==>  ["a"]
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import limits, runtime, stdlib
from ..syntax import ast
from ..types import BOOL, Typer

_CONST_SAFE = {"bool", "int", "float", "str", "null", "missing", "list", "object"}


def _lit(node: ast.Node) -> bool:
    return isinstance(node, ast.Literal)


def _is_plain(value) -> bool:
    """A value that a literal can hold (JSON, or missing), not a parsed time."""
    if value is ast.MISSING or value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) and v is not ast.MISSING for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) and v is not ast.MISSING for k, v in value.items())
    return False


def _evaluate_call(name: str, args: list):
    if name == "is_string":
        return isinstance(args[0], str)
    if name == "is_number":
        return isinstance(args[0], int | float) and not isinstance(args[0], bool)
    if name == "is_bool":
        return isinstance(args[0], bool)
    if name == "is_list":
        return isinstance(args[0], list)
    if name == "is_object":
        return isinstance(args[0], dict)
    if name == "exists":
        return args[0] is not ast.MISSING
    spec = stdlib.FUNCTIONS[name]
    args = [re.compile(a) if (p := spec.param(i)) is not None and p.regex else a for i, a in enumerate(args)]
    return getattr(runtime, spec.helper)(*args)


class _Folder:
    def __init__(self, doc: ast.Document | None):
        self.typer = Typer({}, {})

    def __call__(self, node: ast.Node) -> ast.Node:
        method = getattr(self, "fold_" + type(node).__name__, None)
        if method is None:
            return node
        try:
            out = method(node)
        except Exception:  # noqa: BLE001 - what cannot be computed now (an overflow) is left for run time
            return node
        if out is not node and isinstance(out, ast.Literal) and out.value is not ast.MISSING \
                and any(limits.data_problems(out.value)):
            return node  # a number beyond the limits (1e308 * 10) is not made a literal
        return out

    def fold_Call(self, n: ast.Call) -> ast.Node:
        if n.name == "coalesce" and n.args:  # `coalesce(a, b)` is `a else b`
            return self.fold_Coalesce(ast.Coalesce(n.span, n.args))
        fn = stdlib.FUNCTIONS.get(n.name)
        if fn is None or not fn.pure or not all(_lit(a) for a in n.args):
            return n
        try:
            value = _evaluate_call(n.name, [a.value for a in n.args])  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a call that cannot be folded stays for run time
            return n
        return ast.Literal(n.span, value) if _is_plain(value) else n

    def fold_Unary(self, n: ast.Unary) -> ast.Node:
        if _lit(n.operand):
            v = n.operand.value  # type: ignore[attr-defined]
            return ast.Literal(n.span, (not runtime.truthy(v)) if n.op == "not" else runtime.neg(v))
        return n

    def fold_Binary(self, n: ast.Binary) -> ast.Node:
        a, b, op = n.left, n.right, n.op
        if op in ("and", "or"):
            for side, other in ((a, b), (b, a)):
                if _lit(side):
                    t = runtime.truthy(side.value)  # type: ignore[attr-defined]
                    if (op == "and" and not t) or (op == "or" and t):
                        return ast.Literal(n.span, op == "or")
                    # `true and x` is x's truth: x itself when x is a boolean
                    if _lit(other):
                        return ast.Literal(n.span, runtime.truthy(other.value))  # type: ignore[attr-defined]
                    if self.typer(other) <= BOOL:
                        return other
                    return ast.Unary(n.span, "not", ast.Unary(n.span, "not", other))
            return n
        if not (_lit(a) and _lit(b)):
            return n
        x, y = a.value, b.value  # type: ignore[attr-defined]
        if op == "==":
            return ast.Literal(n.span, runtime.eq(x, y))
        if op == "!=":
            return ast.Literal(n.span, not runtime.eq(x, y))
        if op == "<":
            return ast.Literal(n.span, runtime.lt(x, y))
        if op == "<=":
            return ast.Literal(n.span, runtime.le(x, y))
        if op == ">":
            return ast.Literal(n.span, runtime.lt(y, x))
        if op == ">=":
            return ast.Literal(n.span, runtime.le(y, x))
        if op == "in":
            return ast.Literal(n.span, runtime.member(x, y))
        if op == "not in":
            return ast.Literal(n.span, not runtime.member(x, y))
        if op == "+":
            return ast.Literal(n.span, runtime.add(x, y))
        if op in ("-", "*", "/", "%"):
            return ast.Literal(n.span, runtime.arith(op, x, y))
        if op == "without":
            return ast.Literal(n.span, runtime.without(x, runtime.keyset(y)))
        return n

    def fold_Guard(self, n: ast.Guard) -> ast.Node:
        if _lit(n.condition):
            return n.value if runtime.truthy(n.condition.value) else ast.Literal(n.span, ast.MISSING)  # type: ignore[attr-defined]
        return n

    def fold_Conditional(self, n: ast.Conditional) -> ast.Node:
        if _lit(n.condition):
            return n.then if runtime.truthy(n.condition.value) else n.otherwise  # type: ignore[attr-defined]
        return n

    def fold_Coalesce(self, n: ast.Coalesce) -> ast.Node:
        items: list[ast.Node] = []
        for item in n.items:
            if _lit(item) and item.value is ast.MISSING:  # type: ignore[attr-defined]
                continue
            items.append(item)
            kinds = self.typer(item)
            if not kinds & {"missing", "null"}:
                break  # nothing after a value that is always there is ever used
        # a leading null only matters when everything after it is missing
        if not items:
            return ast.Literal(n.span, ast.MISSING)
        if len(items) == 1:
            return items[0]
        return replace(n, items=tuple(items)) if len(items) != len(n.items) else n

    def fold_Template(self, n: ast.Template) -> ast.Node:
        if all(not isinstance(p, ast.Node) or _lit(p) for p in n.parts):
            literals, values = [""], []
            for p in n.parts:
                if isinstance(p, ast.Node):
                    values.append(p.value)  # type: ignore[attr-defined]
                    literals.append("")
                else:
                    literals[-1] += p
            return ast.Literal(n.span, runtime.template(literals, values))
        return n

    def fold_Index(self, n: ast.Index) -> ast.Node:
        if _lit(n.base) and _lit(n.key):
            return ast.Literal(n.span, runtime.getp(n.base.value, n.key.value))  # type: ignore[attr-defined]
        return n

    def fold_Object(self, n: ast.Object) -> ast.Node:
        entries = tuple(e for e in n.entries
                        if not (_lit(e.value) and e.value.value is ast.MISSING))  # type: ignore[attr-defined]
        entries = tuple(e for e in entries if not (isinstance(e, ast.Field) and _lit(e.key)
                                                    and e.key.value is ast.MISSING))  # type: ignore[attr-defined]
        if all(isinstance(e, ast.Field) and _lit(e.key) and isinstance(e.key.value, str) and _lit(e.value)
               for e in entries):
            return ast.Literal(n.span, {e.key.value: e.value.value for e in entries})  # type: ignore[union-attr]
        return replace(n, entries=entries) if len(entries) != len(n.entries) else n

    def fold_List(self, n: ast.List) -> ast.Node:
        items = tuple(i for i in n.items if not (_lit(i) and i.value is ast.MISSING))  # type: ignore[attr-defined]
        if all(_lit(i) for i in items):
            return ast.Literal(n.span, [i.value for i in items])  # type: ignore[attr-defined]
        return replace(n, items=items) if len(items) != len(n.items) else n


def fold_expression(node: ast.Node) -> ast.Node:
    """One expression with what is known folded (settings are left as they are)."""
    return ast.rewrite(node, _Folder(None))


def fold_constants(doc: ast.Document, ctx) -> ast.Document:
    return ast.rewrite(doc, _Folder(doc))  # type: ignore[return-value]
