"""Rendered diagnostics for broken mappings: every file in fixtures/diagnostics, as `mapspec check` prints it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapspec.compiler import check_source
from mapspec.source import SourceFile

FIXTURES = Path(__file__).parent / "fixtures" / "diagnostics"


def render_file(path: Path) -> str:
    source = SourceFile(f"{path.parent.name}/{path.name}", path.read_text(encoding="utf-8"))
    _, diagnostics = check_source(source)
    return "\n".join(d.render() for d in diagnostics)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_rendered_diagnostics(name, snapshot):
    text = render_file(FIXTURES / name)
    code = name.split("_")[0]
    assert f"[{code}]" in text, "each fixture shows the diagnostic it is named after"
    assert text == snapshot


def test_every_diagnostic_has_file_line_column_and_caret():
    for path in FIXTURES.glob("*.yaml"):
        source = SourceFile(path.name, path.read_text(encoding="utf-8"))
        _, diagnostics = check_source(source)
        assert diagnostics, path.name
        for d in diagnostics:
            assert d.span is not None, d
            rendered = d.render()
            assert rendered.startswith(f"{path.name}:{d.span.line}:{d.span.column}: {d.severity}: ")
            assert "^" in rendered.splitlines()[2]


def test_caret_under_expression_in_quoted_and_block_scalars():
    text = (
        "name: t\n"
        "rules:\n"
        "  - when: 'type == \"a\" and nope(1)'\n"
        "    skip: '\"x\"'\n"
        "  - when: \"type == 'b' and \\\"\\\" == nope(2)\"\n"
        "    skip: '\"x\"'\n"
        "  - when: >-\n"
        "      type == \"c\"\n"
        "      and nope(3)\n"
        "    skip: '\"x\"'\n"
        "  - when: |\n"
        "      type == \"d\" and\n"
        "        nope(4)\n"
        "    skip: '\"x\"'\n"
    )
    _, diagnostics = check_source(SourceFile("t.yaml", text))
    found = [(d.span.line, d.span.column, d.span.end - d.span.start) for d in diagnostics if d.code == "E201"]
    lines = text.splitlines()
    assert [lines[line - 1][col - 1:col - 1 + 4] for line, col, _ in found] == ["nope"] * 4
    assert all(width == 4 for _, _, width in found)


def test_a_warning_is_acknowledged_by_a_comment_on_its_line_and_an_error_never_is():
    body = ("name: t\nbase_url: '\"http://x\"'\nrules:\n  - name: track\n    when: type == \"track\"\n    send:\n"
            "      endpoint: /users/track\n      body:\n        events:\n"
            "          - external_id: userId{comment}\n            name: event\n            time: timestamp\n")

    def codes(comment):
        _, diags = check_source(SourceFile("t.yaml", body.format(comment=comment)))
        return sorted(d.code for d in diags)

    assert codes("") == ["W406"] * 3
    assert codes("  # mapspec: allow W406 (our events always have all three)") == []
    assert codes("  # mapspec: allow W402") == ["W406"] * 3
    assert codes("  # mapspec: allow W402, W406") == []
    broken = body.replace("external_id: userId", "external_id: 1")  # an E205 on the commented line
    _, diags = check_source(SourceFile("t.yaml", broken.format(comment="  # mapspec: allow E205")))
    assert [d.code for d in diags] == ["E205"]


def test_a_long_line_is_shown_as_a_window_around_the_span_with_the_caret_under_it():
    padding = " or ".join(["properties.a_rather_long_name == \"some text\""] * 20)
    text = f"name: t\nrules:\n  - when: {padding} or nope(1) or {padding}\n    skip: '\"x\"'\n"
    _, diagnostics = check_source(SourceFile("t.yaml", text))
    [d] = [d for d in diagnostics if d.code == "E201"]
    source_line, caret_line = d.render().splitlines()[1:3]
    assert len(source_line) < 140 and source_line.endswith("...") and "| ..." in source_line
    start = caret_line.index("^")
    assert source_line[start:start + 4] == "nope" and caret_line[start:].startswith("^^^^ ")


def test_a_long_chain_of_or_beyond_the_depth_limit_says_how_to_write_it():
    chain = " or ".join(['type == "x"'] * 70)
    _, diagnostics = check_source(SourceFile("t.yaml", f"name: t\nrules:\n  - when: {chain}\n    skip: '\"x\"'\n"))
    [d] = diagnostics
    assert d.code == "E006" and any("x in [a, b, ...]" in h for h in d.hints)
