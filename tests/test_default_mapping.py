"""The bundled default mapping against ../shared/spec/segment-braze.md, rule by rule, and snapshots of
its output on the sample corpus under each settings profile."""

from __future__ import annotations

import pytest

import mapspec
from tests.conftest import render, run

TRACK = "https://rest.iad-01.braze.com/users/track"


@pytest.fixture(scope="module")
def translate():
    return mapspec.load("segment-braze")


def body(result):
    assert "requests" in result, result
    [req] = result["requests"]
    assert req["method"] == "POST"
    return req["body"]


def attrs(translate, traits, **extra):
    event = {"type": "identify", "userId": "u1", "traits": traits, **extra}
    return body(run(translate, event))["attributes"][0]


# ---- identity

def test_user_id_is_external_id(translate):
    assert attrs(translate, {})["external_id"] == "u1"


@pytest.mark.parametrize("where", ["integrations", "context"])
def test_braze_id_when_no_user_id(translate, where):
    braze = {"Braze": {"braze_id": "b1"}}
    event = {"type": "track", "event": "E", "timestamp": "2024-01-01T00:00:00Z"}
    event.update({"integrations": braze} if where == "integrations" else {"context": {"integrations": braze}})
    obj = body(run(translate, event))["events"][0]
    assert obj["braze_id"] == "b1" and "external_id" not in obj


def test_empty_braze_id_falls_back_to_context(translate):
    event = {"type": "identify", "integrations": {"Braze": {"braze_id": ""}},
             "context": {"integrations": {"Braze": {"braze_id": "b2"}}}}
    assert body(run(translate, event))["attributes"][0]["braze_id"] == "b2"


def test_never_both_identifiers(translate):
    obj = attrs(translate, {}, integrations={"Braze": {"braze_id": "b1"}})
    assert obj["external_id"] == "u1" and "braze_id" not in obj


@pytest.mark.parametrize("event", [
    {"type": "identify", "anonymousId": "a"},
    {"type": "identify", "userId": ""},
    {"type": "page", "anonymousId": "a"},  # rejected even though the settings would filter it out
    {"type": "track", "event": "Order Completed", "properties": {"products": []}},
    {"type": "delete"},
])
def test_no_identity_is_rejected(translate, event):
    result = run(translate, event)
    assert "userId" in result["rejected"]["message"] and "braze_id" in result["rejected"]["message"]


def test_alias_is_not_sent_even_anonymous(translate):
    assert run(translate, {"type": "alias", "previousId": "x"}) == {"requests": []}


# ---- identify

def test_identify_standard_fields(translate):
    obj = attrs(translate, {
        "firstName": "Jane", "last_name": "Doe", "email": "j@e.com", "phone": "+1", "avatar": "http://a",
        "address": {"city": "Oslo", "country": "NO"}, "country": "SE", "birthday": "2000-02-29", "gender": "Woman",
    })
    assert obj == {"external_id": "u1", "first_name": "Jane", "last_name": "Doe", "email": "j@e.com", "phone": "+1",
                   "image_url": "http://a", "home_city": "Oslo", "country": "NO", "dob": "2000-02-29", "gender": "F",
                   "_update_existing_only": False}


@pytest.mark.parametrize("value,expected", [
    ("1991-09-26T23:30:00-05:00", "1991-09-27"), ("1991-09-26", "1991-09-26"), (653097600000, "1990-09-12"),
    ("garbage", None), (None, None), (True, None),
])
def test_dob(translate, value, expected):
    obj = attrs(translate, {"birthday": value})
    assert obj.get("dob") == expected


@pytest.mark.parametrize("value,expected", [
    ("f", "F"), ("FEMALE", "F"), ("woman", "F"), ("m", "M"), ("Male", "M"), ("man", "M"), ("o", "O"),
    ("Other", "O"), ("n", "N"), ("Not Applicable", "N"), ("p", "P"), ("prefer not to say", "P"),
    ("u", None), ("nonbinary", None), (1, None), (None, None),
])
def test_gender(translate, value, expected):
    assert attrs(translate, {"gender": value}).get("gender") == expected


