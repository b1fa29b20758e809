"""Braze's REST API as a target schema: the only Braze knowledge in the package.

Facts from Braze's documentation (user attributes, event and purchase objects, /users/track and
/users/delete); see ../shared/spec/braze-api.md in the project's shared folder for sources.
"""

from __future__ import annotations

from . import Endpoint, ListOf, ObjectOf, Target, Value

STR = Value(frozenset({"str"}))
BOOL = Value(frozenset({"bool"}))
NUM = Value(frozenset({"int", "float"}))
INT = Value(frozenset({"int"}))
OBJ = Value(frozenset({"object"}))
JSON = Value(frozenset({"null", "bool", "int", "float", "str", "list", "object"}))


def nullable(v: Value) -> Value:
    return Value(v.kinds | {"null"}, v.doc)


IDENTIFIERS = {
    "external_id": STR,
    "braze_id": STR,
    "user_alias": Value(frozenset({"object"}), "{alias_name, alias_label}"),
    "email": nullable(STR),
    "phone": nullable(STR),
    "_update_existing_only": BOOL,
}

#: Braze's standard profile fields (a null removes the value)
STANDARD_ATTRIBUTES = {
    "first_name": nullable(STR),
    "last_name": nullable(STR),
    "home_city": nullable(STR),
    "dob": nullable(Value(frozenset({"str"}), "YYYY-MM-DD")),
    "country": nullable(STR),
    "language": nullable(STR),
    "gender": nullable(Value(frozenset({"str"}), "M, F, O, N or P")),
    "email_subscribe": nullable(STR),
    "push_subscribe": nullable(STR),
    "subscription_groups": Value(frozenset({"list"})),
    "email_open_tracking_disabled": BOOL,
    "email_click_tracking_disabled": BOOL,
    "time_zone": nullable(STR),
    "current_location": nullable(OBJ),
    "date_of_first_session": nullable(STR),
    "date_of_last_session": nullable(STR),
    "marked_email_as_spam_at": nullable(STR),
    "push_tokens": Value(frozenset({"list"})),
    "image_url": nullable(STR),
    "facebook": nullable(OBJ),
    "twitter": nullable(OBJ),
    "bio": nullable(STR),
    "push_token_import": BOOL,
    "_merge_objects": BOOL,
}

ATTRIBUTES = ObjectOf(
    "attributes object",
    fields={**IDENTIFIERS, **STANDARD_ATTRIBUTES},
    extra=JSON,  # custom attributes
    doc="a user attributes object",
)

#: keys Braze refuses inside event and purchase `properties`
RESERVED_PROPERTY_KEYS = frozenset({"time", "event_name"})

PROPERTIES = ObjectOf("properties", extra=JSON, reserved_keys=RESERVED_PROPERTY_KEYS)

EVENT = ObjectOf(
    "events object",
    fields={**IDENTIFIERS, "app_id": STR, "name": STR, "time": STR, "properties": PROPERTIES},
    doc="a custom event",
)

PURCHASE = ObjectOf(
    "purchases object",
    fields={
        **IDENTIFIERS,
        "app_id": STR,
        "product_id": STR,
        "currency": STR,
        "price": Value(frozenset({"int", "float", "str"}), "a number (Braze parses numeric strings)"),
        "quantity": INT,
        "time": STR,
        "properties": PROPERTIES,
    },
    doc="a purchase",
)

TRACK = Endpoint(
    "/users/track",
    "POST",
    ObjectOf(
        "/users/track body",
        fields={
            "attributes": ListOf(ATTRIBUTES),
            "events": ListOf(EVENT),
            "purchases": ListOf(PURCHASE),
            "partner": STR,
            # the 2015-2017 envelope (authentication by app group in the body), still accepted
            "app_group_id": STR,
            "src": STR,
        },
    ),
)

DELETE = Endpoint(
    "/users/delete",
    "POST",
    ObjectOf(
        "/users/delete body",
        fields={
            "external_ids": ListOf(STR),
            "braze_ids": ListOf(STR),
            "user_aliases": ListOf(OBJ),
        },
    ),
)

TARGET = Target(
    "braze",
    {e.path: e for e in (TRACK, DELETE)},
    delivery={
        "objects_per_array": 75,  # attributes, events and purchases each, per /users/track request
        "ids_per_delete": 50,
        "rate_limit": (3000, 3.0),  # requests per seconds (/users/track burst)
        "max_body": 4 * 1024 * 1024,  # bytes; larger bodies are answered 413
    },
)
