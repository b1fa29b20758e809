"""Remove what can never run: rules whose condition is false, rules after one that always matches,
requests and loop items whose condition is false, and `let` definitions nothing uses.

    rules: [{when: false, ...}, {when: type == "track", ...}]   ==>   rules: [{when: type == "track", ...}]
"""

from __future__ import annotations

from dataclasses import replace

from .. import runtime
from ..syntax import ast


def _const(node: ast.Node | None) -> bool | None:
    """True or False when a condition is known, None when it depends on the event."""
    if node is None:
        return True
    if isinstance(node, ast.Literal):
        return runtime.truthy(runtime.MISSING if node.value is ast.MISSING else node.value)
    return None


def prune_dead(doc: ast.Document, ctx) -> ast.Document:
    def fn(node: ast.Node) -> ast.Node:
        if isinstance(node, ast.List):
            items = tuple(i for i in node.items
                          if not (isinstance(i, ast.ForEach) and _const(i.condition) is False))
            items = tuple(replace(i, condition=None) if isinstance(i, ast.ForEach) and i.condition is not None
                          and _const(i.condition) else i for i in items)
            if items != node.items:
                return replace(node, items=items)
        return node

    rules = []
    for rule in doc.rules:
        known = _const(rule.condition)
        if known is False:
            continue
        requests = tuple(replace(r, condition=None) if r.condition is not None and _const(r.condition) else r
                         for r in rule.requests if _const(r.condition) is not False)
        rule = replace(rule, requests=requests, condition=None if known else rule.condition)
        rules.append(ast.rewrite(rule, fn))
        if known:
            break  # every later rule is unreachable
    doc = replace(doc, rules=tuple(rules))

    # keep the let definitions that something still uses, directly or through another definition
    lets = {"$" + let.name: let for let in doc.lets}
    used: set[str] = set()
    todo = [n for rule in doc.rules for n in rule.walk()]
    if doc.base_url is not None:
        todo.extend(doc.base_url.walk())
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Path) and node.root in lets and node.root not in used:
            used.add(node.root)
            todo.extend(lets[node.root].value.walk())
    return replace(doc, lets=tuple(let for let in doc.lets if "$" + let.name in used))
