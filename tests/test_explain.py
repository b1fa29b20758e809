"""`mapspec explain`: the rule that decided, why the others did not, and where every field came from."""

from __future__ import annotations

import json

import pytest

from mapspec.compiler import compile_source, read_mapping
from mapspec.explain import explain
from tests.test_cli import mapspec

CASES = {
    "identify": ("segment-braze", {}, {"type": "identify", "userId": "u1", "traits": {
        "firstName": "Jane", "email": "jane@example.com", "gender": "Woman", "birthday": "soon", "plan": "pro"}}),
    "order": ("segment-braze", {"app_id": "app-1"}, {
        "type": "track", "userId": "u1", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z",
        "properties": {"products": [{"product_id": "p1", "price": 5, "name": "Game"}, {"sku": "s2", "price": 1}]}}),
    "rejected": ("segment-braze", {}, {"type": "track", "anonymousId": "a1", "event": "Viewed"}),
    "filtered page": ("segment-braze", {}, {"type": "page", "userId": "u1", "name": "Home"}),
    "compiled out": ("segment-braze", {"log_purchase_when_revenue_present": False},
                     {"type": "screen", "userId": "u1", "name": "Cart"}),
    "classic group": ("segment-classic", {"appGroupId": "AG", "datacenter": "eu"},
                      {"type": "group", "userId": "u1", "timestamp": "2024-01-01T00:00:00Z"}),
}


@pytest.mark.parametrize("case", CASES)
def test_explain(case, snapshot):
    mapping, settings, event = CASES[case]
    text = explain(compile_source(read_mapping(mapping), settings, standalone=False), event)
    assert text == snapshot


def test_explain_names_the_deciding_rule_and_the_values_it_read():
    _, settings, event = CASES["identify"]
    text = explain(compile_source(read_mapping("segment-braze"), settings, standalone=False), event)
    assert text.startswith("mappings/segment-braze.yaml: rule `identify` decided")
    assert 'when type == "alias"   [type = "identify"]' in text
    assert 'attributes[0].gender = "F"  <- $gender_codes[lower(traits.gender)]  (line ' in text
    assert "attributes[0].dob: left out (missing)" in text


def test_cli(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps(CASES["rejected"][2]))
    proc = mapspec("explain", "segment-braze", "--event", str(path))
    assert proc.returncode == 0 and "rejected: userId or braze_id is required" in proc.stdout.decode()
    proc = mapspec("explain", "segment-braze", "--event", "-", stdin="[1]")
    assert proc.returncode == 2 and "must be a JSON object" in proc.stderr.decode()
