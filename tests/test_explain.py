"""`mapspec explain`: the rule that decided, every value each condition read, and for every field sent or left
out, the chain of definitions and values behind it."""

from __future__ import annotations

import json

import pytest

from mapspec.compiler import compile_source, read_mapping
from mapspec.explain import _Facts, explain, explain_json
from tests.conftest import CORPUS, compile_text
from tests.test_cli import mapspec

CLASSIC_SETTINGS = {"appGroupId": "AG", "datacenter": "eu"}

CASES = {
    "identify": ("segment-braze", {}, {"type": "identify", "userId": "u1", "traits": {
        "firstName": "Jane", "email": "jane@example.com", "gender": "Female ", "birthday": "not a date",
        "plan": "pro"}}),
    "order": ("segment-braze", {"app_id": "app-1"}, {
        "type": "track", "userId": "u1", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z",
        "properties": {"currency": "EUR", "products": [{"product_id": "p1", "price": 5, "name": "Game"}, "junk",
                                                       {"sku": "s2", "price": 1, "quantity": 3}]}}),
    "rejected": ("segment-braze", {}, {"type": "track", "anonymousId": "a1", "event": "Viewed"}),
    "skipped": ("segment-braze", {}, {"type": "alias", "userId": "u1", "previousId": "a1"}),
    "filtered page": ("segment-braze", {}, {"type": "page", "userId": "u1", "name": "Home"}),
    "compiled out": ("segment-braze", {"log_purchase_when_revenue_present": False},
                     {"type": "screen", "userId": "u1", "name": "Cart"}),
    "classic group": ("segment-classic", CLASSIC_SETTINGS,
                      {"type": "group", "userId": "u1", "timestamp": "2024-01-01T00:00:00Z"}),
}


@pytest.mark.parametrize("case", CASES)
def test_explain(case, snapshot):
    mapping, settings, event = CASES[case]
    text = explain(compile_source(read_mapping(mapping), settings, standalone=False), event)
    assert text == snapshot


def _text(case: str) -> str:
    mapping, settings, event = CASES[case]
    return explain(compile_source(read_mapping(mapping), settings, standalone=False), event)


def test_every_value_a_condition_read_and_what_it_gave():
    text = _text("identify")
    assert text.startswith("mappings/segment-braze.yaml: rule `identify` decided: sends 1 request")
    alias = text[text.index("  alias  (line"):text.index("  identity required")]
    assert 'when type == "alias"  ->  false' in alias and 'type = "identify"' in alias
    # a definition read by a condition shows its own chain, down to the event
    assert '$user_id = "u1"  <- let user_id: non_empty(userId) if is_string(userId)' in text
    assert "not exists($braze_id): not evaluated" in text


def test_long_conditions_are_never_cut():
    text = _text("identify")
    no_time = read_mapping("segment-braze").text.split("- name: no time")[1].split("reject:")[0]
    condition = " ".join(no_time.split("when: >-")[1].split())
    assert f"when {condition}  ->  false" in text
    assert "..." not in text.replace("...: ", "")


def test_fields_left_out_say_where_they_went_missing():
    text = _text("identify")
    left = text[text.index("  left out:"):]
    dob = left[left.index("attributes[0].dob"):left.index("attributes[0].image_url")]
    assert "parse_time(traits.birthday) = missing" in dob and 'traits.birthday = "not a date"' in dob
    gender = left[left.index("attributes[0].gender"):]
    assert gender.startswith('attributes[0].gender  <- $gender_codes[lower(traits.gender)]  (line 108): no key "female "')
    assert 'lower(traits.gender) = "female "' in gender and 'traits.gender = "Female "' in gender
    assert "attributes[0].home_city  <- traits.address.city" in left and "traits.address = missing" in left


def test_values_reached_through_definitions_show_the_chain():
    text = _text("order")
    assert "$identity = {\"external_id\": \"u1\"}  <- let identity:" in text
    assert 'purchases[1]: element 2 of properties.products = {"sku": "s2", "price": 1, "quantity": 3}' in text
    assert 'purchases[]: element 1 of properties.products = "junk": `if is_object($product)` is false' in text
    assert 'purchases[0].currency = "EUR"' in text and '$product.currency = missing' in text


