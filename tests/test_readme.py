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


def test_the_limits_table_matches_the_code():
    from mapspec import limits

    section = README[README.index("### Limits"):]
    section = section[:section.index("\n### ")]
    for value, code in ((limits.MAX_DEPTH, "E006"), (limits.MAX_FOR_DEPTH, "E006"),
                        (limits.MAX_ALIAS_VALUES, "E005"), (limits.MAX_NUMBER_DIGITS, "E007"),
                        (limits.MAX_REGEX_REPEAT, "E207")):
        assert re.search(rf"\| {value:,}( levels)? \| {code} \|", section), (value, code)
    from mapspec import cli

    assert f"| {limits.MAX_FILE_BYTES:,} bytes (16 MiB) | E001, E303; exit 2 |" in section
    assert f"| {limits.MAX_LINE_BYTES:,} bytes | |" in section and cli.MAX_LINE_BYTES == limits.MAX_LINE_BYTES


def test_the_exit_codes_are_documented_as_the_command_line_has_them():
    from mapspec import cli

    for code in (cli.EXIT_OK, cli.EXIT_FAIL, cli.EXIT_USAGE):
        assert f"\n| {code} | " in README and f"{code} " in cli.EXIT_CODES
    assert "could not do it" in README and "could not do it" in cli.EXIT_CODES


def test_the_recipes_do_what_they_say():
    """The README's one-line recipes compile and give what a reader expects."""
    import hashlib
    import json

    import yaml

    from tests.conftest import compile_text

    block = README.split("What peers' integrations do", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    recipes = yaml.safe_load(block)
    functions = README.split("functions:\n  present($x)", 1)[1].split("```", 1)[0]
    text = ("name: recipes\nbase_url: '\"http://x\"'\nfunctions:\n  present($x)" + functions + "rules:\n  - send:\n"
            "      endpoint: /users/track\n      body:\n        attributes:\n          - external_id: userId\n"
            + "".join(f"            {k}: {json.dumps(v)}\n" for k, v in recipes.items()))
    event = {"userId": "u", "traits": {"Email": " J@X.com ", "email": "j@x.com", "Plan": "pro", "gone": None,
                                       "pets": {"update": [{"identifier": "id", "id": 2, "name": "Rex"}]}},
             "properties": {"a": {"b": None, "c": [1, None]}, "products": [7, {"sku": "s1"}],
                            "payload": '{"k": [1]}', "ref": "Order-42"}}
    [req] = compile_text(text)(event)
    got = req["body"]["attributes"][0]
    assert got["custom"] == {"plan": "pro", "pets": event["traits"]["pets"]}
    assert got["pets"] == {"$update": [{"$identifier_key": "id", "$identifier_value": 2}]}
    assert got["flat"] == {"a.c.0": 1, "a.c.1": None, "products.0": 7, "products.1.sku": "s1",
                           "payload": '{"k": [1]}', "ref": "Order-42"}  # a.b, null, is dropped
    assert got["first"] == {"i": 1, "sku": "s1"}
    assert got["hashed"] == hashlib.sha256(b"j@x.com").hexdigest()
    assert got["decoded"] == {"k": [1]} and got["order_no"] == "42"


def _block(after: str) -> list[str]:
    """The lines of the README's code block that starts with the command `after`."""
    start = README.index(after)
    return README[start:README.index("```", start)].splitlines()[1:]


def _shown_in_order(shown: list[str], actual: list[str]) -> None:
    """Every line the README shows is in the real output, in order (`...` lines elide some)."""
    at = 0
    for line in shown:
        if line.strip() == "...":
            continue
        assert line in actual[at:], line
        at = actual.index(line, at) + 1


def test_the_explain_and_coverage_examples_are_real_output():
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    for command in ("mapspec explain segment-braze --event mappings/examples/segment-events.ndjson --message-id "
                    "identify-gender-nonbinary",
                    "mapspec coverage segment-braze mappings/examples/segment-events.ndjson",
                    "mapspec mappings\n"):
        args = command.split()[1:]
        out = subprocess.run([sys.executable, "-m", "mapspec", *args], capture_output=True, text=True, cwd=root)
        shown = _block("$ " + command.strip())
        if command.startswith("mapspec mappings"):
            shown = shown[:shown.index("$ mapspec mappings --copy segment-braze acme.yaml")]
        _shown_in_order(shown, out.stdout.splitlines())
    diff = subprocess.run([sys.executable, "-m", "mapspec", "diff", "segment-classic", "segment-braze", "--events",
                           "mappings/examples/segment-events.ndjson", "--old-settings",
                           "mappings/examples/segment-classic.settings.json", "--examples", "1"],
                          capture_output=True, text=True, cwd=root)
    shown = _block("$ mapspec diff segment-classic segment-braze")[1:]
    _shown_in_order(shown, diff.stdout.splitlines())
    actions = subprocess.run([sys.executable, "-m", "mapspec", "diff", "segment-braze", "segment-actions", "--events",
                              "mappings/examples/segment-events.ndjson", "--examples", "1"],
                             capture_output=True, text=True, cwd=root)
    _shown_in_order(_block("$ mapspec diff segment-braze segment-actions"), actions.stdout.splitlines())
