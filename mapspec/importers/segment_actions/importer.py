"""The importer: an export read, each subscription translated, the mapping file written."""


from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import jsonio, limits
from . import catalog as cat
from . import directives, fql, schema
from . import expr as x
from . import yamltext as y
from .catalog import Action, Destination
from .directives import DirectiveError, Helpers, Translator
from .expr import E

SYNC_MODE_KEY = "__segment_internal_sync_mode"
HIDDEN_KEYS = (SYNC_MODE_KEY, "__segment_internal_matching_key")

#: the name a destination's mapping gets when no other is given
DEFAULT_NAMES = {"braze": "segment-actions", "braze-cohorts": "segment-cohorts"}


class ImportFailed(Exception):
    """The export cannot be imported; `problems` says where and why, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Subscription:
    index: int
    name: str
    action: Action
    trigger: str
    mapping: dict[str, Any]
    enabled: bool
    trigger_given: bool
    mapping_given: bool
    #: how a mapping given without `defaults` was read (laid over the action's defaults or not), and why
    laid_over: str = ""

    def where(self) -> str:
        return f'subscription {self.index + 1} "{_short(self.name)}" ({self.action.name})'


# ---------------------------------------------------------------------------- reading the export


def read_export(data: Any) -> tuple[Destination, dict, list[Subscription]]:
    """The destination, settings and subscriptions of an export; ImportFailed with every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ImportFailed(["the export must be a JSON object with `destination`, `settings` and `subscriptions`"])
    unknown = [k for k in data if k not in ("destination", "settings", "subscriptions")]
    if unknown:
        problems.append(f"unknown key{'s' * (len(unknown) > 1)} in the export: {', '.join(unknown)} "
                        "(expected destination, settings, subscriptions)")
    name = data.get("destination")
    if name not in cat.DESTINATIONS:
        raise ImportFailed(problems + [f"`destination` must be one of {', '.join(cat.DESTINATIONS)}, "
                                       f"not {json.dumps(name)}"])
    dest = cat.destination(name)
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        problems.append("`settings` must be an object of setting names to values")
        settings = {}
    subs_data = data.get("subscriptions")
    if not isinstance(subs_data, list):
        raise ImportFailed(problems + ["`subscriptions` must be a list of subscriptions"])
    subs: list[Subscription] = []
    for i, s in enumerate(subs_data):
        where = f"subscription {i + 1}"
        if not isinstance(s, dict):
            problems.append(f"{where}: must be an object with name, action, trigger, mapping and enabled")
            continue
        if isinstance(s.get("name"), str) and s["name"].strip():
            where = f'subscription {i + 1} "{_short(s["name"])}"'
        extra = [k for k in s if k not in ("name", "action", "trigger", "mapping", "enabled", "defaults")]
        if extra:
            problems.append(f"{where}: unknown key{'s' * (len(extra) > 1)} {', '.join(extra)}")
        action_name = s.get("action")
        action = dest.actions.get(action_name) if isinstance(action_name, str) else None
        if action is None:
            problems.append(f"{where}: `action` must be one of the {dest.title} actions "
                            f"({', '.join(dest.actions)}), not {json.dumps(action_name)}")
            continue
        sub_name = s.get("name")
        if not isinstance(sub_name, str) or not sub_name.strip():
            sub_name = action.title
        trigger = s.get("trigger")
        trigger_given = "trigger" in s and trigger is not None
        if trigger_given and not isinstance(trigger, str):
            problems.append(f"{where}: `trigger` must be text in Segment's filter language")
            continue
        if not trigger_given:
            if not action.default_subscription:
                problems.append(f"{where}: the {action.name} action has no default trigger: give one "
                                '(`"trigger": ""` takes every event)')
                continue
            trigger = action.default_subscription
        mapping = s.get("mapping")
        if mapping is not None and not isinstance(mapping, dict):
            problems.append(f"{where}: `mapping` must be an object of fields, or null for the action's defaults")
            continue
        enabled = s.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append(f"{where}: `enabled` must be true or false")
            continue
        defaults = s.get("defaults")
        if defaults is not None and not isinstance(defaults, bool):
            problems.append(f"{where}: `defaults` must be true (the mapping is laid over the action's default "
                            "mapping) or false (the mapping is complete)")
            continue
        effective, laid_over = _effective_mapping(action, mapping, defaults)
        subs.append(Subscription(i, sub_name.strip(), action, trigger, effective, enabled, trigger_given,
                                 mapping is not None, laid_over))
    if problems:
        raise ImportFailed(problems)
    return dest, settings, subs


