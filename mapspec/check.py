"""The checker: names, arities, kinds and the target schema, reported as diagnostics.

It knows no destination: request bodies are checked against the `Target` that the mapping names.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import limits, logic, runtime, sources, stdlib, targets
from .diagnostics import DiagnosticBag, did_you_mean
from .facts import Facts
from .facts import describe as describe_facts
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
            problems = list(limits.data_problems(value))
            if problems:
                code, what = problems[0]
                diags.error(code, f"setting `{s.name}` cannot be used: it holds {what}", path=origin,
                            hints=[f"declared at {s.span.location()}" if s.span else ""])
                values[s.name] = ast.MISSING
                continue
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
    if not diags.errors:
        check_with_settings(doc, values, diags, origin)
    return values


# ---------------------------------------------------------------- what depends on the settings
#
# A mapping is valid or not whatever the optimizer does: what the settings decide is checked here, on the
# mapping as written, by `check --settings` and by `compile` alike.


def report_regex(pattern: str, span, diags: DiagnosticBag, origin: str | None = None, what: str = "") -> None:
    """E207 and W408 for a pattern: at its span in the mapping, or (a setting's value) in the settings."""
    from . import regex

    for severity, code, message, label in regex.problems(pattern):
        hints = [f"the pattern is used at {span.location()}"] if origin is not None and span is not None else []
        where = None if origin is not None else span
        if severity == "error":
            diags.error(code, what + message, where, label=label, path=origin, hints=hints)
        else:
            diags.warning(code, what + message, where, label=label, path=origin, hints=hints + [
                "make the inner quantifier possessive (`a++`) or atomic (`(?>a+)`), or write the pattern "
                "without the nesting"])


def _let_values(doc: ast.Document) -> dict[str, ast.Node]:
    return {"$" + let.name: let.value for let in doc.lets}


def _expand_lets(node: ast.Node, lets: Mapping[str, ast.Node]) -> ast.Node:
    """The expression with every `$definition` it uses written in place (the depth limit bounds this)."""
    def fn(n: ast.Node) -> ast.Node:
        if isinstance(n, ast.Path) and n.root in lets:
            value = _expand_lets(lets[n.root], lets)
            for step in n.steps:
                value = ast.Index(n.span, value, ast.Literal(n.span, step))
            return value
        return n

    return ast.rewrite(node, fn)


def _sends(doc: ast.Document) -> ast.Rule | None:
    return next((r for r in doc.rules if r.requests), None)


def _cycle_free(name: str, lets: Mapping[str, ast.Node]) -> bool:
    seen, todo = {name}, [name]
    while todo:
        for n in lets[todo.pop()].walk():
            if isinstance(n, ast.Path) and n.root in lets:
                if n.root == name:
                    return False
                if n.root not in seen:
                    seen.add(n.root)
                    todo.append(n.root)
    return True


def check_base_url(doc: ast.Document, diags: DiagnosticBag) -> None:
    """E210 without settings: a mapping that sends requests has a `base_url`, which reads no event."""
    sender = _sends(doc)
    if doc.base_url is None:
        if sender is not None:
            diags.error("E210", "a mapping that sends requests needs a `base_url`", sender.span,
                        label=f"rule `{sender.name}` sends requests",
                        hints=["for example `base_url: settings.rest_endpoint`, with a setting for it"])
        return
    lets = _let_values(doc)
    if not all(_cycle_free(name, lets) for name in lets):
        return  # E209 is reported; expanding would not end
    for node in _expand_lets(doc.base_url, lets).walk():
        if isinstance(node, ast.Path):
            span = node.span if node.span is not None else doc.base_url.span
            diags.error("E210", "`base_url` must be known when the mapping is compiled: it cannot read the event",
                        span, label="read from each event",
                        hints=["make it of settings and literals, for example `base_url: settings.rest_endpoint`"])
            return


def base_url_value(doc: ast.Document, settings: Mapping[str, Any]) -> Any:
    """`base_url` with these settings (MISSING when there is none, or it cannot be known)."""
    if doc.base_url is None:
        return ast.MISSING
    from .optimize.fold_constants import fold_expression

    def inline(n: ast.Node) -> ast.Node:
        if isinstance(n, ast.Setting):
            return ast.Literal(n.span, settings.get(n.name, ast.MISSING))
        return n

    node = fold_expression(ast.rewrite(_expand_lets(doc.base_url, _let_values(doc)), inline))
    return node.value if isinstance(node, ast.Literal) else ast.MISSING


def check_with_settings(doc: ast.Document, values: Mapping[str, Any], diags: DiagnosticBag,
                        origin: str = "<settings>") -> None:
    """What only the settings decide: `base_url` is text with them (E210), and a pattern given as a setting
    is a valid regular expression (E207, W408)."""
    if _sends(doc) is not None and doc.base_url is not None:
        value = base_url_value(doc, values)
        if not isinstance(value, str):
            used = sorted({n.name for n in _expand_lets(doc.base_url, _let_values(doc)).walk()
                           if isinstance(n, ast.Setting)})
            shown = "missing" if value is ast.MISSING else describe(frozenset({kind_of(value)}))
            hints = [f"setting `{name}` is " + ("not set" if values.get(name, ast.MISSING) is ast.MISSING
                                                else json.dumps(values[name], ensure_ascii=False)[:60])
                     + f" in {origin}" for name in used]
            diags.error("E210", f"with the settings in {origin}, `base_url` is {shown}, not text",
                        doc.base_url.span, label="the URL requests are sent to",
                        hints=hints or ["it must give text, such as \"https://rest.iad-01.braze.com\""])
    for node in doc.walk():
        if isinstance(node, ast.Call) and node.name == "matches" and len(node.args) == 2 \
                and isinstance(node.args[1], ast.Setting):
            pattern = values.get(node.args[1].name, ast.MISSING)
            if isinstance(pattern, str):
                report_regex(pattern, node.args[1].span, diags, origin, f"setting `{node.args[1].name}`: ")


class Checker:
    def __init__(self, doc: ast.Document, diags: DiagnosticBag, settings: Mapping[str, Any] | None = None):
        self.doc, self.diags = doc, diags
        self.settings = {s.name: s for s in doc.settings}
        self.lets = {"$" + let.name: let for let in doc.lets}
        self.functions: dict[str, ast.FunctionDef] = {}
        for f in doc.functions:
            self.functions.setdefault(f.name, f)  # a second definition is reported
        self.typer = Typer({}, setting_kinds(doc), self.functions)
        path = doc.span.source.path if doc.span is not None else None
        self.target, self.target_problems = targets.load_target(doc.target, relative_to=path)
        #: what the conditions tell about events (None for settings: they may be anything)
        self.facts = Facts(doc, self.typer, settings)
        #: warnings that guess at what the mapping means: reported only when it has no errors
        self.deferred = DiagnosticBag()
        #: the function whose body is being checked (it reads only its parameters)
        self.in_function: ast.FunctionDef | None = None

    def run(self) -> None:
        doc = self.doc
        for s in doc.settings:
            if s.default is not ast.MISSING and s.default is not None \
                    and kind_of(s.default) not in SETTING_KINDS[s.type]:
                self.diags.error("E208", f"the default of setting `{s.name}` is not {describe(SETTING_KINDS[s.type])}",
                                 s.span)
        for d in self.target_problems:
            if d.span is None:  # said of the file as a whole: at the `target:` that names it
                d = replace(d, span=doc.target_span)
            self.diags.add(d)
        if sources.get_source(doc.source) is None:
            self.diags.error("E309", f"unknown source `{doc.source}`", doc.source_span,
                             hints=did_you_mean(doc.source, sources.source_names())
                             or [f"sources: {', '.join(sources.source_names())}"])
        self.check_functions()
        self.check_lets()
        if doc.base_url is not None:
            self.expr(doc.base_url, frozenset())
        check_base_url(doc, self.diags)
        earlier = logic.TRUE  # in `match: first`, a rule is reached only when every rule before it failed
        for rule in doc.rules:
            if rule.condition is not None:
                self.expr(rule.condition, frozenset())
            if rule.message is not None:
                self.expr(rule.message, frozenset())
            holds = self.facts.holds(rule.condition) if rule.condition is not None else logic.TRUE
            context = Context(rule, logic.conj(holds, earlier) if doc.match == "first" else holds, holds)
            if doc.match == "first":
                earlier = logic.conj(earlier, logic.neg(holds))
            for req in rule.requests:
                self.request(req, context)
            self.call_fields(rule, context)

    # ---- the fields of each call type of the source
    def call_fields(self, rule: ast.Rule, context: Context) -> None:
        """A field read in a rule that no event of the call types the rule handles has: a `track` rule reading
        `traits` (Segment puts them in `context.traits` on a track call), an identify rule reading `event`."""
        source = sources.get_source(self.doc.source)
        if source is None or source.call is None or not source.calls:
            return
        reads: dict[str, list[ast.Path]] = {}
        for part in (rule.message, *(n for r in rule.requests for n in (r.body, r.condition, r.once, r.time,
                                                                        *(p.value for p in r.params)))):
            for n in part.walk() if part is not None else ():
                if isinstance(n, ast.Path) and not n.root and n.steps and isinstance(n.steps[0], str):
                    word = n.steps[0]
                    if word not in source.fields and word != source.call and word in source.top_level:
                        reads.setdefault(word, []).append(n)
        if not reads or context.unreachable(self.facts):
            return
        subject = ast.Path(None, "", (source.call,))

        def is_call(c: str) -> logic.Formula:
            return self.facts.holds(ast.Binary(None, "==", subject, ast.Literal(None, c)))

        if self.facts.possible(context.within(logic.conj(*(logic.neg(is_call(c)) for c in source.calls))).formula):
            return  # events of no known call type reach this rule: they may hold anything
        calls = [c for c in source.calls if self.facts.possible(context.within(is_call(c)).formula) is not None]
        if not calls:
            return
        for word, paths in reads.items():
            if any(word in source.fields_of(c) for c in calls):
                continue
            names = " or ".join(f"`{c}`" for c in calls)
            have = sorted(set().union(*(source.fields_of(c) for c in calls)))
            node = paths[0]
            hints = did_you_mean(word, have)
            where = [c for c in source.calls if word in source.calls[c]]
            hints.append(f"`{word}` is a field of {' and '.join(f'`{c}`' for c in where)} events; "
                         f"{names} events have {', '.join(have)}")
            self.deferred.warning("W410", f"no {names} event has a field `{word}`, and rule `{rule.name}` handles "
                                  f"only {names} events", node.span, label="not a field of these events",
                                  hints=hints)

    # ---- functions: names, parameters, and bodies that read only their parameters
    def check_functions(self) -> None:
        seen: dict[str, ast.FunctionDef] = {}
        for f in self.doc.functions:
            span = f.name_span or f.span
            if f.name in stdlib.FUNCTIONS:
                self.diags.error("E211", f"`{f.name}` is a built-in function", span, label="choose another name",
                                 hints=[f"usage: {stdlib.FUNCTIONS[f.name].signature()}"])
            elif f.name in seen:
                first = seen[f.name]
                self.diags.error("E211", f"function `{f.name}` is defined twice", span, label="defined again",
                                 hints=[f"first defined at line {first.span.line}" if first.span else ""])
            else:
                seen[f.name] = f
            self.typer.bind_params(f)
            self.in_function = f
            try:
                self.expr(f.body, frozenset(f.params))
            finally:
                self.in_function = None

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

    # ---- requests against the target description
    def request(self, req: ast.Request, context: Context) -> None:
        for node in (req.condition, req.once, req.time, *(p.value for p in req.params)):
            if node is not None:
                self.expr(node, frozenset())
        self.expr(req.body, frozenset())
        if self.target is None:
            return
        endpoint, hints = self.target.find(req.endpoint)
        if endpoint is None:
            if self.target.ambiguous(req.endpoint):
                self.diags.error("E302", f"`{req.endpoint}` takes several methods: which one?", req.endpoint_span,
                                 label="the method is needed", hints=hints)
            else:
                self.diags.error("E302", f"`{self.target.name}` has no endpoint `{req.endpoint}`",
                                 req.endpoint_span, label="unknown endpoint", hints=hints)
            return
        given = {p.key.value: p for p in req.params if isinstance(p.key, ast.Literal)}
        for name in endpoint.params:
            if name not in given:
                self.diags.error("E305", f"`{endpoint.key}` needs the path parameter `{name}`", req.endpoint_span,
                                 label="give it under `params:`",
                                 hints=[f"params: {{{', '.join(p + ': ...' for p in endpoint.params)}}}"])
            else:
                got = self.typer(given[name].value) - {"missing"}
                if got and not got & {"str", "int", "float"}:
                    self.diags.error("E205", f"the path parameter `{name}` takes text or a number, not "
                                     f"{describe(got)}", given[name].value.span, label=describe(got))
        for name, p in given.items():
            if name not in endpoint.params:
                self.diags.error("E305", f"`{endpoint.key}` has no path parameter `{name}`", p.key.span,
                                 label="not in the path",
                                 hints=[f"its parameters: {', '.join(endpoint.params)}" if endpoint.params
                                        else "its path has no parameters"])
        if req.time is not None:
            got = self.typer(req.time) - {"missing"}
            if got and not got & {"str"}:
                self.diags.error("E205", f"`time` takes text (an ISO 8601 time), not {describe(got)}",
                                 req.time.span, label=describe(got),
                                 hints=["format a time with iso8601()"] if "time" in got else [])
        if req.condition is not None:
            context = context.within(self.facts.holds(req.condition))
        self.shape(req.body, endpoint.body, {}, f"the {endpoint.key} body", context)

    def shape(self, node: ast.Node, schema: targets.Shape, loop_vars: dict[str, Kinds],
              where: str, context: Context) -> None:
        """Walk a value under construction beside the shape it must fit, in the context it is built in."""
        if isinstance(node, ast.Guard):
            self.shape(node.value, schema, loop_vars, where, context.within(self.facts.holds(node.condition)))
            return
        if isinstance(node, ast.Conditional):
            c = self.facts.holds(node.condition)
            self.shape(node.then, schema, loop_vars, where, context.within(c))
            self.shape(node.otherwise, schema, loop_vars, where, context.within(logic.neg(c)))
            return
        if schema.is_object and isinstance(node, ast.Object):
            self.object(node, schema, loop_vars, where, context)
            return
        if schema.is_list and isinstance(node, ast.ListComp):
            assert schema.items is not None
            self.shape(node.value, schema.items, loop_vars, f"each element of {where}", context)
            return
        if schema.is_list and isinstance(node, ast.List):
            item = schema.items
            assert item is not None
            for element in node.items:
                if isinstance(element, ast.ForEach):
                    kinds = self.typer(element.iterable)
                    inner = dict(loop_vars)
                    inner[element.var] = JSON if "list" in kinds else frozenset({"missing"})
                    ctx = context
                    if element.condition is not None:
                        ctx = context.within(self.facts.holds(element.condition))
                    self.shape(element.body, item, inner, f"each element of {where}", ctx)
                else:
                    self.shape(element, item, loop_vars, f"each element of {where}", context)
            if schema.max_items is not None and len(node.items) > schema.max_items \
                    and not any(isinstance(i, ast.ForEach) for i in node.items):
                self.diags.error("E205", f"{where} takes at most {schema.max_items} element"
                                 f"{'s' * (schema.max_items != 1)}, not {len(node.items)}", node.span)
            return
        if isinstance(node, ast.ForEach):
            return
        expected = schema.kinds
        got = self.typer(node)
        present = got - {"missing"}
        if present and not (present & expected):
            self.diags.error("E205", f"{where} takes {describe(expected)}, not {describe(present)}",
                             node.span, label=f"{describe(present)}",
                             hints=["format a time with iso8601() or format_time()"] if "time" in present else [])
            return
        if schema.enum is not None:
            self.enum(node, schema, where)

    def enum(self, node: ast.Node, schema: targets.Shape, where: str) -> None:
        """A value whose possible values are known (literals, a table of literals) must be among the allowed."""
        allowed = list(schema.enum or ())
        for value, span in _possible_values(node, self.lets):
            if value is None and "null" in schema.kinds:
                continue
            if not any(runtime.eq(value, a) for a in allowed):
                shown = ", ".join(json.dumps(a) for a in allowed)
                self.diags.error("E306", f"{where} is one of {shown}, not {json.dumps(value)}", span,
                                 label="not an allowed value", hints=did_you_mean(str(value), map(str, allowed)))

    def object(self, node: ast.Object, schema: targets.Shape, loop_vars: dict[str, Kinds], where: str,
               context: Context) -> None:
        name = schema.name or "object"
        for entry in node.entries:
            if not isinstance(entry, ast.Field):
                continue
            if isinstance(entry.key, ast.Literal):
                key = entry.key.value
                if key in schema.reserved_keys:
                    self.diags.warning("W403", f"`{key}` is a reserved key in {self.target.name} {name}",
                                       entry.key.span, label="the target refuses this key",
                                       hints=[f"reserved: {', '.join(sorted(schema.reserved_keys))}"])
                sub = schema.field_shape(key)
                if sub is None:
                    self.diags.error("E301", f"the {name} has no field `{key}`", entry.key.span,
                                     label="not accepted by the target",
                                     hints=did_you_mean(key, schema.fields)
                                     or [f"its fields are: {', '.join(schema.fields)}"])
                    continue
                self.shape(entry.value, sub, loop_vars, f"`{key}` of the {name}", context)
            elif schema.extra is None:
                self.diags.error("E301", f"the {name} takes only its own fields, not computed names",
                                 entry.key.span, label="a computed field name",
                                 hints=[f"its fields are: {', '.join(schema.fields)}"])
        self.presence(node, schema, context)

    def presence(self, node: ast.Object, schema: targets.Shape, context: Context) -> None:
        """Required fields, one-of groups and exclusive groups, against what the rule knows of its events."""
        if context.unreachable(self.facts):
            return
        name = schema.name or "object"
        for group in [(f,) for f in schema.required] + list(schema.one_of):
            there = logic.disj(*(self.facts_of_field(node, f) for f in group))
            what = f"`{group[0]}`" if len(group) == 1 else "one of " + ", ".join(f"`{f}`" for f in group)
            if self.facts.possible(context.within(there).formula) is None:
                self.diags.error("E307", f"the {name} needs {what}, and rule `{context.rule.name}` never gives it",
                                 node.span, label="missing on every event this rule sends",
                                 hints=self._how(group, schema))
                continue
            witness = self.facts.possible(context.within(logic.neg(there)).formula)
            if witness is not None:
                shape = describe_facts(witness, list(logic.atoms(there)), list(logic.atoms(context.own)))
                self.deferred.warning("W406", f"the {name} needs {what}, which may be missing"
                                   + (f": when {shape}" if shape else ""),
                                   node.span, label=f"in rule `{context.rule.name}`",
                                   hints=self._how(group, schema))
        for group in schema.exclusive:
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    both = logic.conj(self.facts_of_field(node, a), self.facts_of_field(node, b))
                    if both is logic.FALSE or self.facts.possible(context.within(both).formula) is None:
                        continue
                    always = self.facts.possible(context.within(logic.neg(both)).formula) is None
                    message = f"the {name} takes `{a}` or `{b}`, never both"
                    if always:
                        self.diags.error("E308", message + f"; rule `{context.rule.name}` always gives both",
                                         node.span, label="both are given")
                    else:
                        self.deferred.warning("W407", message + "; both may be given", node.span,
                                           label=f"in rule `{context.rule.name}`")

    def _how(self, group: tuple[str, ...], schema: targets.Shape) -> list[str]:
        hints = []
        if schema.messages.get("one_of") and len(group) > 1:
            hints.append(f"{self.target.name} answers: {schema.messages['one_of']}")
        hints.append("give it on every event this rule sends, or reject the events without it in a rule before")
        return hints

    def facts_of_field(self, node: ast.Object, key: str) -> logic.Formula:
        """The formula under which object `node` has field `key`."""
        ways = []
        for entry in node.entries:
            if isinstance(entry, ast.Field):
                if isinstance(entry.key, ast.Literal) and entry.key.value == key:
                    ways.append(self.facts.present(entry.value))
                continue
            value, dropped = entry.value, set()
            while isinstance(value, ast.Binary) and value.op == "without" and isinstance(value.right, ast.Literal):
                if isinstance(value.right.value, list):
                    dropped |= {k for k in value.right.value if isinstance(k, str)}
                value = value.left
            if key in dropped:
                continue
            known = _object_fields(value, self.lets)
            if known is None:  # any field may come from it
                ways.append(logic.conj(self.facts.present(entry.value),
                                       logic.atom(("spread", _unparse(entry.value), key))))
            elif key in known:
                ways.append(logic.conj(self.facts.present(entry.value), self.facts.present(known[key])))
        return logic.disj(*ways)

    # ---- expressions
    def expr(self, node: ast.Node, loop_vars: frozenset[str]) -> None:
        """Check names, calls and kinds in one expression (with the loop variables in scope)."""
        if isinstance(node, ast.ForEach | ast.ListComp | ast.ObjectComp):
            self.expr(node.iterable, loop_vars)
            names = (node.index_var, node.var) if node.index_var else (node.var,)
            for name in names:
                if name in self.lets:
                    self.diags.error("E204", f"`{name}` is already a `let` definition", node.span,
                                     label="choose another name for the loop variable")
            self.typer.bind_loop(node)
            inner = loop_vars | set(names)
            if node.condition is not None:
                self.expr(node.condition, inner)
            for part in ((node.body,) if isinstance(node, ast.ForEach) else
                         (node.value,) if isinstance(node, ast.ListComp) else (node.key, node.value)):
                self.expr(part, inner)
            return
        if isinstance(node, ast.Path) and not node.root and self.in_function is not None:
            self.diags.error("E212", f"function `{self.in_function.name}` reads the event", node.span,
                             label="not a parameter",
                             hints=["a function reads only its parameters, settings, literals and functions: "
                                    "pass what it needs as an argument"])
        elif isinstance(node, ast.Path) and node.root:
            if node.root in self.lets and self.in_function is not None and node.root not in loop_vars:
                self.diags.error("E212", f"function `{self.in_function.name}` reads the definition `{node.root}`",
                                 node.span, label="not a parameter",
                                 hints=["a function reads only its parameters, settings, literals and "
                                        "functions: pass it as an argument"])
            elif node.root not in self.lets and node.root not in loop_vars:
                choices = list(loop_vars) + ([] if self.in_function else list(self.lets))
                where = "a parameter of the function" if self.in_function else "under `let:`"
                self.diags.error("E204", f"unknown variable `{node.root}`", node.span,
                                 label="not defined", hints=did_you_mean(node.root, choices)
                                 or [f"define it {where}; defined: {', '.join(choices) or 'none'}"])
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
        elif isinstance(node, ast.Binary):
            self.operands(node)
        for child in node.children():
            self.expr(child, loop_vars)

    def operands(self, node: ast.Binary) -> None:
        """Operands of a kind an operator never accepts: `{"a": 1} + {"b": 2}`, a time compared with text."""
        left, right = (self.typer(side) - {"missing", "null"} for side in (node.left, node.right))
        if not left or not right:
            return
        if node.op in _ARITHMETIC:
            wants = NUM | STR if node.op == "+" else NUM
            for side, kinds in ((node.left, left), (node.right, right)):
                if not kinds & wants:
                    what = "adds numbers or joins texts" if node.op == "+" else "works on numbers"
                    self.diags.error("E205", f"`{node.op}` {what}, not {describe(kinds)}", side.span,
                                     label=describe(kinds),
                                     hints=["merge objects with a spread: `{...a, ...b}`"]
                                     if node.op == "+" and kinds <= {"object"} else
                                     ["join lists with a comprehension or a `for` item"]
                                     if node.op == "+" and kinds <= {"list"} else [])
                    return
            if node.op == "+" and (left <= NUM and right <= STR or left <= STR and right <= NUM):
                self.diags.error("E205", f"`+` of {describe(left)} and {describe(right)} is always missing",
                                 node.span, label="text and a number",
                                 hints=['write a template to join them: "{a}{b}"'])
        elif node.op in _ORDERING and (left <= TIME or right <= TIME) and not (left & right & TIME):
            self.diags.error("E205", f"`{node.op}` compares a time with {describe(right if left <= TIME else left)}"
                             ": it is always false", node.span, label="a time and something else",
                             hints=["read both sides with parse_time()"])

    def call(self, node: ast.Call) -> None:
        fn = stdlib.FUNCTIONS.get(node.name)
        span = node.name_span or node.span
        own = self.functions.get(node.name)
        if own is not None and fn is None:
            if len(node.args) != len(own.params):
                n = len(own.params)
                self.diags.error("E202", f"`{own.name}` takes {n} argument{'s' if n != 1 else ''}, "
                                 f"not {len(node.args)}", node.span,
                                 label=f"usage: {own.name}({', '.join(own.params)})")
            return
        if fn is None:
            self.diags.error("E201", f"unknown function `{node.name}`", span, label="unknown function",
                             hints=did_you_mean(node.name, [*stdlib.FUNCTIONS, *self.functions]))
            return
        lo, hi = fn.arity()
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else (f"{lo} or more" if hi == math.inf else f"{lo} to {hi}")
            self.diags.error("E202", f"`{fn.name}` takes {want} argument{'s' if hi != 1 else ''}, "
                             f"not {len(node.args)}", node.span, label=f"usage: {fn.signature()}")
            return
        for index, arg in enumerate(node.args):
            param = fn.param(index)
            assert param is not None  # the arity was checked
            got = self.typer(arg) - {"missing", "null"}
            if got and not (got & param.kinds) and not ({"missing", "null"} & param.kinds and not got):
                self.diags.error("E205", f"`{fn.name}` wants {describe(param.kinds)} for `{param.name}`, "
                                 f"not {describe(got)}", arg.span, label=describe(got),
                                 hints=["read a time with parse_time() first"] if param.kinds == {"time"} else [])
            if param.constant:
                if not isinstance(arg, ast.Literal | ast.Setting):
                    self.diags.error("E206", f"the `{param.name}` of `{fn.name}` must be written out, "
                                     "not computed", arg.span, label="a literal is needed here")
                elif param.regex and isinstance(arg, ast.Literal) and isinstance(arg.value, str):
                    report_regex(arg.value, arg.span, self.diags)


_ARITHMETIC = ("+", "-", "*", "/", "%")
_ORDERING = ("<", "<=", ">", ">=")
NUM: Kinds = frozenset({"int", "float"})
STR: Kinds = frozenset({"str"})
TIME: Kinds = frozenset({"time"})


@dataclass(frozen=True)
class Context:
    """Where a value is built: the rule, the formula of what holds on the events it is built for, and the part
    of it that the rule's own conditions say (without what the rules before it exclude)."""

    rule: ast.Rule
    formula: logic.Formula
    own: logic.Formula = logic.TRUE

    def within(self, condition: logic.Formula) -> Context:
        return Context(self.rule, logic.conj(self.formula, condition), logic.conj(self.own, condition))

    def unreachable(self, facts: Facts) -> bool:
        return facts.possible(self.formula) is None


def _unparse(node: ast.Node) -> str:
    from .syntax.unparse import unparse

    try:
        return unparse(node)
    except Exception:  # noqa: BLE001 - a name for an atom only
        return repr(node)


def _object_fields(node: ast.Node, lets: Mapping[str, ast.Let]) -> dict[str, ast.Node] | None:
    """The fields an object-valued expression gives (key -> value), or None when they cannot be known."""
    if isinstance(node, ast.Path) and node.root in lets and not node.steps:
        return _object_fields(lets[node.root].value, lets)
    if isinstance(node, ast.Object):
        out: dict[str, ast.Node] = {}
        for e in node.entries:
            if isinstance(e, ast.Field) and isinstance(e.key, ast.Literal):
                out[e.key.value] = e.value
            else:
                return None
        return out
    if isinstance(node, ast.Literal) and isinstance(node.value, dict):
        return {k: ast.Literal(node.span, v) for k, v in node.value.items()}
    return None


def _possible_values(node: ast.Node, lets: Mapping[str, ast.Let]) -> list[tuple[Any, Any]]:
    """The values an expression may give, with where each is written, when they can be known (literals and
    tables of literals); empty when they cannot."""
    if isinstance(node, ast.Literal):
        return [] if node.value is ast.MISSING or isinstance(node.value, dict | list) else [(node.value, node.span)]
    if isinstance(node, ast.Path) and node.root in lets and not node.steps:
        return _possible_values(lets[node.root].value, lets)
    if isinstance(node, ast.Index):
        table = _object_fields(node.base, lets)
        if table is None:
            return []
        return [v for value in table.values() for v in _possible_values(value, lets)]
    if isinstance(node, ast.Coalesce):
        return [v for item in node.items for v in _possible_values(item, lets)]
    if isinstance(node, ast.Guard):
        return _possible_values(node.value, lets)
    if isinstance(node, ast.Conditional):
        return _possible_values(node.then, lets) + _possible_values(node.otherwise, lets)
    return []


def check(doc: ast.Document, diags: DiagnosticBag, settings: Mapping[str, Any] | None = None) -> None:
    """Every error and warning of a parsed mapping (with `settings`, the values of every setting, what the
    checker proves about rules takes them as known)."""
    from .lint import lint

    checker = Checker(doc, diags, settings)
    checker.run()
    if not diags.errors:  # on a broken mapping, warnings would guess at what it means
        for d in checker.deferred.items:
            diags.add(d)
        lint(doc, diags)
