"""`mapspec schema`: a JSON Schema of the mapping file format, for YAML editors (validation, completion,
hover text). It describes the structure; `mapspec check` remains the judge of expressions and types."""

from __future__ import annotations

from typing import Any

from . import stdlib, targets
from .syntax.document import SETTING_TYPES

EXPRESSION = {
    "description": "A mapspec expression: a path into the event (traits.email), $definition, settings.name, "
                   "a literal, \"a {template}\", a function call, `a else b`, `a if c else b`, ...",
    "type": ["string", "number", "boolean", "null"],
}


def mapping_schema() -> dict[str, Any]:
    functions = ", ".join(sorted(stdlib.FUNCTIONS))
    endpoints = sorted({path for name in targets.TARGET_NAMES for path in targets.get_target(name).endpoints})
    value: dict[str, Any] = {"$ref": "#/definitions/value"}
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
            "target": {"enum": list(targets.TARGET_NAMES), "default": "braze",
                       "description": "The destination whose API the requests are for."},
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
                    "for": {"type": "string", "pattern": r"^\s*\$[A-Za-z_][A-Za-z0-9_]*\s+in\s",
                            "description": "$name in <list expression>"},
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
                    "endpoint": {"enum": endpoints},
                    "when": {**EXPRESSION, "description": "Send this request only when this holds."},
                    "body": value,
                },
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
                    "requests": {"type": "array"},
                    "rejected": {"type": ["string", "boolean"], "description": "Part of the rejection message."},
                },
                "oneOf": [{"required": ["requests"]}, {"required": ["rejected"]}],
            },
        },
    }
