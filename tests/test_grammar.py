"""The expression parser's tables: shipped as JSON data, verified against the grammar, never unpickled."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import lark
import pytest

from mapspec.syntax import grammar

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_tables_are_built_from_this_grammar():
    shipped = json.loads((grammar.resource_dir("grammar") / grammar.TABLE_NAME).read_text(encoding="utf-8"))
    built_from = shipped["built_from"]
    assert built_from["grammar_sha256"] == grammar.fingerprint(grammar.grammar_text())["grammar_sha256"], \
        "grammar/mapspec.lark changed: rebuild its tables with `python -m mapspec.syntax.grammar`"
    if built_from["lark"] != lark.__version__:
        pytest.skip(f"the tables were built with lark {built_from['lark']}, this is lark {lark.__version__}: "
                    "`python -m mapspec.syntax.grammar` rebuilds them")
    assert grammar.load_table(json.dumps(shipped), grammar.grammar_text()) is not None


def _expressions() -> list[str]:
    """Every scalar of the bundled mappings, and some broken expressions."""
    import yaml

    out = ["a.b if c else d", "\"x {y.z} {{\" + 'z\\''", "f(1, [2, {a: 3, ...b}], -x)", "not a in [1] and b or c",
           "a[", "a b", "'unterminated", "{a: }", "x without [\"a\"] else {}", "1 +", "$x.y[0][\"k\"]"]
    for path in sorted((ROOT / "mappings").glob("*.yaml")):
        for node in yaml.compose_all(path.read_text(encoding="utf-8")):
            stack = [node]
            while stack:
                n = stack.pop()
                if isinstance(n, yaml.ScalarNode):
                    out.append(n.value)
                elif isinstance(n, yaml.SequenceNode):
                    stack.extend(n.value)
                elif isinstance(n, yaml.MappingNode):
                    stack.extend(v for pair in n.value for v in pair)
    return out


def _outcome(parser: lark.Lark, text: str):
    try:
        tree = parser.parse(text)
    except lark.exceptions.LarkError as e:
        return type(e).__name__, getattr(e, "pos_in_stream", None), sorted(getattr(e, "expected", ()) or ())
    spans = [(t.data, t.meta.start_pos, t.meta.end_pos) for t in tree.iter_subtrees() if not t.meta.empty]
    return tree, spans


def test_the_shipped_tables_parse_exactly_as_the_grammar_does():
    text = grammar.grammar_text()
    loaded = grammar.load_table(grammar.table_data(grammar.build(text), text), text)
    built = grammar.build(text)
    assert loaded is not None
    expressions = _expressions()
    assert len(expressions) > 300
    for expr in expressions:
        assert _outcome(loaded, expr) == _outcome(built, expr), expr


def test_tables_of_another_grammar_are_not_used():
    text = grammar.grammar_text()
    table = grammar.table_data(grammar.build(text), text)
    assert grammar.load_table(table, text) is not None
    assert grammar.load_table(table, text.replace("?start: expr", "?start: expr\n// changed")) is None
    stored = json.loads(table)
    stored["built_from"]["lark"] = "0.0.1"
    assert grammar.load_table(json.dumps(stored), text) is None
    assert grammar.load_table("not json", text) is None
    assert grammar.load_table("", text) is None


def test_building_the_parser_never_unpickles(monkeypatch, tmp_path):
    """lark's `cache=True` keeps a pickle in the temporary folder and loads it in later processes."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for _ in range(2):  # a second build is where a cache would be read
        grammar.parser.cache_clear()
        assert grammar.parser().parse("a.b if c else d", start="start")
    assert calls == []
    grammar.parser.cache_clear()


class _Plant:
    """A pickle that leaves a file behind when it is loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_planted_in_the_temporary_folder_is_never_run(tmp_path):
    """Another local user can write to /tmp: whatever they leave there must not run as us."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = tmp_path / "pwned"
    env = dict(os.environ, TMPDIR=str(tmp))
    check = [sys.executable, "-m", "mapspec", "check", "segment-braze"]
    first = subprocess.run(check, env=env, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    # every file mapspec left in the temporary folder, and lark's own name for its cache there
    planted = list(tmp.iterdir())
    planted.append(tmp / f".lark_cache_{os.environ.get('USER', 'root')}_x_3_11.tmp")
    payload = b"\n" + pickle.dumps(_Plant(str(marker)))
    for path in planted:
        path.write_bytes(payload)
    second = subprocess.run(check, env=env, capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr
    assert not marker.exists()
    assert sorted(p.name for p in tmp.iterdir()) == sorted(p.name for p in planted), "mapspec wrote to TMPDIR"
