"""`mapspec coverage`: which rules, branches and fields a corpus of events exercises, and what none reaches.

Each event is evaluated part by part (`mapspec.why`, the evaluation `explain` prints), and the parts it
evaluated are counted once per event:

- every rule: the events that tried its condition, that it held for, and that it decided (or, with
  `match: all`, that it contributed to);
- every branch of every conditional: `a if c else b` (then, else), `a if c` (then, or missing when `c` does not
  hold), `a else b else c` (which alternative gave the value, or none), a request's `when` (sent, not sent),
  a `for` item's `if` (elements kept, elements dropped);
- every field of a request body: the events that sent it, and those that left it out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .check import setting_kinds
from .compiler import Compiled, load_compiled
from .errors import Rejected
from .runtime import MISSING, now, truthy
from .syntax import ast
from .syntax.unparse import unparse
from .terminal import printable, printable_line
from .types import Typer
from .why import Evaluation, Evaluator, Step


@dataclass
class Branch:
    label: str
    #: the expression taken on this branch, when there is one
    node: ast.Node | None = None
    events: int = 0


@dataclass
class Point:
    """A place where events part ways: a conditional, a request's `when`, a `for`'s `if`."""

    node: ast.Node
    kind: str  # "if-else" "if" "else" "request" "for"
    #: where it is: `rule `x``, `let y`
    where: str
    branches: list[Branch]
    #: events that evaluated it at all
    reached: int = 0
    #: the rule it is in (None in a definition), and the request whose `when` it is under
    rule: ast.Rule | None = None
    request: ast.Request | None = None

    def branch(self, label: str) -> Branch:
        return next(b for b in self.branches if b.label == label)


@dataclass
class RuleCount:
    rule: ast.Rule
    compiled_out: bool
    #: events that tested its condition
    tried: int = 0
    #: events it decided (`match: first`), or that it held for and contributed to (`match: all`)
    decided: int = 0


@dataclass
class FieldCount:
    node: ast.Node  # an ast.Field or ast.Spread of a body
    rule: ast.Rule
    path: str  # `/users/track attributes[].first_name`
    sent: int = 0
    left_out: int = 0
    request: ast.Request | None = None
    #: it reads only settings and constants: the same for every event
    constant: bool = False


@dataclass
class Report:
    compiled: Compiled
    events: int = 0
    unreadable: int = 0
    #: events on which the translator gave other than the evaluation counted here (a bug of mapspec)
    disagreements: int = 0
    rules: list[RuleCount] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    fields: list[FieldCount] = field(default_factory=list)

    def shown(self, rule: ast.Rule | None) -> bool:
        """Whether what is inside a rule is reported: not for a rule the settings compiled out."""
        return rule is None or not self._rule(rule).compiled_out

    def _rule(self, rule: ast.Rule) -> RuleCount:
        return next(r for r in self.rules if r.rule is rule)

    def _unreached_container(self, rule: ast.Rule | None, request: ast.Request | None) -> bool:
        """Whether a part sits in a rule no event took, or under a request's `when` that never held: the
        container is reported, not each part of it."""
        if rule is not None and not self._rule(rule).decided:
            return True
        if request is not None and request.condition is not None:
            gate = next((p for p in self.points if p.node is request.condition and p.kind == "request"), None)
            return gate is not None and not gate.branch("sent").events
        return False

    def not_reached(self) -> list[str]:
        """What no event reached, one line each, in mapping order: a rule no event took, a definition no event
        read, a branch no event took, a field no event sent (but not each part of a rule no event took)."""
        out: list[tuple[int, str]] = []
        every = self.compiled.document.match == "all"
        for r in self.rules:
            where = f"rule `{r.rule.name}` ({_line(r.rule)})"
            if r.compiled_out:
                out.append((_pos(r.rule), f"{where}: compiled out with these settings"))
            elif not r.decided:
                out.append((_pos(r.rule), f"{where}: {'held for' if every else 'decided'} no event"
                            + ("" if r.tried else " (and no event tried it)")))
        for p in self.points:
            if self._unreached_container(p.rule, p.request if p.kind != "request" else None):
                continue
            if not p.reached:
                out.append((_pos(p.node), f"{_line(p.node)}: {_kind(p)} in {p.where} never evaluated: "
                            f"{_point_text(p)}"))
                continue
            for b in p.branches:
                if not b.events:
                    out.append((_pos(p.node), f"{_line(p.node)}: {_branch_text(p, b)} never taken, in {p.where}: "
                                f"{_point_text(p)}"))
        for f in self.fields:
            if f.sent or self._unreached_container(f.rule, f.request):
                continue
            why = " (it reads only settings: with these, it is missing)" if f.constant else ""
            out.append((_pos(f.node), f"{_line(f.node)}: {f.path} never sent, in rule `{f.rule.name}`{why}"))
        return [text for _, text in sorted(out, key=lambda x: x[0])]


def _pos(node: ast.Node) -> int:
    return node.span.start if node.span is not None else 0


def _line(node: ast.Node) -> str:
    return f"line {node.span.line}" if node.span is not None else "line ?"


def _kind(p: Point) -> str:
    return {"if-else": "`if ... else`", "if": "`if`", "else": "`else`", "request": "a request's `when`",
            "for": "a `for`'s `if`"}[p.kind]


def _point_text(p: Point) -> str:
    node = p.node
    if isinstance(node, ast.ForEach):
        names = f"{node.index_var}, {node.var}" if node.index_var else node.var
        return f"for {names} in {unparse(node.iterable)} if {unparse(node.condition)}"  # type: ignore[arg-type]
    return ("when " if p.kind == "request" else "") + unparse(node)


def _branch_text(p: Point, b: Branch) -> str:
    if b.node is not None:
        return f"branch `{unparse(b.node)}`"
    return {"missing": "the missing branch", "sent": "sending", "not sent": "not sending",
            "kept": "keeping an element", "dropped": "dropping an element"}.get(b.label, b.label)


# ------------------------------------------------------------------ the points of a mapping


def _points(doc: ast.Document) -> tuple[list[Point], list[FieldCount]]:
    points: list[Point] = []
    fields: list[FieldCount] = []
    typer = Typer({}, setting_kinds(doc), {f.name: f for f in doc.functions})
    for f in doc.functions:
        typer.bind_params(f)
    for let in doc.lets:
        typer.bind("$" + let.name, typer(let.value))

    def scan(node: ast.Node | None, where: str, rule: ast.Rule | None = None,
             request: ast.Request | None = None) -> None:
        if node is None:
            return
        for n in node.walk():
            if isinstance(n, ast.Conditional):
                branches = [Branch("then", n.then), Branch("else", n.otherwise)]
                points.append(Point(n, "if-else", where, branches, rule=rule, request=request))
            elif isinstance(n, ast.Guard):
                points.append(Point(n, "if", where, [Branch("then", n.value), Branch("missing")], rule=rule,
                                    request=request))
            elif isinstance(n, ast.Coalesce):
                branches = [Branch(str(i), item) for i, item in enumerate(n.items)]
                if "missing" in typer(n):  # the last alternative may be missing too
                    branches.append(Branch("missing"))
                points.append(Point(n, "else", where, branches, rule=rule, request=request))
            elif isinstance(n, ast.ForEach | ast.ListComp | ast.ObjectComp) and n.condition is not None:
                points.append(Point(n, "for", where, [Branch("kept"), Branch("dropped")], rule=rule,
                                    request=request))

    def body_fields(node: ast.Node, rule: ast.Rule, request: ast.Request, path: str) -> None:
        if isinstance(node, ast.Object):
            for entry in node.entries:
                if isinstance(entry, ast.Spread):
                    if not typer(entry.value) <= {"object"}:  # what may not be an object may add nothing
                        fields.append(FieldCount(entry, rule, f"{path} ...{unparse(entry.value)}".strip(),
                                                 request=request, constant=_settings_only(entry.value)))
                    continue
                key = entry.key.value if isinstance(entry.key, ast.Literal) else unparse(entry.key)
                sub = f"{path}.{key}" if path and not path.endswith(" ") else f"{path}{key}"
                if isinstance(entry.value, ast.Object | ast.List):
                    body_fields(entry.value, rule, request, sub)
                elif "missing" in typer(entry.value):  # a field that is always there says nothing
                    fields.append(FieldCount(entry, rule, sub, request=request,
                                             constant=_settings_only(entry.value)))
        elif isinstance(node, ast.List):
            for item in node.items:
                body_fields(item.body if isinstance(item, ast.ForEach) else item, rule, request, f"{path}[]")

    for let in doc.lets:
        scan(let.value, f"let {let.name}")
    for f in doc.functions:
        scan(f.body, f"function {f.name}")
    for rule in doc.rules:
        where = f"rule `{rule.name}`"
        scan(rule.condition, where, rule)
        scan(rule.message, where, rule)
        for request in rule.requests:
            if request.condition is not None:
                points.append(Point(request.condition, "request", where, [Branch("sent"), Branch("not sent")],
                                    rule=rule, request=request))
            scan(request.condition, where, rule)
            for part in (*(p.value for p in request.params), request.once, request.time, request.body):
                scan(part, where, rule, request)
            body_fields(request.body, rule, request, f"{request.endpoint} ")
    return points, fields


def _settings_only(node: ast.Node) -> bool:
    """Whether a value reads nothing of the event (only settings and constants): it is the same for all."""
    return not any(isinstance(n, ast.Path | ast.Call) for n in node.walk())


# ------------------------------------------------------------------ counting


class Counter:
    """Counts what events exercise in one compiled mapping."""

    def __init__(self, compiled: Compiled):
        self._instant: list[Any] = [None]
        clock = {"now": lambda: self._instant[0]}  # the translator and the evaluation read one time per event
        self.evaluator = Evaluator(compiled, clock)
        self.translate = load_compiled(compiled, clock)
        kept = self.evaluator.kept
        self.report = Report(compiled, rules=[RuleCount(r, id(r.span) not in kept) for r in compiled.document.rules])
        self.report.points, self.report.fields = _points(compiled.document)
        self._points = {id(p.node): p for p in self.report.points}
        self._fields = {id(f.node): f for f in self.report.fields}
        self._rules = {id(r.rule): r for r in self.report.rules}

    def add(self, event: Any) -> None:
        if not isinstance(event, dict):
            self.report.unreadable += 1
            return
        self.report.events += 1
        self._instant[0] = now()
        evaluation = self.evaluator.evaluate(event)
        if not self._agrees(evaluation, event):
            self.report.disagreements += 1
        self.count(evaluation)

    def _agrees(self, evaluation: Evaluation, event: dict) -> bool:
        """Whether the translator gives what the evaluation rebuilt: a check on the counts, event by event."""
        try:
            requests, rejected = self.translate(event), False
        except Rejected as e:
            requests, rejected = e.requests, True
        except Exception:  # noqa: BLE001 - a translator failing on an event is a disagreement, not a crash
            return False
        deciding = evaluation.deciding
        bodies = [r.body for o in deciding for r in o.requests if r.sent]
        if self.evaluator.document.match == "first" and not deciding:
            return rejected and not bodies  # no rule matches: the translator rejects the event
        return rejected == any(o.rule.action == "reject" for o in deciding) and \
            bodies == [r.get("body") for r in requests]

    def count(self, evaluation: Evaluation) -> None:
        reached: set[int] = set()
        taken: set[tuple[int, str]] = set()
        sent: set[int] = set()
        left: set[int] = set()
        steps: list[Step] = list(evaluation.lets.values())
        for outcome in evaluation.rules:
            count = self._rules[id(outcome.rule)]
            if outcome.status in ("not tried", "compiled out"):
                continue
            count.tried += 1
            if outcome.status in ("decided", "holds"):
                count.decided += 1
            for step in (outcome.condition, outcome.message):
                if step is not None:
                    steps.append(step)
            for request in outcome.requests:
                if request.condition is not None:
                    reached.add(id(request.condition.node))
                    taken.add((id(request.condition.node), "sent" if request.sent else "not sent"))
                    steps.append(request.condition)
                steps.extend(s for _, s in request.params)
                steps.extend(s for s in (request.once, request.time) if s is not None)
                for f in request.fields:
                    if f.step is not None:
                        steps.append(f.step)
                    origin = f.origin
                    if isinstance(origin, ast.ForEach) and origin.condition is not None:
                        if f.kind == "element" or (f.kind == "field" and f.note):
                            reached.add(id(origin))
                            taken.add((id(origin), "kept"))
                        elif f.kind == "dropped" and f.reason.startswith("`if"):
                            reached.add(id(origin))
                            taken.add((id(origin), "dropped"))
                    if id(origin) in self._fields:
                        (sent if f.kind == "field" else left).add(id(origin))
        for root in steps:
            for step in root.walk():
                node = step.node
                point = self._points.get(id(node))
                if point is None or point.node is not node or point.kind == "request":
                    continue  # a request's `when` is counted from what was sent
                if point.kind == "for":  # a loop inside an expression: its `if` on each element
                    for s in step.inner:
                        if s.node is node.condition:  # type: ignore[attr-defined]
                            reached.add(id(node))
                            taken.add((id(node), "kept" if truthy(s.value) else "dropped"))
                    continue
                reached.add(id(node))
                taken.add((id(node), _taken(point, step)))
        for key in reached:
            point = self._points.get(key)
            if point is not None:
                point.reached += 1
        for key, label in taken:
            point = self._points.get(key)
            if point is not None:
                point.branch(label).events += 1
        for key in sent:
            self._fields[key].sent += 1
        for key in left - sent:
            self._fields[key].left_out += 1


def _taken(point: Point, step: Step) -> str:
    node = step.node
    if isinstance(node, ast.Conditional):
        return "then" if len(step.parts) > 1 and step.parts[1].node is node.then else "else"
    if isinstance(node, ast.Guard):
        return "then" if len(step.parts) > 1 else "missing"
    if isinstance(node, ast.Coalesce):
        if step.value is MISSING:
            return "missing"
        for i, part in enumerate(step.parts):
            if part.value is not MISSING and part.value is not None:
                return str(i)
        for i, part in enumerate(step.parts):
            if part.value is None:
                return str(i)
    return point.branches[-1].label


def _key(node: ast.Node) -> tuple:
    """A part of a mapping by where it is written: the same in every compile of one file."""
    span = node.span
    return (type(node).__name__, span.start if span else id(node), span.end if span else 0)


def merge(reports: list[Report]) -> Report:
    """One report from reports on the same mapping compiled with different settings (`mapspec test`'s
    examples): counts added, and a rule compiled out only when every compile left it out."""
    base = reports[0]
    for other in reports[1:]:
        base.events += other.events
        base.unreadable += other.unreadable
        base.disagreements += other.disagreements
        rules = {_key(r.rule): r for r in other.rules}
        for r in base.rules:
            o = rules.get(_key(r.rule))
            if o is not None:
                r.tried += o.tried
                r.decided += o.decided
                r.compiled_out = r.compiled_out and o.compiled_out
        points = {(_key(p.node), p.kind): p for p in other.points}
        for p in base.points:
            o = points.get((_key(p.node), p.kind))
            if o is not None:
                p.reached += o.reached
                for b, ob in zip(p.branches, o.branches, strict=False):
                    b.events += ob.events
        fields = {_key(f.node): f for f in other.fields}
        for f in base.fields:
            o = fields.get(_key(f.node))
            if o is not None:
                f.sent += o.sent
                f.left_out += o.left_out
                f.constant = f.constant and o.constant
    return base


def measure(compiled: Compiled, events: Iterable[Any]) -> Report:
    counter = Counter(compiled)
    for event in events:
        counter.add(event)
    return counter.report


# ------------------------------------------------------------------ reports


def render_text(report: Report, label: str) -> str:
    """The report for a terminal: tables of rules, branches and fields, then what no event reached."""
    doc = report.compiled.document
    every = doc.match == "all"
    out = [f"{report.compiled.source.path}: coverage on {report.events} event{'s' * (report.events != 1)}"
           + (f" ({label})" if label else "")]
    if report.disagreements:
        out.append(f"  warning: on {report.disagreements} events the translator gave other than what is counted "
                   "here: a bug of mapspec, please report it")
    if report.unreadable:
        n = report.unreadable
        out.append(f"  (left out: {n} line{' that is not a JSON object' if n == 1 else 's that are not JSON objects'})")
    out += ["", "rules (events):"]
    width = max((len(printable_line(r.rule.name)) for r in report.rules), default=4)
    decided = "held" if every else "decided"
    out.append(f"  {'rule':<{width}}  {'line':>5}  {'tried':>6}  {decided:>7}")
    for r in report.rules:
        line = str(r.rule.span.line) if r.rule.span else "?"
        if r.compiled_out:
            out.append(f"  {r.rule.name:<{width}}  {line:>5}  {'-':>6}  {'-':>7}  compiled out with these settings")
            continue
        mark = "" if r.decided else f"  <- {decided} for none" if every else "  <- decided none"
        out.append(f"  {r.rule.name:<{width}}  {line:>5}  {r.tried:>6}  {r.decided:>7}{mark}")
    points = [p for p in report.points if report.shown(p.rule)]
    if points:
        out += ["", "branches (events that took each):", f"  {'line:col':<8} {'events':>6}  branch"]
        for p in points:
            where = f"{p.node.span.line}:{p.node.span.column}" if p.node.span else "?"
            out.append(f"  {where:<8} {p.where}: {_point_text(p)}")
            if not p.reached:
                out.append(f"  {'':8} {'-':>6}  never evaluated")
                continue
            for b in p.branches:
                mark = "  <- never" if not b.events else ""
                out.append(f"  {'':8} {b.events:>6}  {_branch_label(p, b)}{mark}")
    fields = [f for f in report.fields if report.shown(f.rule)]
    if fields:
        out += ["", "fields (events that sent each, and that left it out):",
                f"  {'sent':>6}  {'left out':>8}  {'line':>5}  rule: field"]
        for f in fields:
            line = str(f.node.span.line) if f.node.span else "?"
            mark = "  <- never sent" if not f.sent else ""
            out.append(f"  {f.sent:>6}  {f.left_out:>8}  {line:>5}  {f.rule.name}: {f.path}{mark}")
    missed = report.not_reached()
    out += ["", f"not reached by any event: {len(missed)}" if missed else "every rule, branch and field was reached"]
    out.extend(f"  {m}" for m in missed)
    return printable("\n".join(printable_line(line) for line in out) + "\n")


def _branch_label(p: Point, b: Branch) -> str:
    if b.node is not None:
        prefix = {"then": "then: ", "else": "else: "}.get(b.label, "")
        return prefix + unparse(b.node)
    return {"missing": "(missing: " + ("the condition does not hold)" if p.kind == "if" else "none gave a value)"),
            "sent": "sent", "not sent": "not sent", "kept": "elements kept", "dropped": "elements dropped"}[b.label]


def render_json(report: Report, label: str) -> str:
    doc: dict[str, Any] = {
        "mapping": report.compiled.source.path, "events": report.events, "unreadable": report.unreadable,
        "disagreements": report.disagreements,
        "input": label or None,
        "rules": [{"name": r.rule.name, "line": r.rule.span.line if r.rule.span else None,
                   "compiled_out": r.compiled_out, "tried": r.tried, "decided": r.decided}
                  for r in report.rules],
        "branches": [{"line": p.node.span.line if p.node.span else None,
                      "column": p.node.span.column if p.node.span else None,
                      "kind": p.kind, "in": p.where, "expression": unparse(p.node), "reached": p.reached,
                      "branches": [{"branch": b.label, **({"expression": unparse(b.node)} if b.node else {}),
                                    "events": b.events} for b in p.branches]}
                     for p in report.points],
        "fields": [{"path": f.path, "rule": f.rule.name, "line": f.node.span.line if f.node.span else None,
                    "sent": f.sent, "left_out": f.left_out} for f in report.fields],
        "not_reached": report.not_reached(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
