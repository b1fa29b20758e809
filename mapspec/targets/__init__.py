"""Target schemas: what a destination's API accepts, described as data for the checker.

The checker knows nothing of any destination; it walks a request body against these descriptors.
Kinds are the value kinds of `mapspec.types`: "null", "bool", "int", "float", "str", "list", "object".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Value:
    """A leaf: which kinds of value the field takes."""

    kinds: frozenset[str]
    doc: str = ""


@dataclass(frozen=True)
class ListOf:
    item: Schema
    doc: str = ""


@dataclass(frozen=True)
class ObjectOf:
    """An object with known fields. `extra` is the schema of any other key, or None when none is accepted."""

    name: str
    fields: dict[str, Schema] = field(default_factory=dict)
    extra: Schema | None = None
    reserved_keys: frozenset[str] = frozenset()
    doc: str = ""


Schema = Value | ListOf | ObjectOf


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    body: ObjectOf


@dataclass(frozen=True)
class Target:
    name: str
    endpoints: dict[str, Endpoint]
    #: facts for the delivery runtime (batch sizes and the like), opaque to the compiler
    delivery: dict[str, object] = field(default_factory=dict)


def get_target(name: str) -> Target | None:
    """The target schema of that name, or None."""
    if name == "braze":
        from . import braze

        return braze.TARGET
    return None


TARGET_NAMES = ("braze",)
