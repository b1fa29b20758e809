"""Replace uses of a `let` definition whose value is a constant by that constant.

    let: {base: '"https://rest.iad-01.braze.com"'}      "{$base}/users/track"
                                                 ==>     "{"https://rest.iad-01.braze.com"}/users/track"

A definition made of constant definitions becomes a constant too (its value is folded), so chains of
definitions of settings (`$region` from `settings.dataCenter`, `$host` from `$region`) end as literals.
"""

from __future__ import annotations

from dataclasses import replace

from ..syntax import ast
from .fold_constants import fold_expression


def _replacer(constants: dict[str, ast.Literal]):
    def fn(node: ast.Node) -> ast.Node:
        if isinstance(node, ast.Path) and node.root in constants:
            value: ast.Node = ast.Literal(node.span, constants[node.root].value)
            for step in node.steps:
                value = ast.Index(node.span, value, ast.Literal(node.span, step))
            return value
        return node
    return fn


def _reads(node: ast.Node, names) -> bool:
    return any(isinstance(n, ast.Path) and n.root in names for n in node.walk())


def inline_lets(doc: ast.Document, ctx) -> ast.Document:
    lets = list(doc.lets)
    constants: dict[str, ast.Literal] = {}
    while True:  # until no definition becomes a constant
        found = {"$" + let.name: let.value for let in lets
                 if isinstance(let.value, ast.Literal) and "$" + let.name not in constants}
        if not found:
            break
        constants.update(found)  # type: ignore[arg-type]
        fn = _replacer(constants)
        lets = [replace(let, value=fold_expression(ast.rewrite(let.value, fn)))
                if "$" + let.name not in constants and _reads(let.value, found) else let for let in lets]
    if not constants:
        return doc
    return ast.rewrite(replace(doc, lets=tuple(lets)), _replacer(constants))  # type: ignore[return-value]
