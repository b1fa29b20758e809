"""Each optimizer pass on its own: before and after, as a reader would check it."""

from __future__ import annotations

from mapspec import optimize
from mapspec.check import resolve_settings
from mapspec.compiler import check_source
from mapspec.diagnostics import DiagnosticBag
from mapspec.source import SourceFile
from mapspec.syntax import ast

MAPPING = """
name: t
base_url: settings.url
settings:
  url: {type: string, default: "http://x"}
  pages: {type: bool, default: false}
  app: {type: string}
let:
  base: '"fixed"'
  unused: traits.x
rules:
  - name: pages
    when: settings.pages and type == "page"
    skip: '"pages"'
  - name: always
    when: true or type == "x"
    send:
      endpoint: /users/track
      body:
        events:
          - app_id: settings.app
            external_id: '"u1"'
            name: '"{$base}-{event}"'
            time: '"USD" else traits.t'
  - name: never reached
    send: []
"""


def doc_and_settings(given=None):
    doc, diags = check_source(SourceFile("t.yaml", MAPPING))
    assert not [d for d in diags if d.severity == "error"], diags
    values = resolve_settings(doc, given or {}, DiagnosticBag())
    return doc, optimize.Context(values)


def test_inline_settings():
    doc, ctx = doc_and_settings({"pages": True})
    out = optimize.inline_settings(doc, ctx)
    assert out.rules[0].condition.left == ast.Literal(None, True)
    assert out.base_url == ast.Literal(None, "http://x")
    assert not any(isinstance(n, ast.Setting) for n in out.walk())


def test_fold_constants():
    doc, ctx = doc_and_settings()
    out = optimize.fold_constants(optimize.inline_settings(doc, ctx), ctx)
    assert out.rules[0].condition == ast.Literal(None, False)
    assert out.rules[1].condition == ast.Literal(None, True)
    event = out.rules[1].requests[0].body.entries[0].value.items[0]
    assert [e.key.value for e in event.entries] == ["external_id", "name", "time"]  # app_id was missing: gone
    assert event.entries[2].value == ast.Literal(None, "USD")  # nothing after an always-present value


def test_inline_lets():
    doc, ctx = doc_and_settings()
    out = optimize.inline_lets(optimize.fold_constants(doc, ctx), ctx)
    name = out.rules[1].requests[0].body.entries[0].value.items[0].entries[2].value
    assert name.parts[0] == ast.Literal(None, "fixed")


def test_prune_dead():
    doc, ctx = doc_and_settings()
    out = optimize.optimize(doc, ctx.settings)
    assert [r.name for r in out.rules] == ["always"]
    assert out.rules[0].condition is None
    assert out.lets == ()  # $base was inlined, $unused is not used


def test_passes_can_be_switched_off():
    doc, ctx = doc_and_settings()
    out = optimize.optimize(doc, ctx.settings, rules=(optimize.inline_settings,))
    assert [r.name for r in out.rules] == ["pages", "always", "never reached"]
