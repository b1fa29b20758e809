"""A JSON value against a target's shape, at run time: what the emulator answers (with the API's own texts
where the description gives them) and what a client may check before sending.

    >>> from mapspec.targets import bundled
    >>> event = bundled("braze").types["event_object"]
    >>> problems(event, {"external_id": "u1", "name": "Signed Up"})
    ["'time' is required"]
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..types import kind_of
from . import Shape

#: deeper values are refused rather than walked (a body is data from the network)
MAX_DEPTH = 64

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# ISO 8601 and Braze's other accepted time formats (yyyy-MM-ddTHH:mm:ss:SSSZ, yyyy-MM-dd HH:mm:ss, MM/dd/yyyy...)
_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.:]\d{1,9})?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$"
    r"|^\d{2}/\d{2}/\d{4}$"
    r"|^[A-Z][a-z]{2} \d{2} \d{2} \d{2}:\d{2}:\d{2}(\.\d+)? ?\S* \d{4}$")

def kind(value: Any) -> str:
    """The kind of a JSON value: null, bool, int, float, str, list, object."""
    return kind_of(value)


def _message(shape: Shape, key: str, field_name: str) -> str:
    template = shape.messages.get(key) or {"required": "'{field}' is required",
                                          "invalid": "'{field}' is not valid"}.get(key, "'{field}' is not valid")
    return template.replace("{field}", field_name)


def problems(shape: Shape, value: Any, name: str = "", depth: int = 0) -> list[str]:
    """What is wrong with a value for a shape, in the API's words where known; [] when it fits."""
    if depth > MAX_DEPTH:
        return [f"'{name or 'body'}' is nested too deeply"]
    k = kind(value)
    if k == "float" and not math.isfinite(value):
        return [f"'{name or 'value'}' is not a finite number"]
    if k not in shape.kinds and not (k == "int" and "float" in shape.kinds):
        return [_message(shape, "invalid", name or "value")]
    out: list[str] = []
    if k == "str":
        if shape.max_length is not None and len(value) > shape.max_length:
            out.append(f"'{name}' is longer than {shape.max_length} characters")
        if shape.format == "currency" and not _CURRENCY.match(value):
            out.append(f"'{name}' is not a valid currency")
        elif shape.format == "date" and not _DATE.match(value):
            out.append(f"'{name}' is not a valid date")
        elif shape.format == "time" and not _TIME.match(value):
            out.append(f"'{name}' is not a valid time")
        if shape.pattern is not None and not re.search(shape.pattern, value):
            out.append(_message(shape, "invalid", name))
    if k in ("int", "float"):
        if (shape.minimum is not None and value < shape.minimum) or \
                (shape.maximum is not None and value > shape.maximum):
            out.append(_message(shape, "invalid", name))
    if shape.enum is not None and k != "null" and value not in shape.enum:
        out.append(_message(shape, "invalid", name))
    if k == "list" and shape.items is not None:
        if shape.max_items is not None and len(value) > shape.max_items:
            out.append(f"'{name}' holds more than {shape.max_items} elements")
        for i, item in enumerate(value):
            out += problems(shape.items, item, f"{name}[{i}]" if name else f"[{i}]", depth + 1)
    if k == "object" and (shape.fields or shape.extra is not None or shape.required):
        out += _object_problems(shape, value, name, depth)
    return out


def _object_problems(shape: Shape, value: dict, name: str, depth: int) -> list[str]:
    out: list[str] = []
    present = {key for key, v in value.items() if v is not None and v != ""}
    for group in shape.one_of:
        if not present & set(group):
            out.append(shape.messages.get("one_of") or "one of " + ", ".join(f"'{f}'" for f in group)
                       + " is required")
    for group in shape.exclusive:
        # a field given as null or false says nothing (`broadcast: false` beside `recipients` is fine)
        given = [f for f in group if f in value and value[f] is not None and value[f] is not False]
        if len(given) > 1:
            out.append(f"{' and '.join(repr(f) for f in given)} cannot be given together")
    for field in shape.required:
        if field not in value or value[field] is None:
            out.append(_message(shape, "required", field))
    for key, item in value.items():
        sub = shape.field_shape(key)
        where = f"{name}.{key}" if name else key
        if sub is None:
            out.append(f"'{where}' is not a known field")
            continue
        if key in shape.reserved_keys:
            out.append(f"'{key}' is a reserved key")
        if shape.keys is not None and key not in shape.fields:
            if key == "" or (shape.keys.max_length is not None and len(key) > shape.keys.max_length) or \
                    (shape.keys.pattern is not None and not re.search(shape.keys.pattern, key)):
                out.append(f"'{where}' is not a valid key" + (f" ({shape.keys.doc})" if shape.keys.doc else ""))
        if key in shape.required and item is None:
            continue  # reported as required above
        out += problems(sub, item, key if sub is not shape.extra else where, depth + 1)
    return out
