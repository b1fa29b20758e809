"""The checker: names, arities, kinds and the target schema, reported as diagnostics.

It knows no destination: request bodies are checked against the `Target` that the mapping names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import stdlib, targets
from .diagnostics import DiagnosticBag, did_you_mean
from .syntax import ast
from .types import JSON, SETTING_KINDS, Kinds, Typer, describe, kind_of


def setting_kinds(doc: ast.Document) -> dict[str, Kinds]:
    return {s.name: SETTING_KINDS[s.type] for s in doc.settings}


def resolve_settings(doc: ast.Document, given: Mapping[str, Any], diags: DiagnosticBag,
                     origin: str = "<settings>") -> dict[str, Any]:
    """The value of every declared setting (MISSING when unset with no default); bad values reported."""
    declared = {s.name: s for s in doc.settings}
    names = sorted(declared)
    for name in given:
        if name not in declared:
            diags.error("E203", f"unknown setting `{name}` for mapping `{doc.name}`", path=origin,
                        hints=did_you_mean(name, names) + [f"its settings are: {', '.join(names) or 'none'}"])
    values: dict[str, Any] = {}
    for s in doc.settings:
        if s.name in given:
            value = given[s.name]
            if kind_of(value) not in SETTING_KINDS[s.type] and not (value is None and not s.required):
                diags.error("E208", f"setting `{s.name}` must be {describe(SETTING_KINDS[s.type])}, "
                            f"not {describe(frozenset({kind_of(value)}))}", path=origin,
                            hints=[f"declared at {s.span.location()}" if s.span else ""])
            values[s.name] = value
        elif s.required:
            diags.error("E208", f"setting `{s.name}` is required by mapping `{doc.name}`", path=origin,
                        hints=[s.description] if s.description else [])
            values[s.name] = ast.MISSING
        else:
            values[s.name] = s.default
    return values


class Checker:
    def __init__(self, doc: ast.Document, diags: DiagnosticBag):
        self.doc, self.diags = doc, diags
        self.settings = {s.name: s for s in doc.settings}
        self.lets = {"$" + let.name: let for let in doc.lets}
        self.typer = Typer({}, setting_kinds(doc))
        self.target = targets.get_target(doc.target)

    def run(self) -> None:
        doc = self.doc
        for s in doc.settings:
            if s.default is not ast.MISSING and s.default is not None \
                    and kind_of(s.default) not in SETTING_KINDS[s.type]:
                self.diags.error("E208", f"the default of setting `{s.name}` is not {describe(SETTING_KINDS[s.type])}",
                                 s.span)
        if self.target is None:
            self.diags.error("E303", f"unknown target `{doc.target}`", doc.target_span,
                             hints=did_you_mean(doc.target, targets.TARGET_NAMES)
                             or [f"targets: {', '.join(targets.TARGET_NAMES)}"])
        self.check_lets()
        if doc.base_url is not None:
            self.expr(doc.base_url, frozenset())
        for rule in doc.rules:
            if rule.condition is not None:
                self.expr(rule.condition, frozenset())
            if rule.message is not None:
                self.expr(rule.message, frozenset())
            for req in rule.requests:
                self.request(req)

    # ---- let definitions: kinds in dependency order, cycles reported
    def check_lets(self) -> None:
        state: dict[str, int] = {}

        def visit(name: str, chain: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            let = self.lets[name]
            if state.get(name) == 1:
                self.diags.error("E209", f"`{name}` is defined in terms of itself",
                                 let.span, label=" -> ".join(chain + (name,)))
                self.typer.bind(name, JSON | {"missing"})
                return
            state[name] = 1
            for node in let.value.walk():
                if isinstance(node, ast.Path) and node.root in self.lets:
                    visit(node.root, chain + (name,))
            self.expr(let.value, frozenset())
            self.typer.bind(name, self.typer(let.value))
            state[name] = 2

        for name in self.lets:
            visit(name, ())

    # ---- requests against the target schema
    def request(self, req: ast.Request) -> None:
        if req.condition is not None:
            self.expr(req.condition, frozenset())
        self.expr(req.body, frozenset())
        if self.target is None:
            return
        endpoint = self.target.endpoints.get(req.endpoint)
        if endpoint is None:
            known = sorted(self.target.endpoints)
            self.diags.error("E302", f"`{self.target.name}` has no endpoint `{req.endpoint}`", req.endpoint_span,
                             label="unknown endpoint",
                             hints=did_you_mean(req.endpoint, known) or [f"endpoints: {', '.join(known)}"])
            return
        self.shape(req.body, endpoint.body, {}, f"the {endpoint.body.name}")

    def shape(self, node: ast.Node, schema: targets.Schema, loop_vars: dict[str, Kinds],
              where: str = "the body") -> None:
        """Walk a value under construction beside the schema it must fit."""
        if isinstance(schema, targets.ObjectOf) and isinstance(node, ast.Object):
            for entry in node.entries:
                if not isinstance(entry, ast.Field):
                    continue
                if isinstance(entry.key, ast.Literal):
                    key = entry.key.value
                    if key in schema.reserved_keys:
                        self.diags.warning("W403", f"`{key}` is a reserved key in {self.target.name} {schema.name}",
                                           entry.key.span, label="the target refuses this key",
                                           hints=[f"reserved: {', '.join(sorted(schema.reserved_keys))}"])
                    sub = schema.fields.get(key, schema.extra)
                    if sub is None:
                        self.diags.error("E301", f"the {schema.name} has no field `{key}`", entry.key.span,
                                         label="not accepted by the target",
                                         hints=did_you_mean(key, schema.fields)
                                         or [f"its fields are: {', '.join(schema.fields)}"])
                        continue
                    self.shape(entry.value, sub, loop_vars, f"`{key}` of the {schema.name}")
                elif schema.extra is None:
                    self.diags.error("E301", f"the {schema.name} takes only its own fields, not computed names",
                                     entry.key.span, label="a computed field name",
                                     hints=[f"its fields are: {', '.join(schema.fields)}"])
            return
        if isinstance(schema, targets.ListOf) and isinstance(node, ast.List):
            for item in node.items:
                if isinstance(item, ast.ForEach):
                    kinds = self.typer(item.iterable)
                    inner = dict(loop_vars)
                    inner[item.var] = JSON if "list" in kinds else frozenset({"missing"})
                    self.shape(item.body, schema.item, inner, f"each element of {where}")
                else:
                    self.shape(item, schema.item, loop_vars, f"each element of {where}")
            return
        expected = _schema_kinds(schema)
        got = self.typer(node)
        if isinstance(node, ast.ForEach):
            return
        present = got - {"missing"}
        if present and not (present & expected):
            self.diags.error("E205", f"{where} takes {describe(expected)}, not {describe(present)}",
                             node.span, label=f"{describe(present)}",
                             hints=["format a time with iso8601() or format_time()"] if "time" in present else [])

    # ---- expressions
    def expr(self, node: ast.Node, loop_vars: frozenset[str]) -> None:
        """Check names, calls and kinds in one expression (with the loop variables in scope)."""
        if isinstance(node, ast.ForEach):
            self.expr(node.iterable, loop_vars)
            inner = loop_vars | {node.var}
            if node.var in self.lets:
                self.diags.error("E204", f"`{node.var}` is already a `let` definition", node.span,
                                 label="choose another name for the loop variable")
            self.typer.bind(node.var, JSON)
            if node.condition is not None:
                self.expr(node.condition, inner)
            self.expr(node.body, inner)
            return
        if isinstance(node, ast.Path) and node.root:
            if node.root not in self.lets and node.root not in loop_vars:
                choices = list(self.lets) + list(loop_vars)
                self.diags.error("E204", f"unknown variable `{node.root}`", node.span,
                                 label="not defined", hints=did_you_mean(node.root, choices)
                                 or [f"define it under `let:`; defined: {', '.join(choices) or 'none'}"])
        elif isinstance(node, ast.Setting):
            if node.name not in self.settings:
                names = sorted(self.settings)
                self.diags.error("E203", f"unknown setting `{node.name}`", node.span, label="not declared",
                                 hints=did_you_mean(node.name, names)
                                 + [f"declared settings: {', '.join(names) or 'none'}"])
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Binary) and node.op == "without":
            if not (self.typer(node.right) & {"list", "str"}):
                self.diags.error("E205", "`without` needs a list of keys on its right",
                                 node.right.span, label=describe(self.typer(node.right)))
        for child in node.children():
            self.expr(child, loop_vars)

    def call(self, node: ast.Call) -> None:
        fn = stdlib.FUNCTIONS.get(node.name)
        span = node.name_span or node.span
        if fn is None:
            self.diags.error("E201", f"unknown function `{node.name}`", span, label="unknown function",
                             hints=did_you_mean(node.name, stdlib.FUNCTIONS))
            return
        lo, hi = fn.arity()
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            self.diags.error("E202", f"`{fn.name}` takes {want} argument{'s' if hi != 1 else ''}, "
                             f"not {len(node.args)}", node.span, label=f"usage: {fn.signature()}")
            return
        for param, arg in zip(fn.params, node.args, strict=False):
            got = self.typer(arg) - {"missing", "null"}
            if got and not (got & param.kinds) and not ({"missing", "null"} & param.kinds and not got):
                self.diags.error("E205", f"`{fn.name}` wants {describe(param.kinds)} for `{param.name}`, "
                                 f"not {describe(got)}", arg.span, label=describe(got),
                                 hints=["read a time with parse_time() first"] if param.kinds == {"time"} else [])
            if param.constant:
                if not isinstance(arg, ast.Literal | ast.Setting):
                    self.diags.error("E206", f"the `{param.name}` of `{fn.name}` must be written out, "
                                     "not computed", arg.span, label="a literal is needed here")
                elif fn.name == "matches" and isinstance(arg, ast.Literal) and isinstance(arg.value, str):
                    try:
                        re.compile(arg.value)
                    except re.error as e:
                        self.diags.error("E207", f"invalid regular expression: {e.msg}", arg.span,
                                         label=f"at position {e.pos}" if e.pos is not None else "")


def _schema_kinds(schema: targets.Schema) -> Kinds:
    if isinstance(schema, targets.Value):
        return schema.kinds
    if isinstance(schema, targets.ListOf):
        return frozenset({"list"})
    return frozenset({"object"})


def check(doc: ast.Document, diags: DiagnosticBag) -> None:
    """Every error and warning of a parsed mapping."""
    from .lint import lint

    Checker(doc, diags).run()
    if not diags.errors:  # on a broken mapping, warnings would guess at what it means
        lint(doc, diags)