def _effective_mapping(action: Action, mapping: dict | None, defaults: bool | None) -> tuple[dict, str]:
    """The mapping Segment runs for a subscription, and how it was read when the export does not say (a
    comment for the imported mapping; "" when there is nothing to say).

    Segment runs a subscription's mapping as it is saved, and its mapping editor starts from the action's
    defaults and saves nothing without every required field. So a mapping that maps every required field is
    complete (a field left out was removed on purpose), and one that leaves a required field out can only be
    changes to the defaults, which is how Segment's own tests write them (`useDefaultMappings`); a mapping
    with a root directive computes every field, and is complete. `defaults` true or false says which,
    whatever the mapping holds."""
    base = cat.default_mapping(action)
    if mapping is None:
        out = dict(base)
        if action.sync_mode is not None:
            out[SYNC_MODE_KEY] = action.sync_mode.get("default")
        return out, ""
    if defaults is None:
        missing = [k for k, f in action.fields.items() if f.required is True and k not in mapping]
        if directives.ROOT_DIRECTIVE in mapping:  # a root directive computes every field
            return dict(mapping), ""
        if not missing:
            unused = [k for k in base if k not in mapping]
            return dict(mapping), "" if not unused else (
                f"the mapping maps every field {action.name} requires, as a mapping Segment saves does: it is "
                f"taken as it is, without the action's defaults for {', '.join(f'`{k}`' for k in unused)} "
                '(`"defaults": true` in the export lays it over them)')
        listed = ", ".join(f"`{k}`" for k in missing)
        return {**base, **mapping}, (f"the mapping leaves out {listed}, which {action.name} requires and Segment's "
                                     "mapping editor fills in: it is read as changes to the action's default "
                                     'mapping (`"defaults": false` in the export says it is complete)')
    return ({**base, **mapping} if defaults else dict(mapping)), ""


def _short(text: str, limit: int = 80) -> str:
    """A name from the export as an error message shows it: a long one cut, with its length."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _around(text: str, position: int | None, width: int = 60) -> str:
    """A trigger as an error message shows it (JSON-quoted): a long one as the part around the position."""
    if len(text) <= 2 * width:
        return json.dumps(text)
    at = position or 0
    start, end = max(0, at - width), min(len(text), at + width)
    return (("..." if start else "") + json.dumps(text[start:end]) + ("..." if end < len(text) else "")
            + f" ({len(text):,} characters)")


def _js_text(value: Any) -> str:
    """A JSON value as JavaScript writes it in a template string."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (dict,)):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join("" if v is None else _js_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Read:
    """A field read from what a root directive computed."""

    expression: E


# ---------------------------------------------------------------------------- names


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not s or not s[0].isalpha():
        s = "s_" + s
    return s[:40].rstrip("_")


_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
#: an expression cheap and short enough to write more than once (a path)
_SIMPLE = re.compile(r"[\w$.]+(\[(\d+|\"[^\"]*\")\])*[\w$.]*\Z")


@dataclass
class Generated:
    """What one subscription adds to the mapping."""

    sub: Subscription
    name: str  # the let holding the payload
    trigger: E
    payload: list[tuple[str, E]]
    comments: list[str]  # about the fields (dropped keys and the like)
    invalid: E | None
    lets: list[tuple[str, str]]  # other per-subscription lets (name, expression)
    send_text: str


