"""Mutants of the bundled mappings: `check` accepts each or reports diagnostics with a position, and a
mutant that compiles gives a translator that never raises anything but Rejected. Nothing else, ever.

Besides edits of the text (deleted, inserted, duplicated, swapped, indented), mutants get the shapes a
hostile or broken file has: deep nesting, huge literals, YAML aliases (billion laughs, aliases of
themselves), control characters and NUL. `check` with the default settings finds exactly the errors
`compile` would. The run is small by default; `pytest --long-fuzz` (or MAPSPEC_FUZZ=long) runs it long.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapspec.check import resolve_settings
from mapspec.compiler import check_source, compile_source, load_compiled
from mapspec.diagnostics import DiagnosticBag
from mapspec.errors import CompileError, Rejected
from mapspec.source import SourceFile
from tests.conftest import fuzz, load_corpus

MAPPINGS = sorted(p for p in (Path(__file__).resolve().parent.parent / "mappings").glob("*.yaml")
                  if not p.name.endswith(".test.yaml"))
EVENTS = load_corpus()[::6]
PALETTE = list("\"'{}[]():,.$#-|>!&*%@` \n\tax0_\\")
TOKENS = ["if", "else", "and", "or", "not", "in", "without", "settings.", "$", "...", "null", "true", "(", ")",
          "[", "]", "{", "}", "\"", "'", ": ", "- ", "  ", "\n", "for", "yield", "when", "send", "0", "-1",
          "lower(", "exists(", "$identity", "traits.", "\"{x}\"", "{{", "}}", "|", ">-",
          " for $x in ", " for $k, $v in ", "%", "$event", "present(", "$x", "functions:"]


def _deep(n: int) -> list[str]:
    return ["[" * n + "]" * n, "not " * n + "x", "-" * n + "x", "(" * n + "x" + ")" * n, "x" + ".a" * n,
            "x" + "[0]" * n, "lower(" * n + "x" + ")" * n, "x" + " + x" * n, "{a: " * n + "1" + "}" * n,
            "".join(f"\n{'  ' * (i + 1)}a:" for i in range(n)) + " 1"]


HOSTILE = (
    # nesting around the limit (64), and far beyond it
    [s for n in (63, 65, 400) for s in _deep(n)]
    # huge or out-of-range literals
    + ["9" * 5000, "9" * 41, "9" * 4000 + " * " + "9" * 4000, "1e999999", "1.0e+999999", ".inf", '"' + "x" * 20000 + '"',
       "'a{4294967296}'", "matches(x, '(a+)+$')", "matches(x, 'a{1001}')", '"\\ud800"', '"\\ud83d\\ude00"',
       "2024-01-01", "!!binary aGVsbG8=", "!!pairs [a: 1]", "!!set {a}"]
    # YAML aliases: billion laughs, an alias of itself, an undefined one, a plain repeat
    + ["&a [x, x, x, x, x, x, x, x, x, x]", "[*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]", "&r [x, *r]", "*nowhere",
       "&b {k: &c [*c]}",
       "".join(f"\n  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]" for i in range(9))]
    # characters a terminal or YAML must not take raw
    + ["\x00", "\x1b[2J", "\x07", "\u202e", "\x85", "\u2028", "\x7f", "\ufeff", "\ud800"]
)


@st.composite
def mutants(draw, text: str):
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "token", "dup-line", "swap-lines", "indent", "hostile",
                                     "hostile"]))
        pos = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 6)):]
        elif kind == "insert":
            text = text[:pos] + draw(st.sampled_from(PALETTE)) + text[pos:]
        elif kind == "token":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos + draw(st.integers(0, 4)):]
        elif kind == "hostile":
            # after a `key: ` when there is one near, so that the shape lands where a value is read
            colon = text.find(": ", pos)
            at = colon + 2 if 0 <= colon < pos + 200 else pos
            text = text[:at] + draw(st.sampled_from(HOSTILE)) + text[at + draw(st.integers(0, 20)):]
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


_RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: settings that let a mapping's rules through (without a dataCenter, rudderstack rejects every event at once)
SETTINGS = {"rudderstack": {"dataCenter": "us-01", "enableNestedArrayOperations": True,
                            "useEcommerceRecommendedEvents": True}}
#: mutants per mapping: rudderstack is four times the others' size, and checking it (the target's proofs of
#: required fields over its many rules) several times slower; segment-actions, as imported, holds nine
#: subscriptions' validations, and compiling one mutant takes more than a second
EXAMPLES = {"rudderstack": 40, "segment-actions": 15}


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[p.stem for p in MAPPINGS])
def test_mutants_never_crash_the_compiler(mapping):
    original = mapping.read_text(encoding="utf-8")

    @settings(max_examples=fuzz(EXAMPLES.get(mapping.stem, 100)), deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutants(original))
    def check_mutant(text):
        source = SourceFile(str(mapping), text)  # its own path, so a target it names beside it is found
        doc, diagnostics = check_source(source)
        for d in diagnostics:
            assert d.span is not None or d.path, d
            if d.span is not None:
                assert 0 <= d.span.start <= len(text) and d.span.end >= d.span.start, d
            assert not _RAW_CONTROLS.search(d.render()), d.render()
        if any(d.severity == "error" for d in diagnostics):
            return
        # what `check` says with the default settings is exactly what `compile` says
        bag = DiagnosticBag()
        assert doc is not None
        given = SETTINGS.get(mapping.stem, {})
        resolve_settings(doc, given, bag)
        try:
            translate = load_compiled(compile_source(source, given, standalone=False))
        except CompileError as e:
            assert [d.code for d in e.diagnostics] == [d.code for d in bag.errors], \
                [d.render() for d in e.diagnostics]
            return
        assert not bag.errors, [d.render() for d in bag.errors]
        for event in EVENTS:
            try:
                translate(dict(event))
            except Rejected:
                pass

    check_mutant()
