"""`mapspec coverage` and `mapspec test --coverage`: per rule, per branch of every conditional and per field, how
many events took it, and what no event reached."""

from __future__ import annotations

import json

import pytest

from mapspec.compiler import compile_source, read_mapping
from mapspec.coverage import measure, render_json, render_text
from mapspec.source import SourceFile
from tests.conftest import CORPUS
from tests.test_cli import mapspec

SMALL = """
name: small
base_url: '"http://x"'
let:
  plan: traits.plan if is_string(traits.plan)
  tier: '"big" if traits.seats > 10 else "small"'
rules:
  - name: ignored
    when: type == "alias"
    skip: '"no"'
  - name: people
    when: type == "identify"
    send:
      endpoint: /users/track
      body:
        attributes:
          - external_id: userId
            plan: $plan
            tier: $tier
            email: traits.email else traits.mail
  - name: orders
    when: type == "track"
    send:
      endpoint: /users/track
      when: is_list(properties.products)
      body:
        purchases:
          - for: $p in properties.products
            if: is_object($p)
            yield: {external_id: userId, product_id: $p.id, currency: '"USD"', price: 1, time: '"t"'}
  - name: never
    when: type == "screen"
    skip: '"no"'
"""

EVENTS = [
    {"type": "identify", "userId": "a", "traits": {"plan": "pro", "seats": 50, "email": "a@x"}},
    {"type": "identify", "userId": "b", "traits": {"seats": 2, "mail": "b@x"}},
    {"type": "identify", "userId": "c"},
    {"type": "track", "userId": "d", "properties": {"products": [{"id": "p"}, "junk"]}},
    {"type": "track", "userId": "e"},
    {"type": "alias"},
]


def small_report():
    return measure(compile_source(SourceFile("small.yaml", SMALL), {}, standalone=False), [*EVENTS, [1]])


def test_rules_are_counted_per_event():
    report = small_report()
    counts = {r.rule.name: (r.tried, r.decided) for r in report.rules}
    assert counts == {"ignored": (6, 1), "people": (5, 3), "orders": (2, 2), "never": (0, 0)}
    assert report.events == 6 and report.unreadable == 1


def test_every_branch_of_every_conditional_is_counted():
    report = small_report()
    branches = {(p.where, p.kind): {b.label: b.events for b in p.branches} for p in report.points}
    assert branches[("let plan", "if")] == {"then": 1, "missing": 2}
    assert branches[("let tier", "if-else")] == {"then": 1, "else": 2}
    assert branches[("rule `people`", "else")] == {"0": 1, "1": 1, "missing": 1}
    assert branches[("rule `orders`", "request")] == {"sent": 1, "not sent": 1}
    assert branches[("rule `orders`", "for")] == {"kept": 1, "dropped": 1}


def test_fields_sent_and_left_out():
    report = small_report()
    fields = {f.path: (f.sent, f.left_out) for f in report.fields}
    assert fields["/users/track attributes[].plan"] == (1, 2)
    assert fields["/users/track attributes[].email"] == (2, 1)
    assert "/users/track attributes[].tier" not in fields  # always there: nothing to learn
    assert fields["/users/track purchases[].product_id"] == (1, 0)


def test_what_no_event_reached():
    missed = small_report().not_reached()
    assert any("rule `never`" in m and "decided no event" in m and "no event tried it" in m for m in missed)
    assert not any("rule `people`" in m for m in missed)
    assert missed == sorted(missed, key=lambda m: int(m.split("line ")[1].split(")")[0].split(":")[0]))


def test_sample_events_add_up():
    compiled = compile_source(read_mapping("segment-braze"), {}, standalone=False)
    events = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    report = measure(compiled, events)
    assert sum(r.decided for r in report.rules) == report.events == len(events)  # the first rule that holds decides
    assert report.disagreements == 0
    for p in report.points:
        taken = sum(b.events for b in p.branches)
        # a definition is evaluated once per event: one branch; in a `for`, elements may take several
        assert taken == p.reached if p.where.startswith("let ") else taken >= p.reached, p.node
    order = next(r for r in report.rules if r.rule.name == "Order Completed")
    assert order.decided == 8  # the sample's Order Completed events that reach the rule
    text = render_text(report, "samples")
    assert "rule `purchase from revenue` (line 132): compiled out with these settings" in text
    assert "rule `track without a name` (line 84): decided no event" in text
    # the fields and branches of a compiled-out rule are not each reported
    assert "line 141" not in text


