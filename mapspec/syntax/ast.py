"""The mapping's syntax tree: small frozen dataclasses, each with the span it came from.

Expressions and output shapes are one kind of node: a YAML mapping in a mapping file becomes an
`Object`, a YAML list a `List`, a scalar an expression. Passes rewrite trees with
`dataclasses.replace`, so spans survive every rewrite.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .. import runtime as _runtime
from ..source import Span

#: the value of a path that is not there (distinct from JSON null, which is None)
MISSING: Any = _runtime.MISSING


@functools.cache
def _fields(cls: type) -> tuple[str, ...]:
    """The names of a node class's fields other than its span (dataclasses.fields is slow to call often)."""
    return tuple(f.name for f in fields(cls) if f.name != "span")


@dataclass(frozen=True)
class Node:
    span: Span | None = field(compare=False, repr=False)

    def children(self) -> Iterator[Node]:
        for name in _fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        yield item

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, parents first (without recursion, whatever the depth)."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            children = list(node.children())
            children.reverse()
            stack.extend(children)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Literal(Node):
    """A constant: string, number, boolean, null (None), or MISSING."""

    value: Any


@dataclass(frozen=True)
class Path(Node):
    """A path with constant steps from a root: the event ("") or a variable ("$product").

    Variables are `let` definitions and loop variables; `$identity` alone is `Path("$identity", ())`."""

    root: str
    steps: tuple[str | int, ...]


@dataclass(frozen=True)
class Setting(Node):
    name: str


@dataclass(frozen=True)
class Index(Node):
    """`base[key]` where the key is computed, or the base is not a path."""

    base: Node
    key: Node


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    #: the span of the function name alone, for diagnostics about the function
    name_span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "not", "-"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # "and" "or" "==" "!=" "<" "<=" ">" ">=" "in" "not in" "+" "-" "*" "/" "without"
    left: Node
    right: Node


@dataclass(frozen=True)
class Coalesce(Node):
    """`a else b else c`: the first value that is neither missing nor null."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Guard(Node):
    """`value if condition`: the value when the condition holds, otherwise missing."""

    value: Node
    condition: Node


@dataclass(frozen=True)
class Conditional(Node):
    """`then if condition else otherwise`."""

    then: Node
    condition: Node
    otherwise: Node


@dataclass(frozen=True)
class Template(Node):
    """`"Viewed {name} Page"`: literal text and interpolated expressions.

    Missing (or null) if any interpolated value is missing or null."""

    parts: tuple[str | Node, ...]

    def children(self) -> Iterator[Node]:
        for p in self.parts:
            if isinstance(p, Node):
                yield p


# ---------------------------------------------------------------- constructors (shapes)


@dataclass(frozen=True)
class Field(Node):
    """`key: value` in an object. The key is a Literal string or a Template."""

    key: Node
    value: Node


@dataclass(frozen=True)
class Spread(Node):
    """`...: expr`: every field of an object, at this position."""

    value: Node


@dataclass(frozen=True)
class Object(Node):
    """An object under construction. Fields whose value is missing are left out."""

    entries: tuple[Field | Spread, ...]


@dataclass(frozen=True)
class ForEach(Node):
    """A `for` item of a YAML list: one list element per element of `iterable`, with `$var` bound to it
    (`for: $i, $x in ...`: `$i` the index, or the key of an object). Iterates as a ListComp does."""

    var: str
    iterable: Node
    body: Node
    condition: Node | None = None
    index_var: str | None = None


@dataclass(frozen=True)
class ListComp(Node):
    """`[value for $x in iterable if condition]`; `for $i, $x in ...` binds the index (or key) too.

    A list gives its elements (one variable) or (index, element); an object its keys, or (key, value);
    anything else nothing. Values that are missing are left out."""

    value: Node
    var: str
    iterable: Node
    condition: Node | None = None
    index_var: str | None = None


@dataclass(frozen=True)
class ObjectComp(Node):
    """`{key: value for $k, $v in iterable if condition}`: entries whose key is not text or whose value
    is missing are left out; a later entry with the same key wins."""

    key: Node
    value: Node
    var: str
    iterable: Node
    condition: Node | None = None
    index_var: str | None = None


@dataclass(frozen=True)
class With(Node):
    """`body` with each name bound to its value, computed once: a function call the optimizer inlined."""

    names: tuple[str, ...]
    values: tuple[Node, ...]
    body: Node
    #: the call this came from (for printing)
    origin: Node | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class List(Node):
    """A list under construction. Elements that are missing are left out."""

    items: tuple[Node, ...]


# ---------------------------------------------------------------- the document


@dataclass(frozen=True)
class SettingDecl(Node):
    name: str
    type: str  # "string" "bool" "number" "integer" "object" "list" "any"
    default: Any  # MISSING when there is none
    description: str = ""
    required: bool = False
    #: accepted for compatibility and never read (no "never used" warning)
    ignored: bool = False


@dataclass(frozen=True)
class Request(Node):
    """One request a rule sends: an endpoint of the target (`POST /users/track`, or the path alone when one
    method has it), a body, and optionally a condition, path parameters, a once-per-key key and a time."""

    endpoint: str
    body: Node
    condition: Node | None = None
    endpoint_span: Span | None = field(default=None, compare=False, repr=False)
    #: `params:` one Field per path parameter ({catalog_name}), keys as Literal text
    params: tuple[Field, ...] = ()
    #: `once:` the request is sent at most once per value of this key by `mapspec run`
    once: Node | None = None
    #: `time:` the event's time, for endpoints whose batches keep only the latest change per identifier
    time: Node | None = None


@dataclass(frozen=True)
class Rule(Node):
    """`when` the condition holds, the rule sends its requests, rejects, or skips the event."""

    name: str
    condition: Node | None
    action: str  # "send" "reject" "skip"
    requests: tuple[Request, ...] = ()
    message: Node | None = None  # the reason, for reject and skip


@dataclass(frozen=True)
class Let(Node):
    name: str
    value: Node


@dataclass(frozen=True)
class FunctionDef(Node):
    """`name($a, $b): body` under `functions:`. The body reads only its parameters, settings, literals
    and functions."""

    name: str
    params: tuple[str, ...]
    body: Node
    name_span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Document(Node):
    name: str
    description: str
    target: str
    base_url: Node | None
    settings: tuple[SettingDecl, ...]
    lets: tuple[Let, ...]
    rules: tuple[Rule, ...]
    target_span: Span | None = field(default=None, compare=False, repr=False)
    #: "first": the first rule whose condition holds decides; "all": every rule that holds contributes
    match: str = "first"
    functions: tuple[FunctionDef, ...] = ()
    #: the event source whose fields the mapping reads (`mapspec/sources/<name>.yaml`)
    source: str = "segment"
    source_span: Span | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- rewriting


def rewrite(node: Node, fn) -> Node:
    """Rebuild a tree bottom-up: children first, then `fn(node)` on the rebuilt node."""
    changes: dict[str, Any] = {}
    for name in _fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, Node):
            new = rewrite(value, fn)
            if new is not value:
                changes[name] = new
        elif isinstance(value, tuple) and any(isinstance(v, Node) for v in value):
            new_items = tuple(rewrite(v, fn) if isinstance(v, Node) else v for v in value)
            if any(a is not b for a, b in zip(new_items, value, strict=True)):
                changes[name] = new_items
    if changes:
        node = replace(node, **changes)
    return fn(node)
