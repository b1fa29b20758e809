"""`rudderstack`: RudderStack's Braze destination (rudder-transformer, processor path), case for case.

The transformer's own 42 processor cases run through ../shared/conformance/run when the shared folder is there;
the cases below pin the transformer's behaviour that those cases do not show (read from its source:
src/v0/destinations/braze/transform.ts, util.ts, ecommerceUtil.ts at commit c98d160c)."""

from __future__ import annotations

import pytest

import mapspec
from tests.conftest import run, run_conformance, shared_folder

SHARED = shared_folder()
SUITE = SHARED / "conformance" / "rudderstack" if SHARED else None

@pytest.fixture(scope="module")
def conformance():
    if SUITE is None:
        pytest.skip("the shared conformance suites are not beside this checkout")
    return run_conformance(SUITE)


def test_processor_cases_pass_the_conformance_runner(conformance):
    last, failed = conformance
    assert last == "42 passed, 0 failed", failed


def load(**settings):
    return mapspec.load("rudderstack", {"dataCenter": "us-01", **settings})


@pytest.fixture(scope="module")
def t():
    return load()


def body(translate, event):
    result = run(translate, event)
    assert "requests" in result, result
    [req] = result["requests"]
    return req["body"]


def rejected(translate, event) -> str:
    result = run(translate, event)
    assert "rejected" in result, result
    return result["rejected"]["message"]


# ---- the data center

@pytest.mark.parametrize("dc,host", [("eu-01", "https://rest.fra-01.braze.eu"), (" US-03 ", "https://rest.iad-03.braze.com"),
                                     ("au-01", "https://rest.au-01.braze.com"),
                                     ("eu", "https://rest.fra-undefined.braze.eu"),  # String(undefined)
                                     ("us-05-x", "https://rest.iad-05.braze.com")])
def test_data_center(dc, host):
    result = run(load(dataCenter=dc), {"type": "track", "userId": "u", "event": "E"})
    assert result["requests"][0]["url"] == host + "/users/track"


@pytest.mark.parametrize("dc,code", [(None, "E208"), (7, "E208"), ("apac-01", "E210"), ("", "E210")])
def test_an_invalid_data_center_does_not_compile(dc, code):
    with pytest.raises(mapspec.CompileError) as e:
        load(dataCenter=dc)
    assert [d.code for d in e.value.diagnostics] == [code]


# ---- identity

def test_identity_precedence(t):
    def who(event):
        return body(t, {"type": "track", "event": "E", **event})["events"][0]

    assert who({"userId": "u", "anonymousId": "a"})["external_id"] == "u"
    anon = who({"userId": "", "anonymousId": "a"})
    assert anon["user_alias"] == {"alias_name": "a", "alias_label": "rudder_id"} and anon["_update_existing_only"] is False
    custom = who({"anonymousId": "a", "integrations": {"Braze": {"alias": {"alias_name": "n", "alias_label": "l"}}}})
    assert custom["user_alias"] == {"alias_name": "n", "alias_label": "l"}
    half = who({"anonymousId": "a", "integrations": {"Braze": {"alias": {"alias_name": "n", "alias_label": None}}}})
    assert half["user_alias"] == {"alias_name": "a", "alias_label": "rudder_id"}
    braze = who({"userId": "u", "context": {"externalId": [{"type": "other", "id": "o"},
                                                          {"type": "brazeExternalId", "id": "b"}]}})
    assert braze["external_id"] == "b"
    # a user id in the traits says "identified", but only userId (or a brazeExternalId) is sent
    assert who({"anonymousId": "a", "traits": {"id": "t"}}) == {"name": "E", "properties": {}}
    assert who({}) == {"name": "E", "properties": {}, "_update_existing_only": False}


def test_rETL_identify_takes_the_external_id_and_the_traits_as_they_are(t):
    event = {"type": "identify", "userId": "", "anonymousId": "a",
             "context": {"mappedToDestination": True, "externalId": [{"id": "x@y.z", "identifierType": "email"}],
                         "traits": {"firstName": "Jo", "email": "X@Y.Z", "gender": "woman"}}}
    assert body(t, event)["attributes"] == [{"firstName": "Jo", "email": "X@Y.Z", "gender": "woman", "external_id": "x@y.z"}]
    event["context"]["traits"] = None
    assert rejected(t, event) == "No attributes found to update the user profile"


# ---- attributes

def test_traits_or_context_traits_whichever_comes_first(t):
    event = {"type": "identify", "userId": "u", "traits": {"a": 1}, "context": {"traits": {"b": 2}}}
    assert body(t, event)["attributes"] == [{"a": 1, "external_id": "u"}]
    event["traits"] = {}  # an empty object is truthy in JavaScript: it is chosen, and holds nothing
    assert rejected(t, event) == "No attributes found to update the user profile"


@pytest.mark.parametrize("traits,attributes", [
    ({"email": "", "phone": None, "gender": "x", "firstName": ""}, {"phone": None, "gender": None}),
    ({"gender": "O", "email": None}, {"gender": "O", "email": None}),
    ({"gender": 3, "lastName": "Doe", "avatar": "http://a"}, {"gender": None, "last_name": "Doe", "image_url": "http://a"}),
    ({"address": {"city": "", "country": "FR"}, "city": "Paris"}, {"country": "FR", "city": "Paris"}),
    ({"first_name": "Jo", "firstname": "J"}, {"first_name": "Jo", "firstname": "J"}),  # passed on as they are
])
def test_standard_attributes(t, traits, attributes):
    assert body(t, {"type": "identify", "userId": "u", "traits": traits})["attributes"] == [
        {**attributes, "external_id": "u"}]