@dataclass
class Importer:
    destination: Destination
    settings: dict
    subscriptions: list[Subscription]
    source: str = "the export"
    helpers: Helpers = field(default_factory=Helpers)
    #: with False, only Segment's schema validation (not the action's own checks) rejects a payload
    perform_checks: bool = True

    def __post_init__(self):
        self.schema = schema.Schema(self.helpers)
        self.translator = Translator(self.helpers)
        self.shared_lets: dict[str, str] = {}
        self.used_names: set[str] = {"event"}
        #: the validation functions, one per action: action name -> (function name, parameters, body)
        self.errors_functions: dict[str, tuple[str, list[str], E]] = {}

    # ---- one subscription
    def subscription(self, sub: Subscription) -> Generated:
        action = sub.action
        problems: list[str] = []
        try:
            trigger = fql.translate(sub.trigger)
        except fql.FQLError as e:
            pos = f" (at character {e.position + 1})" if e.position is not None else ""
            raise ImportFailed([f"{sub.where()}, trigger {_around(sub.trigger, e.position)}: {e}{pos}"]) from None

        name = self._let_name(sub)
        original = sub.mapping
        deep = [k for k, v in original.items() if _depth(v) > MAX_DEPTH]
        if deep:
            raise ImportFailed([f"{sub.where()}, field `{k}`: nested more than {MAX_DEPTH} levels deep, deeper "
                                "than a mapping's expressions may be" for k in deep])
        try:
            mapping = directives.root_mapping(original)
        except DirectiveError as e:
            raise ImportFailed([f"{sub.where()}: {e}"]) from None
        extra_lets: list[tuple[str, str]] = []
        if directives.is_directive(mapping):
            # a root directive computes the whole payload: every field is read from what it gives
            problems += [f"{sub.where()}: {p}" for p in directives.validate(mapping)]
            if problems:
                raise ImportFailed(problems)
            try:
                whole = self.translator.value(mapping, None, ())
            except DirectiveError as e:
                raise ImportFailed([f"{sub.where()}, root directive {'/'.join(e.where)}: {e}"]) from None
            extra_lets.append((f"{name}_mapped", whole.text))
            mapping = {k: _Read(x.path(x.var(f"{name}_mapped"), [k])) for k in action.fields}
        sync_mode = original.get(SYNC_MODE_KEY, x.MISSING) if action.sync_mode is not None else None
        comments: list[str] = [sub.laid_over] if sub.laid_over else []
        values: dict[str, Any] = {}
        for vname, vpath in action.values.items():
            cur: Any = original
            for part in vpath.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            if not isinstance(cur, str) or not cur:
                # what Segment writes for it in a URL
                comments.append(f"the mapping has no `{vpath}` (the {vname.replace('_', ' ')}, which Segment's "
                                "mapping editor saves there): like Segment, this mapping uses `undefined`")
                cur = "undefined" if cur is None else _js_text(cur)
            values[vname] = cur
        payload: list[tuple[str, E]] = []
        raw: list[tuple[str, E]] = []
        dependencies = _dependencies(action)
        hook_keys = {v.split(".")[0] for v in action.values.values()}
        for key, value in mapping.items():
            if key in HIDDEN_KEYS or key in hook_keys:
                continue
            f = action.fields.get(key)
            if f is None:
                comments.append(f"`{key}` is not a field of {action.name}: Segment drops it, and so does this "
                                "mapping")
                continue
            where = (key,)
            if isinstance(value, _Read):
                payload.append((key, self.schema.value(f, value.expression)))
                continue
            for problem in directives.validate(value):
                problems.append(f"{sub.where()}, field `{key}`: {problem}")
            if problems:
                continue
            try:
                mapped = self.translator.value(value, None, where)
            except DirectiveError as e:
                inner = e.where[1:]
                loc = "" if len(inner) == 1 and inner[0].startswith("@") else "/".join(inner)
                problems.append(f"{sub.where()}, field `{key}`{' at ' + loc if loc else ''}: {e}")
                continue
            if mapped is x.MISSING:
                continue
            if not isinstance(value, (dict, list)) and schema.literal_is_valid(f, value):
                if value is None and not f.nullable:
                    continue
                if value == "":
                    continue
                payload.append((key, mapped))
                continue
            if key in dependencies:
                # a field other fields' requirement depends on: Segment decides it before coercing
                raw.append((key, self.helpers.call("cleaned_or_null" if schema.nullable(f) else "cleaned", mapped)))
                mapped = x.path(x.var(f"{name}_raw"), [key])
            elif f.multiple and not _SIMPLE.match(mapped.text):
                # a list is read more than once: what the mapping gives is named first
                raw.append((key, mapped))
                mapped = x.path(x.var(f"{name}_raw"), [key])
            payload.append((key, self.schema.value(f, mapped)))
        if problems:
            raise ImportFailed(problems)

        if raw:
            extra_lets.append((f"{name}_raw", x.obj(raw).text))  # what the mapping gives, before Segment's coercion
        invalid = self._invalid(sub, name, payload, sync_mode, {k for k, _ in raw})
        lets, send_text = self._templates(sub, name, sync_mode, values)
        return Generated(sub, name, trigger, payload, comments, invalid, extra_lets + lets, send_text)

    def function_lines(self, text: str = "") -> list[str]:
        """The `functions:` entries of what the subscriptions translated so far use, and of the library
        functions `text` (the rest of the mapping) calls."""
        out: list[str] = []
        library = cat.functions()
        generated = "\n".join(b.text for _, b in [*self.schema.functions.values(), *self.helpers.generated.values()])
        generated += "\n".join(b.text for _, _, b in self.errors_functions.values())
        generated += "\n".join(self.schema.constants.values())
        called = {fn for fn in library if re.search(rf"\b{fn}\(", text + "\n" + generated)}
        for fn in function_closure(self.helpers.used | called):
            f = library[fn]
            out += y.comment(f.doc, 2)
            if f.allow:  # on one line, where the warning points, with the comment that acknowledges it
                out.append(f"  {f.head}: {y.one_line(f.body)}  # mapspec: allow {f.allow}")
            else:
                out += y.entry(f.head, f.body, 2)
        for fname, text in self.schema.constants.items():
            out += y.comment(f"the allowed {fname.removesuffix('_message').removesuffix('_choices')} values"
                             + (", as Segment's message lists them" if fname.endswith("_message") else ""), 2)
            out += y.entry(f"{fname}()", text, 2)
        for fname, (param, body) in self.schema.functions.items():
            out += y.comment(f"`{fname.removesuffix('_fields')}` as Segment validates it: its declared fields, "
                             "cleaned and coerced", 2)
            out += y.entry(f"{fname}(${param})", body.text, 2)
        for fname, (param, body) in self.helpers.generated.items():
            out += y.comment("a @transform: the mapping applied to the result of `apply`", 2)
            out += y.entry(f"{fname}(${param})", body.text, 2)
        for action_name, (fname, params, body) in self.errors_functions.items():
            takes = {"raw": "`$raw` the fields its conditional requirements depend on, as mapped",
                     "sync_mode": "`$sync_mode` the subscription's sync mode"}
            extra = [takes[p] for p in params[1:]]
            out += y.comment(f"Segment's validation of a {action_name} payload: its messages, in Segment's order; "
                             "missing when the payload is valid" + ("" if not extra else
                                                                      " (" + "; ".join(extra) + ")"), 2)
            out += y.entry(f"{fname}({', '.join('$' + p for p in params)})", body.text, 2)
        return out

    def _let_name(self, sub: Subscription) -> str:
        base = _slug(sub.name)
        reserved = set(_VAR.findall(sub.action.send_text)) | {"payload", "sync_mode", "event"}
        for let in sub.action.lets.values():
            reserved |= set(_VAR.findall(let))
        for c in sub.action.checks:
            reserved |= set(_VAR.findall(c.when)) | set(_VAR.findall(c.message))
        reserved |= set(sub.action.lets) | set(self.shared_lets) | {f"{k}_choices" for k in sub.action.fields} \
            | {f"{k}_choices_message" for k in sub.action.fields}
        name, n = base, 1
        while name in self.used_names or name in reserved or name in cat.functions():
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def _invalid(self, sub: Subscription, name: str, payload: list[tuple[str, E]], sync_mode: Any,
                 raw: set[str]) -> E | None:
        """What Segment refuses the subscription's payload with: the action's field validation (a function
        every subscription of the action shares), then the action's own checks; missing when it is valid."""
        action = sub.action
        parts: list[str] = []
        if payload or any(f.required is True for f in action.fields.values()):
            fname, takes_raw, takes_sync = self._errors_function(action)
            args = [x.var(name)]
            if takes_raw:
                present = {k for k, _ in payload}
                args.append(x.obj([(k, x.path(x.var(f"{name}_raw" if k in raw else name), [k]))
                                   for k in _dependencies(action) if k in present]))
            if takes_sync:
                args.append(x.literal(sync_mode) if sync_mode is not x.MISSING and sync_mode is not None
                            else x.MISSING)
            parts.append(x.call(fname, *args).text)
        for check in action.checks if self.perform_checks else ():
            when = _expression(self._rename(check.when, sub, name))
            message = self._message(check.message, sub, name)
            parts.append(x.guard(message, when).at(x.OR))
        if not parts:
            return None
        return E("\nelse ".join(parts), x.ELSE if len(parts) > 1 else x.ATOM)

    def _errors_function(self, action: Action) -> tuple[str, bool, bool]:
        """The function giving the messages Segment's validation has for a payload of the action (missing
        when there is none), written once for every subscription of the action: its name, and whether it
        takes the fields conditional requirements depend on (as mapped, before coercion) and the sync mode."""
        if action.name in self.errors_functions:
            fname, params, _ = self.errors_functions[action.name]
            return fname, "raw" in params, "sync_mode" in params
        payload = x.var("payload")
        deps = _dependencies(action)
        uses_sync = any(c["fieldKey"] == SYNC_MODE_KEY for f in action.fields.values()
                        if isinstance(f.required, dict) for c in f.required.get("conditions") or ())
        ajv: list[E] = []
        # conditional requirements (allOf), in the order Segment builds them
        for key, f in action.fields.items():
            if isinstance(f.required, dict):
                cond = self._condition(f.required, deps)
                if cond is x.FALSE:
                    continue
                msg = (f"The root value is missing the required field '{key}'. "
                       'The root value must match "then" schema.')
                ajv.append(x.guard(x.string(msg),
                                   x.and_(cond, x.not_(x.call("exists", x.path(payload, [key]))))))
        for key, f in action.fields.items():
            if f.required is True:
                msg = x.string(f"The root value is missing the required field '{key}'.")
                ajv.append(x.guard(msg, x.not_(x.call("exists", x.path(payload, [key])))))
        for key, f in action.fields.items():
            ajv.extend(self.schema.checks(f, x.path(payload, [key]), schema.Label.titled(f.label), (key,)))
        self.helpers.used.add("messages")
        body = E("messages([\n" + ",\n".join("  " + c.text for c in ajv) + "\n])")
        params = ["payload"] + ["raw"] * bool(deps) + ["sync_mode"] * uses_sync
        fname, n = f"{_snake(action.name)}_errors", 1
        taken = set(cat.functions()) | {f for f, _ in self.schema.functions.items()} | set(self.helpers.generated)
        while fname in taken or fname in {v[0] for v in self.errors_functions.values()}:
            n += 1
            fname = f"{_snake(action.name)}_errors_{n}"
        self.errors_functions[action.name] = (fname, params, body)
        return fname, bool(deps), uses_sync

    def _condition(self, required: dict, deps: set[str]) -> E:
        """A conditional requirement's `if`, in a validation function: the fields it depends on are read from
        `$raw`, the sync mode from `$sync_mode`."""
        conditions = required.get("conditions") or []
        multiple = len(conditions) > 1
        tests = []
        for c in conditions:
            key, op, value = c["fieldKey"], c["operator"], c.get("value")
            if key == SYNC_MODE_KEY:
                dep: E = x.var("sync_mode")
            elif key.split(".")[0] in deps:
                dep = x.path(x.var("raw"), key.split("."))
            else:
                dep = x.MISSING
            exists = x.FALSE if dep is x.MISSING else x.call("exists", dep)
            if value is None:
                if op == "is":
                    # a single condition tests `type: null`, which AJV coerces: 0 and false count as null
                    t = x.not_(exists) if multiple else x.or_(
                        x.not_(exists), x.eq(dep, x.NULL), x.eq(dep, x.number(0)), x.eq(dep, x.FALSE))
                    if dep is x.MISSING:
                        t = x.TRUE
                else:
                    t = exists if multiple else x.and_(exists, x.ne(dep, x.NULL))
                    if dep is x.MISSING:
                        t = x.FALSE
            elif dep is x.MISSING:
                t = x.FALSE
            elif op == "is":
                t = x.eq(dep, x.literal(value))
            else:
                t = x.and_(exists, x.ne(dep, x.literal(value)))
            tests.append(t)
        if not tests:
            return x.FALSE
        if any(t is x.FALSE for t in tests) and required.get("match", "all") != "any":
            return x.FALSE
        tests = [t for t in tests if t is not x.FALSE] if required.get("match") == "any" else tests
        if not tests:
            return x.FALSE
        if all(t is x.TRUE for t in tests) or (required.get("match") == "any" and any(t is x.TRUE for t in tests)):
            return x.TRUE
        tests = [t for t in tests if t is not x.TRUE]
        return x.or_(*tests) if required.get("match") == "any" else x.and_(*tests)

    def _message(self, text: str, sub: Subscription, name: str) -> E:
        """A check's message: text, where `{expression}` is interpolated."""
        if "{" not in text:
            return x.string(text)
        body = text.replace("\\", "\\\\").replace('"', '\\"')
        return E('"' + self._rename(body, sub, name) + '"')

    def _rename(self, text: str, sub: Subscription, name: str) -> str:
        action = sub.action

        def repl(m: re.Match) -> str:
            v = m.group(1)
            if v == "payload":
                return "$" + name
            if v == "sync_mode" or v in action.values:
                return f"${name}_{v}"
            if v in action.lets:
                return f"${name}_{v}" if self._per_subscription(action, v) else "$" + self._shared_let(action, v)
            return m.group(0)

        return _VAR.sub(repl, text)

    def _per_subscription(self, action: Action, let: str) -> bool:
        body = action.lets[let]
        names = set(_VAR.findall(body))
        return bool(names & ({"payload", "sync_mode"} | set(action.values)))

    def _shared_let(self, action: Action, let: str) -> str:
        body = action.lets[let]
        name, n = let, 1
        while name in self.shared_lets and self.shared_lets[name] != body:
            n += 1
            name = f"{let}_{n}"
        self.shared_lets[name] = body
        return name

    def _templates(self, sub: Subscription, name: str, sync_mode: Any,
                   values: dict[str, Any]) -> tuple[list[tuple[str, str]], str]:
        action = sub.action
        lets: list[tuple[str, str]] = []
        if action.sync_mode is not None:
            lets.append((f"{name}_sync_mode", x.literal(sync_mode).text if sync_mode is not x.MISSING
                         else "missing"))
        for vname, value in values.items():
            lets.append((f"{name}_{vname}", x.literal(value).text))
        for let in action.lets:
            if self._per_subscription(action, let):
                lets.append((f"{name}_{let}", self._rename(action.lets[let], sub, name)))
        return lets, self._rename(action.send_text, sub, name)


