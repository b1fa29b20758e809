"""Targets: what a destination's API accepts, described as data that the checker, the delivery runtime, the
emulator and `mapspec schema` all read. mapspec knows no destination by name: a mapping says `target: braze`
(a description shipped in this folder, `braze.yaml`) or `target: ./my-api.yaml` (a file beside the mapping).

A target description is a YAML file::

    name: braze
    title: Braze                       # what messages call the service (default: the name)
    description: ...
    max_body_bytes: 4194304            # larger bodies are split before sending (the API answers 413)
    batch_headers: {X-Batch: "true"}   # sent with a request that carries several objects
    credentials:                       # how requests authenticate; keys come from the environment or a file
      rest: {env: BRAZE_REST_API_KEY, header: Authorization, format: "Bearer {key}"}
      partner: {env: BRAZE_PARTNER_API_KEY, body_field: partner_api_key, optional: true}
    rate_limits:                       # buckets, shared by the endpoints that name them
      users_track: {requests: 3000, seconds: 3}
    types:                             # named shapes
      user_alias: {fields: {alias_name: string, alias_label: string}, required: [alias_name, alias_label]}
    endpoints:
      POST /users/track:               # METHOD and path; {name} is a path parameter
        doc: ...
        credentials: rest
        rate: users_track
        body: <shape>
        batch: <batching>
        reply: {status: 201, counts: "{array}_processed"}

A shape is a type expression or a mapping. Type expressions: `string`, `integer`, `number`, `boolean`,
`null`, `object` (any fields), `list` (any items), `any`, a named type, `X[]` (a list of X), and unions
`string | null`. A mapping may say: `type` (a type expression, whose named type it extends), `doc`,
`enum`, `format` (time, date, currency: checked by the emulator), `pattern`, `max_length`, `minimum`,
`maximum`, `secret` (never in what `run` writes: its messages, logs and dead letters; `translate`, `explain` and
`run --dry-run` show requests as the mapping makes them); for objects `fields`, `extra` (the shape of any other key;
none accepted when absent), `keys` (a shape every key's text must fit), `required`, `one_of` (at least one of
each group), `exclusive` (at most one of each group; a field given as null or false is not given),
`exactly_one_of`, `reserved_keys`, `messages` (the API's error texts: `one_of`, `required`, `invalid`, with
`{field}`); for lists `items` and `max_items`.

Batching says how the bodies of several events merge into one request (the `run` command batches; `translate`
shows each event's own requests). Bodies merge when all their other fields are equal:

    arrays: [attributes, events]        # arrays whose elements concatenate; each element is one object
    per_array: 75                       # at most this many elements per array and request
    total: 50                           # at most this many objects per request in all
    one_array: true                     # a request carries elements of one array only
    groups:                             # arrays of group objects: groups with equal `key` fields merge,
      cohort_changes:                   #   their `members` lists concatenate (each member is one object)
        key: [should_remove]
        members: [user_ids, device_ids]
        latest_wins: true               #   a member several times in one batch: only its latest (by request time)
    errors: indexed                     # refusals name objects by input_array and index (default: the request)
    identity: {attributes: [external_id]}  # which fields identify an element's user (--skip-unchanged)
    into: {endpoint: "PUT /items/", item_field: id, param: item_id}
                                        # single-item requests merge into requests to another endpoint, the
                                        # path parameter moving into each item
    unique: {items: id}                 # no two elements of the array with this field equal in one request:
                                        #   the second starts the next request (in order, nothing dropped)

Errors in a description are diagnostics (E304) with the description's file, line and column.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..diagnostics import Diagnostic
from ..limits import read_bytes
from ..source import SourceFile, Span

ALL_KINDS = frozenset({"null", "bool", "int", "float", "str", "list", "object"})
TYPE_KINDS: dict[str, frozenset[str]] = {
    "string": frozenset({"str"}), "integer": frozenset({"int"}), "number": frozenset({"int", "float"}),
    "boolean": frozenset({"bool"}), "null": frozenset({"null"}), "object": frozenset({"object"}),
    "list": frozenset({"list"}), "any": ALL_KINDS,
}
FORMATS = ("time", "date", "currency", "email", "uri")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: an HTTP header's name (RFC 9110's token)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, eq=False)
class Shape:
    """What a value must be. An object shape has `fields` (and maybe `extra`), a list shape `items`."""

    kinds: frozenset[str]
    name: str = ""  # how messages call it: "events object"
    doc: str = ""
    enum: tuple[Any, ...] | None = None
    format: str | None = None
    pattern: str | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    fields: Mapping[str, Shape] = field(default_factory=dict)
    extra: Shape | None = None  # the shape of keys not in `fields`; None: no other key is accepted
    keys: Shape | None = None  # what every key's text must be
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    exclusive: tuple[tuple[str, ...], ...] = ()
    reserved_keys: frozenset[str] = frozenset()
    messages: Mapping[str, str] = field(default_factory=dict)
    items: Shape | None = None
    max_items: int | None = None

    @property
    def is_object(self) -> bool:
        return "object" in self.kinds and (bool(self.fields) or self.extra is not None)

    @property
    def is_list(self) -> bool:
        return "list" in self.kinds and self.items is not None

    def field_shape(self, key: str) -> Shape | None:
        """The shape of one key of an object: its field's, or `extra`'s; None when the key is not accepted."""
        return self.fields.get(key, self.extra)


ANY = Shape(ALL_KINDS, doc="any JSON value")


@dataclass(frozen=True)
class Credential:
    name: str
    description: str = ""
    env: str | None = None
    header: str | None = None
    format: str = "{key}"
    body_field: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class Rate:
    name: str
    requests: int
    seconds: float


@dataclass(frozen=True)
class Group:
    key: tuple[str, ...]
    members: tuple[str, ...]
    latest_wins: bool = False


@dataclass(frozen=True)
class Into:
    endpoint: str
    item_field: str
    param: str


@dataclass(frozen=True, eq=False)
class Batching:
    arrays: tuple[str, ...] = ()
    groups: Mapping[str, Group] = field(default_factory=dict)
    per_array: int | None = None
    total: int | None = None
    one_array: bool = False
    errors: str = "request"  # "indexed": refusals name objects by input_array and index
    identity: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    into: Into | None = None
    unique: Mapping[str, str] = field(default_factory=dict)  # array -> the field no two of its elements share

    @property
    def merges(self) -> bool:
        """Whether bodies of several events share requests."""
        return bool(self.arrays or self.groups)


@dataclass(frozen=True)
class Reply:
    """What the API answers (for the emulator): the status of a success, which counts it gives, its texts."""

    status: int = 200
    counts: str | None = None  # "{array}_processed", or a fixed key such as "deleted"
    #: the API's texts: `nothing_valid` (no object of the request is valid), `too_many` (over a limit)
    messages: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Endpoint:
    method: str
    path: str  # with {params}
    body: Shape
    doc: str = ""
    credentials: str | None = None
    rate: Rate | None = None
    batch: Batching = field(default_factory=Batching)
    reply: Reply = field(default_factory=Reply)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    def url_path(self, values: Mapping[str, str]) -> str:
        """The path with its parameters filled in (already URL-encoded)."""
        return _PARAM.sub(lambda m: values[m.group(1)], self.path)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        """Matches a URL path that ends with this endpoint's path (a trailing slash or not); groups are the
        parameters."""
        parts = _PARAM.split(self.path.rstrip("/"))
        rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        return re.compile(f"(?:.*){rx}/?$")


@dataclass(frozen=True, eq=False)
class Target:
    name: str
    description: str
    path: str  # the description file
    endpoints: Mapping[str, Endpoint]  # by "METHOD /path"
    credentials: Mapping[str, Credential] = field(default_factory=dict)
    rate_limits: Mapping[str, Rate] = field(default_factory=dict)
    types: Mapping[str, Shape] = field(default_factory=dict)
    max_body_bytes: int | None = None
    #: headers sent with a request that carries more than one object
    batch_headers: Mapping[str, str] = field(default_factory=dict)
    #: what messages call the service ("Braze answered 401"); the name when the description gives none
    title: str = ""

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)

    def find(self, text: str) -> tuple[Endpoint | None, list[str]]:
        """The endpoint a mapping names (`POST /users/track`, or `/users/track` when one method has the path),
        or None and why not."""
        method, _, path = text.strip().partition(" ")
        if not path:
            method, path = "", method
        path = path.strip()
        if method:
            found = self.endpoints.get(f"{method.upper()} {path}")
            return found, [] if found else self._unknown(f"{method.upper()} {path}")
        found = [e for e in self.endpoints.values() if e.path == path]
        if len(found) == 1:
            return found[0], []
        if found:
            return None, [f"`{path}` takes {', '.join(e.method for e in found)}: write the method first, "
                          f"such as `{found[0].key}`"]
        return None, self._unknown(path)

    def ambiguous(self, text: str) -> bool:
        """Whether `text` is a path that several methods share (so the mapping must name the method)."""
        return " " not in text.strip() and sum(e.path == text.strip() for e in self.endpoints.values()) > 1

    def _unknown(self, text: str) -> list[str]:
        from ..diagnostics import did_you_mean

        keys = list(self.endpoints)
        paths = [e.path for e in self.endpoints.values()]
        hint = did_you_mean(text, keys if " " in text else paths)
        return hint or [f"endpoints: {', '.join(keys)}"]

    def endpoint_for(self, method: str, url_path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint a request goes to, from its method and URL path (the longest template that matches)."""
        best = None
        for e in self.endpoints.values():
            if e.method != method.upper():
                continue
            m = e.pattern.match(url_path)
            if m and (best is None or len(e.path) > len(best[0].path)):
                best = (e, m.groupdict())
        return best


