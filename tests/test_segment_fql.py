"""Segment's filter language (subscription triggers) to mapspec conditions: the text it writes, and what the
conditions decide on events, compiled and run."""

from __future__ import annotations

import pytest

from mapspec.importers.segment_actions import fql
from tests.conftest import compile_text, run


@pytest.mark.parametrize("trigger,condition", [
    ('type = "track"', 'type == "track"'),
    ('type = "track" and event != "Order Completed"', 'type == "track" and event != "Order Completed"'),
    ('event = "Order Completed" or event = "Checkout Started"',
     'event == "Order Completed" or event == "Checkout Started"'),
    ("type = 'identify' or type = 'track'", 'type == "identify" or type == "track"'),
    ('type = "track" and (event = "A" or match(event, "Button *"))',
     'type == "track" and (event == "A" or starts_with(event, "Button "))'),
    ('event = "A" or event = "B" and userId != null',
     'event == "A" or event == "B" and exists(userId) and userId != null'),
    ('!contains(context.library.name, "js")', '"js" not in context.library.name'),
    ('contains(event, "Order")', '"Order" in event'),
    ('match(event, "*Completed")', 'ends_with(event, "Completed")'),
    ('match(properties.sku, "a?c*")', "matches(properties.sku, '(?s)a.c.*\\\\Z')"),
    ("properties.price >= 100", "is_number(properties.price) and properties.price >= 100"),
    ("traits.logins < 10.5", "is_number(traits.logins) and traits.logins < 10.5"),
    ("properties.count = 5", "properties.count == 5"),
    ('properties.count = "5"', 'properties.count == "5"'),
    ("properties.premium = true", "properties.premium == true"),
    ("traits.plan = null", "not exists(traits.plan) or traits.plan == null"),
    ("userId != null", "exists(userId) and userId != null"),
    ("properties.first\\ name = 'x'", 'properties["first name"] == "x"'),
    ("context.traits.email-verified = true", 'context.traits["email-verified"] == true'),
    ("properties.items.0.id = 'a'", 'properties.items[0].id == "a"'),
    ("lowercase(event) = 'order completed'", 'lower(event) == "order completed"'),
    ("'dark-mode' in properties.features", '"dark-mode" in properties.features'),
    ("settings.x = 1", "$event.settings.x == 1"),
    ("", "true"),
])
def test_translation(trigger, condition):
    assert fql.translate(trigger).text == condition


@pytest.mark.parametrize("trigger,message", [
    ('type = "track', "a string is never closed"),
    ("type =", "expected a value (a string, a number, true, false or null) but found the end of the trigger"),
    ('type "track"', "expected a comparison such as `=` or `!=` but found `track`"),
    ('(type = "track"', "expected `)` but found the end of the trigger"),
    ('type = "track" and', "expected a field such as `event` or `properties.plan` but found the end"),
    ('typo(event) = "x"', "the function `typo` is not translated"),
    ('type = "a" event = "b"', "unexpected `event`"),
    ("type = 1.2.3", "a number with more than one decimal point"),
    ("type # 3", "unexpected character `#`"),
    ("properties.x > null", "`> null` is never true"),
])
def test_errors_say_what_and_where(trigger, message):
    with pytest.raises(fql.FQLError) as e:
        fql.translate(trigger)
    assert message in str(e.value)


def test_error_positions_point_into_the_trigger():
    with pytest.raises(fql.FQLError) as e:
        fql.translate('type = "track" and event @ "x"')
    assert e.value.position == 25


EVENTS = {
    "track": {"type": "track", "event": "Order Completed", "userId": "u1",
              "properties": {"price": 120, "count": "5", "premium": True, "features": ["dark-mode"],
                             "first name": "Jane", "sku": "abc-1"},
              "context": {"library": {"name": "analytics.js"}}, "traits": {"plan": None}},
    "identify": {"type": "identify", "traits": {"logins": 3}},
}


@pytest.mark.parametrize("trigger,holds_for", [
    ('type = "track"', {"track"}),
    ('event != "Order Completed"', {"identify"}),           # missing is not equal
    ("properties.price >= 100", {"track"}),
    ("properties.count = 5", set()),                          # "5" is not 5
    ('properties.count = "5"', {"track"}),
    ("traits.plan = null", {"track", "identify"}),            # null, or missing
    ("traits.plan != null", set()),
    ("userId != null", {"track"}),
    ('!contains(context.library.name, "js")', {"identify"}),  # a missing name contains nothing
    ('match(event, "Order *")', {"track"}),
    ('match(properties.sku, "a?c*")', {"track"}),
    ("properties.first\\ name = 'Jane'", {"track"}),
    ("'dark-mode' in properties.features", {"track"}),
    ("traits.logins < 10", {"identify"}),
    ('type = "identify" or type = "track" and properties.premium = true', {"track", "identify"}),
    ('(type = "identify" or type = "track") and properties.premium = true', {"track"}),
])
def test_conditions_decide_as_segment_does(trigger, holds_for):
    condition = fql.translate(trigger).text.replace("'", "''")
    translate = compile_text(f"name: t\nrules:\n  - name: hit\n    when: '{condition}'\n    reject: '\"hit\"'\n")
    hits = {kind for kind, event in EVENTS.items() if run(translate, event).get("rejected") == {"message": "hit"}}
    assert hits == holds_for