#: how deep a field's mapping may nest (objects, lists, directives): half of what a mapping's expressions
#: may, as a directive can become two levels of expression
MAX_DEPTH = limits.MAX_DEPTH // 2


def _depth(value: Any) -> int:
    """How many levels of objects and lists a JSON value nests (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _dependencies(action: Action) -> set[str]:
    """The fields the action's conditional requirements depend on (Segment decides them before coercing)."""
    return {c["fieldKey"].split(".")[0] for f in action.fields.values() if isinstance(f.required, dict)
            for c in f.required.get("conditions") or ()} - {SYNC_MODE_KEY}


def _snake(name: str) -> str:
    """An action's name in snake case: trackEvent2 -> track_event2."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _expression(text: str) -> E:
    """Catalog text as an expression, with how tightly it binds (parentheses only where needed)."""
    from ...diagnostics import DiagnosticBag
    from ...source import SourceFile, Span
    from ...syntax import ast
    from ...syntax.expressions import parse_expression

    text = " ".join(text.split())
    source = SourceFile("<catalog>", text)
    node = parse_expression(text, lambda a, b: Span(source, a, b), DiagnosticBag())
    if isinstance(node, (ast.Conditional, ast.Guard)) or node is None:
        prec = x.COND
    elif isinstance(node, ast.Coalesce):
        prec = x.ELSE
    elif isinstance(node, ast.Unary) and node.op == "not":
        prec = x.NOT
    elif isinstance(node, ast.Binary):
        prec = {"or": x.OR, "and": x.AND, "without": x.WITHOUT, "+": x.SUM, "-": x.SUM, "*": x.PRODUCT,
                "/": x.PRODUCT}.get(node.op, x.CMP)
    else:
        prec = x.ATOM
    return E(text, prec)


# ---------------------------------------------------------------------------- the mapping file


def function_closure(used: set[str]) -> list[str]:
    """The library functions used, with the ones they call, in the library's order."""
    library = cat.functions()
    need = set(used) & set(library)
    changed = True
    while changed:
        changed = False
        for fn in list(need):
            for other in library:
                if other not in need and re.search(rf"\b{other}\(", library[fn].body):
                    need.add(other)
                    changed = True
    return [fn for fn in library if fn in need]


