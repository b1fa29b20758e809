"""Segment's mapping-kit (the `@path`, `@if`, `@template`, ... directives of a field mapping) to mapspec.

`validate(mapping)` reports what Segment's own validation (`mapping-kit/validate.ts`) refuses, with its
messages (`/@replace/pattern should be a string of length 10 or less.`); `Translator.value(mapping)`
gives the mapspec expression that computes what mapping-kit's `transform` computes. What mapping-kit
would fail on at run time for every event (an `@if` with neither `exists` nor `blank`, an `@flatten`
without a separator, ...) and what mapspec cannot express (`@liquid`) are a `DirectiveError` naming
where in the mapping it is: an imported mapping never silently drops a field.

Semantics kept from mapping-kit (`core/mapping-kit/index.ts`, `core/get.ts`): a string that is not in a
directive is a literal; paths drop a leading `$.` and split at dots and brackets; `@template` writes a
missing or null value as `""` and anything else as JavaScript's `String()` does; `@if` with `exists`
holds for a value that is neither missing nor null, with `blank` also not loosely equal to `""`, and
its `else` is taken only when the `else` mapping itself is truthy; `@case` and `@replace` do nothing
when their `value` mapping is falsy; `@replace` turns booleans and numbers into text, anything else
into `""`, and replaces literal text (the first match only with `global: false`); `@arrayPath` maps
each element (an object counts as one) with the element as the root; `@json` decodes invalid JSON to
the text itself; `@excludeWhenNull` drops null values, recursively through objects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import expr as x
from .expr import E

ROOT_DIRECTIVE = "__segment_internal_directive"
_DIRECTIVE_NAME = re.compile(r"^@[a-z][a-zA-Z0-9]+$")
_PATH_SPLIT = re.compile(r"""\[(?="|'|\d)|\.|(?<="|'|\d)]+""")
_TEMPLATE3 = re.compile(r"\{\{\{([^}]+)\}\}\}")
_TEMPLATE2 = re.compile(r"\{\{([^}]+)\}\}")
MAX_PATTERN_LENGTH = 10
MAX_REPLACEMENT_LENGTH = 10


class DirectiveError(ValueError):
    """A mapping that Segment refuses, or that mapspec cannot express. `where` is the JSON path in it."""

    def __init__(self, message: str, where: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------------------- values as JavaScript sees them


def real_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def truthy(v: Any) -> bool:
    """JavaScript's truthiness of a JSON value (a mapping, not its result)."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v == v and v != 0
    if isinstance(v, str):
        return v != ""
    return True


def is_directive(v: Any) -> bool:
    if not isinstance(v, dict):
        return False
    keys = list(v)
    return any(k.startswith("@") for k in keys) and all(k.startswith("@") or k == "_metadata" for k in keys)


def directive_name(v: dict) -> str:
    return next(k for k in v if k.startswith("@"))


def split_path(path: str) -> list[str]:
    """mapping-kit's `get` path: split at dots and at brackets, quotes removed, empty parts dropped."""
    return [p.replace('"', "").replace("'", "") for p in _PATH_SPLIT.split(path) if p]


# ---------------------------------------------------------------------------- validation (validate.ts)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _type_or_directive(v: Any) -> str:
    t = real_type(v)
    if t == "object" and any(k.startswith("@") for k in v):
        return "directive"
    return t


class _Validation:
    def __init__(self):
        self.errors: list[str] = []

    def error(self, message: str, stack: list[str]) -> None:
        self.errors.append(f"/{'/'.join(stack)} {message}.")

    def directive(self, v: Any, stack: list[str]) -> None:
        if not isinstance(v, dict):
            t = real_type(v)
            self.error(f"should be a directive object but it is {_article(t)} {t}", stack)
            return
        keys = list(v)
        dkeys = [k for k in keys if k.startswith("@")]
        if len(dkeys) > 1:
            self.error(f"should only have one @-prefixed key but it has {len(dkeys)} keys", stack)
            return
        if any(not k.startswith("@") and k != "_metadata" for k in keys):
            self.error(f"should only have one @-prefixed key but it has {len(keys)} keys", stack)
            return
        name = dkeys[0]
        check = _VALIDATORS.get(name)
        if check is None:
            self.error(f"has an invalid directive: {name}", stack)
            return
        check(self, v[name], [*stack, name])

    def directive_or_raw(self, v: Any, stack: list[str]) -> None:
        if _type_or_directive(v) == "directive":
            self.directive(v, stack)

    def directive_or_string(self, v: Any, stack: list[str]) -> None:
        t = _type_or_directive(v)
        if t == "directive":
            self.directive(v, stack)
        elif t != "string":
            self.error(f"should be a string or a mapping directive but it is {_article(t)} {t}", stack)

    def directive_or_object(self, v: Any, stack: list[str]) -> None:
        t = _type_or_directive(v)
        if t == "directive":
            self.directive(v, stack)
        elif t == "object":
            self.object(v, stack)
        else:
            self.error(f"should be a object or a mapping directive but it is {_article(t)} {t}", stack)

    def object(self, v: Any, stack: list[str]) -> bool:
        t = _type_or_directive(v)
        if t != "object":
            self.error(f"should be an object but it is {_article(t)} {t}", stack)
            return False
        for k, item in v.items():
            self.validate(item, [*stack, k])
        return True

    def fields(self, v: Any, stack: list[str], spec: dict[str, tuple[bool, Any]]) -> None:
        before = len(self.errors)
        if not self.object(v, stack) or len(self.errors) > before:
            return  # Segment stops at the object's own problems
        for prop, (required, check) in spec.items():
            if prop not in v:
                if required:
                    self.error(f"should have field {json.dumps(prop)} but it doesn't", stack)
                continue
            check(self, v[prop], [*stack, prop])

    def string(self, v: Any, stack: list[str]) -> bool:
        t = _type_or_directive(v)
        if t != "string":
            self.error(f"should be a string but it is {_article(t)} {t}", stack)
            return False
        return True

    def boolean(self, v: Any, stack: list[str]) -> None:
        t = _type_or_directive(v)
        if t != "boolean":
            self.error(f"should be a boolean but it is {_article(t)} {t}", stack)

    def validate(self, v: Any, stack: list[str]) -> None:
        t = _type_or_directive(v)
        if t == "directive":
            self.directive(v, stack)
        elif t == "object":
            self.object(v, stack)


def _length(lo: int, hi: int):
    def check(val: _Validation, v: Any, stack: list[str]) -> None:
        if not val.string(v, stack):
            return
        if len(v) < lo:
            val.error(f"should be a string of length {lo} or greater", stack)
        elif len(v) > hi:
            val.error(f"should be a string of length {hi} or less", stack)
    return check


def _allowed(*words: str):
    def check(val: _Validation, v: Any, stack: list[str]) -> None:
        if val.string(v, stack) and v.lower() not in words:
            val.error(f"should be one of {', '.join(words)} but it is {json.dumps(v)}", stack)
    return check


def _array(val: _Validation, v: Any, stack: list[str]) -> bool:
    if not isinstance(v, list):
        t = real_type(v)
        val.error(f"should be an array but it is {_article(t)} {t}", stack)
        return False
    return True


def _v_array_path(val: _Validation, v: Any, stack: list[str]) -> None:
    if not _array(val, v, stack):
        return
    val.directive_or_string(v[0] if v else None, stack)
    if len(v) > 1:
        val.validate(v[1], stack)


def _v_merge(val: _Validation, v: Any, stack: list[str]) -> None:
    val.fields(v, stack, {"direction": (False, _allowed("left", "right")), "objects": (True, _array)})
    if isinstance(v, dict) and isinstance(v.get("objects"), list):
        for item in v["objects"]:
            val.directive_or_object(item, [])


_D = _Validation
_VALIDATORS = {
    "@if": lambda val, v, s: val.fields(v, s, {"exists": (False, _D.directive_or_raw),
                                               "then": (False, _D.directive_or_raw),
                                               "else": (False, _D.directive_or_raw)}),
    "@case": lambda val, v, s: val.fields(v, s, {"operator": (False, _D.string),
                                                 "value": (False, _D.directive_or_string)}),
    "@replace": lambda val, v, s: val.fields(v, s, {
        "pattern": (True, _length(1, MAX_PATTERN_LENGTH)),
        "replacement": (False, _length(0, MAX_REPLACEMENT_LENGTH)),
        "value": (True, _D.directive_or_string),
        "ignorecase": (False, _D.boolean),
        "global": (False, _D.boolean)}),
    "@arrayPath": _v_array_path,
    "@path": _D.directive_or_string,
    "@json": lambda val, v, s: val.fields(v, s, {"value": (True, _D.directive_or_raw),
                                                 "mode": (True, _allowed("encode", "decode"))}),
    "@flatten": lambda val, v, s: val.fields(v, s, {"separator": (False, _D.string),
                                                    "value": (True, _D.directive_or_raw)}),
    "@merge": _v_merge,
    "@template": _D.directive_or_string,
    "@literal": _D.directive_or_raw,
    "@transform": lambda val, v, s: val.fields(v, s, {"apply": (True, _D.directive_or_object),
                                                      "mapping": (True, _D.directive_or_object)}),
    "@excludeWhenNull": _D.directive_or_raw,
    "@liquid": _D.string,
}


def validate(mapping: Any) -> list[str]:
    """Segment's validation messages for a mapping (nothing when it is valid)."""
    val = _Validation()
    val.validate(mapping, [])
    return val.errors


def root_mapping(mapping: dict) -> Any:
    """mapping-kit's root directive: `__segment_internal_directive` holding one directive becomes the whole
    mapping, with the other keys given to it as its `mapping`."""
    if ROOT_DIRECTIVE not in mapping:
        return mapping
    root = mapping[ROOT_DIRECTIVE]
    if not isinstance(root, dict) or len(root) > 1:
        raise DirectiveError("The root mapping must only have a single directive object", (ROOT_DIRECTIVE,))
    name = next(iter(root), None)
    inner = root.get(name) if name is not None else None
    if not isinstance(inner, dict):
        raise DirectiveError("The root directive must be an object", (ROOT_DIRECTIVE,))
    return {name: {**inner, "mapping": {k: v for k, v in mapping.items() if k != ROOT_DIRECTIVE}}}


# ---------------------------------------------------------------------------- translation


@dataclass
class Helpers:
    """The helper functions a translation uses (from the catalog's function library), and the functions it
    generates (one per `@transform`)."""

    used: set[str] = field(default_factory=set)
    generated: dict[str, tuple[str, E]] = field(default_factory=dict)  # name -> (parameter, body)

    def call(self, name: str, *args: E) -> E:
        self.used.add(name)
        return x.call(name, *args)

    def new_function(self, stem: str, param: str, body: E) -> str:
        n = 1
        while f"{stem}_{n}" in self.generated:
            n += 1
        name = f"{stem}_{n}"
        self.generated[name] = (param, body)
        return name


class Translator:
    """mapping-kit mappings -> mapspec expressions. `root` is what `$.` means: the event (None), an
    `@arrayPath` element or a `@transform` result."""

    def __init__(self, helpers: Helpers | None = None):
        self.helpers = helpers or Helpers()
        self._depth = 0

    def value(self, mapping: Any, root: E | None = None, where: tuple[str, ...] = ()) -> E:
        if isinstance(mapping, dict):
            if is_directive(mapping):
                name = directive_name(mapping)
                handler = getattr(self, "d_" + name[1:], None)
                if handler is None:
                    raise DirectiveError(f"{name} is not a valid directive", (*where, name))
                self._depth += 1
                try:
                    return handler(mapping[name], root, (*where, name))
                finally:
                    self._depth -= 1
            return x.obj([(k, self.value(v, root, (*where, k))) for k, v in mapping.items()])
        if isinstance(mapping, list):
            return x.lst([self.value(v, root, (*where, str(i))) for i, v in enumerate(mapping)])
        return x.literal(mapping)

    # ---- paths
    def path(self, text: str, root: E | None) -> E:
        text = text.replace("$.", "", 1)
        if text in ("", "."):
            return root if root is not None else x.var("event")
        steps: list[str | int] = [int(p) if p.isdigit() else p for p in split_path(text)]
        if not steps:
            return root if root is not None else x.var("event")
        return x.path(root, steps)

    def d_path(self, arg: Any, root: E | None, where: tuple[str, ...]) -> E:
        if isinstance(arg, str):
            return self.path(arg, root)
        if is_directive(arg):
            computed = self.value(arg, root, where)
            base = root if root is not None else x.var("event")
            return self.helpers.call("dig", base, self.helpers.call("path_keys", computed))
        raise DirectiveError(f"@path: expected string, got {real_type(arg)}", where)

    # ---- text
    def d_template(self, arg: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(arg, str):
            if is_directive(arg):
                raise DirectiveError("@template with a computed template is not translated: write the template "
                                     "out", where)
            raise DirectiveError(f"@template: expected string, got {real_type(arg)}", where)
        # {{{path}}} first, then {{path}}, as mapping-kit renders them
        pieces: list[str | E] = []
        for i, chunk in enumerate(_TEMPLATE3.split(arg)):
            if i % 2:
                pieces.append(self.helpers.call("text", self._placeholder(chunk, root)))
                continue
            for j, part in enumerate(_TEMPLATE2.split(chunk)):
                if j % 2:
                    pieces.append(self.helpers.call("text", self._placeholder(part, root)))
                elif part:
                    pieces.append(part)
        if not pieces:
            return x.string("")
        if all(isinstance(p, str) for p in pieces):
            return x.string("".join(p for p in pieces if isinstance(p, str)))
        if len(pieces) == 1:
            return pieces[0]  # type: ignore[return-value]
        body = []
        for p in pieces:
            if isinstance(p, str):
                body.append(x.dq(p)[1:-1])
            else:
                body.append("{" + p.text + "}")
        return E('"' + "".join(body) + '"')

    def _placeholder(self, text: str, root: E | None) -> E:
        # the placeholder is read with `get` as written: no `$.` is dropped here
        text = text.strip()
        if text in ("", "."):
            return root if root is not None else x.var("event")
        steps: list[str | int] = [int(p) if p.isdigit() else p for p in split_path(text)]
        return x.path(root, steps) if steps else (root if root is not None else x.var("event"))

    def d_literal(self, arg: Any, root: E | None, where: tuple[str, ...]) -> E:
        return self.value(arg, root, where)

    # ---- conditions
    def d_if(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@if requires an object with an "exists" key', where)
        if not truthy(opts.get("exists")) and not truthy(opts.get("blank")):
            raise DirectiveError('@if requires an "exists" key or a "blank" key', where)
        if "exists" in opts:
            test = self.helpers.call("present", self.value(opts["exists"], root, (*where, "exists")))
        else:
            test = self.helpers.call("not_blank", self.value(opts["blank"], root, (*where, "blank")))
        then = self.value(opts["then"], root, (*where, "then")) if "then" in opts else x.MISSING
        otherwise = self.value(opts["else"], root, (*where, "else")) if truthy(opts.get("else")) else x.MISSING
        return x.cond(then, test, otherwise)

    def d_case(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@case requires an object with a "operator" key', where)
        if not truthy(opts.get("operator")):
            raise DirectiveError('@case requires a "operator" key', where)
        if not truthy(opts.get("value")):
            return x.MISSING
        op = opts["operator"]
        if op not in ("lower", "upper"):
            raise DirectiveError('operator key should have a value of "lower" or "upper"', (*where, "operator"))
        return self.helpers.call(f"{op}_case", self.value(opts["value"], root, (*where, "value")))

    def d_replace(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@replace requires an object with a "pattern" key', where)
        if not truthy(opts.get("pattern")):
            raise DirectiveError('@replace requires a "pattern" key', where)
        if not truthy(opts.get("value")):
            return x.MISSING
        pattern, replacement = opts["pattern"], opts.get("replacement")
        replacement = "" if replacement is None else replacement
        ignorecase = False if opts.get("ignorecase") is None else opts["ignorecase"]
        is_global = True if opts.get("global") is None else opts["global"]
        value = self.value(opts["value"], root, (*where, "value"))
        if not (isinstance(pattern, str) and isinstance(replacement, str) and isinstance(ignorecase, bool)
                and isinstance(is_global, bool)):
            return x.string("")  # mapping-kit gives "" when an option has the wrong type
        out = self._replace(self.helpers.call("scalar_text", value), pattern, replacement, ignorecase,
                            is_global, (*where, "pattern"))
        pattern2 = opts.get("pattern2")
        if truthy(pattern2) and isinstance(pattern2, str):
            replacement2 = opts.get("replacement2")
            replacement2 = "" if replacement2 is None else replacement2
            if isinstance(replacement2, str):
                out = self._replace(out, pattern2, replacement2, ignorecase, is_global, (*where, "pattern2"))
        return out

    def _replace(self, value: E, pattern: str, replacement: str, ignorecase: bool, is_global: bool,
                 where: tuple[str, ...]) -> E:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise DirectiveError(f'@replace requires a "pattern" less than {MAX_PATTERN_LENGTH} characters', where)
        if len(replacement) > MAX_REPLACEMENT_LENGTH:
            raise DirectiveError(f'@replace requires a "replacement" less than {MAX_REPLACEMENT_LENGTH} characters',
                                 where)
        if not ignorecase and not any(c in pattern for c in "\\"):
            # literal text either way; the plain functions read better
            if is_global:
                return x.call("replace", value, x.string(pattern), x.string(_js_replacement(replacement, where)))
        regex = ("(?i)" if ignorecase else "") + re.escape(pattern)
        args = [value, x.E(x.sq(regex)), x.string(_py_replacement(replacement, where))]
        if not is_global:
            args.append(x.number(1))
        return x.call("regex_replace", *args)

    def d_arrayPath(self, data: Any, root: E | None, where: tuple[str, ...]) -> E:  # noqa: N802 - directive name
        if not isinstance(data, list):
            raise DirectiveError(f"@arrayPath expected array, got {real_type(data)}", where)
        first = data[0] if data else None
        shape = data[1] if len(data) > 1 else None
        source = self.path(first, root) if isinstance(first, str) else self.value(first, root, (*where, "0"))
        if not (isinstance(shape, dict) and shape):
            return source
        name = "item" if self._depth <= 1 else f"item{self._depth}"
        item = x.var(name)
        body = self.value(shape, item, (*where, "1"))
        each = x.list_comp(body, (name,), self.helpers.call("as_list", source))
        return x.cond(each, x.or_(x.call("is_list", source), x.call("is_object", source)), source)

    # ---- structure
    def d_json(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@json requires an object with a "value" key', where)
        if not truthy(opts.get("mode")):
            raise DirectiveError('@json requires a "mode" key', where)
        if not truthy(opts.get("value")):
            raise DirectiveError('@json requires a "value" key', where)
        value = self.value(opts["value"], root, (*where, "value"))
        if opts["mode"] == "encode":
            return x.call("to_json", value)
        if opts["mode"] == "decode":
            return self.helpers.call("json_or_text", value)
        return x.MISSING

    def d_flatten(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@flatten requires an object with a "separator" key', where)
        if not truthy(opts.get("separator")):
            raise DirectiveError('@flatten requires a "separator" key', where)
        sep = opts["separator"]
        if not isinstance(sep, str):
            raise DirectiveError("@flatten requires a string separator", (*where, "separator"))
        value = self.value(opts.get("value"), root, (*where, "value")) if "value" in opts else x.MISSING
        args = [value, x.string(sep)]
        if truthy(opts.get("omitArrays")):
            args.append(x.TRUE)
        return x.call("flatten", *args)

    def d_merge(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@merge requires an object with an "objects" key and a "direction" key', where)
        if not truthy(opts.get("direction")):
            raise DirectiveError('@merge requires a "direction" key', where)
        if not truthy(opts.get("objects")):
            raise DirectiveError('@merge requires a "objects" key', where)
        objects = opts["objects"]
        if not isinstance(objects, list):
            raise DirectiveError(f"@merge: expected opts.array, got {real_type(objects)}", (*where, "objects"))
        items = [self.value(o, root, (*where, "objects", str(i))) for i, o in enumerate(objects)]
        direction = opts["direction"]
        if isinstance(direction, str):
            ordered = list(reversed(items)) if direction == "left" else items
            return x.obj([(None, i) for i in ordered])
        d = self.value(direction, root, (*where, "direction"))
        right = x.obj([(None, i) for i in items])
        left = x.obj([(None, i) for i in reversed(items)])
        return x.cond(left, x.eq(d, x.string("left")), right)

    def d_transform(self, opts: Any, root: E | None, where: tuple[str, ...]) -> E:
        if not isinstance(opts, dict):
            raise DirectiveError('@transform requires an object with an "apply" key and a "mapping" key', where)
        if not truthy(opts.get("mapping")):
            raise DirectiveError('@transform requires a "mapping" key', where)
        if not truthy(opts.get("apply")):
            raise DirectiveError('@transform requires a "apply" key', where)
        if not isinstance(opts["apply"], dict):
            raise DirectiveError('@transform "apply" key should be an object', (*where, "apply"))
        problems = validate(opts["apply"])
        if problems:
            raise DirectiveError(" ".join(problems), (*where, "apply"))
        applied = self.value(opts["apply"], root, (*where, "apply"))
        body = self.value(opts["mapping"], x.var("root"), (*where, "mapping"))
        name = self.helpers.new_function("transform", "root", body)
        return x.call(name, applied)

    def d_excludeWhenNull(self, arg: Any, root: E | None, where: tuple[str, ...]) -> E:  # noqa: N802
        return self.helpers.call("drop_nulls", self.value(arg, root, where))

    def d_liquid(self, arg: Any, root: E | None, where: tuple[str, ...]) -> E:
        from .liquid import LiquidError, LiquidTranslator

        if not isinstance(arg, str):
            raise DirectiveError("liquid template value must be a string", where)
        try:
            return LiquidTranslator(self.helpers).template(arg, root)
        except LiquidError as e:
            raise DirectiveError(f"@liquid: {e} (the rest of Liquid is not translated: rewrite this field with "
                                 "@template, @if and @case, or in mapspec after importing)", where) from None


def _js_replacement(replacement: str, where: tuple[str, ...]) -> str:
    """A JavaScript replacement string as the literal text it inserts (`$$` is `$`)."""
    if re.search(r"\$[&`']", replacement):
        raise DirectiveError(f"@replace: the replacement {json.dumps(replacement)} refers to the match ($&, $` or "
                             "$'), which is not translated", where)
    return replacement.replace("$$", "$")


def _py_replacement(replacement: str, where: tuple[str, ...]) -> str:
    """A JavaScript replacement string for regex_replace (backslashes escaped)."""
    return _js_replacement(replacement, where).replace("\\", "\\\\")
