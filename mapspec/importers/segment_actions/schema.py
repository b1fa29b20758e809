"""An action's payload as Segment validates it, in mapspec.

Before `perform` runs, Segment cleans the mapped payload (`core/remove-empty-values.ts`: null is dropped
from fields that do not allow it, "" from top-level fields and from fields that are not text), then
validates it with AJV against the schema of the action's fields (`fields-to-jsonschema.ts`) with type
coercion, unknown keys of objects with declared properties removed, and every error reported, with the
messages of `@segment/ajv-human-errors`, in AJV's order: the conditional requirements, the required
fields, then each field (its type, its choices, its limits, its format, then what is inside it).

`Schema(helpers)` builds, for a field and the expression that maps it, the cleaned and coerced value
(`value`) and the validation messages (`checks`); `functions` holds the functions it generated for
objects with declared properties.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from . import expr as x
from .catalog import Field
from .directives import Helpers
from .expr import E

_FORMAT_LABELS = {"date-time": "date and time", "email": "email address", "uri": "URI", "date": "date",
                  "time": "time", "hostname": "hostname"}
_FORMAT_TESTS = {"date-like": "date_like", "email": "is_email", "uri": "is_uri", "date-time": "is_date_time"}


_COERCIBLE = ("string", "number", "integer", "boolean", "null")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _humanize(items: list[str], conjunction: str = "and") -> str:
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} {conjunction} {items[1]}"
    return f"{', '.join(items[:-1])}, {conjunction} {items[-1]}"


def nullable(f: Field) -> bool:
    """Whether null is allowed: `allowNull`, unless the field is a list or an object with declared properties
    (fields-to-jsonschema writes their type over the nullable one)."""
    return f.nullable and not f.multiple and not (f.json_type == "object" and f.properties)


def json_types(f: Field) -> list[str]:
    t = f.json_type
    types = ["string", "number"] if t == "datetime" else [t]
    if nullable(f):
        types.append("null")
    return types


def _js_number(n: float | int) -> str:
    if isinstance(n, float) and n.is_integer() and abs(n) < 1e21:
        return str(int(n))
    return repr(n) if isinstance(n, float) else str(n)


def template(*parts: str | E) -> E:
    """A mapspec template from literal text and expressions."""
    out = []
    for p in parts:
        out.append(x.dq(p)[1:-1] if isinstance(p, str) else "{" + p.text + "}")
    return E('"' + "".join(out) + '"')


@dataclass
class Label:
    """How a message names a value: its field's label, or `the value at /path` (with `{$i}` indexes)."""

    parts: tuple[str | E, ...]

    @staticmethod
    def titled(title: str) -> Label:
        return Label((title,))

    @staticmethod
    def at(path: tuple[str | E, ...]) -> Label:
        parts: list[str | E] = ["The value at "]
        for p in path:
            parts.append("/")
            parts.append(p)
        return Label(tuple(_merge(parts)))

    def message(self, *rest: str | E) -> E:
        return template(*_merge([*self.parts, *rest]))


def _merge(parts) -> list[str | E]:
    out: list[str | E] = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out


