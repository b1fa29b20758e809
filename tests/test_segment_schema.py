"""An imported subscription cleans, coerces and validates its payload as Segment does: 640 payloads (every
action, valid values, values to coerce and values to refuse) against what Segment's own code made of them
(tests/fixtures/segment_actions/validation.json, from Segment's remove-empty-values, fields-to-jsonschema,
AJV and ajv-human-errors; see the scripts beside it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapspec.importers.segment_actions import catalog
from mapspec.importers.segment_actions import yamltext as y
from mapspec.importers.segment_actions.importer import SYNC_MODE_KEY, Importer, Subscription
from tests.conftest import compile_text, run

CASES = json.loads((Path(__file__).parent / "fixtures" / "segment_actions" / "validation.json").read_text())


def validating_mapping(destination: str, action_name: str, sync_mode: str | None) -> str:
    """A mapping whose one rule rejects every event with {"invalid": message, "payload": payload}, the
    payload mapped field for field from the event's properties."""
    dest = catalog.destination(destination)
    action = dest.actions[action_name]
    mapping = {k: {"@path": f"$.properties.{k}"} for k in action.fields}
    if sync_mode is not None:
        mapping[SYNC_MODE_KEY] = sync_mode
    if "catalog_name" in action.values:
        mapping["onMappingSave"] = {"outputs": {"catalog_name": "cars"}}
    sub = Subscription(0, "p", action, "", mapping, True, True, True)
    imp = Importer(dest, {}, [sub], perform_checks=False)
    g = imp.subscription(sub)
    lines = ["name: t"]
    functions = imp.function_lines()
    if functions:
        lines += ["functions:", *functions]
    lines.append("let:")
    for name, body in imp.shared_lets.items():
        lines += y.entry(name, body, 2)
    lines.append(f"  {g.name}:")
    for key, value in g.payload:
        lines += y.entry(key, value.text, 4)
    for name, body in g.lets:
        lines += y.entry(name, body, 2)
    result = f'to_json({{"payload": ${g.name}}})'
    if g.invalid is not None:
        lines += y.entry(f"{g.name}_invalid", g.invalid.text, 2)
        result = f'to_json({{"invalid": ${g.name}_invalid, "payload": ${g.name}}})'
    lines += ["rules:", "  - name: payload", *y.entry("reject", result, 4)]
    return "\n".join(lines) + "\n"


_compiled: dict[tuple, object] = {}


def translator(destination: str, action: str, sync_mode: str | None):
    key = (destination, action, sync_mode)
    if key not in _compiled:
        _compiled[key] = compile_text(validating_mapping(destination, action, sync_mode))
    return _compiled[key]


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c['action']}-{i}") for i, c in enumerate(CASES)])
def test_payload_as_segment_validates_it(case):
    translate = translator(case["destination"], case["action"], case["sync_mode"])
    got = json.loads(run(translate, {"type": "track", "properties": case["payload"]})["rejected"]["message"])
    expect = case["expect"]
    if "error" in expect:
        assert got.get("invalid") == expect["error"]
    else:
        assert "invalid" not in got, got["invalid"]
        assert got["payload"] == expect["payload"]