def endpoint_table(target: Target) -> list[str]:
    """A Markdown table of a target's endpoints: what each is for, how `run` merges bodies, its rate limit."""
    lines = ["| endpoint | what it does | merged by `mapspec run` | rate limit |", "| --- | --- | --- | --- |"]
    for e in target.endpoints.values():
        b = e.batch
        merged = []
        if b.into is not None:
            merged.append(f"into `{b.into.endpoint}`")
        if b.arrays:
            each = f" ({b.per_array} each)" if b.per_array else ""
            merged.append(", ".join(f"`{a}`" for a in b.arrays) + each)
        for name, g in b.groups.items():
            merged.append(f"`{name}` by {', '.join(g.key) or 'nothing'}" + (", latest wins" if g.latest_wins else ""))
        if b.total:
            merged.append(f"{b.total} in all")
        if b.one_array:
            merged.append("one kind per request")
        for name, key in b.unique.items():
            merged.append(f"one `{name}` per {key}")
        rate = f"{e.rate.requests:,} per {e.rate.seconds:g} s" if e.rate else ""
        lines.append(f"| `{e.key}` | {e.doc} | {'; '.join(merged) or 'one request per event'} | {rate} |")
    return lines


# ---------------------------------------------------------------- reading a description


class TargetError(Exception):
    def __init__(self, message: str, node: yaml.Node | None):
        super().__init__(message)
        self.message, self.node = message, node