@dataclass
class Schema:
    helpers: Helpers
    #: generated functions: name -> (parameter, body)
    functions: dict[str, tuple[str, E]] = field(default_factory=dict)
    #: functions without parameters that validations share (long lists of choices): name -> expression
    constants: dict[str, str] = field(default_factory=dict)
    _depth: int = 0

    def share(self, stem: str, text: str) -> E:
        """A call of a function without parameters that gives `text`, written once for every validation that
        reads it (the same text gets the same name)."""
        name, n = stem, 1
        while name in self.constants and self.constants[name] != text:
            n += 1
            name = f"{stem}_{n}"
        self.constants[name] = text
        return x.call(name)

    # ---------------------------------------------------------------- cleaning and coercion
    def value(self, f: Field, mapped: E, where: str = "root") -> E:
        """The value of a field once Segment has cleaned and coerced it. `where` is "root" for a field of the
        action, "nested" inside an object field (cleaned the same way, but "" is kept in text), and "item"
        inside the elements of a list field (which Segment does not clean: only coerces)."""
        if f.multiple:
            outer = {"root": "as_array", "nested": "as_inner_array", "item": "array_from"}[where]
            items = self.helpers.call(outer, mapped)
            name = self._name("x")
            self._depth += 1
            try:
                item = self.value(_item_field(f), x.var(name), "item")
            finally:
                self._depth -= 1
            keep = None
            if where != "item":  # Segment drops the elements it would drop from a field of their type
                keep = x.ne(x.var(name), x.NULL)
                if f.json_type != "string":
                    keep = x.and_(keep, x.ne(x.var(name), x.string("")))
            return x.guard(x.list_comp(item, (name,), items, keep), x.call("is_list", items))
        t = f.json_type
        item = where == "item"
        if t == "object":
            if f.properties:
                return self.helpers.call(self._object_function(f, item), mapped)
            if item:
                return mapped
            return self.helpers.call("as_object_or_null" if nullable(f) else "as_object", mapped)
        if t == "string":
            if item:
                return self.helpers.call("string_from", self.helpers.call("unwrap", mapped), mapped)
            if nullable(f):
                if where == "root":
                    return self.helpers.call("as_string_or_null", mapped)
                return x.cond(mapped, x.eq(mapped, x.NULL), self.helpers.call("as_inner_string", mapped))
            return self.helpers.call("as_string" if where == "root" else "as_inner_string", mapped)
        if t == "datetime":
            if item:
                return self.helpers.call("date_like_from", mapped)
            return self.helpers.call("as_date_like_or_null" if nullable(f) else "as_date_like", mapped)
        if item:
            coerce = {"number": "number_from", "integer": "integer_from", "boolean": "boolean_from"}[t]
            return self.helpers.call(coerce, self.helpers.call("unwrap", mapped), mapped)
        coerce = {"number": "as_number", "integer": "as_integer", "boolean": "as_boolean"}[t]
        value = self.helpers.call(coerce, mapped)
        if nullable(f):
            return x.cond(mapped, x.eq(mapped, x.NULL), value)
        return value

    def _name(self, stem: str) -> str:
        """A comprehension variable, distinct at each nesting level."""
        return stem if self._depth == 0 else f"{stem}{self._depth + 1}"

    def _object_function(self, f: Field, item: bool) -> str:
        """A function that keeps an object's declared fields, cleaned and coerced (and its other fields when
        the schema allows them); for an element of a list, coerced only."""
        v = x.var("v")
        entries: list[tuple[str | None, E]] = []
        if f.additional:
            declared = x.literal(list(f.properties))
            entries.append((None, x.binary("without", v, declared)))
        saved = self._depth
        self._depth = 0
        for key, sub in f.properties.items():
            entries.append((key, self.value(sub, x.path(v, [key]), "item" if item else "nested")))
        self._depth = saved
        body = x.cond(x.obj(entries), x.call("is_object", v), v if item else self.helpers.call("as_object", v))
        stem = f"{f.key}_{'item' if item else 'fields'}"
        n, name = 1, stem
        while name in self.functions and self.functions[name][1] != body:
            n += 1
            name = f"{stem}_{n}"
        self.functions[name] = ("v", body)
        return name

    # ---------------------------------------------------------------- validation messages
    def checks(self, f: Field, value: E, label: Label, path: tuple[str | E, ...]) -> list[E]:
        """The messages AJV gives for a field's value, in its order (each missing when that check passes)."""
        out: list[E] = []
        types = json_types(f) if not f.multiple else ["array"]
        out.append(self._type_check(value, types, label))
        if any(t in _COERCIBLE for t in types):
            # AJV goes on with the element of a list of one that it could not coerce
            value = self.helpers.call("unwrap", value)
        if f.multiple:
            i, name = self._name("i"), self._name("x")
            item = x.var(name)
            self._depth += 1
            try:
                sub = self.checks(_item_field(f), item, Label.at((*path, x.var(i))), (*path, x.var(i)))
            finally:
                self._depth -= 1
            if sub:
                self.helpers.used.add("messages")
                pad = "  " * (self._depth + 2)
                items = ",\n".join(pad + "  " + c.text for c in sub)
                each = E(f"[messages([\n{items}\n{pad}]) for ${i}, ${name} in {value.at(x.SUM)}]")
                out.append(self.helpers.call("messages", each))
            return [c for c in out if c is not x.MISSING]
        if f.choices is not None:
            allowed = list(f.choices) + ([None] if nullable(f) else [])
            listed = _humanize([json.dumps(c, ensure_ascii=False) for c in allowed], "or")
            choices, message = x.literal(allowed), label.message(f" must be one of: {listed}.")
            if len(allowed) > 8:  # a long list is written once, under `let:`
                stem = f"{f.key}_choices"
                choices = self.share(stem, choices.text)
                if len(label.parts) == 1:
                    message = self.share(f"{stem}_message", message.text)
            out.append(x.guard(message, x.and_(x.call("exists", value), x.binary("not in", value, choices))))
        t = f.json_type
        if t in ("number", "integer"):
            if f.minimum:
                out.append(x.guard(label.message(f" must be equal to or greater than {_js_number(f.minimum)}."),
                                   x.and_(x.call("is_number", value), x.binary("<", value, x.literal(f.minimum)))))
            if f.maximum:
                out.append(x.guard(label.message(f" must be equal to or less than {_js_number(f.maximum)}."),
                                   x.and_(x.call("is_number", value), x.binary(">", value, x.literal(f.maximum)))))
        if t == "string":
            if f.maximum:
                n = int(f.maximum)
                out.append(x.guard(label.message(f" must be {n} character{'s' * (n != 1)} or fewer but it was ",
                                                 x.call("length", value), " characters."),
                                   x.and_(x.call("is_string", value),
                                          x.binary(">", x.call("length", value), x.literal(n)))))
            if f.minimum:
                n = int(f.minimum)
                length = x.call("length", value)
                actual = x.cond(x.string(" character."), x.eq(length, x.number(1)), x.string(" characters."))
                out.append(x.guard(label.message(f" must be {n} character{'s' * (n != 1)} or more but it was ",
                                                 length, actual),
                                   x.and_(x.call("is_string", value), x.binary("<", length, x.literal(n)))))
        fmt = "date-like" if t == "datetime" else f.format
        if fmt in _FORMAT_TESTS:
            name = _FORMAT_LABELS.get(fmt, fmt)
            test = self.helpers.call(_FORMAT_TESTS[fmt], value)
            out.append(x.guard(label.message(f" must be a valid {name} string but it was not."),
                               x.and_(x.call("is_string", value), x.not_(test))))
        if t == "object" and f.properties:
            for key, sub in f.properties.items():
                if sub.required is True:
                    out.append(x.guard(label.message(f" is missing the required field '{key}'."),
                                       x.and_(x.call("is_object", value), x.not_(x.call("exists", x.path(value, [key]))))))
            for key, sub in f.properties.items():
                out.extend(self.checks(sub, x.path(value, [key]), Label.titled(sub.label), (*path, key)))
        return [c for c in out if c is not x.MISSING]

    def _type_check(self, value: E, types: list[str], label: Label) -> E:
        tests = []
        for t in types:
            if t == "string":
                tests.append(x.call("is_string", value))
            elif t == "number":
                tests.append(x.call("is_number", value))
            elif t == "integer":
                tests.append(self.helpers.call("whole", value))
            elif t == "boolean":
                tests.append(x.call("is_bool", value))
            elif t == "object":
                tests.append(x.call("is_object", value))
            elif t == "array":
                tests.append(x.call("is_list", value))
            elif t == "null":
                tests.append(x.eq(value, x.NULL))
        expected = _humanize(types, "or")
        ok = x.or_(*tests) if len(tests) > 1 else tests[0]
        # where AJV tries a coercion, it first takes a list of one element as that element, and names the
        # element when the coercion fails
        coercible = any(t in _COERCIBLE for t in types)
        kind = self.helpers.call("js_kind", self.helpers.call("unwrap", value) if coercible else value)
        return x.guard(label.message(f" must be {_article(expected)} {expected} but it was ", kind, "."),
                       x.and_(x.call("exists", value), x.not_(ok)))


def _item_field(f: Field) -> Field:
    """The schema of one element of a list field."""
    return Field(key=f.key, label="", type=f.type, choices=f.choices, format=f.format, minimum=f.minimum,
                 maximum=f.maximum, additional=f.additional, properties=f.properties)


# ---------------------------------------------------------------------------- literals known to be valid


def literal_is_valid(f: Field, value: Any) -> bool:
    """Whether a literal mapping needs no check: it is of the field's type already, and allowed."""
    if value is None or value == "":
        return True  # dropped (or kept as null where null is allowed); nothing to check
    if f.multiple:
        return isinstance(value, list) and all(literal_is_valid(_item_field(f), v) for v in value)
    t = f.json_type
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict) and not f.properties,
        "datetime": False,
    }.get(t, False)
    if not ok:
        return False
    if f.choices is not None and value not in f.choices:
        return False
    if t in ("number", "integer") and ((f.minimum and value < f.minimum) or (f.maximum and value > f.maximum)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if t == "string" and (f.format in _FORMAT_TESTS or f.minimum or f.maximum):
        return False
    return True
