"""Write each call of a function that is not recursive in place: its body, with its parameters replaced by
the arguments. An argument that is a path or a literal is written where the parameter was; any other
argument is computed once, into a variable of a `With` (so `present(lower(x))` lowers once).

    functions: {present($x): $x if $x or $x == 0}
    present(traits.email)          ==>  traits.email if traits.email or traits.email == 0
    present(lower(traits.email))   ==>  ($x_1 if $x_1 or $x_1 == 0, with $x_1 = lower(traits.email))

Recursive functions (directly, or through each other), and functions too deep, loopy or big once written in
place (MAX_INLINE_*), stay functions: the code generator writes them as Python functions with a depth guard.
Functions nothing calls any more are dropped.
"""

from __future__ import annotations

from dataclasses import replace

from ..syntax import ast


def calls(node: ast.Node) -> set[str]:
    return {n.name for n in node.walk() if isinstance(n, ast.Call)}


def call_graph(functions: dict[str, ast.FunctionDef]) -> dict[str, set[str]]:
    """Each function -> the functions its body calls (one walk of each body)."""
    return {name: calls(f.body) & set(functions) for name, f in functions.items()}


def recursive(functions: dict[str, ast.FunctionDef], graph: dict[str, set[str]] | None = None) -> set[str]:
    """The functions that can call themselves, directly or through others."""
    graph = call_graph(functions) if graph is None else graph
    out = set()
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name == start:
                out.add(start)
                break
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
    return out


#: a call is written in place only when what it expands to stays small: at most this many levels deep (so a
#: value within the limits stays within what the code generator and Python's parser take), this many loops
#: deep (Python allows 20 nested blocks), and this many nodes big (functions that each call the next twice
#: would grow exponentially). Anything bigger stays a Python function, with its depth guard.
MAX_INLINE_DEPTH = 24
MAX_INLINE_LOOPS = 3
MAX_INLINE_SIZE = 400

_LOOPS = (ast.ForEach, ast.ListComp, ast.ObjectComp)


def inlinable(functions: dict[str, ast.FunctionDef]) -> set[str]:
    """The functions whose calls are written in place: not recursive, and not too deep, loopy or big once
    their own calls are written in place."""
    graph = call_graph(functions)
    loops = recursive(functions, graph)
    measured: dict[str, tuple[int, int, int]] = {}  # name -> (depth, loops, size) written in place; 0s: kept

    def measure(name: str) -> tuple[int, int, int]:
        if name not in measured:
            depth = loop_depth = size = 0
            stack: list[tuple[ast.Node, int, int]] = [(functions[name].body, 1, 0)]
            while stack:
                node, level, nested = stack.pop()
                nested += isinstance(node, _LOOPS)
                size += 1
                if isinstance(node, ast.Call) and node.name in functions and node.name not in loops:
                    d, lp, n = measure(node.name)
                    if d:  # written in place: its body sits here
                        level, nested, size = level + d - 1, nested + lp, size + n
                depth, loop_depth = max(depth, level), max(loop_depth, nested)
                stack.extend((child, level + 1, nested) for child in node.children())
            ok = depth <= MAX_INLINE_DEPTH and loop_depth <= MAX_INLINE_LOOPS and size <= MAX_INLINE_SIZE
            measured[name] = (depth, loop_depth, size) if ok else (0, 0, 0)
        return measured[name]

    for name in callees_first(functions, loops, graph):
        measure(name)
    return {name for name, (depth, _, _) in measured.items() if depth > 0}


def callees_first(functions: dict[str, ast.FunctionDef], loops: set[str],
                  graph: dict[str, set[str]] | None = None) -> list[str]:
    """The functions that are not recursive, each after the ones it calls (so measuring needs no deep
    recursion)."""
    graph = call_graph(functions) if graph is None else graph
    order: list[str] = []
    done: set[str] = set()
    for root in functions:
        if root in loops or root in done:
            continue
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            if expanded:
                done.add(name)
                order.append(name)
                continue
            stack.append((name, True))
            stack.extend((g, False) for g in graph[name] if g not in loops and g not in done)
    return order