def test_settings_are_shown():
    text = _text("order")
    assert 'app_id                             = "app-1"\n' in text
    assert "update_existing_only               = false  (the default)" in text
    assert "compiled out (never holds with these settings)" in _text("compiled out")
    assert "settings.log_purchase_when_revenue_present = false" in _text("compiled out")


def test_skips_and_unsent_requests_say_why():
    assert "rule `alias` decided: skipped: alias calls are not sent to Braze" in _text("skipped")
    page = _text("filtered page")
    assert "nothing sent (the `when` of every request is false)" in page
    assert "not sent: /users/track of rule `page and screen`" in page
    assert "settings.track_all_pages = false" in page


def test_computed_names_show_what_they_were_made_from():
    text = _text("classic group")
    assert 'attributes[0].ab_segment_group_undefined = true' in text
    assert 'js_string(groupId) = "undefined"' in text and "groupId = missing" in text


MATCH_ALL = """
name: several subscriptions
base_url: '"https://rest.iad-01.braze.com"'
match: all
rules:
  - name: events
    when: type == "track"
    send:
      endpoint: /users/track
      body: {events: [{external_id: userId, name: event, time: timestamp}]}
  - name: purchases need products
    when: type == "track" and event == "Order Completed" and not is_list(properties.products)
    reject: '"Order Completed needs products"'
  - name: pages are skipped
    when: type == "page"
    skip: '"not subscribed"'
"""


def test_match_all_shows_every_rule_that_holds(tmp_path, snapshot):
    path = tmp_path / "all.yaml"
    path.write_text(MATCH_ALL)
    from mapspec.compiler import read_mapping as read

    compiled = compile_source(read(str(path)), {}, standalone=False)
    text = explain(compiled, {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "t"})
    assert text.replace(str(path), "all.yaml") == snapshot
    assert "rules `events`, `purchases need products` hold: sends 1 request, and rejected: Order Completed" in text


@pytest.mark.parametrize("mapping,settings", [
    ("segment-braze", {}),
    ("segment-braze", {"app_id": "a", "track_all_pages": True, "log_purchase_when_revenue_present": True}),
    ("segment-classic", CLASSIC_SETTINGS),
    ("segment-classic", {**CLASSIC_SETTINGS, "traverse": True}),
])
def test_the_explanation_agrees_with_the_translator_on_every_sample_event(mapping, settings):
    """The walk that explains an event decides the same rule and rebuilds the same bodies as the translator."""
    compiled = compile_source(read_mapping(mapping), settings, standalone=False)
    events = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    for event in events:
        facts = _Facts(compiled, event)
        assert not facts.disagreement, (event, facts.disagreement)
        assert len(facts.sent) == len(facts.result.get("requests") or [])
        for _, request, actual in facts.sent:
            assert request.body == actual["body"], event


@pytest.mark.parametrize("mapping", ["rudderstack", "segment-classic", "segment-braze"])
def test_the_explanation_agrees_with_the_translator_on_every_example(mapping):
    """Each example of a bundled mapping, with its own settings."""
    from mapspec.testing import load_examples

    compiled: dict[str, object] = {}
    for ex in load_examples(read_mapping(mapping)):
        if not isinstance(ex.event, dict):
            continue
        key = json.dumps(ex.settings, sort_keys=True)
        if key not in compiled:
            compiled[key] = compile_source(read_mapping(mapping), ex.settings, standalone=False)
        facts = _Facts(compiled[key], json.loads(json.dumps(ex.event)))
        assert not facts.disagreement, (ex.name, facts.disagreement)
        for _, request, actual in facts.sent:
            assert request.body == actual["body"], ex.name


def test_now_is_one_instant_for_the_translator_and_the_explanation():
    translate_text = """
name: clock
base_url: '"http://x"'
rules:
  - send:
      endpoint: /users/track
      body: {attributes: [{external_id: userId, seen: iso8601(now())}]}
"""
    compile_text(translate_text)  # compiles
    from mapspec.source import SourceFile

    compiled = compile_source(SourceFile("clock.yaml", translate_text), {}, standalone=False)
    text = explain(compiled, {"userId": "u"})
    assert "warning" not in text


