"""Segment's mapping-kit directives to mapspec: Segment's own mapping-kit tests (../shared/peers/mapping-kit,
recorded from its test suite) run through the translation, compiled and evaluated; its validation messages;
and what cannot be translated is an error that says where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapspec.compiler import check_source
from mapspec.importers.segment_actions import catalog, directives
from mapspec.importers.segment_actions import expr as x
from mapspec.importers.segment_actions.directives import DirectiveError, Helpers, Translator
from mapspec.importers.segment_actions.importer import function_closure
from mapspec.source import SourceFile
from tests.conftest import compile_text, run

PEERS = Path(__file__).resolve().parent.parent.parent / "shared" / "peers" / "mapping-kit"
UNDEFINED = "__undefined__"


def _calls(prefix: str):
    if not PEERS.is_dir():
        return []
    out = []
    for f in sorted(PEERS.glob(f"{prefix}*.json")):
        for i, call in enumerate(json.loads(f.read_text())["calls"]):
            out.append(pytest.param(call, id=f"{f.stem}[{i}]"))
    return out


def mapping_text(expression: x.E, helpers: Helpers) -> str:
    """A mapping whose one rule rejects every event with `{"v": <expression>}` as JSON."""
    lines = ["name: t"]
    names = function_closure(helpers.used)
    if names or helpers.generated:
        lines.append("functions:")
        for name in names:
            f = catalog.functions()[name]
            lines.append(f"  {f.head}: {json.dumps(f.body)}")
        for name, (param, body) in helpers.generated.items():
            lines.append(f"  {name}(${param}): {json.dumps(body.text)}")
    reject = 'to_json({"v": ' + expression.text + "})"
    lines += ["rules:", "  - name: value", f"    reject: {json.dumps(reject)}"]
    return "\n".join(lines) + "\n"


def evaluate(mapping, event):
    """What the translated mapping gives for an event (UNDEFINED when it gives missing)."""
    helpers = Helpers()
    expression = Translator(helpers).value(mapping)
    text = mapping_text(expression, helpers)
    _, diags = check_source(SourceFile("t.yaml", text))
    errors = [d for d in diags if d.severity == "error"]
    if errors and any(d.code in ("E003", "E201") or "$event" in d.message for d in errors):
        pytest.xfail("needs the language additions of issue 10 (functions:, comprehensions, json_decode, "
                     f"regex_replace, flatten, ...): {errors[0].message}")
    translate = compile_text(text)
    message = run(translate, event)["rejected"]["message"]
    return json.loads(message).get("v", UNDEFINED)


def _expected(value):
    """mapping-kit's result as JSON carries it: undefined fields dropped."""
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items() if v != UNDEFINED}
    if isinstance(value, list):
        return [None if v == UNDEFINED else _expected(v) for v in value]
    return value


def _as_object(mapping):
    """`transform` spreads its mapping into an object (`{...mapping}`): what a top-level value becomes."""
    if isinstance(mapping, dict):
        return mapping
    if isinstance(mapping, (list, str)):
        return {str(i): v for i, v in enumerate(mapping)}
    return {}


@pytest.mark.parametrize("call", _calls("index__"))
def test_mapping_kit_cases(call):
    mapping, event = call["mapping"], call["input"]
    mapping = directives.root_mapping(_as_object(mapping))
    if call.get("expected_error"):
        if not isinstance(event, dict):
            pytest.skip("Segment events are objects: the importer never sees anything else")
        with pytest.raises(DirectiveError) as e:
            problems = directives.validate(mapping)
            if problems:
                raise DirectiveError(" ".join(problems))
            Translator().value(mapping)
        assert call["expected_error"] in str(e.value)
        return
    assert not directives.validate(mapping)
    assert evaluate(mapping, event) == _expected(call["expected"])


@pytest.mark.parametrize("call", _calls("validate__"))
def test_validation_messages_are_segments(call):
    problems = directives.validate(call["mapping"])
    expected = call["expected_error"]
    if expected is None:
        assert problems == []
    else:
        expected = expected if isinstance(expected, list) else [expected]
        assert sorted(problems) == sorted(expected)


