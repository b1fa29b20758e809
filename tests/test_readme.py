"""The README tells the truth: its function table and command list match the code."""

from __future__ import annotations

import re
from pathlib import Path

from mapspec import stdlib
from mapspec.cli import _parser
from mapspec.diagnostics import CODES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_function_is_documented():
    for name in stdlib.FUNCTIONS:
        assert re.search(rf"`{name}[(`,]", README), name


def test_every_command_is_shown():
    commands = _parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public API
    for name in commands:
        assert f"mapspec {name}" in README, name


def test_every_diagnostic_code_is_listed():
    for code in CODES:
        assert code in README, code


def test_the_endpoint_table_is_the_target_description():
    from mapspec.targets import bundled, endpoint_table

    assert "\n".join(endpoint_table(bundled("braze"))) in README
