"""What Braze answers to a request body, as the emulator plays it: status, reply, and what it accepts.

Kept apart from the emulator's HTTP handling (`emulator.py`): a body arrives here already read and parsed,
whatever shape it has, and every answer is one Braze gives (its messages from ../shared/spec/braze-api.md).
"""

from __future__ import annotations

from typing import Any

from ..targets.braze import TARGET

MAX_OBJECTS = TARGET.delivery["objects_per_array"]
MAX_DELETE_IDS = TARGET.delivery["ids_per_delete"]
IDENTIFIERS = ("external_id", "braze_id", "user_alias", "email", "phone")
IDENTIFIER_ERROR = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
NO_DATA = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
DELETE_ARRAYS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")

Answer = tuple[int, dict, dict[str, list]]  # status, reply, accepted objects by array


def answer(path: str, body: Any) -> Answer:
    """Braze's answer to a parsed body posted to `path`."""
    if path == "/users/track":
        return validate_track(body)
    if path == "/users/delete":
        return validate_delete(body)
    return 404, {"message": "invalid URL"}, {}


def validate_track(body: Any) -> Answer:
    """Braze's answer to a /users/track body: status, reply, and the objects it accepts by array."""
    if not isinstance(body, dict):
        return 400, {"message": NO_DATA}, {}
    errors: list[dict] = []
    accepted: dict[str, list] = {"attributes": [], "events": [], "purchases": []}
    for array in ("attributes", "events", "purchases"):
        items = body.get(array)
        if items is None:
            continue
        if not isinstance(items, list):
            return 400, {"message": f"'{array}' must be an array"}, {}
        if len(items) > MAX_OBJECTS:
            return 400, {"message": "Max Input Length Exceeded",
                         "errors": [f"more than {MAX_OBJECTS} {array} in one request"]}, {}
        for index, obj in enumerate(items):
            problem = _object_problem(array, obj)
            if problem:
                errors.append({"type": problem, "input_array": array, "index": index})
            else:
                accepted[array].append(obj)
    if not any(accepted.values()):
        reply: dict[str, Any] = {"message": NO_DATA}
        if errors:
            reply["errors"] = errors
        return 400, reply, {}
    reply = {"message": "success"}
    for array in ("attributes", "events", "purchases"):
        if array in body:
            reply[f"{array}_processed"] = len(accepted[array])
    if errors:
        reply["errors"] = errors
    return 201, reply, accepted


def _object_problem(array: str, obj: Any) -> str | None:
    if not isinstance(obj, dict) or not any(obj.get(k) not in (None, "") for k in IDENTIFIERS):
        return IDENTIFIER_ERROR
    if array == "events":
        if not isinstance(obj.get("name"), str) or not obj["name"]:
            return "'name' is required"
        if not isinstance(obj.get("time"), str):
            return "'time' is required"
    if array == "purchases":
        for key in ("product_id", "currency", "time"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                return f"'{key}' is required"
        if not isinstance(obj.get("price"), int | float) or isinstance(obj.get("price"), bool):
            return "'price' is required"
        quantity = obj.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= 100:
            return "'quantity' is not valid"
    return None


def validate_delete(body: Any) -> Answer:
    """Braze's answer to a /users/delete body: exactly one kind of identifier, at most 50 of them."""
    if not isinstance(body, dict):
        return 400, {"message": f"exactly one of {', '.join(DELETE_ARRAYS)} must be provided"}, {}
    present = [k for k in DELETE_ARRAYS if k in body]
    if len(present) != 1:
        return 400, {"message": f"exactly one of {', '.join(DELETE_ARRAYS)} must be provided"}, {}
    name = present[0]
    ids = body[name]
    if not isinstance(ids, list) or not ids:
        return 400, {"message": f"'{name}' must be a non-empty array"}, {}
    if len(ids) > MAX_DELETE_IDS:
        return 400, {"message": "Max Input Length Exceeded",
                     "errors": [f"more than {MAX_DELETE_IDS} {name} in one request"]}, {}
    for value in ids:
        if name == "user_aliases":
            good = isinstance(value, dict) and all(isinstance(value.get(k), str) and value[k]
                                                   for k in ("alias_name", "alias_label"))
        elif name in ("email_addresses", "phone_numbers"):
            field = "email" if name == "email_addresses" else "phone"
            good = isinstance(value, dict) and isinstance(value.get(field), str) and value[field] != ""
        else:
            good = isinstance(value, str) and value != ""
        if not good:
            return 400, {"message": f"'{name}' holds an invalid value"}, {}
    return 202, {"deleted": len(ids), "message": "success"}, {name: ids}
