"""The action catalog: Segment's destinations and actions as data (the YAML files beside this module).

Each destination file holds its settings, presets and actions; each action its fields (as its `index.ts`
declares them), its default subscription and sync modes, and in mapspec what its `perform` checks and
sends. `functions.yaml` is the function library imported mappings draw on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
NO_DEFAULT: Any = object()

DESTINATIONS = ("braze", "braze-cohorts")


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: str  # string, text, password, number, integer, boolean, datetime, object
    required: bool | dict = False  # True, or {match, conditions}
    nullable: bool = False
    multiple: bool = False
    choices: tuple | None = None
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    additional: bool = False  # additionalProperties: other keys are kept
    properties: dict[str, Field] | None = None
    default: Any = NO_DEFAULT

    @property
    def json_type(self) -> str:
        return {"text": "string", "password": "string"}.get(self.type, self.type)


@dataclass(frozen=True)
class Check:
    when: str
    message: str


@dataclass(frozen=True)
class Action:
    name: str
    title: str
    fields: dict[str, Field]
    default_subscription: str | None = None
    sync_mode: dict | None = None  # {default, choices}
    checks: tuple[Check, ...] = ()
    send_text: str = ""  # the `send` block as written in the catalog (mapspec, with comments)
    lets: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # name -> path in the subscription's mapping


@dataclass(frozen=True)
class Destination:
    name: str  # braze, braze-cohorts
    title: str
    target: str
    base_url: str
    settings: dict[str, dict]
    presets: tuple[dict, ...]
    actions: dict[str, Action]


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[str, ...]
    doc: str
    body: str
    #: a warning the checker gives on the function that is acknowledged: `W408 (why)`
    allow: str = ""

    @property
    def head(self) -> str:
        return f"{self.name}({', '.join('$' + p for p in self.params)})"


def _field(key: str, spec: dict) -> Field:
    props = spec.get("properties")
    return Field(
        key=key, label=spec.get("label", key), type=spec["type"], required=spec.get("required", False),
        nullable=bool(spec.get("nullable", False)), multiple=bool(spec.get("multiple", False)),
        choices=tuple(spec["choices"]) if "choices" in spec else None, format=spec.get("format"),
        minimum=spec.get("minimum"), maximum=spec.get("maximum"),
        additional=bool(spec.get("additionalProperties", False)),
        properties={k: _field(k, v) for k, v in props.items()} if props else None,
        default=spec.get("default", NO_DEFAULT))


def _block_text(source: str, node: yaml.Node) -> str:
    """The text of a block node as written (its comments included), dedented to column 0."""
    start, end = node.start_mark, node.end_mark
    lines = source[start.index - start.column:end.index].splitlines()
    if lines and lines[0][start.column:].startswith("&"):  # an anchor: the block starts on the next line
        lines = lines[1:]
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    column = len(first) - len(first.lstrip())
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and len(line) - len(line.lstrip()) < column:
            break
        out.append(line[column:] if stripped else "")
    while out and (not out[-1].strip() or out[-1].lstrip().startswith("#")):
        out.pop()
    return "\n".join(out)


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _load(text: str) -> tuple[yaml.Node, Any]:
    """The document's node tree (for the text of its blocks) and its data, from one parse (libyaml's when
    PyYAML has it: ten times faster)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root)
    finally:
        loader.dispose()


@cache
def destination(name: str) -> Destination:
    if name not in DESTINATIONS:
        raise KeyError(name)
    path = HERE / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    root, data = _load(text)
    actions_node = _child(root, "actions")
    actions = {}
    for key, spec in data["actions"].items():
        node = _child(actions_node, key)
        send_node = _child(node, "send")
        actions[key] = Action(
            name=key, title=spec["title"], default_subscription=spec.get("default_subscription"),
            sync_mode=spec.get("sync_mode"),
            fields={k: _field(k, v) for k, v in spec["fields"].items()},
            checks=tuple(Check(str(c["when"]), str(c["message"])) for c in spec.get("checks") or ()),
            send_text=_block_text(text, send_node) if send_node is not None else "",
            lets={k: str(v) for k, v in (spec.get("lets") or {}).items()},
            values={k: str(v) for k, v in (spec.get("values") or {}).items()})
    return Destination(name=data["destination"], title=data["name"], target=data["target"],
                       base_url=data["base_url"], settings=data["settings"],
                       presets=tuple(data.get("presets") or ()), actions=actions)


@cache
def functions() -> dict[str, Function]:
    _, data = _load((HERE / "functions.yaml").read_text(encoding="utf-8"))
    out = {}
    for head, spec in data.items():
        name, _, rest = head.partition("(")
        params = tuple(p.strip().lstrip("$") for p in rest.rstrip(")").split(",") if p.strip())
        out[name] = Function(name, params, str(spec.get("doc", "")), " ".join(str(spec["body"]).split("\n")),
                             str(spec.get("allow", "")))
    return out


def default_mapping(action: Action) -> dict[str, Any]:
    """The mapping a new subscription of the action starts with: each field's default."""
    return {k: f.default for k, f in action.fields.items() if f.default is not NO_DEFAULT}
