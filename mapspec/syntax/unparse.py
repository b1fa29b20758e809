"""A syntax tree back to expression text (for fixtures, diffs and messages); parsing the text gives the
same tree."""

from __future__ import annotations

import json

from . import ast

# binding strength: a child looser than its parent is put in parentheses
_PREC = {"cond": 0, "else": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "without": 6, "+": 7, "*": 8, "neg": 9,
         "atom": 10}


def _binary_prec(op: str) -> int:
    if op in ("or", "and"):
        return _PREC[op]
    if op in ("==", "!=", "<", "<=", ">", ">=", "in", "not in"):
        return _PREC["cmp"]
    if op == "without":
        return _PREC["without"]
    return _PREC["+"] if op in ("+", "-") else _PREC["*"]


def _literal(value) -> str:
    if value is ast.MISSING:
        return "missing"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("{", "{{").replace("}", "}}")
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def unparse(node: ast.Node) -> str:
    text, _ = _unparse(node)
    return text


def _wrap(node: ast.Node, at_least: int) -> str:
    text, prec = _unparse(node)
    return f"({text})" if prec < at_least else text


def _unparse(n: ast.Node) -> tuple[str, int]:  # noqa: C901 - one case per node type
    atom = _PREC["atom"]
    if isinstance(n, ast.Literal):
        return _literal(n.value), atom
    if isinstance(n, ast.Path):
        out = n.root
        for step in n.steps:
            if isinstance(step, int):
                out += f"[{step}]"
            elif step.isidentifier():
                out += f".{step}" if out else step
            else:
                out += f"[{json.dumps(step)}]"
        return out, atom
    if isinstance(n, ast.Setting):
        return f"settings.{n.name}", atom
    if isinstance(n, ast.Index):
        return f"{_wrap(n.base, atom)}[{unparse(n.key)}]", atom
    if isinstance(n, ast.Call):
        return f"{n.name}({', '.join(unparse(a) for a in n.args)})", atom
    if isinstance(n, ast.Unary):
        if n.op == "not":
            return f"not {_wrap(n.operand, _PREC['not'])}", _PREC["not"]
        return f"-{_wrap(n.operand, _PREC['neg'])}", _PREC["neg"]
    if isinstance(n, ast.Binary):
        p = _binary_prec(n.op)
        return f"{_wrap(n.left, p)} {n.op} {_wrap(n.right, p + 1)}", p
    if isinstance(n, ast.Coalesce):
        return " else ".join(_wrap(i, _PREC["or"]) for i in n.items), _PREC["else"]
    if isinstance(n, ast.Guard):
        return f"{_wrap(n.value, _PREC['else'])} if {_wrap(n.condition, _PREC['or'])}", _PREC["cond"]
    if isinstance(n, ast.Conditional):
        return (f"{_wrap(n.then, _PREC['else'])} if {_wrap(n.condition, _PREC['or'])} else "
                f"{_wrap(n.otherwise, _PREC['cond'])}"), _PREC["cond"]
    if isinstance(n, ast.Template):
        parts = []
        for p in n.parts:
            if isinstance(p, str):
                parts.append(json.dumps(p, ensure_ascii=False)[1:-1].replace("{", "{{").replace("}", "}}"))
            else:
                parts.append("{" + unparse(p) + "}")
        return '"' + "".join(parts) + '"', atom
    if isinstance(n, ast.Object):
        entries = []
        for e in n.entries:
            if isinstance(e, ast.Spread):
                entries.append(f"...{_wrap(e.value, atom)}")
            else:
                key = e.key.value if isinstance(e.key, ast.Literal) else None
                k = json.dumps(key) if isinstance(key, str) else unparse(e.key)
                entries.append(f"{k}: {unparse(e.value)}")
        return "{" + ", ".join(entries) + "}", atom
    if isinstance(n, ast.List):
        return "[" + ", ".join(unparse(i) if not isinstance(i, ast.ForEach) else
                               f"for {i.var} in {unparse(i.iterable)}: {unparse(i.body)}" for i in n.items) + "]", atom
    raise TypeError(f"cannot unparse {type(n).__name__}")