def test_nested_array_operations_only_when_asked(t):
    traits = {"pets": {"remove": [{"identifier": "id", "id": 3}]}, "list": [1]}
    assert body(t, {"type": "identify", "userId": "u", "traits": traits})["attributes"][0]["pets"] == traits["pets"]
    on = load(enableNestedArrayOperations=True)
    got = body(on, {"type": "identify", "userId": "u", "traits": traits, "properties": {"mergeObjectsUpdateOperation": True}})
    # without `update`, the trait keeps its own keys beside the operation; no _merge_objects
    assert got["attributes"] == [{"pets": {"remove": [{"identifier": "id", "id": 3}],
                                           "$remove": [{"$identifier_key": "id", "$identifier_value": 3}]},
                                  "list": [1], "external_id": "u"}]
    got = body(on, {"type": "track", "userId": "u", "event": "E", "properties": {"mergeObjectsUpdateOperation": True},
                    "traits": {"p": {"update": [{"identifier": "sku", "sku": 5, "qty": 1}]}}})
    assert got["attributes"] == [{"p": {"$update": [{"$identifier_key": "sku", "$identifier_value": 5,
                                                     "$new_object": {"qty": 1}}]},
                                  "_merge_objects": True, "external_id": "u"}]


# ---- track, page, screen

@pytest.mark.parametrize("event,name", [
    ({"type": "page", "name": "Home", "properties": {"name": "P"}}, "Home"),
    ({"type": "page", "properties": {"name": "P"}}, "P"),
    ({"type": "screen"}, "Screen Viewed"),
    ({"type": "Screen", "name": "S"}, "S"),
])
def test_page_and_screen_names(t, event, name):
    assert body(t, {"userId": "u", **event})["events"][0]["name"] == name


def test_event_properties(t):
    got = body(t, {"type": "track", "userId": "u", "event": "E", "timestamp": 1700000000000,
                   "properties": {"time": 1, "event_name": "x", "price": 2.0}})["events"][0]
    assert got == {"name": "E", "time": 1700000000000, "properties": {"price": 2.0}, "external_id": "u"}
    got = body(t, {"type": "track", "userId": "u", "event": "E", "properties": ["a", "b"]})["events"][0]
    assert got["properties"] == {"0": "a", "1": "b"}  # lodash omit of an array
    assert body(t, {"type": "track", "userId": "u", "event": "E", "properties": 0})["events"][0]["properties"] == {}


# ---- Order Completed

def order(products, **properties):
    return {"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "T",
            "properties": {"products": products, **properties}}


@pytest.mark.parametrize("event,message", [
    (order(None), "Products array is missing in the message"),
    (order({"a": 1}), "Products is not an array"),
    (order([None]), "Products array is empty"),
    ({**order([{"product_id": "p"}]), "timestamp": None}, "Timestamp is missing in the message"),
    (order([{"product_id": "p", "price": 1, "quantity": 1, "currency": "USD"}, {"sku": "s", "quantity": 1}]),
     "Price is missing for product at index: 1"),
    (order([{"product_id": "", "price": 1}]), "Product Id is missing for product at index: 0"),
    (order([None, {"sku": "s", "price": 1}], currency="EUR"), "Quantity is missing for product at index: 0"),
])
def test_order_completed_is_checked_in_the_transformer_order(t, event, message):
    assert rejected(t, event) == f"Invalid Order Completed event: {message}"


def test_purchase_numbers_are_read_as_javascript_parses_them(t):
    products = [{"sku": 12, "price": "1e3", "quantity": 3.7, "currency": "EUR"},
                {"product_id": "p", "price": "free", "quantity": "x2", "currency": "EUR"},
                {"product_id": "q", "price": True, "quantity": " 7 items", "currency": "EUR"}]
    purchases = body(t, {**order(products), "timestamp": None, "originalTimestamp": "O"})["purchases"]
    assert [(p["product_id"], p["price"], p["quantity"], p["time"]) for p in purchases] == [
        ("12", 1000, 3, "O"), ("p", None, None, "O"), ("q", None, 7, "O")]
    assert body(t, order([{"product_id": 1, "price": 1, "quantity": 1}], currency=""))[
        "purchases"][0]["currency"] == "undefined"  # "" is a currency, but String("" || undefined) is sent


# ---- recommended ecommerce events

def test_ecommerce_source_and_coercions():
    on = load(useEcommerceRecommendedEvents=True)
    event = {"type": "track", "userId": "u", "event": "CHECKOUT STARTED", "context": {"channel": "mobile",
             "os": {"name": "Android"}}, "properties": {"order_id": 7, "total": "12.5", "tax": "", "shipping": "1x",
                                                        "products": [3, {"name": "N", "quantity": "04", "extra": None}]}}
    got = body(on, event)["events"][0]
    assert got["name"] == "ecommerce.checkout_started"
    assert got["properties"] == {"checkout_id": "7", "total_value": 12.5, "shipping": "1x", "source": "android",
                                 "products": [{"product_name": "N", "quantity": 4}]}
    event["properties"]["source"] = " IOS "
    assert body(on, event)["events"][0]["properties"]["source"] == "ios"
    # without the setting, it is a custom event
    assert body(load(), event)["events"][0]["name"] == "CHECKOUT STARTED"


def test_the_api_key_setting_never_reaches_the_translator():
    from mapspec.compiler import compile_source, read_mapping

    source = compile_source(read_mapping("rudderstack"), {"dataCenter": "eu-01", "restApiKey": "s3cr3t"}).module.source
    assert "s3cr3t" not in source and '"dataCenter": "eu-01"' in source