def generate(data: Any, *, source: str = "the export", name: str | None = None) -> str:
    """The mapping (YAML text) for an export (parsed JSON)."""
    dest, settings, subs = read_export(data)
    imp = Importer(dest, settings, subs, source)
    generated: list[Generated] = []
    problems: list[str] = []
    for sub in subs:
        if not sub.enabled:
            continue
        try:
            generated.append(imp.subscription(sub))
        except ImportFailed as e:
            problems.extend(e.problems)
    if problems:
        raise ImportFailed(problems)
    return _document(imp, dest, settings, subs, generated, source, name or DEFAULT_NAMES[dest.name])


def _document(imp: Importer, dest: Destination, settings: dict, subs: list[Subscription],
              generated: list[Generated], source: str, name: str) -> str:
    enabled = [s for s in subs if s.enabled]
    out: list[str] = []
    out += y.comment(f'Imported by `mapspec import segment-actions` from {source}: Segment\'s "{dest.title}" '
                     f"destination, {len(subs)} subscription{'s' * (len(subs) != 1)}"
                     + (f" ({len(subs) - len(enabled)} disabled, left out)" if len(enabled) != len(subs) else "")
                     + ".", 0)
    out += y.comment("Each subscription is a rule that rejects the events whose payload Segment would refuse "
                     "(with Segment's message), and a rule that sends what the action sends. With `match: all`, "
                     "an event that several subscriptions take causes the requests of each, in this order.", 0)
    out.append("")
    out.append(f"name: {y.key(name)}")
    out += y.entry("description", f"Segment's {dest.title} destination, as its subscriptions set it up "
                                  f"({', '.join(s.name for s in enabled) or 'none enabled'}).", 0)
    out.append(f"target: {dest.target}")
    out.append(f"base_url: {dest.base_url}")
    out.append("match: all")
    out.append("")
    out += _settings(dest, settings)
    head, out = out, []
    out.append("")
    out.append("let:")
    for lname, body in imp.shared_lets.items():
        out += y.entry(lname, body, 2)
    for g in generated:
        out.append("")
        out += y.comment(f'---- "{g.sub.name}": {g.sub.action.title} ({g.sub.action.name})', 2)
        out += y.comment("the payload: each field as mapped, then cleaned and coerced as Segment validates it", 2)
        for c in g.comments:
            out += y.comment(c, 2)
        if g.payload:
            out.append(f"  {g.name}:")
            for k, v in g.payload:
                out += y.entry(k, v.text, 4)
        else:
            out.append(f"  {g.name}: " + y.scalar("{}", 4, len(g.name) + 4)[0])
        for lname, body in g.lets:
            out += y.entry(lname, body, 2)
        if g.invalid is not None:
            out += y.comment("what Segment refuses the payload with; missing when it is valid", 2)
            out += y.entry(f"{g.name}_invalid", g.invalid.text, 2)
    out.append("")
    out.append("rules:")
    by_index = {g.sub.index: g for g in generated}
    rule_names: set[str] = set()
    for sub in subs:
        if not sub.enabled:
            out += y.comment(f'---- subscription "{sub.name}" ({sub.action.name}) is disabled in Segment: '
                             "left out", 2)
            continue
        g = by_index[sub.index]
        trig = sub.trigger.strip() or "(every event)"
        out += y.comment(f'---- subscription "{sub.name}": {sub.action.title} ({sub.action.name}), '
                         f"trigger: {trig}", 2)
        rule_name, n = sub.name, 1
        while rule_name in rule_names:  # two subscriptions of one name: their rules are told apart
            n += 1
            rule_name = f"{sub.name} ({n})"
        rule_names.add(rule_name)
        if g.invalid is not None:
            invalid = E(f"${g.name}_invalid")
            out.append(f"  - name: {y.scalar(rule_name + ': invalid payload', 6, 10)[0]}")
            out += y.entry("when", x.and_(g.trigger, x.call("exists", invalid)).text, 4)
            out += y.entry("reject", invalid.text, 4)
            out.append(f"  - name: {y.scalar(rule_name, 6, 10)[0]}")
            out += y.entry("when", x.and_(g.trigger, x.not_(x.call("exists", invalid))).text, 4)
        else:
            out.append(f"  - name: {y.scalar(rule_name, 6, 10)[0]}")
            if g.trigger is not x.TRUE:
                out += y.entry("when", g.trigger.text, 4)
        out.append("    send:")
        out += ["      " + line if line else "" for line in g.send_text.splitlines()]
    functions = imp.function_lines("\n".join(out))
    if functions:
        # last: what a reader needs only when a payload or a rule calls it
        out += ["", *y.comment("The functions the payloads and rules call: Segment's cleaning, coercion and validation "
                               "of a payload, and what the actions compute.", 0), "functions:", *functions]
    return "\n".join(head + out).rstrip() + "\n"