class _Reader:
    def __init__(self, source: SourceFile, root: yaml.Node):
        self.source = source
        self.root = root
        self.type_nodes: dict[str, yaml.Node] = {}
        self.types: dict[str, Shape] = {}
        self.resolving: set[str] = set()

    # ---- plain YAML
    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise TargetError(f"{what} must be a mapping", node)
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise TargetError(f"a key in {what} must be text", k)
            if k.value in out:
                raise TargetError(f"`{k.value}` appears twice in {what}", k)
            if allowed is not None and k.value not in allowed:
                raise TargetError(f"unknown key `{k.value}` in {what} (allowed: {', '.join(allowed)})", k)
            out[k.value] = v
        return out

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise TargetError(f"{what} must be a single value", node)
        return yaml.constructor.SafeConstructor().construct_object(node)

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node, what)
        if not isinstance(value, str):
            raise TargetError(f"{what} must be text", node)
        return value

    def number(self, node: yaml.Node, what: str, integer: bool = False, least: int = 0) -> Any:
        value = self.scalar(node, what)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if not ok or isinstance(value, bool) or value < least:
            raise TargetError(f"{what} must be a {'whole ' if integer else ''}number, {least} or more", node)
        return value

    def header_name(self, node: yaml.Node, what: str) -> str:
        value = self.text(node, what)
        if not _HEADER_NAME.fullmatch(value):
            raise TargetError(f"{what} must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~, no "
                              f"spaces), not {value!r}", node)
        return value

    def header_value(self, node: yaml.Node, what: str) -> str:
        value = self.text(node, what)
        bad = next((ch for ch in value if not (" " <= ch <= "~" or ch == "\t")), None)
        if bad is not None:
            raise TargetError(f"{what} must be text an HTTP header can carry (printable ASCII, no line "
                              f"breaks), not {value!r}", node)
        return value

    def headers(self, node: yaml.Node) -> dict[str, str]:
        self.mapping(node, "`batch_headers`")  # a mapping, each name once
        out = {}
        for knode, vnode in node.value:
            out[self.header_name(knode, "a header's name")] = self.header_value(vnode, "a header's value")
        return out

    def flag(self, node: yaml.Node, what: str) -> bool:
        value = self.scalar(node, what)
        if not isinstance(value, bool):
            raise TargetError(f"{what} must be true or false", node)
        return value

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise TargetError(f"{what} must be a list of names", node)
        return tuple(self.text(n, what) for n in node.value)

    def groups_of_names(self, node: yaml.Node, what: str) -> tuple[tuple[str, ...], ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise TargetError(f"{what} must be a list of lists of field names", node)
        return tuple(self.names(n, what) for n in node.value)

    def plain_list(self, node: yaml.Node, what: str) -> tuple[Any, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise TargetError(f"{what} must be a list", node)
        return tuple(self.scalar(n, what) for n in node.value)

    # ---- shapes
    def named(self, name: str, node: yaml.Node) -> Shape:
        if name in TYPE_KINDS:
            kinds = TYPE_KINDS[name]
            if name == "object":
                return Shape(kinds, extra=ANY, doc="an object")
            if name == "list":
                return Shape(kinds, items=ANY, doc="a list")
            return Shape(kinds)
        if name in self.types:
            return self.types[name]
        if name not in self.type_nodes:
            raise TargetError(f"unknown type `{name}`", node)
        if name in self.resolving:
            raise TargetError(f"type `{name}` is defined in terms of itself", node)
        self.resolving.add(name)
        shape = self.shape(self.type_nodes[name], name.replace("_", " "))
        self.resolving.discard(name)
        self.types[name] = shape
        return shape

    def type_expression(self, text: str, node: yaml.Node) -> Shape:
        parts = [p.strip() for p in text.split("|")]
        shapes = []
        for p in parts:
            if not p:
                raise TargetError(f"`{text}` is not a type", node)
            if p.endswith("[]"):
                shapes.append(Shape(frozenset({"list"}), items=self.type_expression(p[:-2], node)))
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
                shapes.append(self.named(p, node))
            else:
                raise TargetError(f"`{p}` is not a type (a name, `X[]` or `X | Y`)", node)
        base = next((s for s in shapes if s.kinds != frozenset({"null"})), shapes[0])
        kinds = frozenset().union(*(s.kinds for s in shapes))
        return replace(base, kinds=kinds)

    SHAPE_KEYS = ("type", "doc", "enum", "format", "pattern", "max_length", "minimum", "maximum", "secret",
                  "fields", "extra", "keys", "required", "one_of", "exclusive", "exactly_one_of",
                  "reserved_keys", "messages", "items", "max_items")

    def shape(self, node: yaml.Node, name: str = "") -> Shape:
        if isinstance(node, yaml.ScalarNode):
            return self.type_expression(self.text(node, "a type"), node)
        parts = self.mapping(node, "a shape", self.SHAPE_KEYS)
        if "type" in parts:
            base = self.type_expression(self.text(parts["type"], "`type`"), parts["type"])
        elif "fields" in parts or "extra" in parts:
            base = Shape(frozenset({"object"}))
        elif "items" in parts:
            base = Shape(frozenset({"list"}))
        else:
            base = ANY
        changes: dict[str, Any] = {}
        if name:
            changes["name"] = name
        if "doc" in parts:
            changes["doc"] = " ".join(self.text(parts["doc"], "`doc`").split())
        if "enum" in parts:
            changes["enum"] = self.plain_list(parts["enum"], "`enum`")
        if "format" in parts:
            fmt = self.text(parts["format"], "`format`")
            if fmt not in FORMATS:
                raise TargetError(f"unknown format `{fmt}` (formats: {', '.join(FORMATS)})", parts["format"])
            changes["format"] = fmt
        if "pattern" in parts:
            pattern = self.text(parts["pattern"], "`pattern`")
            try:
                re.compile(pattern)
            except re.error as e:
                raise TargetError(f"invalid pattern: {e}", parts["pattern"]) from None
            changes["pattern"] = pattern
        for key in ("max_length", "max_items"):
            if key in parts:
                changes[key] = self.number(parts[key], f"`{key}`", integer=True)
        for key in ("minimum", "maximum"):
            if key in parts:
                changes[key] = self.number(parts[key], f"`{key}`")
        if "secret" in parts:
            changes["secret"] = self.flag(parts["secret"], "`secret`")
        if "fields" in parts:
            own = {k: self.shape(v, f"`{k}`") for k, v in self.mapping(parts["fields"], "`fields`").items()}
            changes["fields"] = {**base.fields, **own}
            if "extra" not in parts and base.extra is ANY and "object" in base.kinds and not base.fields:
                changes["extra"] = None  # `type: object` with fields of its own: only those fields
        if "extra" in parts:
            changes["extra"] = self.shape(parts["extra"])
        if "keys" in parts:
            changes["keys"] = self.shape(parts["keys"])
        if "items" in parts:
            changes["items"] = self.shape(parts["items"], f"{name} element" if name.startswith("`") else "")
        if "required" in parts:
            changes["required"] = base.required + self.names(parts["required"], "`required`")
        one_of, exclusive = list(base.one_of), list(base.exclusive)
        if "one_of" in parts:
            one_of += self.groups_of_names(parts["one_of"], "`one_of`")
        if "exclusive" in parts:
            exclusive += self.groups_of_names(parts["exclusive"], "`exclusive`")
        if "exactly_one_of" in parts:
            groups = self.groups_of_names(parts["exactly_one_of"], "`exactly_one_of`")
            one_of += groups
            exclusive += groups
        changes["one_of"], changes["exclusive"] = tuple(one_of), tuple(exclusive)
        if "reserved_keys" in parts:
            changes["reserved_keys"] = frozenset(self.names(parts["reserved_keys"], "`reserved_keys`"))
        if "messages" in parts:
            msgs = {k: self.text(v, "a message") for k, v in self.mapping(
                parts["messages"], "`messages`", ("one_of", "required", "invalid")).items()}
            changes["messages"] = {**base.messages, **msgs}
        shape = replace(base, **changes)
        known = set(shape.fields)
        for group in (shape.required, *shape.one_of, *shape.exclusive):
            for name_ in group:
                if name_ not in known and shape.extra is None:
                    raise TargetError(f"`{name_}` is not a field of this shape", node)
        return shape

    # ---- the rest
    def credential(self, name: str, node: yaml.Node) -> Credential:
        parts = self.mapping(node, f"credential `{name}`",
                             ("description", "env", "header", "format", "body_field", "optional"))
        values = {k: self.text(v, f"`{k}`") for k, v in parts.items() if k != "optional"}
        if "header" in parts:
            self.header_name(parts["header"], "`header`")
        if "format" in parts:
            self.header_value(parts["format"], "`format`")
        if "header" not in values and "body_field" not in values:
            raise TargetError(f"credential `{name}` needs a `header` or a `body_field`", node)
        if "{key}" not in values.get("format", "{key}"):
            raise TargetError("`format` must hold `{key}`", parts["format"])
        return Credential(name, " ".join(values.get("description", "").split()), values.get("env"),
                          values.get("header"), values.get("format", "{key}"), values.get("body_field"),
                          self.flag(parts["optional"], "`optional`") if "optional" in parts else False)

    def rate(self, name: str, node: yaml.Node) -> Rate:
        parts = self.mapping(node, f"rate limit `{name}`", ("requests", "seconds"))
        if set(parts) != {"requests", "seconds"}:
            raise TargetError(f"rate limit `{name}` needs `requests` and `seconds`", node)
        requests = self.number(parts["requests"], "`requests`", integer=True)
        seconds = self.number(parts["seconds"], "`seconds`")
        if requests < 1 or seconds <= 0:
            raise TargetError(f"rate limit `{name}` must allow a request in a positive time", node)
        return Rate(name, requests, float(seconds))

    def batching(self, node: yaml.Node, body: Shape, endpoints: dict[str, yaml.Node]) -> Batching:
        parts = self.mapping(node, "`batch`", ("arrays", "groups", "per_array", "total", "one_array", "errors",
                                               "identity", "into", "unique"))
        arrays = self.names(parts["arrays"], "`arrays`") if "arrays" in parts else ()
        for name, nnode in zip(arrays, parts["arrays"].value if arrays else (), strict=True):
            if not (body.field_shape(name) and body.field_shape(name).is_list):  # type: ignore[union-attr]
                raise TargetError(f"`{name}` is not a list field of the body", nnode)
        groups: dict[str, Group] = {}
        for name, gnode in (self.mapping(parts["groups"], "`groups`").items() if "groups" in parts else ()):
            g = self.mapping(gnode, f"group `{name}`", ("key", "members", "latest_wins"))
            item = body.field_shape(name)
            if not (item and item.is_list and item.items and item.items.is_object):
                raise TargetError(f"`{name}` is not a list of objects in the body", gnode)
            members = self.names(g["members"], "`members`") if "members" in g else ()
            for m in members:
                ms = item.items.field_shape(m)
                if not (ms and ms.is_list):
                    raise TargetError(f"`{m}` is not a list field of `{name}`'s objects", g["members"])
            groups[name] = Group(self.names(g["key"], "`key`") if "key" in g else (), members,
                                 self.flag(g["latest_wins"], "`latest_wins`") if "latest_wins" in g else False)
        errors = self.text(parts["errors"], "`errors`") if "errors" in parts else "request"
        if errors not in ("request", "indexed"):
            raise TargetError("`errors` is `indexed` or `request`", parts["errors"])
        identity = {k: self.names(v, "an identity") for k, v in
                    (self.mapping(parts["identity"], "`identity`").items() if "identity" in parts else ())}
        into = None
        if "into" in parts:
            i = self.mapping(parts["into"], "`into`", ("endpoint", "item_field", "param"))
            if set(i) != {"endpoint", "item_field", "param"}:
                raise TargetError("`into` needs `endpoint`, `item_field` and `param`", parts["into"])
            into = Into(self.text(i["endpoint"], "`endpoint`"), self.text(i["item_field"], "`item_field`"),
                        self.text(i["param"], "`param`"))
        unique: dict[str, str] = {}
        for name, unode in (self.mapping(parts["unique"], "`unique`").items() if "unique" in parts else ()):
            if name not in arrays:
                raise TargetError(f"`{name}` is not one of the batch's `arrays`", parts["unique"])
            unique[name] = self.text(unode, "a field name")
        return Batching(
            arrays, groups,
            self.number(parts["per_array"], "`per_array`", integer=True, least=1) if "per_array" in parts else None,
            self.number(parts["total"], "`total`", integer=True, least=1) if "total" in parts else None,
            self.flag(parts["one_array"], "`one_array`") if "one_array" in parts else False,
            errors, identity, into, unique)

    def endpoint(self, key: str, knode: yaml.Node, node: yaml.Node, credentials, rates,
                 endpoints: dict[str, yaml.Node]) -> Endpoint:
        method, _, path = key.partition(" ")
        if method not in METHODS or not path.startswith("/") or " " in path:
            raise TargetError(f"an endpoint is `METHOD /path` (methods: {', '.join(METHODS)}), not `{key}`", knode)
        params = _PARAM.findall(path)
        twice = sorted({p for p in params if params.count(p) > 1})
        if twice:
            raise TargetError(f"the path parameter {{{twice[0]}}} is in `{key}` twice: each parameter names one "
                              "part of the path", knode)
        parts = self.mapping(node, f"endpoint `{key}`", ("doc", "credentials", "rate", "body", "batch", "reply"))
        body = self.shape(parts["body"], f"{path} body") if "body" in parts else Shape(frozenset({"object"}))
        if not body.is_object and "body" in parts:
            raise TargetError("a body must be an object shape", parts["body"])
        cred = None
        if "credentials" in parts:
            cred = self.text(parts["credentials"], "`credentials`")
            if cred not in credentials:
                raise TargetError(f"unknown credentials `{cred}`", parts["credentials"])
        rate = None
        if "rate" in parts:
            rname = self.text(parts["rate"], "`rate`")
            if rname not in rates:
                raise TargetError(f"unknown rate limit `{rname}`", parts["rate"])
            rate = rates[rname]
        batch = self.batching(parts["batch"], body, endpoints) if "batch" in parts else Batching()
        reply = Reply()
        if "reply" in parts:
            r = self.mapping(parts["reply"], "`reply`", ("status", "counts", "messages"))
            reply = Reply(self.number(r["status"], "`status`", integer=True) if "status" in r else 200,
                          self.text(r["counts"], "`counts`") if "counts" in r else None,
                          {k: self.text(v, "a message") for k, v in self.mapping(
                              r["messages"], "`messages`", ("nothing_valid", "too_many")).items()}
                          if "messages" in r else {})
        return Endpoint(method, path, body, " ".join(self.text(parts["doc"], "`doc`").split())
                        if "doc" in parts else "", cred, rate, batch, reply)

    def target(self) -> Target:
        top = self.mapping(self.root, "a target description",
                           ("name", "title", "description", "max_body_bytes", "batch_headers", "credentials", "rate_limits",
                            "types", "endpoints"))
        if "name" not in top or "endpoints" not in top:
            raise TargetError("a target description needs `name` and `endpoints`", self.root)
        credentials = {k: self.credential(k, v) for k, v in
                       (self.mapping(top["credentials"], "`credentials`").items() if "credentials" in top else ())}
        rates = {k: self.rate(k, v) for k, v in
                 (self.mapping(top["rate_limits"], "`rate_limits`").items() if "rate_limits" in top else ())}
        self.type_nodes = self.mapping(top["types"], "`types`") if "types" in top else {}
        for name, tnode in self.type_nodes.items():
            if name in TYPE_KINDS:
                raise TargetError(f"`{name}` is a built-in type", tnode)
            self.named(name, tnode)
        enodes = self.mapping(top["endpoints"], "`endpoints`")
        keys = {k.value: k for k, _ in top["endpoints"].value}
        endpoints = {key: self.endpoint(key, keys[key], node, credentials, rates, enodes)
                     for key, node in enodes.items()}
        for e in endpoints.values():
            into = e.batch.into
            if into is not None:
                method, _, path = into.endpoint.partition(" ")
                if method not in METHODS or not path.startswith("/"):
                    raise TargetError(f"`into` names `METHOD /path`, not `{into.endpoint}`", enodes[e.key])
                if into.param not in e.params or set(_PARAM.findall(path)) != set(e.params) - {into.param}:
                    raise TargetError(f"`into` must move one parameter of {e.key} into the items and keep the "
                                      "others", enodes[e.key])
        return Target(self.text(top["name"], "`name`"),
                      " ".join(self.text(top["description"], "`description`").split()) if "description" in top
                      else "", self.source.path, endpoints, credentials, rates, dict(self.types),
                      self.number(top["max_body_bytes"], "`max_body_bytes`", integer=True, least=1)
                      if "max_body_bytes" in top else None,
                      self.headers(top["batch_headers"]) if "batch_headers" in top else {},
                      self.text(top["title"], "`title`") if "title" in top else "")


#: a top-level `name:` or `endpoints:` line: a file without one is not shown in diagnostics, in case it is no
#: description at all but a file of secrets a mapping named
_LOOKS_LIKE_ONE = re.compile(r"^[\"']?(name|endpoints)[\"']?[ \t]*:", re.MULTILINE)


def read_target(source: SourceFile) -> tuple[Target | None, list[Diagnostic]]:
    """A target description from its text, or the diagnostics that say what is wrong with it."""
    try:
        root = yaml.compose(source.text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        offset = mark.index if mark is not None else 0
        message = f"the target description is not valid YAML: {e.problem or e.context}"
        if not _LOOKS_LIKE_ONE.search(source.text):  # not one at all: its lines are not shown (a key file?)
            line = source.text.count("\n", 0, offset) + 1
            return None, [Diagnostic("E304", f"{message} (line {line}); it has no `name:` or `endpoints:` at its "
                                             "top: is it a target description?", path=source.path)]
        return None, [Diagnostic("E304", message, Span(source, offset, offset + 1))]
    except yaml.YAMLError as e:
        return None, [Diagnostic("E304", f"the target description is not valid YAML: {e}", path=source.path)]
    if root is None:
        return None, [Diagnostic("E304", "the target description is empty", path=source.path)]
    if not isinstance(root, yaml.MappingNode) or not any(
            isinstance(k, yaml.ScalarNode) and k.value in ("name", "endpoints") for k, _ in root.value):
        return None, [Diagnostic("E304", f"{source.path} is not a target description: it has no `name` or "
                                         "`endpoints` at its top", path=source.path)]
    try:
        return _Reader(source, root).target(), []
    except TargetError as e:
        span = None
        if e.node is not None:
            span = Span(source, e.node.start_mark.index, max(e.node.end_mark.index, e.node.start_mark.index + 1))
        return None, [Diagnostic("E304", f"invalid target description: {e.message}", span, path=source.path)]
    except RecursionError:
        return None, [Diagnostic("E304", "invalid target description: nested too deeply", path=source.path)]


BUNDLED = Path(__file__).resolve().parent
#: what a target description's file name ends with: a mapping's `target:` names no other kind of file (it must
#: not be able to make mapspec read, and print, a `.env` or a key file)
SUFFIXES = (".yaml", ".yml", ".json")


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def target_path(name: str, relative_to: str | None = None) -> Path | None:
    """The description file a mapping's `target:` names: a bundled name, or a path (relative to the mapping)."""
    if "/" not in name and "\\" not in name and not name.endswith(SUFFIXES):
        path = BUNDLED / f"{name}.yaml"
        try:
            return path if path.is_file() else None
        except (OSError, ValueError):  # a name too long for a file, or with a NUL: no such target
            return None
    path = Path(name)
    if not path.is_absolute() and relative_to:
        path = Path(relative_to).parent / path
    return path


@functools.lru_cache(maxsize=32)
def _load(path: str, mtime: float, label: str) -> tuple[Target | None, tuple[Diagnostic, ...]]:
    try:
        text = read_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return None, (Diagnostic("E303", f"cannot read the target description {label}: {reason}", path=label),)
    target, diags = read_target(SourceFile(label, text))
    return target, tuple(diags)


def load_target(name: str, relative_to: str | None = None) -> tuple[Target | None, list[Diagnostic]]:
    """The target a mapping names, or None with the diagnostics that say why (E303 none such, E304 invalid).
    A path must name a regular .yaml, .yml or .json file; nothing else is opened."""
    if "\0" in name:
        return None, [Diagnostic("E303", "a target's name or path cannot hold a NUL character", path=name)]
    path = target_path(name, relative_to)
    if path is None:
        from ..diagnostics import did_you_mean

        return None, [Diagnostic("E303", f"unknown target `{name}`", path=name,
                                 hints=tuple(did_you_mean(name, bundled_names())
                                             or [f"targets: {', '.join(bundled_names())}, or a path to a "
                                                 "target description (.yaml)"]))]
    label = f"{BUNDLED.name}/{path.name}" if path.parent == BUNDLED else str(path)
    if path.suffix.lower() not in SUFFIXES:
        return None, [Diagnostic("E303", f"`{name}` is not a target description: a target description is a "
                                         f"{', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]} file", path=label)]
    try:
        info = os.stat(path)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return None, [Diagnostic("E303", f"cannot read the target description {label}: {reason}", path=label)]
    if not stat.S_ISREG(info.st_mode):
        return None, [Diagnostic("E303", f"the target description {label} is not a file", path=label)]
    target, diags = _load(str(path), info.st_mtime, label)
    return target, list(diags)


def get_target(name: str, relative_to: str | None = None) -> Target | None:
    """The target of that name or path, or None when it cannot be had."""
    return load_target(name, relative_to)[0]


def bundled(name: str) -> Target:
    """A bundled description by name (for the runtime's defaults and tests)."""
    target, diags = load_target(name)
    if target is None:  # pragma: no cover - the bundled description has a test of its own
        raise RuntimeError("\n".join(d.render() for d in diags))
    return target


def __getattr__(name: str) -> Any:
    if name == "TARGET_NAMES":
        return tuple(bundled_names())
    raise AttributeError(name)
