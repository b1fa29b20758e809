"""What the API answers to a request body, as the emulator plays it: status, reply, and what it accepts.

Everything comes from the target description: which endpoint a path is, the shape its body must have (checked
by `targets.validate`, with the API's own texts where the description gives them), its limits, and the reply
of a success. Kept apart from the emulator's HTTP handling (`emulator.py`): a body arrives here already read
and parsed, whatever shape it has.
"""

from __future__ import annotations

import json
from typing import Any

from ..targets import Endpoint, Target
from ..targets.validate import problems

Answer = tuple[int, dict, dict[str, list]]  # status, reply, accepted objects by array


def answer(target: Target, method: str, path: str, body: Any) -> Answer:
    """The API's answer to a parsed body sent to `path`."""
    found = target.endpoint_for(method, path)
    if found is None:
        return 404, {"message": "invalid URL"}, {}
    endpoint = found[0]
    if not isinstance(body, dict):
        return 400, {"message": endpoint.reply.messages.get("nothing_valid") or "the body must be a JSON object"}, {}
    too_many = _over_limits(endpoint, body)
    if too_many:
        return 400, {"message": endpoint.reply.messages.get("too_many") or "too many objects", "errors": [too_many]}, {}
    twice = _repeated(endpoint, body)
    if twice:
        return 400, {"message": endpoint.reply.messages.get("not_unique") or twice, "errors": [twice]}, {}
    if endpoint.batch.errors == "indexed":
        return _object_by_object(endpoint, body)
    found_problems = problems(endpoint.body, body)
    if found_problems:
        return 400, {"message": found_problems[0], "errors": found_problems}, {}
    accepted = {name: list(body[name]) for name in (*endpoint.batch.arrays, *endpoint.batch.groups)
                if isinstance(body.get(name), list)}
    if not endpoint.batch.merges:
        accepted = {"": [body]}
    return endpoint.reply.status, _reply(endpoint, body, accepted), accepted


def _over_limits(endpoint: Endpoint, body: dict) -> str | None:
    rule = endpoint.batch
    total = 0
    for name in rule.arrays:
        items = body.get(name)
        if isinstance(items, list):
            if rule.per_array is not None and len(items) > rule.per_array:
                return f"more than {rule.per_array} {name} in one request"
            total += len(items)
    for name, group in rule.groups.items():
        for element in body.get(name) or () if isinstance(body.get(name), list) else ():
            if isinstance(element, dict):
                total += sum(len(v) for m in group.members if isinstance(v := element.get(m), list))
    if rule.total is not None and total > rule.total:
        return f"more than {rule.total} objects in one request"
    return None


def _repeated(endpoint: Endpoint, body: dict) -> str | None:
    """Two elements of an array that must not share a field's value, sharing it."""
    for name, key in endpoint.batch.unique.items():
        items = body.get(name)
        seen: set[str] = set()
        for o in items if isinstance(items, list) else ():
            if isinstance(o, dict) and key in o:
                value = json.dumps(o[key], sort_keys=True)
                if value in seen:
                    return f"two {name} with the {key} {value} in one request"
                seen.add(value)
    return None


def _object_by_object(endpoint: Endpoint, body: dict) -> Answer:
    """An endpoint whose answers name objects: each object is checked alone, the valid ones accepted, the others
    named in errors[] by array and index; nothing valid at all is a 400."""
    shape = endpoint.body
    errors: list[dict] = []
    accepted: dict[str, list] = {}
    for key, value in body.items():
        sub = shape.field_shape(key)
        if key in endpoint.batch.arrays:
            if not isinstance(value, list):
                return 400, {"message": f"'{key}' must be an array"}, {}
            item = sub.items if sub is not None else None
            for index, obj in enumerate(value):
                found = problems(item, obj) if item is not None else []
                if found:
                    errors.append({"type": found[0], "input_array": key, "index": index})
                else:
                    accepted.setdefault(key, []).append(obj)
        elif sub is None:
            return 400, {"message": f"'{key}' is not a known field"}, {}
        elif problems(sub, value, key):
            return 400, {"message": problems(sub, value, key)[0]}, {}
    if not any(accepted.values()):
        reply: dict[str, Any] = {"message": endpoint.reply.messages.get("nothing_valid") or "no valid object"}
        if errors:
            reply["errors"] = errors
        return 400, reply, {}
    reply = _reply(endpoint, body, accepted)
    if errors:
        reply["errors"] = errors
    return endpoint.reply.status, reply, accepted


def _reply(endpoint: Endpoint, body: dict, accepted: dict[str, list]) -> dict:
    reply: dict[str, Any] = {"message": "success"}
    counts = endpoint.reply.counts
    if counts and "{array}" in counts:
        for name in endpoint.batch.arrays:
            if name in body:
                reply[counts.replace("{array}", name)] = len(accepted.get(name, ()))
    elif counts:
        reply[counts] = sum(len(v) for v in accepted.values())
    return reply