def test_json_for_tools():
    mapping, settings, event = CASES["identify"]
    report = explain_json(compile_source(read_mapping(mapping), settings, standalone=False), event)
    json.dumps(report)  # plain JSON
    assert report["summary"] == "rule `identify` decided: sends 1 request"
    alias = report["rules"][0]
    assert alias["status"] == "no" and alias["condition"]["value"] is False
    assert alias["condition"]["parts"] == [{"expression": "type", "value": "identify"}]
    dob = next(f for f in report["requests"][0]["left_out"] if f["path"] == "attributes[0].dob")
    assert dob["why"]["missing"] is True and dob["why"]["parts"][0]["expression"] == "parse_time(traits.birthday)"
    assert report["definitions"]["user_id"]["value"] == "u1"
    assert {"name": "app_id", "missing": True, "from": "unset"} in report["settings"]


def test_cli_picks_an_event_from_ndjson():
    proc = mapspec("explain", "segment-braze", "--event", str(CORPUS), "--message-id", "identify-dob-unparseable")
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    assert 'the event: line 7 of' in out and 'messageId "identify-dob-unparseable"' in out
    assert 'traits.birthday = "next tuesday"' in out
    by_line = mapspec("explain", "segment-braze", "--event", str(CORPUS), "--line", "7")
    assert by_line.stdout == proc.stdout
    as_json = mapspec("explain", "segment-braze", "-e", str(CORPUS), "-n", "28", "--format", "json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and report["result"]["rejected"]["message"].startswith("userId or braze_id")
    assert report["event"] == {"file": str(CORPUS), "line": 28, "messageId": "identify-anonymous-only-rejected"}


SAMPLE_LINES = len(CORPUS.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("args,message", [
    ([], f"holds {SAMPLE_LINES} lines: pick one event with --line N or --message-id ID"),
    (["--line", str(SAMPLE_LINES + 1)], f"has {SAMPLE_LINES} lines, not {SAMPLE_LINES + 1}"),
    (["--line", "0"], "--line counts from 1"),
    (["--message-id", "nope"], 'no event in '),
    (["--line", "1", "--message-id", "x"], "give --line or --message-id, not both"),
])
def test_cli_says_which_event_it_cannot_pick(args, message):
    proc = mapspec("explain", "segment-braze", "--event", str(CORPUS), *args)
    assert proc.returncode == 2 and message in proc.stderr.decode(), proc.stderr


def test_cli(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps(CASES["rejected"][2], indent=2))  # one event over several lines
    proc = mapspec("explain", "segment-braze", "--event", str(path))
    assert proc.returncode == 0 and "rejected: userId or braze_id is required" in proc.stdout.decode()
    proc = mapspec("explain", "segment-braze", "--event", "-", stdin="[1]")
    assert proc.returncode == 2 and "must be a JSON object" in proc.stderr.decode()


FORMS = """
name: forms
base_url: '"http://x"'
functions:
  present($x): $x if $x or $x == 0 or $x == false
rules:
  - name: people
    send:
      endpoint: /users/track
      body:
        attributes:
          - external_id: userId
            email: present(traits.email)
            tags: '[lower($t) for $t in traits.tags if is_string($t)]'
        events:
          - for: $k, $v in properties
            if: is_number($v)
            yield: {external_id: userId, name: '"{$k}"', time: '"t"'}
"""


def test_functions_comprehensions_and_keyed_loops_are_explained():
    from mapspec.source import SourceFile

    compiled = compile_source(SourceFile("forms.yaml", FORMS), {}, standalone=False)
    event = {"userId": "u", "traits": {"email": "", "tags": ["A", 1, "B"]}, "properties": {"a": 1, "b": "x", "c": 2}}
    facts = _Facts(compiled, event)
    assert not facts.disagreement and facts.sent[0][1].body == facts.sent[0][2]["body"]
    text = explain(compiled, event)
    assert 'in present($x = ""): $x if $x or $x == 0 or $x == false = missing' in text
    assert 'attributes[0].tags = ["a", "b"]' in text
    assert 'events[0]: key "a" of properties = 1' in text and 'events[1]: key "c" of properties = 2' in text
    assert 'events[]: key "b" of properties = "x": `if is_number($v)` is false' in text