def test_custom_attributes_pass_unchanged_and_reserved_do_not(translate):
    traits = {"n": 1, "f": 1.5, "b": False, "z": None, "l": [1, "a"], "o": {"x": {"y": 1}},
              "external_id": "x", "braze_id": "x", "user_alias": {}, "_update_existing_only": True, "app_id": "x",
              "language": "fr", "time_zone": "UTC", "dob": "1999-01-01"}
    obj = attrs(translate, traits)
    for key in ("n", "f", "b", "z", "l", "o", "language", "time_zone", "dob"):
        assert obj[key] == traits[key]
    assert obj["external_id"] == "u1" and "braze_id" not in obj and "user_alias" not in obj
    assert "app_id" not in obj and obj["_update_existing_only"] is False


def test_identify_without_traits_sends_identity(translate):
    assert attrs(translate, None) == {"external_id": "u1", "_update_existing_only": False}


# ---- track

def test_track_event(translate):
    event = {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": "2024-01-01T10:00:00+02:00",
             "properties": {"plan": "pro", "time": 1, "quantity": 1, "event_name": "x", "price": 1, "currency": "x"}}
    assert body(run(translate, event)) == {"events": [{
        "external_id": "u1", "name": "Signed Up", "time": "2024-01-01T08:00:00.000Z", "properties": {"plan": "pro"},
        "_update_existing_only": False}]}


def test_track_time_falls_back_to_received_at(translate):
    event = {"type": "track", "userId": "u1", "event": "E", "receivedAt": "2024-01-01T00:00:00.123456Z"}
    obj = body(run(translate, event))["events"][0]
    assert obj["time"] == "2024-01-01T00:00:00.123Z" and obj["properties"] == {}


def test_app_id_setting_on_events_and_purchases_only():
    t = mapspec.load("segment-braze", {"app_id": "app-1", "update_existing_only": True})
    ev = body(run(t, {"type": "track", "userId": "u", "event": "E", "timestamp": "2024-01-01T00:00:00Z"}))
    assert ev["events"][0]["app_id"] == "app-1" and ev["events"][0]["_update_existing_only"] is True
    at = body(run(t, {"type": "identify", "userId": "u"}))["attributes"][0]
    assert "app_id" not in at and at["_update_existing_only"] is True


# ---- purchases

@pytest.mark.parametrize("name", ["Order Completed", "order completed", "ORDER_COMPLETED", "Completed Order"])
def test_order_completed_names(translate, name):
    event = {"type": "track", "userId": "u", "event": name, "timestamp": "2024-01-01T00:00:00Z",
             "properties": {"products": [{"product_id": "p", "price": 2}]}}
    assert "purchases" in body(run(translate, event))


def test_purchase_fields(translate):
    event = {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z",
             "properties": {"currency": "EUR", "products": [
                 {"product_id": "a", "id": "x", "sku": "y", "price": 1, "quantity": 3, "currency": "GBP", "name": "A",
                  "time": 5, "event_name": "e"},
                 {"id": "b", "sku": "y", "price": 2},
                 {"sku": "c", "price": 3}]}}
    purchases = body(run(translate, event))["purchases"]
    assert [p["product_id"] for p in purchases] == ["a", "b", "c"]
    assert [p["currency"] for p in purchases] == ["GBP", "EUR", "EUR"]
    assert [p["quantity"] for p in purchases] == [3, 1, 1]
    assert purchases[0]["properties"] == {"id": "x", "sku": "y", "name": "A"}
    assert all(p["time"] == "2024-01-01T00:00:00.000Z" for p in purchases)


def test_purchase_currency_defaults_to_usd(translate):
    event = {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z",
             "properties": {"products": [{"id": "a"}]}}
    [p] = body(run(translate, event))["purchases"]
    assert p["currency"] == "USD" and "price" not in p
    assert p["properties"] == {"id": "a"}  # only the six keys of the spec are left out


def test_purchase_properties_omitted_when_empty(translate):
    event = {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z",
             "properties": {"products": [{"product_id": "a", "price": 1, "quantity": 2}]}}
    [p] = body(run(translate, event))["purchases"]
    assert "properties" not in p


@pytest.mark.parametrize("props", [{}, {"products": []}, {"products": "x"}, {"products": {"id": 1}}])
def test_order_without_products_sends_nothing(translate, props):
    event = {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z",
             "properties": props}
    assert run(translate, event) == {"requests": []}


