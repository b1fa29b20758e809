"""`mapspec import segment-actions`: exports read with clear errors, mappings written readably, secrets kept
out, every subscription accounted for (what the other test files do not cover: the FQL triggers, the
directives, the payload validation and the conformance suite each have their own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from mapspec.compiler import check_source
from mapspec.importers.segment_actions import ImportFailed, catalog, default_export, generate, import_file
from mapspec.source import SourceFile

FIXTURES = Path(__file__).parent / "fixtures" / "segment_actions"
EXPORT = FIXTURES / "export.json"


class YamlSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


def export(*subscriptions, destination="braze", settings=None):
    return {"destination": destination, "settings": settings or {}, "subscriptions": list(subscriptions)}


def problems(data) -> list[str]:
    with pytest.raises(ImportFailed) as e:
        generate(data)
    return e.value.problems


# ---- the export


@pytest.mark.parametrize("data,message", [
    ([], "the export must be a JSON object with `destination`, `settings` and `subscriptions`"),
    ({"destination": "mixpanel", "subscriptions": []}, "`destination` must be one of braze, braze-cohorts, not \"mixpanel\""),
    ({"destination": "braze"}, "`subscriptions` must be a list of subscriptions"),
    (export({"action": "trackEvnt"}), 'subscription 1: `action` must be one of the Braze Cloud Mode (Actions) actions'),
    (export({"name": "X", "action": "trackEvent", "trigger": 3}), 'subscription 1 "X": `trigger` must be text'),
    (export({"action": "identifyUser"}), "the identifyUser action has no default trigger"),
    (export({"action": "trackEvent", "mapping": []}), "`mapping` must be an object of fields, or null"),
    (export({"action": "trackEvent", "enabled": "yes"}), "`enabled` must be true or false"),
    (export({"action": "trackEvent", "defaults": "no"}), "`defaults` must be true"),
    (export({"action": "trackEvent", "mapings": {}}), "unknown key mapings"),
    ({**export(), "subscription": []}, "unknown key in the export: subscription"),
    (export({"action": "syncAudiences"}), "`action` must be one of the Braze Cloud Mode (Actions) actions"),
])
def test_a_bad_export_is_refused_with_a_reason(data, message):
    assert any(message in p for p in problems(data)), problems(data)


def test_every_problem_is_reported_at_once_and_names_the_subscription_and_field():
    found = problems(export(
        {"name": "A", "action": "trackEvent", "trigger": 'type = "track'},
        {"name": "B", "action": "trackEvent", "mapping": {"name": {"@liquid": "{% for e in events %}{{ e }}{% endfor %}"}}},
        {"name": "C", "action": "trackEvent", "mapping": {"properties": {"@replace": {"pattern": "far too long!", "value": "x"}}}},
        {"name": "D", "action": "trackEvent", "mapping": {"time": {"@arrayPath": ["$.p", {"x": {"@oops": 1}}]}}},
        {"name": "E", "action": "trackEvent",
         "mapping": {"time": {"@if": {"exists": {"@path": "$.a"}, "then": {"@liquid": "{{ a | date: '%Y' }}"}}}}},
    ))
    assert found == [
        'subscription 1 "A" (trackEvent), trigger "type = \\"track": a string is never closed (at character 8)',
        'subscription 2 "B" (trackEvent), field `name`: @liquid: tag "for" is disabled (the rest of Liquid is not '
        "translated: rewrite this field with @template, @if and @case, or in mapspec after importing)",
        'subscription 3 "C" (trackEvent), field `properties`: /@replace/pattern should be a string of length 10 or '
        "less.",
        'subscription 4 "D" (trackEvent), field `time`: /@arrayPath/x has an invalid directive: @oops.',
        'subscription 5 "E" (trackEvent), field `time` at @if/then/@liquid: @liquid: the filter `date` is not '
        "translated (the rest of Liquid is not translated: rewrite this field with @template, @if and @case, or in "
        "mapspec after importing)",
    ]


def test_unreadable_and_invalid_files(tmp_path, monkeypatch):
    with pytest.raises(ImportFailed, match="cannot read"):
        import_file(tmp_path / "nope.json")
    from mapspec import limits
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1000)  # /dev/zero, or an export of gigabytes: read no further
    (tmp_path / "huge.json").write_text("[" + "0," * 1000 + "0]")
    with pytest.raises(ImportFailed, match="larger than 1,000 bytes"):
        import_file(tmp_path / "huge.json")
    monkeypatch.undo()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ImportFailed, match="is not JSON"):
        import_file(tmp_path / "bad.json")


# ---- the mapping


def test_the_mapping_reads_as_a_user_would_want(snapshot):
    assert import_file(EXPORT) == snapshot(extension_class=YamlSnapshot)


def test_secrets_never_reach_the_mapping():
    text = import_file(EXPORT)
    assert "not-written-anywhere" not in text
    assert "api_key is in the export and not written here" in text
    cohorts = generate(export({"action": "syncAudiences", "mapping": {"personas_audience_key": "k"}},
                              destination="braze-cohorts", settings={"client_secret": "s3cr3t", "endpoint": "https://e"}))
    assert "s3cr3t" not in cohorts and "default: \"https://e\"" in cohorts


def test_settings_are_declared_with_the_exports_values_as_defaults():
    doc = yaml.safe_load(import_file(EXPORT))
    assert list(doc["settings"]) == ["endpoint", "app_id", "api_key"]
    assert doc["settings"]["endpoint"]["default"] == "https://rest.fra-01.braze.eu"
    assert doc["settings"]["app_id"]["default"] == "7d1f0b8a-app"
    assert "default" not in doc["settings"]["api_key"]
    cohorts = yaml.safe_load(generate(export({"action": "syncAudiences"}, destination="braze-cohorts")))
    assert list(cohorts["settings"]) == ["endpoint", "client_secret"]
    assert cohorts["settings"]["client_secret"].get("required") is True


def test_subscriptions_become_rules_in_order_and_disabled_ones_are_named():
    text = import_file(EXPORT)
    doc = yaml.safe_load(text)
    assert doc["match"] == "all"
    names = [r["name"] for r in doc["rules"]]
    assert names == ["Track Calls: invalid payload", "Track Calls", "Identify Calls: invalid payload",
                     "Identify Calls", "Signups: invalid payload", "Signups", "Purchases: invalid payload",
                     "Purchases", "Cart abandoned: invalid payload", "Cart abandoned"]
    assert '# ---- subscription "Old aliases" (createAlias) is disabled in Segment: left out' in text


def test_triggers_become_conditions_and_the_empty_trigger_takes_every_event():
    doc = yaml.safe_load(import_file(EXPORT))
    rules = {r["name"]: r for r in doc["rules"]}
    assert rules["Signups"]["when"] == ('event == "Signed Up" and exists(properties.plan) and '
                                        "properties.plan != null and not exists($signups_invalid)")
    every = yaml.safe_load(generate(export({"name": "All", "action": "trackEvent", "trigger": ""})))
    assert [r["when"] for r in every["rules"]] == ["exists($all_invalid)", "not exists($all_invalid)"]
    default = yaml.safe_load(generate(export({"name": "D", "action": "trackEvent"})))
    assert default["rules"][1]["when"].startswith('type == "track" and event != "Order Completed"')


def test_names_are_unique_and_never_shadow_what_the_actions_use():
    doc = yaml.safe_load(generate(export(
        {"name": "Purchase", "action": "trackPurchase"}, {"name": "purchase!", "action": "trackPurchase"},
        {"name": "product", "action": "trackPurchase"}, {"name": "2 events", "action": "trackEvent"},
        {"name": "event", "action": "trackEvent"})))
    assert [k for k in doc["let"] if not k.endswith("_invalid")] == [
        "purchase", "purchase_2", "product_2", "s_2_events", "event_2"]


def test_two_subscriptions_of_one_name_give_rules_of_two_names():
    doc = yaml.safe_load(generate(export({"name": "Same", "action": "trackEvent"},
                                         {"name": "Same", "action": "updateUserProfile"})))
    assert [r["name"] for r in doc["rules"]] == ["Same: invalid payload", "Same", "Same (2): invalid payload",
                                                 "Same (2)"]


def test_a_mapping_without_a_required_field_is_read_as_changes_to_the_defaults():
    """Segment's editor starts from the defaults and asks for every required field: a mapping that leaves one
    out can only be changes to the defaults (as Segment's own tests write them)."""
    text = generate(export({"name": "s", "action": "trackEvent", "mapping": {"name": "Hi"}}))
    over = yaml.safe_load(text)
    assert over["let"]["s"]["name"] == '"Hi"'
    assert over["let"]["s"]["external_id"] == "as_string(userId)"
    assert over["let"]["s"]["time"] == "as_date_like(receivedAt)"
    assert "# the mapping leaves out `time`, which trackEvent requires" in text


def test_a_mapping_with_every_required_field_is_taken_as_segment_saves_it():
    """A field removed in Segment's editor stays removed: the defaults are not laid under a complete mapping."""
    text = generate(export({"name": "s", "action": "trackEvent",
                            "mapping": {"name": "Hi", "time": {"@path": "$.timestamp"},
                                        "external_id": {"@path": "$.userId"}}}))
    assert set(yaml.safe_load(text)["let"]["s"]) == {"name", "time", "external_id"}
    assert "without the action's defaults for `email`, `braze_id`" in " ".join(text.split())


def test_the_export_says_whether_a_mapping_is_laid_over_the_defaults():
    complete = yaml.safe_load(generate(export({"name": "s", "action": "trackEvent", "mapping": {"name": "Hi"},
                                               "defaults": False})))
    assert complete["let"]["s"] == {"name": '"Hi"'}
    over = yaml.safe_load(generate(export({"name": "s", "action": "updateUserProfile", "defaults": True,
                                           "mapping": {"first_name": {"@path": "$.traits.first"}}})))
    assert over["let"]["s"]["first_name"] == "as_string_or_null(traits.first)"
    assert over["let"]["s"]["external_id"] == "as_string(userId)"
    # no required field to tell by: taken as it is
    alone = yaml.safe_load(generate(export({"name": "s", "action": "updateUserProfile",
                                            "mapping": {"first_name": {"@path": "$.traits.first"}}})))
    assert set(alone["let"]["s"]) == {"first_name"}


def test_keys_that_are_not_fields_are_dropped_with_a_comment():
    text = generate(export({"name": "s", "action": "trackEvent", "mapping": {"nmae": {"@path": "$.event"}}}))
    assert "# `nmae` is not a field of trackEvent: Segment drops it, and so does this mapping" in text
    assert "nmae:" not in text


def test_literal_fields_are_written_as_they_are_and_mapped_ones_coerced():
    doc = yaml.safe_load(generate(export({"name": "s", "action": "trackEvent",
                                          "mapping": {"name": "Hi", "time": {"@path": "$.t"}}})))
    assert doc["let"]["s"]["name"] == '"Hi"'
    assert doc["let"]["s"]["time"] == "as_date_like(t)"


def test_subscriptions_of_one_action_share_its_validation():
    doc = yaml.safe_load(generate(export({"name": "a", "action": "trackEvent"}, {"name": "b", "action": "trackEvent"},
                                         {"name": "c", "action": "trackEvent2"})))
    assert [f for f in doc["functions"] if f.endswith("_errors($payload)")] == [
        "track_event_errors($payload)", "track_event2_errors($payload)"]
    assert doc["let"]["a_invalid"].startswith("track_event_errors($a)\n")
    assert doc["let"]["b_invalid"].startswith("track_event_errors($b)\n")


def test_every_action_of_the_catalog_imports_with_its_defaults():
    for dest in catalog.DESTINATIONS:
        for name, action in catalog.destination(dest).actions.items():
            sub = {"name": name, "action": name, "trigger": ""}
            if "catalog_name" in action.values:
                sub["mapping"] = {"onMappingSave": {"outputs": {"catalog_name": "c"}}}
            doc = yaml.safe_load(generate(export(sub, destination=dest)))  # well-formed
            # the catalog's placeholders are the subscription's names (functions have parameters of their own)
            rest = json.dumps([doc["let"], doc["rules"]])
            assert "$payload" not in rest and "$sync_mode" not in rest


def test_every_action_imports_into_a_mapping_that_checks_without_a_warning():
    """What the checker cannot follow (a required field that the rule before guarantees) is acknowledged where
    it points, with the reason; anything else would be a warning here."""
    for dest in catalog.DESTINATIONS:
        subs = [{"name": name, "action": name, "trigger": 'type = "track"'}
                for name in catalog.destination(dest).actions]
        for sub in subs:
            if sub["action"] == "upsertCatalogItem":
                sub["mapping"] = {"onMappingSave": {"outputs": {"catalog_name": "c"}}}
        _, diags = check_source(SourceFile("m.yaml", generate(export(*subs, destination=dest))))
        assert [d.render() for d in diags] == []


# ---- the command


def mapspec(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mapspec", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_reports_problems_with_the_file_name_and_exits_1(tmp_path):
    bad = tmp_path / "export.json"
    bad.write_text(json.dumps(export({"action": "nope"})))
    proc = mapspec("import", "segment-actions", str(bad))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"{bad}: subscription 1: `action` must be one of")


def test_cli_usage_errors_exit_2():
    proc = mapspec("import", "segment-classic", "x.json")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_the_functions_a_mapping_uses_are_declared_in_it_and_no_others():
    for data in (json.loads(EXPORT.read_text()),
                 export({"name": "s", "action": "trackEvent", "trigger": 'typeof(properties.total) = "number"',
                         "mapping": {"name": "Hi", "time": "2024-01-01T00:00:00Z"}, "defaults": False})):
        doc = yaml.safe_load(generate(data))
        functions = {head.split("(")[0]: body for head, body in doc["functions"].items()}
        rest = json.dumps([doc["let"], doc["rules"]])
        for name in functions:
            callers = [rest] + [body for other, body in functions.items() if other != name]
            assert any(f"{name}(" in text for text in callers), f"{name} is declared but never called"
    assert "typeof" in functions and "present" not in functions and "as_string" not in functions


# ---- the bundled mappings
@pytest.mark.parametrize("name,destination", [("segment-actions", "braze"), ("segment-cohorts", "braze-cohorts")])
def test_the_bundled_mappings_are_what_import_makes_of_segments_default_setup(name, destination):
    """mappings/segment-actions.yaml and segment-cohorts.yaml are checked in as `import` writes them from
    the setup a new destination starts with in Segment (mappings/examples/*.export.json)."""
    root = Path(__file__).resolve().parent.parent
    export_path = root / "mappings" / "examples" / f"{name}.export.json"
    assert json.loads(export_path.read_text(encoding="utf-8")) == default_export(destination)
    assert import_file(export_path, name=name) == (root / "mappings" / f"{name}.yaml").read_text(encoding="utf-8")


# ---- hostile exports: the mapping text stays safe, errors name the subscription and the field
HOSTILE = ['"; import os; os.system("x") #', "\x00\x01\x1b[31m\u2028\u2029\x85\ufeff\x7f", "a'b\"c\\d", "{7*7}",
           "${{7*7}}", "\n- name: injected\n  send: x", "]]} #", "é€😀", "$event", "*&a !!python/object:os.system",
           "\r\n", "\t#", "x" * 3000]


def test_names_texts_and_keys_from_the_export_reach_the_mapping_as_data():
    from tests.conftest import compile_text

    subs = [{"name": e, "action": "trackEvent", "trigger": "", "defaults": True,
             "mapping": {"name": {"@template": "{{properties.a}} " + e}, "time": "2024-01-01T00:00:00Z",
                         "external_id": e, "properties": {e: {"@path": "$.traits.b"}, "k": e}}} for e in HOSTILE]
    text = generate(export(*subs, settings={"app_id": HOSTILE[1] + HOSTILE[0]}))
    assert "\u2028" not in text and "\x85" not in text and "\x00" not in text  # written as escapes
    assert yaml.safe_load(text)["settings"]["app_id"]["default"] == HOSTILE[1] + HOSTILE[0]
    _, diags = check_source(SourceFile("m.yaml", text))
    assert [d.render() for d in diags if d.severity == "error"] == []
    translate = compile_text(text)
    event = {"type": "track", "userId": "u", "event": "E", "properties": {"a": "A"}, "traits": {"b": 1}}
    events = [e for r in translate(event) for e in r["body"]["events"]]
    assert len(events) == len(HOSTILE)
    for sent, e in zip(events, HOSTILE, strict=True):
        assert sent["external_id"] == e and sent["properties"] == {e: 1, "k": e}
        if "{" not in e:  # a template's braces are mapping-kit's: `{{7*7}}` reads a path
            assert sent["name"] == "A " + e


@pytest.mark.parametrize("data,message", [
    ('{"destination": "braze", "subscriptions": [{"action": "trackEvent", "name": "a\\ud800"}]}',
     "a lone surrogate escape"),
    ('{"destination": "braze", "subscriptions": [' + "[" * 100_000 + "]" * 100_000 + "]}",
     "nested deeper than JSON parsers take"),
    ('{"destination": "braze", "subscriptions": [{"name": "n", "action": "trackEvent", "score": NaN}]}',
     "is not JSON"),
])
def test_what_json_cannot_carry_is_refused_with_a_reason(tmp_path, data, message):
    path = tmp_path / "export.json"
    path.write_text(data)
    with pytest.raises(ImportFailed) as e:
        import_file(path)
    assert message in e.value.problems[0]


def test_a_mapping_nested_too_deep_is_refused_naming_the_subscription_and_field():
    deep: dict = {"@path": "$.a"}
    for _ in range(5000):
        deep = {"k": deep}
    assert problems(export({"name": "Deep", "action": "trackEvent", "mapping": {"properties": deep}})) == [
        'subscription 1 "Deep" (trackEvent), field `properties`: nested more than 32 levels deep, deeper than a '
        "mapping's expressions may be"]


def test_a_trigger_nested_too_deep_is_refused_with_its_position():
    [problem] = problems(export({"name": "P", "action": "trackEvent", "trigger": "(" * 5000 + 'type = "t"' + ")" * 5000}))
    assert problem.startswith('subscription 1 "P" (trackEvent), trigger "((((')
    assert problem.endswith("nested more than 32 levels deep (parentheses and `!`) (at character 33)")


def test_a_long_trigger_checks_as_one_test_per_path():
    """`event != "a" and event != "b" and ...` of hundreds of events is one `not in` test: readable, and no
    heavier for the checker than one comparison."""
    trigger = " and ".join(f'event != "e{i}"' for i in range(300)) + ' and type = "track"'
    text = generate(export({"name": "s", "action": "trackEvent", "trigger": trigger}))
    assert 'event not in ["e0", "e1", "e2", ' in text
    _, diags = check_source(SourceFile("m.yaml", text))
    assert [d.render() for d in diags] == []


def test_a_long_name_and_trigger_are_shown_cut_in_an_error():
    name, trigger = "n" * 5000, 'event = "' + "e" * 5000 + '" or properties.' + "p" * 3000 + " = 1 and )"
    [problem] = problems(export({"name": name, "action": "trackEvent", "trigger": trigger}))
    assert len(problem) < 400 and "(5,000 characters)" in problem and "(8,035 characters)" in problem
    assert problem.endswith("but found `)` (at character 8035)")


def test_characters_yaml_reads_as_line_breaks_stay_inside_their_expression():
    """U+2028 in a Liquid text became a raw character in a plain scalar, which YAML readers take as a line
    break: the imported mapping did not read back."""
    weird = "\u2028'x"
    text = generate(export({"name": "l", "action": "trackEvent", "trigger": "",
                            "mapping": {"name": {"@liquid": '{{ properties.a | append: "' + weird + '" }}'},
                                        "time": "2024-01-01T00:00:00Z", "external_id": "u"}}))
    _, diags = check_source(SourceFile("m.yaml", text))
    assert [d.render() for d in diags if d.severity == "error"] == []
    from tests.conftest import compile_text

    [request] = compile_text(text)({"type": "track", "properties": {"a": "A"}})
    assert request["body"]["events"][0]["name"] == "A" + weird


def test_random_hostile_exports_import_into_a_mapping_that_checks_or_fail_with_reasons():
    """Exports built at random from pieces that break YAML, mapspec text and Segment's languages (quotes,
    braces, `#`, line-break characters, control characters, directives nested at random): each imports into a
    mapping that checks, or is refused with its problems named; nothing else (a crash, a mapping that does
    not read back)."""
    import random

    rnd = random.Random(11)
    pieces = ["a", "é", "\u2028", "\x00", '"', "'", "\\", "{", "}", "{{", "}}", "$", "#", ":", "- ", "\n", " ",
              "[", "]", "*", "&", "!", "%", "@", "`", "|", ">", ".", "\x7f", "\ufeff", "\x85", "properties", "$."]

    def text() -> str:
        return "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 6)))

    def value(depth: int = 0):
        r = rnd.random()
        if depth > 4 or r < 0.3:
            return rnd.choice([text(), 1, 1.5, True, None, 10**20])
        if r < 0.45:
            return {"@path": "$." + rnd.choice(["properties", "traits", "context"]) + "." + text()}
        if r < 0.55:
            return {"@template": text() + "{{properties." + text() + "}}" + text()}
        if r < 0.62:
            return {"@if": {"exists": value(depth + 1), "then": value(depth + 1), "else": value(depth + 1)}}
        if r < 0.68:
            return {"@arrayPath": ["$.properties." + text(), {text(): value(depth + 1)}]}
        if r < 0.72:
            return {"@liquid": "{{ properties.a | append: '" + text().replace("'", "") + "' }}"}
        if r < 0.8:
            return {"@replace": {"pattern": text()[:10], "replacement": text()[:10], "value": value(depth + 1)}}
        if r < 0.9:
            return {text(): value(depth + 1) for _ in range(rnd.randint(0, 3))}
        return [value(depth + 1) for _ in range(rnd.randint(0, 3))]

    imported = 0
    for _ in range(30):
        destination = rnd.choice(catalog.DESTINATIONS)
        actions = catalog.destination(destination).actions
        subs = []
        for _ in range(rnd.randint(1, 2)):
            action = rnd.choice(list(actions))
            mapping = {rnd.choice([*actions[action].fields, text()]): value() for _ in range(rnd.randint(0, 4))}
            if action == "upsertCatalogItem":
                mapping["onMappingSave"] = {"outputs": {"catalog_name": text() or "c"}}
            subs.append({"name": text(), "action": action, "mapping": mapping, "defaults": rnd.choice([True, None]),
                         "trigger": rnd.choice(["", 'type = "track"', f'event = "{text()}"'.replace('""', '"x"')])})
        data = export(*subs, destination=destination, settings={"endpoint": text(), "app_id": text()})
        try:
            text_ = generate(data)
        except ImportFailed as e:
            assert e.problems and all(p.startswith("subscription ") for p in e.problems), e.problems
            continue
        imported += 1
        _, diags = check_source(SourceFile("m.yaml", text_))
        assert [d.render() for d in diags if d.severity == "error"] == [], json.dumps(data)
    assert imported >= 5


def test_an_event_several_subscriptions_take_causes_each_of_their_requests_in_order():
    import mapspec
    from tests.conftest import compile_text

    text = generate(export({"name": "profile", "action": "updateUserProfile", "trigger": 'type = "track"'},
                           {"name": "event", "action": "trackEvent", "trigger": ""},
                           {"name": "alias", "action": "createAlias", "trigger": 'event = "Signed Up"'}))
    translate = compile_text(text)
    event = {"type": "track", "userId": "u1", "event": "Signed Up", "receivedAt": "2024-01-01T00:00:00Z"}
    # the alias subscription refuses the payload (no alias name): reported beside what the others send
    with pytest.raises(mapspec.Rejected) as refused:
        translate(event)
    assert str(refused.value) == ("The root value is missing the required field 'alias_name'. "
                                  "The root value is missing the required field 'alias_label'.")
    assert [(r["url"].split("/", 3)[-1], list(r["body"])) for r in refused.value.requests] == [
        ("users/track", ["attributes"]), ("users/track", ["events"])]
    assert [list(r["body"]) for r in translate({**event, "event": "Other"})] == [["attributes"], ["events"]]
