"""The generated `if`/`elif` on one value (rules that each hold only for some `type`s are reached through one
test of `type`, with their conditions decided for it) decides every event as the rules in order do; so does a
rule whose requests loop, written as a function of its own."""

from __future__ import annotations

import json
import random

import pytest
import yaml

from mapspec import codegen
from mapspec.compiler import compile_source, load_compiled, read_mapping
from mapspec.source import SourceFile

MAPPINGS = ["segment-braze", "segment-classic", "rudderstack", "segment-actions", "segment-cohorts"]

TRICKY = """\
name: tricky
base_url: '"http://x"'
let:
  kind: type
rules:
  - name: first, any type
    when: userId == "reject me"
    reject: '"first"'
  - name: a or b with more
    when: (type == "a" or type == "b") and exists(x)
    send: {endpoint: /users/track, body: {attributes: [{external_id: '"ab"', x: x}]}}
  - name: not c
    when: type in ["a", "c", "d"] and not (type == "c")
    skip: '"a or d"'
  - name: b or anything with y
    when: type == "b" or (type == "c" and y == 1)
    send: {endpoint: /users/track, body: {attributes: [{external_id: '"b"', y: y}]}}
  - name: c decided later
    when: type == "c" and not exists(z)
    reject: '"c without z"'
  - name: c
    when: type == "c"
    send: {endpoint: /users/track, body: {attributes: [{external_id: '"c"', z: z}]}}
  - name: e through a definition
    when: $kind == "e" and type == "e"
    skip: '"e"'
  - name: f but not g (f and g share their rules, so they share a branch)
    when: (type == "f" or type == "g") and not (type == "g")
    skip: '"f"'
  - name: g
    when: type == "g" or type == "f"
    skip: '"g"'
  - name: the rest
    reject: '"unknown {to_json(type)}"'
"""


def outcome(translate, event) -> str:
    from mapspec import Rejected

    try:
        out = translate(event)
    except Rejected as e:
        return f"rejected: {e}"
    return json.dumps(out) if out else f"skipped: {getattr(out, 'reason', None)}"


def compiled(source: SourceFile, settings: dict, dispatch: bool, monkeypatch):
    import datetime

    from mapspec import runtime

    # one clock for both (segment-classic stamps an event without a time with the time it is sent)
    monkeypatch.setattr(runtime, "now", lambda: datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC))
    with monkeypatch.context() as m:
        if not dispatch:  # (and no rule in a function of its own)
            m.setattr(codegen, "_DISPATCH_RULES", 10 ** 9)
            m.setattr(codegen, "_loops", lambda rule: False)
        result = compile_source(source, settings, standalone=False)
    return load_compiled(result), result.module.source


def variants(events: list[dict], n: int, seed: int, types: list) -> list[dict]:
    """The events with their type, event name and a field or two changed, and each type on each event."""
    rng = random.Random(seed)
    out = [dict(e, type=t) for e in events for t in types]
    for _ in range(n):
        e = json.loads(json.dumps(rng.choice(events)))
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(["type", "event", "userId", "x", "y", "z", "timestamp", "properties", "traits"])
            if rng.random() < 0.3:
                e.pop(key, None)
            else:
                e[key] = rng.choice([*types, 1, None, "", "Order Completed", {"a": 1}, [1], "reject me"])
        out.append(e)
    return out


TYPES = ["identify", "track", "page", "screen", "group", "alias", "delete", "a", "b", "c", "d", "e", "f", "g", "Track", 5,
         None, ["track"]]


@pytest.mark.parametrize("name", MAPPINGS)
def test_bundled_mappings_decide_every_event_as_their_rules_in_order_do(name, monkeypatch):
    source = read_mapping(name)
    examples = yaml.safe_load(open(f"mappings/{name}.test.yaml", encoding="utf-8"))
    settings_seen = {json.dumps(x.get("settings") or {}, sort_keys=True) for x in examples}
    events = [x["event"] for x in examples]
    for settings in map(json.loads, settings_seen):
        fast, text = compiled(source, settings, True, monkeypatch)
        slow, plain = compiled(source, settings, False, monkeypatch)
        if name == "segment-braze":  # (so that this test cannot pass by never dispatching)
            assert "elif e_type == 'identify':" in text and "elif e_type ==" not in plain
            assert "return rule_Order_Completed(event, " in text and "def rule_" not in plain
        for e in variants(events, 1500, seed=len(settings), types=TYPES):
            assert outcome(fast, e) == outcome(slow, e), e


def test_conditions_decided_for_each_type_give_what_the_rules_in_order_give(monkeypatch):
    source = SourceFile("tricky.yaml", TRICKY)
    fast, text = compiled(source, {}, True, monkeypatch)
    slow, _ = compiled(source, {}, False, monkeypatch)
    assert "elif e_type ==" in text and "elif e_type == 'f' or e_type == 'g':" in text
    base = [{"type": "a", "x": 1, "y": 1, "z": 1, "userId": "u"}, {"type": "c", "y": 1}, {"type": "e"}]
    for e in variants(base, 3000, seed=7, types=TYPES):
        assert outcome(fast, e) == outcome(slow, e), e
