"""`mapspec schema`: a JSON Schema that the bundled mappings and their examples satisfy."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from mapspec.compiler import bundled_names
from mapspec.schema import mapping_schema
from tests.conftest import ROOT
from tests.test_cli import mapspec


def test_schema_is_valid_and_printed():
    schema = mapping_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    proc = mapspec("schema")
    assert proc.returncode == 0 and json.loads(proc.stdout) == schema


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_mappings_validate(name):
    data = yaml.safe_load((ROOT / "mappings" / f"{name}.yaml").read_text())
    jsonschema.validate(data, mapping_schema())
    examples = yaml.safe_load((ROOT / "mappings" / f"{name}.test.yaml").read_text())
    jsonschema.validate({"name": "x", "rules": [], "examples": examples}, mapping_schema())


@pytest.mark.parametrize("broken,where", [
    ({"name": "x", "rules": [], "setings": {}}, "setings"),
    ({"name": "x", "rules": [{"when": "true"}]}, "oneOf"),
    ({"name": "x", "rules": [{"send": {"endpoint": "/users/trak", "body": {}}}]}, "/users/trak"),
    ({"name": "x", "settings": {"a": {"type": "boolean"}}, "rules": []}, "boolean"),
])
def test_schema_catches_structural_mistakes(broken, where):
    with pytest.raises(jsonschema.ValidationError) as e:
        jsonschema.validate(broken, mapping_schema())
    assert where in str(e.value)
