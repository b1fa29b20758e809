"""Replace every `settings.name` by its value, known when the mapping is compiled.

    track_all_pages: false        settings.track_all_pages and type == "page"
                         ==>      false and type == "page"         (fold_constants then makes it `false`)
"""

from __future__ import annotations

from ..syntax import ast


def inline_settings(doc: ast.Document, ctx) -> ast.Document:
    def fn(node: ast.Node) -> ast.Node:
        if isinstance(node, ast.Setting):
            return ast.Literal(node.span, ctx.settings.get(node.name, ast.MISSING))
        return node

    return ast.rewrite(doc, fn)  # type: ignore[return-value]
