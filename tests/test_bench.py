"""The benchmark's reference stays honest: the hand-written translator gives what the default mapping gives,
event by event and key by key, on the benchmark's mix and on events with values of every wrong kind."""

from __future__ import annotations

import json
import random

import pytest

import mapspec
from bench import handwritten
from bench.events import realistic_mix

SETTINGS = [{"track_all_pages": True, "app_id": "bench-app"}, {}, {"track_named_pages": True},
            {"log_purchase_when_revenue_present": True, "update_existing_only": True,
             "rest_endpoint": "https://rest.fra-01.braze.eu"}]
ODD = [None, "", "x", 0, 1, -1, 1.5, 3.0, True, False, [], [1], {}, {"a": 1}, "not a date", "1990-05-17",
       "2024-01-01T00:00:00Z", 1714560000000, "September 26, 1991", "17/05/1990", " 1990-05-17 ", "Order Completed",
       "1991/09/26 10:00:00", "2024-01-01 10:00:00 +02:00", {"Braze": {"braze_id": "b"}}, "track", "identify",
       "page", "screen", "group", "alias", "delete", "FEMALE", 1e300]
FIELDS = ["type", "userId", "event", "timestamp", "receivedAt", "name", "category", "groupId", "properties",
          "traits", "integrations", "context"]


def outcome(translate, event, rejected):
    try:
        out = translate(event)
    except rejected as e:
        return f"rejected: {e}"
    return json.dumps(out) if out else f"skipped: {getattr(out, 'reason', None)}"


def mutants(events, n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        e = json.loads(json.dumps(rng.choice(events)))
        for _ in range(rng.randrange(1, 4)):
            r = rng.random()
            if r < 0.3 and isinstance(e.get("traits"), dict):
                where, key = e["traits"], rng.choice(["birthday", "firstName", "first_name", "lastName", "last_name",
                                                      "gender", "address", "avatar", "country", "external_id"])
            elif r < 0.45 and isinstance(e.get("properties"), dict):
                where, key = e["properties"], rng.choice(["products", "currency", "revenue", "price", "time"])
            else:
                where, key = e, rng.choice(FIELDS)
            if rng.random() < 0.2:
                where.pop(key, None)
            else:
                where[key] = json.loads(json.dumps(rng.choice(ODD)))
        yield e


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(s) or "defaults")
def test_hand_written_translator_gives_what_the_mapping_gives(settings):
    compiled = mapspec.load("segment-braze", settings)
    hand = handwritten.make_translator(**{k: v for k, v in settings.items() if k != "rest_endpoint"},
                                       **({"endpoint": settings["rest_endpoint"]} if "rest_endpoint" in settings else {}))
    events = realistic_mix(2000, seed=5)
    for e in [*events, *mutants(events, 3000, seed=len(settings))]:
        assert outcome(hand, e, handwritten.Rejected) == outcome(compiled, e, mapspec.Rejected), e


def test_the_mix_has_every_event_type_and_the_invalid_values_real_streams_carry():
    events = realistic_mix(5000)
    types = {e.get("type") if isinstance(e.get("type"), str) else "odd" for e in events}
    assert {"identify", "track", "page", "screen", "group", "alias", "delete", "odd"} <= types
    birthdays = [e["traits"]["birthday"] for e in events if isinstance(e.get("traits"), dict) and "birthday" in e["traits"]]
    assert "not a date" in birthdays and None in birthdays and "" in birthdays
    assert any("userId" not in e or not isinstance(e["userId"], str) for e in events)
    translate = mapspec.load("segment-braze", {"track_all_pages": True})
    said = " ".join(outcome(translate, e, mapspec.Rejected) for e in events)
    for reason in ("userId or braze_id is required", "needs an event name", "no time Braze can read",
                   "needs a groupId", "unsupported event type", "the event has no type"):
        assert reason in said