@pytest.mark.parametrize("mapping,where,message", [
    ({"@liquid": "{% for x in traits.names %}{% endfor %}"}, ("@liquid",), 'tag "for" is disabled'),
    ({"@if": {"then": 1}}, ("@if",), '@if requires an "exists" key or a "blank" key'),
    ({"@flatten": {"value": {"@path": "$.a"}}}, ("@flatten",), '@flatten requires a "separator" key'),
    ({"@merge": {"objects": [{}]}}, ("@merge",), '@merge requires a "direction" key'),
    ({"a": {"@case": {"operator": "title", "value": "x"}}}, ("a", "@case", "operator"),
     'operator key should have a value of "lower" or "upper"'),
    ({"@replace": {"pattern": "a", "replacement": "$&!", "value": "x"}}, ("@replace", "pattern"),
     "refers to the match"),
    ({"@oops": 1}, ("@oops",), "@oops is not a valid directive"),
    ({"@template": {"@path": "$.t"}}, ("@template",), "@template with a computed template is not translated"),
])
def test_what_cannot_be_translated_is_an_error_saying_where(mapping, where, message):
    with pytest.raises(DirectiveError) as e:
        Translator().value(mapping)
    assert message in str(e.value)
    assert e.value.where == where


@pytest.mark.parametrize("mapping,text", [
    ({"@path": "$.properties.email"}, "properties.email"),
    ({"@path": "$.integrations.Actions Amplitude.session_id"}, 'integrations["Actions Amplitude"].session_id'),
    ({"@path": "properties.items[0].name"}, "properties.items[0].name"),
    ({"@path": "$."}, "$event"),
    ({"@path": "$.if"}, "$event.if"),
    ({"@template": "Hi {{traits.first}}!"}, '"Hi {text(traits.first)}!"'),
    ({"@template": "{{{context.page.url}}}"}, "text(context.page.url)"),
    ({"@template": "no {placeholders}"}, '"no {{placeholders}}"'),
    ({"@if": {"exists": {"@path": "$.context.traits.email"}, "then": {"@path": "$.context.traits.email"},
              "else": {"@path": "$.properties.email"}}},
     "context.traits.email if present(context.traits.email) else properties.email"),
    ({"@if": {"blank": {"@path": "$.a"}, "then": 1, "else": 0}}, "1 if not_blank(a)"),
    ({"@case": {"operator": "lower", "value": {"@path": "$.event"}}}, "lower_case(event)"),
    ({"@replace": {"pattern": "-", "replacement": "_", "value": {"@path": "$.sku"}}},
     'replace(scalar_text(sku), "-", "_")'),
    ({"@replace": {"pattern": "A.", "ignorecase": True, "global": False, "value": {"@path": "$.sku"}}},
     "regex_replace(scalar_text(sku), '(?i)A\\\\.', \"\", 1)"),
    ({"@arrayPath": ["$.properties.products", {"id": {"@path": "$.product_id"}}]},
     "[{id: $item.product_id} for $item in as_list(properties.products)] if is_list(properties.products) or "
     "is_object(properties.products) else properties.products"),
    ({"@json": {"mode": "encode", "value": {"@path": "$.traits"}}}, "to_json(traits)"),
    ({"@json": {"mode": "decode", "value": {"@path": "$.raw"}}}, "json_or_text(raw)"),
    ({"@flatten": {"value": {"@path": "$.traits"}, "separator": "_", "omitArrays": True}},
     'flatten(traits, "_", true)'),
    ({"@merge": {"direction": "left", "objects": [{"@path": "$.a"}, {"@path": "$.b"}]}},
     "{...b, ...a}"),
    ({"@excludeWhenNull": {"@path": "$.traits"}}, "drop_nulls(traits)"),
    ({"@transform": {"apply": {"name": {"@path": "$.event"}}, "mapping": {"@path": "$.name"}}},
     'transform_1({name: event})'),
])
def test_translation_reads_as_written(mapping, text):
    assert Translator().value(mapping).text == text


LIQUID = json.loads((Path(__file__).parent / "fixtures" / "segment_actions" / "liquid.json").read_text())


@pytest.mark.parametrize("case", [pytest.param(c, id=f"liquid-{i}") for i, c in enumerate(LIQUID)])
def test_liquid_renders_as_liquidjs_does(case):
    assert evaluate({"@liquid": case["template"]}, case["data"]) == case["output"]


@pytest.mark.parametrize("template,message", [
    ("{% for x in a %}{{ x }}{% endfor %}", 'tag "for" is disabled'),
    ("{{ a | sort }}", 'filter "sort" is disabled'),
    ("{{ a | date: '%Y' }}", "the filter `date` is not translated"),
    ("{% assign x = 1 %}", "the tag `assign` is not translated"),
    ("{% if a %}open", "is never closed"),
    ("x" * 1001, "liquid template values are limited to 1000 characters"),
])
def test_liquid_beyond_the_translated_part_is_an_error(template, message):
    with pytest.raises(DirectiveError) as e:
        Translator().value({"@liquid": template})
    assert message in str(e.value)
