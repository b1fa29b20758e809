"""Mutants of the bundled mappings: `check` accepts each or reports diagnostics with a position, and a
mutant that compiles gives a translator that never raises anything but Rejected. Nothing else, ever."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapspec.compiler import check_source, compile_source, load_compiled
from mapspec.errors import CompileError, Rejected
from mapspec.source import SourceFile
from tests.conftest import load_corpus

MAPPINGS = sorted(p for p in (Path(__file__).resolve().parent.parent / "mappings").glob("*.yaml")
                  if not p.name.endswith(".test.yaml"))
EVENTS = load_corpus()[::6]
PALETTE = list("\"'{}[]():,.$#-|>!&*%@` \n\tax0_\\")
TOKENS = ["if", "else", "and", "or", "not", "in", "without", "settings.", "$", "...", "null", "true", "(", ")",
          "[", "]", "{", "}", "\"", "'", ": ", "- ", "  ", "\n", "for", "yield", "when", "send", "0", "-1",
          "lower(", "exists(", "$identity", "traits.", "\"{x}\"", "{{", "}}", "|", ">-"]


@st.composite
def mutants(draw, text: str):
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "token", "dup-line", "swap-lines", "indent"]))
        pos = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 6)):]
        elif kind == "insert":
            text = text[:pos] + draw(st.sampled_from(PALETTE)) + text[pos:]
        elif kind == "token":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos + draw(st.integers(0, 4)):]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, max(len(lines) - 2, 0)))
            if kind == "dup-line":
                lines.insert(i, lines[i])
            elif kind == "swap-lines":
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
            else:
                lines[i] = lines[i][2:] if lines[i].startswith("  ") and draw(st.booleans()) else "  " + lines[i]
            text = "\n".join(lines)
    return text


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[p.stem for p in MAPPINGS])
def test_mutants_never_crash_the_compiler(mapping):
    original = mapping.read_text(encoding="utf-8")

    @settings(max_examples=600, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutants(original))
    def check_mutant(text):
        source = SourceFile("mutant.yaml", text)
        _, diagnostics = check_source(source)
        for d in diagnostics:
            assert d.span is not None or d.path == "mutant.yaml", d
            if d.span is not None:
                assert 0 <= d.span.start <= len(text) and d.span.end >= d.span.start, d
                d.render()
        if any(d.severity == "error" for d in diagnostics):
            return
        try:
            translate = load_compiled(compile_source(source, standalone=False))
        except CompileError as e:  # settings-dependent problems are reported the same way
            assert all(d.span is not None or d.path for d in e.diagnostics)
            return
        for event in EVENTS:
            try:
                translate(dict(event))
            except Rejected:
                pass

    check_mutant()
