"""The command line as a user drives it: in a subprocess, with real files and pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS

BAD = Path(__file__).parent / "fixtures" / "diagnostics"


def mapspec(*args: str, stdin: bytes | str | None = None, cwd=None, env=None) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "mapspec", *args], input=data, capture_output=True, cwd=cwd,
                          env=env)


def lines(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


def test_translate_corpus_one_line_per_event():
    proc = mapspec("translate", str(CORPUS))
    assert proc.returncode == 0, proc.stderr
    out = lines(proc)
    plain = mapspec("translate", str(CORPUS), env=dict(os.environ, MAPSPEC_NO_ORJSON="1"))
    assert [json.loads(x) for x in plain.stdout.decode().splitlines()] == out  # the same with or without orjson
    assert len(out) == len(CORPUS.read_text().splitlines())
    assert all(set(o) <= {"requests", "rejected", "skipped"} for o in out)
    skipped = [o for o in out if "skipped" in o]
    assert skipped and all(o["requests"] == [] and o["skipped"]["reason"] for o in skipped)


@pytest.mark.parametrize("codec", ["orjson", "stdlib"])
def test_translate_reports_bad_lines_and_goes_on(codec):
    stdin = b'{"type":"identify","userId":"u"}\nnot json\n[1]\n\n"text"\n\xff\xfe\n{"type":"alias"}\n{"type":"track"'
    env = dict(os.environ, MAPSPEC_NO_ORJSON="1") if codec == "stdlib" else None
    proc = mapspec("translate", "-", stdin=stdin, env=env)
    assert proc.returncode == 0, proc.stderr
    out = lines(proc)
    assert len(out) == 8
    assert "requests" in out[0]
    assert out[6] == {"requests": [], "skipped": {"reason": "alias calls are not sent to Braze, as in Segment "
                                                            "cloud mode"}}
    errors = {o["error"]["line"]: o["error"]["message"] for o in out if "error" in o}
    assert sorted(errors) == [2, 3, 4, 5, 6, 8]
    assert "invalid JSON" in errors[2] and "not an array" in errors[3] and errors[4] == "empty line"
    assert "not a string" in errors[5] and "UTF-8" in errors[6] and "invalid JSON" in errors[8]


def test_translate_with_settings_and_mapping_path(tmp_path):
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"track_all_pages": True, "app_id": "A"}))
    mapping = Path(__file__).resolve().parent.parent / "mappings" / "segment-braze.yaml"
    proc = mapspec("translate", "--mapping", str(mapping), "--settings", str(settings),
                   stdin='{"type":"page","userId":"u","name":"Home","timestamp":"2024-05-01T12:00:00Z"}\n')
    [out] = lines(proc)
    assert out["requests"][0]["body"]["events"][0]["app_id"] == "A"


@pytest.mark.parametrize("content,message", [
    ('{"track_all_pagez": true}', "unknown setting `track_all_pagez`"),
    ('{"track_all_pages": "yes"}', "setting `track_all_pages` must be boolean, not text"),
    ("[]", "must be a JSON object"),
    ("{", "is not JSON"),
])
def test_bad_settings_are_one_clear_error(tmp_path, content, message):
    settings = tmp_path / "s.json"
    settings.write_text(content)
    proc = mapspec("translate", "--settings", str(settings), stdin="")
    assert proc.returncode == 2
    assert message in proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()


def test_unknown_mapping():
    proc = mapspec("translate", "--mapping", "segment-brzae", stdin="")
    assert proc.returncode == 2 and "no bundled mapping named `segment-brzae`" in proc.stderr.decode()
    assert "segment-braze" in proc.stderr.decode()


def test_check_ok_and_failing():
    assert mapspec("check", "segment-braze").returncode == 0
    proc = mapspec("check", "segment-braze", str(BAD / "E201_unknown_function.yaml"))
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "E201_unknown_function.yaml:13:20: error: unknown function `lowercase` [E201]" in err
    assert "^^^^^^^^^" in err and "Traceback" not in err


def test_check_never_tracebacks_on_garbage(tmp_path):
    for i, text in enumerate(["", "- a\n- b\n", "name: [\n", "rules: 3\n", "\x00\x01", "name: x\nrules:\n  - 5\n"]):
        path = tmp_path / f"m{i}.yaml"
        path.write_text(text)
        proc = mapspec("check", str(path))
        assert proc.returncode == 1, text
        assert "Traceback" not in proc.stderr.decode() and f"m{i}.yaml" in proc.stderr.decode()


def test_compile_writes_a_standalone_module(tmp_path):
    out = tmp_path / "translator.py"
    proc = mapspec("compile", "segment-braze", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "def translate(event):" in out.read_text()
    emitted = mapspec("compile", "segment-braze", "--emit", "python")
    assert emitted.stdout.decode() == out.read_text()
    both = tmp_path / "both.py"
    proc = mapspec("compile", "segment-braze", "--emit", "python", "-o", str(both))
    assert proc.returncode == 0 and proc.stdout == b"", "`-o` is where --emit writes"
    assert both.read_text() == out.read_text()


def test_one_meaning_per_exit_code_across_commands(tmp_path):
    """0 done; 1 done and problems found; 2 could not do it. A mapping that does not compile is what check
    reports (1), and for every other command a reason it could not do its job (2)."""
    broken = str(BAD / "E201_unknown_function.yaml")
    event = tmp_path / "e.json"
    event.write_text('{"type": "identify", "userId": "u"}')
    events = str(CORPUS)
    commands = {
        "check": ["check", "{m}"], "compile": ["compile", "{m}"], "translate": ["translate", "-m", "{m}", events],
        "explain": ["explain", "{m}", "--event", str(event)], "diff": ["diff", "segment-braze", "{m}"],
        "test": ["test", "{m}"], "run": ["run", "--dry-run", "-m", "{m}", events],
    }
    for name, args in commands.items():
        does_not_compile = mapspec(*[a.format(m=broken) for a in args], cwd=tmp_path)
        assert does_not_compile.returncode == (1 if name == "check" else 2), (name, does_not_compile.stderr)
        missing = mapspec(*[a.format(m=str(tmp_path / "missing.yaml")) for a in args], cwd=tmp_path)
        assert missing.returncode == 2, (name, missing.stderr)
        assert b"Traceback" not in does_not_compile.stderr + missing.stderr
    assert mapspec("check", "segment-braze").returncode == 0
    assert mapspec("diff", "segment-braze", "segment-braze").returncode == 0
    assert mapspec("diff", "segment-braze", "segment-classic").returncode == 1


def test_help_lists_commands():
    proc = mapspec("--help")
    assert proc.returncode == 0
    for command in ("translate", "compile", "check"):
        assert command in proc.stdout.decode()


# ---------------------------------------------------------------- the first hour


def test_version():
    from mapspec import __version__

    proc = mapspec("--version")
    assert proc.returncode == 0 and proc.stdout.decode().strip() == f"mapspec {__version__}"


def test_every_option_has_help_and_shows_its_default():
    import argparse

    from mapspec.cli import _COMMANDS, _Help, _parser

    top = _parser()
    for name, parser in [("mapspec", top), *_COMMANDS.items()]:
        formatter = _Help(name)
        for action in parser._actions:  # noqa: SLF001 - argparse has no public API for its options
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):  # noqa: SLF001
                continue
            assert action.help, (name, action.dest)
            if action.default not in (None, False, "", argparse.SUPPRESS) and (
                    action.option_strings or action.nargs in ("?", "*")):
                assert "default" in formatter._get_help_string(action), (name, action.dest)  # noqa: SLF001


@pytest.mark.parametrize("args,usage", [
    (["check", "segment-braze", "--bogus"], "usage: mapspec check"),
    (["explain", "segment-braze", "--evnt", "x.json", "--event", "y.json"], "usage: mapspec explain"),
    (["run", "--dry-run", "--nope", "-"], "usage: mapspec run"),
    (["explain", "segment-braze", "-e", "x", "--line", "1", "--message-id", "m"], "usage: mapspec explain"),
])
def test_a_command_line_error_prints_that_commands_usage(args, usage):
    proc = mapspec(*args, stdin="")
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.startswith(usage) and "usage: mapspec [-h]" not in err, err


def test_check_strict_fails_on_warnings_unless_they_are_acknowledged(tmp_path):
    text = (BAD / "W401_likely_mistakes.yaml").read_text()
    path = tmp_path / "w.yaml"
    path.write_text(text)
    assert mapspec("check", str(path)).returncode == 0
    strict = mapspec("check", "--strict", str(path))
    assert strict.returncode == 1 and "(--strict: they fail)" in strict.stderr.decode()
    from mapspec.compiler import check_source
    from mapspec.source import SourceFile

    _, diagnostics = check_source(SourceFile(str(path), text))
    lines_ = text.splitlines()
    for d in diagnostics:  # acknowledge each warning on its line
        lines_[d.span.line - 1] += f"  # mapspec: allow {d.code} (known)"
    path.write_text("\n".join(lines_) + "\n")
    assert mapspec("check", "--strict", str(path)).returncode == 0, mapspec("check", str(path)).stderr


def test_mappings_lists_paths_that_exist(tmp_path):
    proc = mapspec("mappings", cwd=tmp_path)
    out = proc.stdout.decode()
    assert proc.returncode == 0
    for name in ("segment-braze", "segment-classic"):
        line = next(x for x in out.splitlines() if x.startswith(name + " "))
        path = Path(line.split()[1])
        assert path.is_absolute() and path.is_file(), line  # from elsewhere, a path to the file itself
    assert "Segment's Braze destination" in out and "mapspec mappings --copy" in out
    here = mapspec("mappings", cwd=Path(__file__).resolve().parent.parent).stdout.decode()
    assert "segment-braze    mappings/segment-braze.yaml  (the default)" in here


def test_diagnostics_of_a_bundled_mapping_name_a_path_that_exists(tmp_path):
    proc = mapspec("explain", "segment-braze", "--event", "-", stdin='{"type": "identify", "userId": "u"}',
                   cwd=tmp_path)
    first = proc.stdout.decode().split(":")[0]
    assert Path(first).is_file(), first


def test_copy_a_bundled_mapping_to_start_from(tmp_path):
    proc = mapspec("mappings", "--copy", "segment-classic", "mine.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote mine.yaml and mine.test.yaml" in proc.stdout.decode()
    assert (tmp_path / "mine.test.yaml").is_file()
    tested = mapspec("test", "mine.yaml", cwd=tmp_path)
    assert tested.returncode == 0 and "mine.yaml: 12 passed, 0 failed" in tested.stdout.decode(), tested.stdout
    again = mapspec("mappings", "--copy", "segment-classic", "mine.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "mine.yaml and mine.test.yaml exist" in again.stderr.decode()
    assert mapspec("mappings", "--copy", "segment-classic", "mine.yaml", "--force", cwd=tmp_path).returncode == 0
    folder = tmp_path / "maps"
    folder.mkdir()
    assert mapspec("mappings", "--copy", "segment-braze", str(folder)).returncode == 0
    assert (folder / "segment-braze.yaml").is_file() and (folder / "segment-braze.test.yaml").is_file()
    for args, message in ((["nope", "x.yaml"], "no bundled mapping named `nope`"),
                          (["segment-braze", "x.json"], "--copy writes a .yaml file")):
        bad = mapspec("mappings", "--copy", *args, cwd=tmp_path)
        assert bad.returncode == 2 and message in bad.stderr.decode()


def test_debug_logging_is_mapspecs_own(tmp_path):
    from mapspec.delivery.emulator import Emulator

    events = tmp_path / "e.ndjson"
    events.write_text('{"type": "identify", "userId": "u", "timestamp": "2024-01-01T00:00:00Z"}\n')
    with Emulator(api_key="k-123") as emu:
        proc = mapspec("run", "--log-level", "debug", "--endpoint", emu.url, str(events),
                       env=dict(os.environ, BRAZE_REST_API_KEY="k-123"))
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "DEBUG mapspec.run: POST /users/track: 201" in err or "DEBUG mapspec.run: POST /users/track" in err, err
    assert "httpcore" not in err and "httpx" not in err, err