def test_revenue_purchase_only_with_setting(translate):
    event = {"type": "track", "userId": "u", "event": "Renewed", "timestamp": "2024-01-01T00:00:00Z",
             "properties": {"revenue": 9.5, "currency": "EUR", "plan": "x", "price": 1}}
    assert "events" in body(run(translate, event))
    t = mapspec.load("segment-braze", {"log_purchase_when_revenue_present": True})
    assert body(run(t, event)) == {"purchases": [{
        "external_id": "u", "product_id": "Renewed", "currency": "EUR", "price": 9.5, "quantity": 1,
        "time": "2024-01-01T00:00:00.000Z", "properties": {"plan": "x"}, "_update_existing_only": False}]}
    text_revenue = dict(event, properties={"revenue": "9.5"})
    assert "events" in body(run(t, text_revenue))


# ---- page and screen

def page(kind="page", **kw):
    return {"type": kind, "userId": "u", "timestamp": "2024-01-01T00:00:00Z", **kw}


def test_pages_filtered_by_default(translate):
    assert run(translate, page(name="Home")) == {"requests": []}


@pytest.mark.parametrize("kind,kw,name", [
    ("page", {"name": "Home", "category": "Docs"}, "Viewed Docs Home Page"),
    ("page", {"name": "Home"}, "Viewed Home Page"),
    ("page", {}, "Loaded a Page"),
    ("page", {"category": "Docs"}, "Loaded a Page"),
    ("screen", {"name": "Cart"}, "Viewed Cart Screen"),
    ("screen", {}, "Loaded a Screen"),
])
def test_page_names_with_all_pages(kind, kw, name):
    t = mapspec.load("segment-braze", {"track_all_pages": True})
    obj = body(run(t, page(kind, properties={"url": "u"}, **kw)))["events"][0]
    assert obj["name"] == name
    assert obj["properties"] == {"url": "u", **kw}


def test_named_pages_only():
    t = mapspec.load("segment-braze", {"track_named_pages": True})
    assert run(t, page()) == {"requests": []}
    assert body(run(t, page(name="Home")))["events"][0]["name"] == "Viewed Home Page"


# ---- group, delete, unknown

def test_group(translate):
    event = {"type": "group", "userId": "u", "groupId": "acme", "traits": {"name": "Acme"}}
    assert body(run(translate, event)) == {"attributes": [
        {"external_id": "u", "ab_segment_group_acme": True, "_update_existing_only": False}]}


def test_group_without_group_id_is_rejected(translate):
    assert "groupId" in run(translate, {"type": "group", "userId": "u"})["rejected"]["message"]


def test_delete(translate):
    result = run(translate, {"type": "delete", "userId": "u1"})
    assert result["requests"] == [{"method": "POST", "url": "https://rest.iad-01.braze.com/users/delete",
                                   "body": {"external_ids": ["u1"]}}]
    result = run(translate, {"type": "delete", "integrations": {"Braze": {"braze_id": "b"}}})
    assert result["requests"][0]["body"] == {"braze_ids": ["b"]}


def test_rest_endpoint_setting():
    t = mapspec.load("segment-braze", {"rest_endpoint": "https://rest.fra-01.braze.eu"})
    assert run(t, {"type": "identify", "userId": "u"})["requests"][0]["url"] == "https://rest.fra-01.braze.eu/users/track"


@pytest.mark.parametrize("event,word", [({"type": "launch", "userId": "u"}, '"launch"'), ({"userId": "u"}, "no type")])
def test_unknown_type_is_rejected_naming_it(translate, event, word):
    assert word in run(translate, event)["rejected"]["message"]


def test_translator_does_not_share_objects_between_calls(translate):
    event = {"type": "track", "userId": "u", "event": "E", "timestamp": "2024-01-01T00:00:00Z"}
    first = run(translate, event)
    first["requests"][0]["body"]["events"][0]["properties"]["x"] = 1
    assert run(translate, event)["requests"][0]["body"]["events"][0]["properties"] == {}


# ---- the corpus, under each settings profile

PROFILES = {
    "defaults": {},
    "all-pages-app-id": {"track_all_pages": True, "app_id": "app-123"},
    "named-pages": {"track_named_pages": True},
    "revenue-purchases": {"log_purchase_when_revenue_present": True},
    "update-existing-eu": {"update_existing_only": True, "rest_endpoint": "https://rest.fra-01.braze.eu"},
}


@pytest.mark.parametrize("profile", PROFILES)
def test_corpus(corpus, profile, snapshot):
    t = mapspec.load("segment-braze", PROFILES[profile])
    report = "\n".join(f"{e['messageId']}: {render(run(t, e))}" for e in corpus)
    assert report == snapshot


def test_corpus_is_large_enough(corpus):
    assert len(corpus) >= 40
    assert len({e["messageId"] for e in corpus}) == len(corpus)
