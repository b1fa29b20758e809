"""`segment-classic`: Segment's classic Braze destination (integration-appboy 1.7.0), case for case.

The integration's own 29 fixtures run through ../shared/conformance/run when the shared folder is there;
the cases below cover the rules of ../shared/spec/segment-classic.md that those fixtures do not."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

import mapspec
from tests.conftest import run, run_conformance, shared_folder

SHARED = shared_folder()
SUITE = SHARED / "conformance" / "segment-classic" if SHARED else None

SETTINGS = {"appGroupId": "AGID", "apiKey": "KEY", "datacenter": "us", "updateExistingOnly": False,
            "trackAllPages": False, "trackNamedPages": False}
US = "https://api.appboy.com/users/track"


@pytest.mark.skipif(SUITE is None, reason="the shared conformance suites are not beside this checkout")
def test_upstream_fixtures_pass_the_conformance_runner():
    last, failed = run_conformance(SUITE)
    assert last == "29 passed, 0 failed", failed


def load(**changes):
    settings = {k: v for k, v in {**SETTINGS, **changes}.items() if v is not ...}
    return mapspec.load("segment-classic", settings)


@pytest.fixture(scope="module")
def t():
    return load()


def one(translate, event, key):
    result = run(translate, event)
    assert "requests" in result, result
    [req] = result["requests"]
    assert req["body"]["app_group_id"] == "AGID" and req["body"]["src"] == "segment"
    return req["body"][key]


def attrs(translate, traits, **event):
    return one(translate, {"type": "identify", "userId": "u", "traits": traits, **event}, "attributes")[0]


# ---- validation and transport

@pytest.mark.parametrize("changes,event,message", [
    ({"datacenter": None, "appGroupId": None}, {"type": "track"}, 'setting "datacenter" is required'),
    ({"datacenter": ""}, {"type": "track", "userId": "u"}, 'setting "datacenter" is required'),
    ({"appGroupId": ...}, {"type": "track"}, 'setting "appGroupId" is required'),
    ({}, {"type": "track", "anonymousId": "a"}, 'message attribute "userId" is required'),
    ({}, {"type": "alias", "userId": None}, 'message attribute "userId" is required'),
    ({}, {"type": "page", "userId": "u", "name": "Home"}, "please update your Integration Settings"),
    ({"trackAllPages": True, "trackNamedPages": True}, {"type": "screen", "userId": "u"},
     "Name is required for .page() and .screen()"),
    ({"trackNamedPages": True}, {"type": "page", "userId": "u", "category": "Docs"}, "Name is required"),
])
def test_validation_order_and_messages(changes, event, message):
    result = run(load(**changes), event)
    assert message in result["rejected"]["message"]


def test_empty_user_id_is_accepted(t):
    assert attrs(t, {}, userId="")["external_id"] == ""


def test_eu_endpoint_and_other_datacenters():
    assert run(load(datacenter="eu"), {"type": "identify", "userId": "u"})["requests"][0]["url"] == \
        "https://rest.api.appboy.eu/users/track"
    assert run(load(datacenter="us-03"), {"type": "identify", "userId": "u"})["requests"][0]["url"] == US


def test_update_existing_only_unset_leaves_the_key_out():
    t = load(updateExistingOnly=...)
    obj = attrs(t, {"_update_existing_only": True})
    assert "_update_existing_only" not in obj
    ev = one(t, {"type": "track", "userId": "u", "event": "E", "timestamp": "2015-01-01T00:00:00Z"}, "events")[0]
    assert "_update_existing_only" not in ev


def test_alias_and_delete_send_nothing(t):
    assert run(t, {"type": "alias", "userId": "u", "previousId": "p"}) == {"requests": []}
    assert run(t, {"type": "delete", "userId": "u"}) == {"requests": []}


# ---- identify

@pytest.mark.parametrize("traits,first,last", [
    ({"name": "Jane Q Doe"}, "Jane", "Q Doe"),
    ({"name": "  Jane   Doe  "}, "Jane", "e   Doe"),  # the facade cuts the untrimmed name at the trimmed index
    ({"name": "Cher"}, "Cher", None),
    ({"name": "Jane Doe", "firstName": " Ann ", "lastName": "Lee "}, "Ann", "Lee"),
    ({"first_name": "Ann"}, "Ann", None),
    ({"First Name": "Ann", "LAST_NAME": "Lee"}, "Ann", "Lee"),
])
def test_name_splitting(t, traits, first, last):
    obj = attrs(t, traits)
    assert obj.get("first_name") == first and obj.get("last_name") == last
    assert "name" not in obj and "firstName" not in obj and "lastName" not in obj


def test_look_alike_keys_stay(t):
    obj = attrs(t, {"First Name": "Ann", "photoUrl": "http://p"})
    assert obj["First Name"] == "Ann" and obj["first_name"] == "Ann"
    assert obj["photoUrl"] == "http://p" and obj["image_url"] == "http://p"


@pytest.mark.parametrize("traits,image", [
    ({"avatar": "http://a", "photoUrl": "http://p"}, "http://a"),
    ({"avatarUrl": "http://u"}, "http://u"),
    ({"avatar": "", "photoUrl": "http://p"}, "http://p"),
    ({}, None),
])
def test_image_url(t, traits, image):
    assert attrs(t, traits).get("image_url") == image


def test_address(t):
    obj = attrs(t, {"country": "Canada", "city": "Paris", "address": {
        "city": "Oslo", "country": "NO", "street": "1 Main", "state": "X", "postalCode": "1"}})
    assert obj["home_city"] == "Oslo" and obj["country"] == "NO" and obj["city"] == "Paris"
    assert "address" not in obj and "street" not in obj
    assert attrs(t, {"country": "Canada", "address": {"city": ""}})["country"] == "Canada"


@pytest.mark.parametrize("value,expected", [
    ("1991-09-26T23:30:00-05:00", "1991-09-27"),
    ("1991-09-26", "1991-09-26"),
    (653097600000, "1990-09-12"),
    ("September 26, 1991", "1991-09-26"),
    ("Thu, 26 Sep 1991 10:00:00 GMT", "1991-09-26"),
    ("not a date", None),
    ("", ""),  # falsy: the facade leaves it as it is
])
def test_dob(t, value, expected):
    obj = attrs(t, {"birthday": value})
    assert obj.get("dob") == expected and "birthday" not in obj


def test_raw_dob_trait_is_converted_too(t):
    assert attrs(t, {"dob": "2000-01-02T12:00:00Z"})["dob"] == "2000-01-02"


@pytest.mark.parametrize("gender,kept", [("Female", True), ("MALE", True), ("w", False), ("O", False),
                                         ("N", False), ("woman", True), (1, False), ({"x": 1}, False)])
def test_gender_is_filtered_not_normalised(t, gender, kept):
    assert attrs(t, {"gender": gender}).get("gender") == (gender if kept else None)


def test_every_other_trait_passes_unchanged(t):
    traits = {"email": "e", "email_subscribe": "opted_in", "braze_id": "b", "nested": {"a": [1]}, "n": None,
              "flag": False, "CamelCase": 1, "id": "dropped", "external_id": "overwritten", "createdAt": "2015-02-03"}
    obj = attrs(load(traverse=False), traits)
    for key in ("email", "email_subscribe", "braze_id", "nested", "n", "flag", "CamelCase", "createdAt"):
        assert obj[key] == traits[key]
    assert "id" not in obj and obj["external_id"] == "u"
    assert attrs(t, traits)["createdAt"] == "2015-02-03T00:00:00.000Z"  # the facade's ISO-date traversal


# ---- the facade's ISO-date traversal (production default; the upstream tests turn it off)

def iso_dates() -> list[tuple[str, str]]:
    """(input, what the traversal sends), computed by node: tests/data/iso_dates.mjs."""
    path = Path(__file__).resolve().parent / "data" / "iso_dates.txt"
    return [tuple(json.loads(part) for part in line.split("\t")) for line in path.read_text().split("\n") if line]


def test_iso_date_strings_become_the_times_javascript_makes_of_them(t):
    cases = iso_dates()
    assert len(cases) >= 2000
    wrong = []
    for text, want in cases:
        got = attrs(t, {"d": text, "deep": {"list": [{"d": text}]}})
        if got["d"] != want or got["deep"] != {"list": [{"d": want}]}:
            wrong.append((text, want, got["d"]))
    assert not wrong, wrong[:5]


def test_iso_date_traversal_reaches_properties_ids_and_names(t):
    event = {"type": "track", "userId": "2015-01-02", "event": "2015-01-03", "timestamp": "2015-01-01T00:00:00Z",
             "properties": {"at": "2015-01-04 10:00", "n": 20150104, "text": "2015-01-04 at noon"}}
    [ev] = one(t, event, "events")
    assert (ev["external_id"], ev["name"]) == ("2015-01-02T00:00:00.000Z", "2015-01-03T00:00:00.000Z")
    assert ev["properties"] == {"at": "2015-01-04T10:00:00.000Z", "n": 20150104, "text": "2015-01-04 at noon"}
    off = load(traverse=False)
    [ev] = one(off, event, "events")
    assert (ev["external_id"], ev["name"], ev["properties"]) == ("2015-01-02", "2015-01-03", event["properties"])
    page = load(trackAllPages=True)
    [ev] = one(page, {"type": "page", "userId": "u", "name": "2015-05-06", "properties": {"p": "2015-05-07"}},
               "events")
    assert ev["properties"] == {"name": "2015-05-06T00:00:00.000Z", "p": "2015-05-07T00:00:00.000Z"}


def test_context_traits_are_not_used(t):
    assert attrs(t, None, context={"traits": {"email": "x"}}) == {"external_id": "u", "_update_existing_only": False}


# ---- track and purchases

def test_track_properties_are_not_stripped(t):
    props = {"time": 1, "quantity": 2, "event_name": "x", "price": 3, "currency": "EUR", "product_id": "p",
             "revenue": 10, "nested": {"a": 1}}
    ev = one(t, {"type": "track", "userId": "u", "event": "Bought", "timestamp": "2015-01-01T00:00:00Z",
                 "properties": props}, "events")[0]
    assert ev == {"app_id": "KEY", "external_id": "u", "time": "2015-01-01T00:00:00.000Z", "name": "Bought",
                  "properties": props, "_update_existing_only": False}


def test_track_without_timestamp_uses_the_time_of_translation(t):
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ev = one(t, {"type": "track", "userId": "u", "event": "E"}, "events")[0]
    sent = datetime.datetime.strptime(ev["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    assert before <= sent <= datetime.datetime.now(datetime.UTC)
    assert ev["properties"] == {}


@pytest.mark.parametrize("event,purchases", [
    ("Order Completed", True), ("order_completed", True), ("OrderCompleted", True), ("Completed Order", True),
    ("completed_order", True), (" completed order", True), ("Completed Order Foo", True),
    ("Order Completed Foo", False), ("Order Refunded", False), (None, False),
])
def test_order_completed_routing(t, event, purchases):
    result = run(t, {"type": "track", "userId": "u", "event": event, "timestamp": "2015-01-01T00:00:00Z",
                     "properties": {"products": [{"id": "p"}]}})
    assert ("purchases" in result["requests"][0]["body"]) is purchases


def purchases_of(t, products, **props):
    return one(t, {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "2015-01-01T00:00:00Z",
                   "properties": {"products": products, **props}}, "purchases")


def test_purchase_fields_and_fallbacks(t):
    ps = purchases_of(t, [
        {"productId": "a", "sku": "s", "price": "5.5", "quantity": 0, "currency": "EUR", "name": "x"},
        {"product_id": "", "id": "b", "price": 1},
        {"sku": "only"},
    ], currency="GBP", revenue=10, order_id="o")
    assert [p.get("product_id") for p in ps] == ["a", "b", None]
    assert [p["currency"] for p in ps] == ["EUR", "USD", "USD"]  # the order-level currency is ignored
    assert [p["quantity"] for p in ps] == [1, 1, 1]  # 0 becomes 1
    assert ps[0]["price"] == "5.5" and "price" not in ps[2]  # verbatim, not coerced
    assert all(set(p) <= {"app_id", "external_id", "product_id", "currency", "price", "quantity", "time",
                          "_update_existing_only"} for p in ps)


@pytest.mark.parametrize("products", [[], "x", {"id": 1}, None])
def test_order_without_a_product_list_still_sends(t, products):
    assert purchases_of(t, products) == []


def test_revenue_is_not_a_purchase(t):
    ev = one(t, {"type": "track", "userId": "u", "event": "Subscribed", "properties": {"revenue": 5}}, "events")
    assert ev[0]["properties"] == {"revenue": 5}


# ---- page, screen, group

@pytest.mark.parametrize("settings,event,name,props", [
    ({"trackAllPages": True}, {"type": "page"}, "Loaded a Page", {}),
    ({"trackAllPages": True}, {"type": "page", "category": "Docs"}, "Loaded a Page", {"category": "Docs"}),
    ({"trackAllPages": True}, {"type": "page", "name": "Home", "category": "Docs"}, "Viewed Docs Home Page",
     {"category": "Docs", "name": "Home"}),
    ({"trackNamedPages": True}, {"type": "screen", "name": "Cart"}, "Viewed Cart Screen", {"name": "Cart"}),
    ({"trackAllPages": True}, {"type": "screen"}, "Loaded a Screen", {}),
])
def test_page_and_screen(settings, event, name, props):
    ev = one(load(**settings), {"userId": "u", "timestamp": "2015-01-01T00:00:00Z", **event}, "events")[0]
    assert ev["name"] == name and ev["properties"] == props and ev["app_id"] == "KEY"


@pytest.mark.parametrize("group_id,key", [("g1", "ab_segment_group_g1"), (42, "ab_segment_group_42"),
                                          (None, "ab_segment_group_null"), (..., "ab_segment_group_undefined")])
def test_group_key_is_plain_concatenation(t, group_id, key):
    event = {"type": "group", "userId": "u", "traits": {"name": "Acme"}}
    if group_id is not ...:
        event["groupId"] = group_id
    assert one(t, event, "attributes") == [{"external_id": "u", "_update_existing_only": False, key: True}]


def test_app_id_is_blank_without_api_key():
    t = load(apiKey=...)
    ev = one(t, {"type": "track", "userId": "u", "event": "E", "timestamp": "2015-01-01T00:00:00Z"}, "events")[0]
    assert ev["app_id"] == ""
    assert "app_id" not in attrs(t, {})
