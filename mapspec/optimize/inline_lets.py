"""Replace uses of a `let` definition whose value is a constant by that constant.

    let: {base: '"https://rest.iad-01.braze.com"'}      "{$base}/users/track"
                                                 ==>     "{"https://rest.iad-01.braze.com"}/users/track"
"""

from __future__ import annotations

from ..syntax import ast


def inline_lets(doc: ast.Document, ctx) -> ast.Document:
    constants = {"$" + let.name: let.value for let in doc.lets if isinstance(let.value, ast.Literal)}
    if not constants:
        return doc

    def fn(node: ast.Node) -> ast.Node:
        if isinstance(node, ast.Path) and node.root in constants:
            value: ast.Node = ast.Literal(node.span, constants[node.root].value)
            for step in node.steps:
                value = ast.Index(node.span, value, ast.Literal(node.span, step))
            return value
        return node

    return ast.rewrite(doc, fn)  # type: ignore[return-value]