def test_match_all_counts_every_rule_that_holds():
    from tests.test_explain import MATCH_ALL

    compiled = compile_source(SourceFile("all.yaml", MATCH_ALL), {}, standalone=False)
    report = measure(compiled, [{"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "t"},
                                {"type": "track", "userId": "u", "event": "x", "timestamp": "t"}])
    assert {r.rule.name: r.decided for r in report.rules} == {"events": 2, "purchases need products": 1,
                                                              "pages are skipped": 0}
    assert "  rule                      line   tried     held" in render_text(report, "")


def test_text_snapshot(snapshot):
    assert render_text(small_report(), "events.ndjson") == snapshot


def test_json_is_for_tools():
    data = json.loads(render_json(small_report(), "x"))
    assert data["events"] == 6 and data["rules"][1] == {"name": "people", "line": 11, "compiled_out": False,
                                                        "tried": 5, "decided": 3}
    plan = next(b for b in data["branches"] if b["in"] == "let plan")
    assert plan["branches"] == [{"branch": "then", "expression": "traits.plan", "events": 1},
                                {"branch": "missing", "events": 2}]
    assert data["not_reached"]


def test_cli(tmp_path):
    events = tmp_path / "e.ndjson"
    events.write_text(CORPUS.read_text() + "not json\n")
    proc = mapspec("coverage", "segment-braze", str(events))
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    count = len(CORPUS.read_text().splitlines())
    assert out.startswith(f"mappings/segment-braze.yaml: coverage on {count} events ({events})")
    assert "(left out: 1 line that is not a JSON object)" in out
    data = json.loads(mapspec("coverage", "segment-braze", "-", "--format", "json", stdin=CORPUS.read_bytes()).stdout)
    assert data["events"] == count and data["input"] == "stdin"
    bad = mapspec("coverage", "no-such-mapping", str(events))
    assert bad.returncode == 2


@pytest.mark.parametrize("name", ["segment-braze", "segment-classic"])
def test_test_coverage_reports_what_the_examples_reach(name):
    proc = mapspec("test", "--coverage", name)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    assert f"mappings/{name}.yaml: coverage on " in out and "(its examples)" in out
    assert "rules (events):" in out


def test_the_counts_agree_with_the_translator_on_a_realistic_mix():
    from bench.events import realistic_mix

    for name, settings in (("segment-braze", {"track_all_pages": True, "app_id": "a"}),
                           ("segment-classic", {"appGroupId": "AG", "datacenter": "us"})):
        compiled = compile_source(read_mapping(name), settings, standalone=False)
        report = measure(compiled, realistic_mix(600))
        assert report.events == 600 and report.disagreements == 0, name


def test_a_disagreement_with_the_translator_is_said(monkeypatch):
    from mapspec.coverage import Counter

    counter = Counter(compile_source(SourceFile("small.yaml", SMALL), {}, standalone=False))
    counter.translate = lambda event: []  # a translator that sends nothing: not what the mapping says
    for event in EVENTS:
        counter.add(event)
    assert counter.report.disagreements == 4  # all but the two that send nothing indeed
    assert "warning: on 4 events the translator gave other than what is counted here" in \
        render_text(counter.report, "")


def test_branches_inside_comprehensions_and_functions_are_counted():
    from tests.test_explain import FORMS

    compiled = compile_source(SourceFile("forms.yaml", FORMS), {}, standalone=False)
    report = measure(compiled, [{"userId": "u", "traits": {"email": "e", "tags": ["A", 1]}},
                                {"userId": "v", "traits": {"email": ""}}])
    assert report.disagreements == 0
    branches = {(p.where, p.kind): {b.label: b.events for b in p.branches} for p in report.points}
    assert branches[("rule `people`", "for")] == {"kept": 0, "dropped": 0}  # no properties: no element
    comprehension = next(p for p in report.points if p.kind == "for" and "tags" in unparse_text(p.node))
    assert {b.label: b.events for b in comprehension.branches} == {"kept": 1, "dropped": 1}
    present = branches[("function present", "if")]
    assert present == {"then": 1, "missing": 1}


def unparse_text(node):
    from mapspec.syntax.unparse import unparse

    return unparse(node)
