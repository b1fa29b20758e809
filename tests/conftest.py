"""Shared fixtures: the sample event corpus, a compile helper, and a snapshot of Python source files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import types
from pathlib import Path
from unittest import mock

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

import mapspec
from mapspec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "mappings" / "examples" / "segment-events.ndjson"

collect_ignore = ["__snapshots__"]  # (a snapshot of generated Python is named like a test module)


def pytest_addoption(parser):
    parser.addoption("--long-fuzz", action="store_true",
                     help="run the fuzzing and property tests twenty times longer (or MAPSPEC_FUZZ=long)")


def pytest_configure(config):
    if config.getoption("--long-fuzz"):
        os.environ["MAPSPEC_FUZZ"] = "long"


def fuzz(examples: int) -> int:
    """How many examples a fuzzing or property test tries: small enough for CI by default, twenty times
    more with `pytest --long-fuzz` or MAPSPEC_FUZZ=long."""
    return examples * 20 if os.environ.get("MAPSPEC_FUZZ") == "long" else examples


class PythonSnapshot(SingleFileSnapshotExtension):
    """One .py file per snapshot, so a reviewer reads a generated module as Python."""

    _write_mode = WriteMode.TEXT
    file_extension = "py"


@pytest.fixture
def snapshot_py(snapshot):
    return snapshot.use_extension(PythonSnapshot)


def shared_folder() -> Path | None:
    """The project's shared folder (specs, recorded conformance suites): beside the checkout, or above the
    folder of a worktree."""
    for parent in ROOT.parents:
        if (parent / "shared" / "conformance" / "run").is_file():
            return parent / "shared"
    return None


def run_conformance(suite: Path) -> tuple[str, list[str]]:
    """Run the shared conformance runner on one suite with this checkout's mapspec: its last line
    ("N passed, N failed"), and the case files that failed."""
    import shlex
    import subprocess
    import sys

    assert suite.parent.name == "conformance"
    cmd = f"{shlex.quote(sys.executable)} -m mapspec"
    proc = subprocess.run([sys.executable, str(suite.parent / "run"), "-v", "--cmd", cmd, str(suite)],
                          capture_output=True, text=True, cwd=ROOT)
    lines = proc.stdout.strip().splitlines() or [proc.stderr]
    failed = [line.split()[1].rstrip(":").split("/")[-1] for line in lines if line.startswith("FAIL ")]
    return lines[-1], failed


def load_corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def corpus() -> list[dict]:
    return load_corpus()


def run(translate, event):
    """A translator's result in the form `mapspec translate` prints."""
    try:
        return {"requests": translate(event)}
    except mapspec.Rejected as e:
        return {"rejected": {"message": str(e)}}


def render(result: dict) -> str:
    """A translate result as a reviewer reads it: each request's method, URL and JSON body, or the reason."""
    if "rejected" in result:
        return f"rejected: {result['rejected']['message']}"
    if not result["requests"]:
        return "(nothing sent)"
    return "\n".join(f"{r['method']} {r['url']}\n    {json.dumps(r['body'], ensure_ascii=False)}"
                     for r in result["requests"])


def compile_text(text: str, settings: dict | None = None, path: str = "test.yaml"):
    """Compile mapping text; the translator (raises CompileError)."""
    from mapspec.compiler import compile_source, load_compiled

    return load_compiled(compile_source(SourceFile(path, text), settings, standalone=False))


def inproc(*args: str, env: dict | None = None, input: bytes = b"", timeout: float | None = None):
    """`mapspec ARGS` run in this process (faster than a new one): its exit code, stdout and stderr."""
    from mapspec.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    stdout, stderr = io.TextIOWrapper(out, encoding="utf-8"), io.TextIOWrapper(err, encoding="utf-8")
    stdin = io.TextIOWrapper(io.BytesIO(input), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k != "BRAZE_REST_API_KEY"}
    with mock.patch.dict(os.environ, {**environ, **(env or {})}, clear=True), \
            mock.patch.object(sys, "stdout", stdout), mock.patch.object(sys, "stderr", stderr), \
            mock.patch.object(sys, "stdin", stdin):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code
        with contextlib.suppress(ValueError):
            stdout.flush()
            stderr.flush()
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
