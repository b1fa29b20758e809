"""`mapspec schema`: a JSON Schema of the mapping file format, for YAML editors (validation, completion,
hover text). It describes the structure; `mapspec check` remains the judge of expressions and types."""

from __future__ import annotations

import json
from typing import Any

from . import sources, stdlib, targets
from .syntax.document import SETTING_TYPES

EXPRESSION = {
    "description": "A mapspec expression: a path into the event (traits.email), $definition, settings.name, "
                   "a literal, \"a {template}\", a function call, `a else b`, `a if c else b`, ...",
    "type": ["string", "number", "boolean", "null"],
}


SPREAD = r"^\.\.\."  # a key starting with `...` spreads an object


def _spellings(target: targets.Target, endpoint: targets.Endpoint) -> list[str]:
    """How a mapping may name an endpoint: `METHOD /path`, and the path alone when one method has it."""
    names = [endpoint.key]
    if not target.ambiguous(endpoint.path):
        names.append(endpoint.path)
    return names


def _shape(shape: targets.Shape, value: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """The part of the editor schema for a body field: its documentation, and for objects and lists the fields
    and items an editor can complete (every value may also be an expression)."""
    doc = shape.doc
    if shape.enum is not None:
        doc = (doc + "; " if doc else "") + "one of " + ", ".join(json.dumps(v) for v in shape.enum)
    if depth < 6 and shape.is_object:
        obj: dict[str, Any] = {
            "type": "object",
            "properties": {k: _shape(v, value, depth + 1) for k, v in shape.fields.items()},
            "patternProperties": {SPREAD: value},
            "additionalProperties": value if shape.extra is not None else False,
        }
        return {"description": doc, "anyOf": [EXPRESSION, obj]} if doc else {"anyOf": [EXPRESSION, obj]}
    if depth < 6 and shape.is_list and shape.items is not None:
        items = {"anyOf": [{"$ref": "#/definitions/for"}, _shape(shape.items, value, depth + 1)]}
        out: dict[str, Any] = {"anyOf": [EXPRESSION, {"type": "array", "items": items}]}
        return {"description": doc, **out} if doc else out
    return {**EXPRESSION, "description": doc} if doc else dict(EXPRESSION)


def _requests(value: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Every spelling of every bundled target's endpoints, and the body schema of each endpoint."""
    names: list[str] = []
    bodies: list[dict[str, Any]] = []
    for target_name in targets.bundled_names():
        target = targets.bundled(target_name)
        for endpoint in target.endpoints.values():
            spellings = _spellings(target, endpoint)
            names.extend(spellings)
            body = _shape(endpoint.body, value)
            body["description"] = f"{endpoint.key}: {endpoint.doc}" if endpoint.doc else endpoint.key
            params = {"type": "object", "required": list(endpoint.params), "additionalProperties": False,
                      "properties": {p: {**EXPRESSION, "description": f"the `{{{p}}}` of the path"}
                                     for p in endpoint.params}}
            then: dict[str, Any] = {"properties": {"body": body, "params": params}}
            if endpoint.params:
                then["required"] = ["params"]
            bodies.append({"if": {"properties": {"endpoint": {"enum": spellings}}}, "then": then})
    return sorted(set(names)), bodies


def mapping_schema() -> dict[str, Any]:
    functions = ", ".join(sorted(stdlib.FUNCTIONS))
    value: dict[str, Any] = {"$ref": "#/definitions/value"}
    endpoints, bodies = _requests(value)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://mapspec.dev/schema/mapping.json",
        "title": "mapspec mapping",
        "description": "A Segment-to-Braze mapping: settings, definitions, and rules tried in order.",
        "type": "object",
        "required": ["name", "rules"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "The mapping's name."},
            "description": {"type": "string"},
            "source": {"enum": sources.source_names(), "default": "segment",
                       "description": "Whose events the mapping reads (their fields are checked)."},
            "target": {"type": "string", "default": "braze",
                       "description": "The destination whose API the requests are for: a bundled target ("
                                      + ", ".join(targets.bundled_names()) + ") or the path of a target "
                                      "description (.yaml)."},
            "match": {"enum": ["first", "all"], "default": "first",
                      "description": "first: the first rule whose `when` holds decides; all: every rule whose "
                                     "`when` holds contributes, in order."},
            "base_url": {**EXPRESSION, "description": "The URL requests go to, before the endpoint's path; "
                                                      "known when the mapping is compiled (settings and literals)."},
            "settings": {
                "type": "object",
                "description": "The mapping's settings, given when it is compiled (`--settings FILE.json`).",
                "additionalProperties": {"$ref": "#/definitions/setting"},
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            },
            "let": {
                "type": "object",
                "description": "Definitions, used as $name; each is computed at most once per event.",
                "additionalProperties": value,
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            },
            "functions": {
                "type": "object",
                "description": "Functions written once and called like built-in ones: `present($x): "
                               "$x if $x or $x == 0`. A body reads only its parameters, settings and functions.",
                "additionalProperties": value,
                "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*\(\s*(\$[A-Za-z_][A-Za-z0-9_]*\s*"
                                             r"(,\s*\$[A-Za-z_][A-Za-z0-9_]*\s*)*)?\)$"},
            },
            "rules": {"type": "array", "items": {"$ref": "#/definitions/rule"},
                      "description": "Tried in order: the first whose `when` holds sends, rejects or skips the event."},
            "examples": {"type": "array", "items": {"$ref": "#/definitions/example"},
                         "description": "Examples run by `mapspec test`."},
        },
        "definitions": {
            "setting": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": list(SETTING_TYPES), "default": "any"},
                    "default": {"description": "The value when the setting is not given."},
                    "description": {"type": "string"},
                    "required": {"type": "boolean", "default": False},
                    "ignored": {"type": "boolean", "default": False,
                                "description": "Accepted for compatibility and never read."},
                },
            },
            "value": {
                "description": "An expression, or an object or list built from expressions. In an object, a key "
                               "starting with `...` spreads an object's fields; `key_{expr}` computes a key. In a "
                               f"list, an item with `for` makes one element per element of a list. Functions: "
                               f"{functions}.",
                "anyOf": [
                    EXPRESSION,
                    {"type": "array", "items": {"anyOf": [{"$ref": "#/definitions/for"}, value]}},
                    {"type": "object", "additionalProperties": value},
                ],
            },
            "for": {
                "type": "object",
                "required": ["for", "yield"],
                "additionalProperties": False,
                "properties": {
                    "for": {"type": "string",
                            "pattern": r"^\s*\$[A-Za-z_][A-Za-z0-9_]*\s*(,\s*\$[A-Za-z_][A-Za-z0-9_]*\s*)?\s+in\s",
                            "description": "$name in <list or object>, or $index, $name in <list or object>"},
                    "if": {**EXPRESSION, "description": "Keep only the elements for which this holds."},
                    "yield": value,
                },
            },
            "rule": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "when": {**EXPRESSION, "description": "The condition; without it the rule matches every event."},
                    "send": {"description": "A request, or a list of requests.",
                             "anyOf": [{"$ref": "#/definitions/request"},
                                       {"type": "array", "items": {"$ref": "#/definitions/request"}}]},
                    "reject": {**EXPRESSION, "description": "Refuse the event with this message."},
                    "skip": {**EXPRESSION, "description": "Send nothing, for this reason."},
                },
                "oneOf": [{"required": ["send"]}, {"required": ["reject"]}, {"required": ["skip"]}],
            },
            "request": {
                "type": "object",
                "required": ["endpoint", "body"],
                "additionalProperties": False,
                "properties": {
                    "endpoint": {"enum": endpoints,
                                 "description": "METHOD /path of the target (the method may be left out when one "
                                                "method has the path)."},
                    "params": {"type": "object", "additionalProperties": EXPRESSION,
                               "description": "A value for each {parameter} of the endpoint's path."},
                    "when": {**EXPRESSION, "description": "Send this request only when this holds."},
                    "once": {**EXPRESSION, "description": "`mapspec run` sends this request at most once per value "
                                                          "of this key (remembered in its state store)."},
                    "time": {**EXPRESSION, "description": "The event's time, for endpoints whose batches keep only "
                                                          "the latest change per identifier."},
                    "body": value,
                },
                "allOf": bodies,
            },
            "example": {
                "type": "object",
                "required": ["event"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "event": {"type": "object"},
                    "settings": {"type": "object"},
                    "rule": {"type": "string", "description": "The rule that must decide."},
                    "requests": {"type": "array", "description": "The requests it must send ([]: nothing)."},
                    "rejected": {"type": ["string", "boolean"], "description": "Part of the rejection message "
                                                                           "(true: any)."},
                    "reject": {"type": ["string", "boolean"], "description": "The same as `rejected`."},
                    "skipped": {"type": ["string", "boolean"], "description": "Part of the reason it must be "
                                                                          "skipped for (true: any)."},
                    "skip": {"type": ["string", "boolean"], "description": "The same as `skipped`."},
                },
                "anyOf": [{"required": [key]} for key in ("requests", "rejected", "reject", "skipped", "skip")],
            },
        },
    }