class _Inliner:
    def __init__(self, doc: ast.Document):
        self.functions = {f.name: f for f in doc.functions}
        chosen = inlinable(self.functions)
        self.inline = {name: f for name, f in self.functions.items() if name in chosen}
        self.names = {n.root for n in doc.walk() if isinstance(n, ast.Path) and n.root}
        for n in doc.walk():
            if isinstance(n, ast.ForEach | ast.ListComp | ast.ObjectComp):
                self.names.update(v for v in (n.var, n.index_var) if v)
            elif isinstance(n, ast.FunctionDef):
                self.names.update(n.params)

    def fresh(self, name: str) -> str:
        """A variable name used nowhere in the mapping."""
        n = 1
        while f"{name}_{n}" in self.names:
            n += 1
        self.names.add(f"{name}_{n}")
        return f"{name}_{n}"

    def __call__(self, node: ast.Node) -> ast.Node:
        if isinstance(node, ast.Call) and node.name in self.inline:
            return self.expand(node)
        return node

    def expand(self, call: ast.Call) -> ast.Node:
        f = self.inline[call.name]
        body = self.rename_binders(f.body)
        names, values = [], []
        subst: dict[str, ast.Node] = {}
        for param, arg in zip(f.params, call.args, strict=True):
            if isinstance(arg, ast.Path | ast.Literal | ast.Setting):
                subst[param] = arg
            else:
                name = self.fresh(param)
                subst[param] = ast.Path(arg.span, name, ())
                names.append(name)
                values.append(arg)
        body = substitute(body, subst)
        body = ast.rewrite(body, self)  # the calls the body makes, written in place too
        if names:
            return ast.With(call.span, tuple(names), tuple(values), body, call)
        return body

    def rename_binders(self, body: ast.Node) -> ast.Node:
        """Fresh names for the loop variables inside a body, so no argument's variable is captured."""
        def fn(node: ast.Node) -> ast.Node:
            if isinstance(node, ast.ForEach | ast.ListComp | ast.ObjectComp):
                mapping = {old: self.fresh(old) for old in (node.var, node.index_var) if old}
                renamed = {k: ast.Path(None, v, ()) for k, v in mapping.items()}
                changes = {f: substitute(getattr(node, f), renamed) for f in _SCOPED[type(node)]
                           if getattr(node, f) is not None}
                return replace(node, var=mapping[node.var], index_var=mapping.get(node.index_var), **changes)
            return node
        return ast.rewrite(body, fn)


_SCOPED = {ast.ForEach: ("body", "condition"), ast.ListComp: ("value", "condition"),
           ast.ObjectComp: ("key", "value", "condition")}


def substitute(node: ast.Node, values: dict[str, ast.Node]) -> ast.Node:
    """Every path rooted at one of the names, with that name replaced by its value."""
    def fn(n: ast.Node) -> ast.Node:
        if not (isinstance(n, ast.Path) and n.root in values):
            return n
        value = values[n.root]
        if isinstance(value, ast.Path):
            return ast.Path(n.span, value.root, value.steps + n.steps)
        out = value
        for step in n.steps:
            out = ast.Index(n.span, out, ast.Literal(n.span, step))
        return out
    return ast.rewrite(node, fn)


def inline_functions(doc: ast.Document, ctx) -> ast.Document:
    if not doc.functions:
        return doc
    inliner = _Inliner(doc)
    if not inliner.inline:
        return doc
    kept = tuple(f for f in doc.functions if f.name not in inliner.inline)
    doc = ast.rewrite(replace(doc, functions=kept), inliner)  # type: ignore[assignment]
    # the recursive functions something still calls
    used: set[str] = set()
    todo = [n.name for part in (doc.base_url, *doc.lets, *doc.rules) if part is not None
            for n in part.walk() if isinstance(n, ast.Call)]
    by_name = {f.name: f for f in doc.functions}
    while todo:
        name = todo.pop()
        if name in by_name and name not in used:
            used.add(name)
            todo.extend(calls(by_name[name].body))
    return replace(doc, functions=tuple(f for f in doc.functions if f.name in used))