def _settings(dest: Destination, given: dict) -> list[str]:
    out = ["settings:"]
    secrets_given = []
    for sname, spec in dest.settings.items():
        out.append(f"  {sname}:")
        out.append(f"    type: {spec.get('type', 'string')}")
        default = spec.get("default")
        if sname in given and not spec.get("secret"):
            default = given[sname]
        if default is not None:
            out.append(f"    default: {y.json_flow(default)}")
        if spec.get("secret") and sname in given:
            secrets_given.append(sname)
        if spec.get("required") and default is None:
            out.append("    required: true")
        if spec.get("secret") and not spec.get("required"):
            out.append("    ignored: true")
        desc = spec.get("description", "")
        out += y.entry("description", " ".join(desc.split()), 4)
    unknown = [k for k in given if k not in dest.settings]
    if secrets_given:
        out += y.comment(f"{', '.join(secrets_given)} {'is' if len(secrets_given) == 1 else 'are'} in the export "
                         "and not written here: secrets stay out of mapping files", 2)
    if unknown:
        out += y.comment(f"not settings of {dest.title}, left out: {', '.join(unknown)}", 2)
    return out


def default_export(destination: str) -> dict:
    """The setup a new destination starts with in Segment: one subscription per automatic preset, its mapping
    the action's defaults with the preset's fields laid over them, in the action's default sync mode."""
    dest = cat.destination(destination)
    subs = []
    for preset in dest.presets:
        if not preset.get("automatic"):
            continue
        action = dest.actions[preset["action"]]
        mapping = dict(preset.get("mapping") or {})
        if action.sync_mode is not None:
            mapping[SYNC_MODE_KEY] = action.sync_mode["default"]
        subs.append({"name": preset["name"], "action": action.name, "trigger": preset["trigger"],
                     "mapping": mapping, "defaults": True, "enabled": True})
    settings = {k: v["default"] for k, v in dest.settings.items() if "default" in v and not v.get("secret")}
    return {"destination": dest.name, "settings": settings, "subscriptions": subs}


def import_file(path: str | Path, *, name: str | None = None) -> str:
    """The mapping for an export file; ImportFailed when it cannot be read or imported."""
    try:
        text = limits.read_bytes(path).decode("utf-8")  # at most MAX_FILE_BYTES: /dev/zero took all memory
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ImportFailed([f"cannot read {path}: {reason}"]) from None
    try:
        data = jsonio.loads(text)  # what JSON cannot carry exactly (NaN, a lone surrogate, too deep) is refused
    except jsonio.BadJSON as e:
        raise ImportFailed([f"{path} is not JSON: {e}"]) from None
    return generate(data, source=Path(path).name, name=name)
