"""Every optimizer pass on its fixture pairs (tests/fixtures/optimize/<pass>.txt): before ==> after."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mapspec import optimize
from mapspec.check import resolve_settings
from mapspec.compiler import check_source
from mapspec.diagnostics import DiagnosticBag
from mapspec.optimize.fold_constants import fold_expression
from mapspec.source import SourceFile
from mapspec.syntax import ast
from mapspec.syntax.unparse import unparse

FIXTURES = Path(__file__).parent / "fixtures" / "optimize"


def cases():
    for path in sorted(FIXTURES.glob("*.txt")):
        settings: dict = {}
        lets: dict[str, str] = {}
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("# settings:"):
                settings = json.loads(line.split(":", 1)[1])
            elif line.startswith("# let ") or line.startswith("# function "):
                name, expr = line.split(" ", 2)[2].split(":", 1)
                lets[name.strip() if line.startswith("# let ") else "()" + name.strip()] = expr.strip()
            elif line.strip() and not line.startswith("#"):
                before, after = (part.strip() for part in line.split("==>"))
                yield pytest.param(path.stem, before, after, settings, dict(lets), id=f"{path.stem}:{number}")


def document(conditions: list[str], settings: dict, lets: dict[str, str]) -> ast.Document:
    """A mapping with one rule per condition; `lets` holds definitions, and functions as "()head"."""
    text = ["name: t", "base_url: '\"http://x\"'", "settings:"]
    text += [f"  {name}: {{type: any}}" for name in settings] or ["  {}"]
    text += ["let:"] + ([f"  {name}: {json.dumps(expr)}" for name, expr in lets.items()
                         if not name.startswith("()")] or ["  {}"])
    text += ["functions:"] + ([f"  {name[2:]}: {json.dumps(expr)}" for name, expr in lets.items()
                               if name.startswith("()")] or ["  {}"])
    text += ["rules:"]
    for cond in conditions:
        text += ([f"  - when: {json.dumps(cond)}"] if cond != "always" else ["  - name: always"]) + ["    skip: '\"x\"'"]
    doc, diagnostics = check_source(SourceFile("fixture.yaml", "\n".join(text) + "\n"))
    assert doc is not None and not [d for d in diagnostics if d.severity == "error"], diagnostics
    return doc


@pytest.mark.parametrize("rule,before,after,settings,lets", list(cases()))
def test_pass(rule, before, after, settings, lets):
    passes = {p.__name__: p for p in optimize.RULES}
    if rule == "prune_dead":
        doc = document([c.strip() for c in before.split("|")], {}, {})
        doc = optimize.fold_constants(doc, None)
        out = passes[rule](doc, optimize.Context({}))
        kept = [unparse(r.condition) if r.condition is not None else "always" for r in out.rules]
        assert " | ".join(kept) == after
        return
    doc = document([before], settings, lets)
    if rule == "inline_lets":  # it inlines definitions that are constants once folded
        doc = ast.rewrite(doc, lambda n: ast.Let(n.span, n.name, fold_expression(n.value)) if isinstance(n, ast.Let) else n)
    values = resolve_settings(doc, settings, DiagnosticBag())
    out = passes[rule](doc, optimize.Context(values))
    assert show(out.rules[0].condition) == after
    if rule == "inline_functions":  # what is inlined is gone; recursive functions something calls stay
        assert [f.name for f in out.functions] == [n for n in ("countdown",) if "countdown" in before]


def show(node: ast.Node) -> str:
    """unparse, with an inlined call's arguments shown (`body with $x_1 = value`)."""
    def bare(n: ast.Node) -> ast.Node:
        return replace(n, origin=None) if isinstance(n, ast.With) else n

    text = unparse(ast.rewrite(node, bare))
    withs = [n for n in node.walk() if isinstance(n, ast.With)]
    return text + "".join(f" with {name} = {unparse(ast.rewrite(v, bare))}"
                          for w in withs for name, v in zip(w.names, w.values, strict=True))


def test_unparse_round_trips():
    doc = document(['"a {b}" else c.d if e and not f else g', "x without [\"a\"] else {}", "-a + b * (c - d)"], {}, {})
    from mapspec.syntax.expressions import parse_expression
    for rule in doc.rules:
        text = unparse(rule.condition)
        again = parse_expression(text, lambda a, b: None, DiagnosticBag())
        assert repr(again) == repr(rule.condition), text
