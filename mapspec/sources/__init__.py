"""Event sources as data: which fields the events a mapping reads may hold (`source:` in a mapping).

A source is a YAML file beside this module (`segment.yaml`, the default): the fields every event has,
and those of each call type. The checker reads it to warn about a path no event of the source has; the
language and the compiler know no source of their own.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Source:
    name: str
    description: str = ""
    #: field name -> its documentation, for every call type
    fields: dict[str, str] = field(default_factory=dict)
    #: call type -> field name -> its documentation
    calls: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the field whose value is the call type (a key of `calls`), when events have one
    call: str | None = None
    #: the field that identifies one event (`messageId`), and the fields that name it to people
    id: str | None = None
    label: tuple[str, ...] = ()

    def fields_of(self, call: str) -> frozenset[str]:
        """The fields an event of one call type may hold at its top level."""
        return frozenset(self.fields) | frozenset(self.calls.get(call, {}))

    @property
    def top_level(self) -> frozenset[str]:
        """Every field an event of this source may hold at its top level, whatever its type."""
        return frozenset(self.fields).union(*(set(f) for f in self.calls.values()))


def source_names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.yaml"))


@functools.cache
def get_source(name: str) -> Source | None:
    """The source of that name, or None when there is none."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name) or not (HERE / f"{name}.yaml").is_file():
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ten times faster
    data = yaml.load((HERE / f"{name}.yaml").read_text(encoding="utf-8"), Loader=loader)
    fields: dict[str, str] = {}
    calls: dict[str, dict[str, str]] = {}
    inherited: dict[str, object] = {}
    if data.get("extends"):
        base = get_source(data["extends"])
        assert base is not None, f"source {name} extends an unknown source"
        fields.update(base.fields)
        calls.update({k: dict(v) for k, v in base.calls.items()})
        inherited = {"call": base.call, "id": base.id, "label": base.label}
    fields.update({k: (v or {}).get("doc", "") for k, v in (data.get("fields") or {}).items()})
    for call, call_fields in (data.get("calls") or {}).items():
        calls.setdefault(call, {}).update({k: (v or {}).get("doc", "") for k, v in (call_fields or {}).items()})
    return Source(name, data.get("description", ""), fields, calls, data.get("call", inherited.get("call")),
                  data.get("id", inherited.get("id")), tuple(data.get("label", inherited.get("label")) or ()))
