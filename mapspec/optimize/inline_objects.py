"""Spread a `let` object's fields straight into the object that spreads it, instead of building the
object and then copying it.

    let: {identity: {external_id: $user_id, braze_id: $braze_id if not exists($user_id)}}
    {...: $identity, name: event}   ==>   {external_id: $user_id, braze_id: $braze_id if not exists($user_id),
                                           name: event}
"""

from __future__ import annotations

from dataclasses import replace

from ..syntax import ast


def inline_objects(doc: ast.Document, ctx) -> ast.Document:
    objects = {"$" + let.name: let.value for let in doc.lets if isinstance(let.value, ast.Object)}
    if not objects:
        return doc

    def fn(node: ast.Node) -> ast.Node:
        if not isinstance(node, ast.Object):
            return node
        entries: list[ast.Field | ast.Spread] = []
        for e in node.entries:
            v = e.value if isinstance(e, ast.Spread) else None
            if isinstance(v, ast.Path) and v.root in objects and not v.steps:
                entries.extend(objects[v.root].entries)  # spans stay those of the definition
            else:
                entries.append(e)
        return replace(node, entries=tuple(entries)) if len(entries) != len(node.entries) or any(
            a is not b for a, b in zip(entries, node.entries, strict=False)) else node

    return ast.rewrite(doc, fn)  # type: ignore[return-value]
