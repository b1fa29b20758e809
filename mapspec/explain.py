"""`mapspec explain`: for one event, which rule decided and why, and where every field sent came from.

The translator runs on the event under a line tracer (`mapspec.trace`): what it returned and which rule it
took are the facts. The reasons come from `mapspec.why`, which evaluates each part of the mapping on the same
event through generated code: for every rule tried, each value its condition read and what the condition
gave; for every field sent, the chain of definitions and values behind it; for every field left out, the
value that was missing and where it went missing.
"""

from __future__ import annotations

import json
from typing import Any

from .compiler import Compiled, load_compiled
from .events import Origin
from .runtime import MISSING, iso8601, now
from .syntax import ast
from .syntax.unparse import unparse
from .terminal import printable, printable_line
from .trace import traced_run
from .types import kind_of
from .why import Evaluation, Evaluator, Failed, Field, RequestOutcome, RuleOutcome, Step

#: values longer than this are cut in the text (with what was left out counted); --format json has them whole
VALUE_WIDTH = 100


# ------------------------------------------------------------------ values


def show(value: Any, limit: int = VALUE_WIDTH) -> str:
    """A value on one line, as JSON; a long list, object or text is cut, saying how much is left out."""
    if value is MISSING:
        return "missing"
    if isinstance(value, Failed):
        return f"(failed: {value.error})"
    text = _json(value)
    if len(text) <= limit:
        return text
    if isinstance(value, dict | list):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        shown: list[str] = []
        used = 2
        for item in items:
            piece = f"{_json(item[0])}: {_json(item[1])}" if isinstance(value, dict) else _json(item)
            if used + len(piece) + 2 > limit - 12 and shown:
                break
            if len(piece) > limit - 12:
                piece = piece[: limit - 24] + "…"
            shown.append(piece)
            used += len(piece) + 2
        rest = len(items) - len(shown)
        more = f", … {rest} more" if rest else ""
        return ("{" if isinstance(value, dict) else "[") + ", ".join(shown) + more + \
            ("}" if isinstance(value, dict) else "]")
    return f"{text[: limit - 20]}… ({len(text)} characters)"


def _json(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if kind_of(value) == "time":
        return f"time {iso8601(value)}"
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=_plain)
    except (RecursionError, ValueError):
        return "(a value nested too deep to show)"


def _plain(value: Any) -> Any:
    if value is MISSING:
        return "(missing)"
    if kind_of(value) == "time":
        return iso8601(value)
    return repr(value)


def _line(node: ast.Node | None) -> str:
    return f"line {node.span.line}" if node is not None and node.span is not None else "line ?"


# ------------------------------------------------------------------ the report


def explain(compiled: Compiled, event: dict, *, origin: Origin | None = None) -> str:
    """The report for a terminal: names and values from the mapping and the event have their control
    characters escaped (`mapspec.terminal`). `origin` says where the event came from (a file and line)."""
    return explain_report(compiled, event, origin=origin)[0]


def explain_report(compiled: Compiled, event: dict, *, origin: Origin | None = None) -> tuple[str, bool]:
    """The report, and whether the translator failed on the event (a bug, which the report shows)."""
    facts = _Facts(compiled, event)
    return printable(_Text(facts).render(origin.describe(event) if origin else "")), "error" in facts.result


def explain_json(compiled: Compiled, event: dict, *, origin: Origin | None = None) -> dict[str, Any]:
    """The same report as data (`mapspec explain --format json`)."""
    facts = _Facts(compiled, event)
    return _Json(facts).render(origin.data(event) if origin else None)


class _Facts:
    """The translator's result on the event, and the evaluation that explains it."""

    def __init__(self, compiled: Compiled, event: dict):
        self.compiled = compiled
        instant = now()
        clock = {"now": lambda: instant}  # the translator and its explanation read one time
        trace = traced_run(compiled, load_compiled(compiled, clock), event)
        self.result: dict[str, Any] = trace.result
        self.fired = trace.fired
        self.evaluation: Evaluation = Evaluator(compiled, clock).evaluate(event)
        deciding = [r.rule for r in self.evaluation.deciding]
        #: where the explanation and the translator disagree (a bug, said out loud)
        self.disagreement = ""
        if compiled.document.match == "first" and "error" not in self.result:
            taken = deciding[0] if deciding else None
            if (taken.span if taken else None) is not (self.fired.span if self.fired else None):
                self.disagreement = (f"the translator took rule `{self.fired.name if self.fired else 'none'}`, "
                                     f"the explanation `{taken.name if taken else 'none'}`")
        sent = [(rule, req) for rule in self.evaluation.deciding for req in rule.requests if req.sent]
        actual = self.result.get("requests") or []
        self.sent: list[tuple[RuleOutcome, RequestOutcome, dict]] = []
        if len(sent) == len(actual):
            self.sent = [(rule, req, got) for (rule, req), got in zip(sent, actual, strict=True)]
        elif "error" not in self.result and not self.disagreement:
            self.disagreement = f"the translator sent {len(actual)} requests, the explanation {len(sent)}"

    @property
    def headline(self) -> str:
        result = self.result
        if "error" in result:
            return f"the translator failed on this event: {result['error']}"
        rules = self.evaluation.deciding
        names = ", ".join(f"`{r.rule.name}`" for r in rules)
        if self.compiled.document.match == "all":
            who = f"rule{'s' * (len(rules) != 1)} {names} hold" if rules else "no rule holds"
        else:
            who = f"rule {names} decided" if rules else "no rule decided"
        requests = result.get("requests") or []
        if "rejected" in result:
            sent = f"sends {len(requests)} request{'s' * (len(requests) != 1)}, and " if requests else ""
            return f"{who}: {sent}rejected: {result['rejected']['message']}"
        if requests:
            return f"{who}: sends {len(requests)} request{'s' * (len(requests) != 1)}"
        if any(r.rule.action == "skip" for r in rules):
            reason = self.skip_reason
            return f"{who}: skipped" + (f": {reason}" if reason else "")
        if rules:
            return f"{who}: nothing sent (the `when` of every request is false)"
        return f"{who}: skipped (nothing sent)"

    @property
    def skip_reason(self) -> str:
        """Why nothing is sent: the translator's own reason (`Skipped`), else the skip rule's message."""
        reason = getattr(self.result.get("requests"), "reason", None)
        if isinstance(reason, str) and "rejected" not in self.result:
            return reason
        for outcome in self.evaluation.deciding:
            if outcome.rule.action == "skip" and outcome.message is not None:
                value = outcome.message.value
                return value if isinstance(value, str) else show(value)
        return ""


def _settings(compiled: Compiled) -> list[tuple[str, Any, str]]:
    """(name, value, where it comes from) of every setting the mapping declares."""
    out = []
    for decl in compiled.document.settings:
        value = compiled.settings.get(decl.name, MISSING)
        if value is MISSING:
            where = "unset"
        elif decl.default is not MISSING and value == decl.default and type(value) is type(decl.default):
            where = "default"
        else:
            where = "given"
        out.append((decl.name, value, where))
    return out


class _Text:
    def __init__(self, facts: _Facts):
        self.facts = facts
        self.out: list[str] = []
        #: definitions whose chain has been shown: later mentions say so instead of repeating it
        self.expanded: set[str] = set()

    def render(self, origin: str) -> str:
        f = self.facts
        out = self.out
        out.append(f"{f.compiled.source.path}: {f.headline}")
        if origin:
            out.append(f"  the event: {origin}")
        if f.disagreement:
            out.append(f"  warning: {f.disagreement}; this is a bug of mapspec: please report it with the event")
        settings = _settings(f.compiled)
        if settings:
            out += ["", "settings:"]
            width = max(len(name) for name, _, _ in settings)
            for name, value, where in settings:
                out.append(f"  {name:<{width}}  " + ("not set" if value is MISSING else
                                                        f"= {show(value)}" + ("  (the default)" if where == "default" else "")))
        out += ["", "rules, in order:"]
        for outcome in f.evaluation.rules:
            self.rule(outcome)
        out.append("")
        if "error" in f.result:
            out.append("this is a bug of mapspec or of the mapping's functions: please report it with the event")
            return "\n".join(out) + "\n"
        for outcome in f.evaluation.deciding:
            if outcome.rule.action == "reject":
                out.append(f"rejected by rule `{outcome.rule.name}`: {self.message(outcome)}")
                self.message_chain(outcome)
                out.append("")
            elif outcome.rule.action == "skip":
                out.append(f"skipped by rule `{outcome.rule.name}`" +
                           (f": {self.message(outcome)}" if outcome.message is not None else ""))
                self.message_chain(outcome)
                out.append("")
            for request in outcome.requests:
                if not request.sent:
                    self.unsent(outcome, request)
        for outcome, request, actual in f.sent:
            self.request(outcome, request, actual)
        # one entry, one line: a newline in a key or a rule name is escaped, never a line of its own
        return "\n".join(printable_line(line) for line in out).rstrip("\n") + "\n"

    # ---- rules
    def rule(self, outcome: RuleOutcome) -> None:
        rule = outcome.rule
        status = {"decided": "DECIDED", "holds": "HOLDS", "no": "no", "not tried": "not tried (a rule before decided)",
                  "compiled out": "compiled out (never holds with these settings)"}[outcome.status]
        self.out.append(f"  {rule.name}  ({_line(rule)})  {status}")
        if outcome.status == "not tried":
            return
        if outcome.condition is None:
            self.out.append("    (no condition: it always holds)")
            return
        self.out.append(f"    when {unparse(rule.condition)}  ->  {self.truth(outcome.condition.value)}")
        self.parts(outcome.condition, 6, set(), conditions=True)

    @staticmethod
    def truth(value: Any) -> str:
        from .runtime import truthy

        if isinstance(value, bool):
            return str(value).lower()
        return f"{show(value)}, which is {'true' if truthy(value) else 'false'}"

    # ---- steps
    def parts(self, step: Step, indent: int, seen: set[str], conditions: bool = False) -> None:
        """The parts of an evaluation that explain it, one line each, nested."""
        for part in step.parts:
            self.step(part, indent, seen, conditions)
        if conditions and isinstance(step.node, ast.Binary) and step.node.op in ("and", "or"):
            before = "false" if step.node.op == "and" else "true"
            for node in step.skipped:
                self.out.append(" " * indent + f"{unparse(node)}: not evaluated (a part before it is {before})")

    def step(self, step: Step, indent: int, seen: set[str], conditions: bool = False) -> None:
        node = step.node
        if _constant(node) or (isinstance(node, ast.Path) and node.root and not node.steps and step.let is None):
            return  # a constant says itself; a loop variable's element is shown with the element
        if isinstance(node, ast.Unary) and node.op == "not" and step.parts:
            inner = step.parts[0]
            if not isinstance(inner.node, ast.Literal):  # `not x`: its value, then what x read
                text = unparse(node)
                if text in seen:
                    return
                seen.add(text)
                self.out.append(" " * indent + f"{text} = {show(step.value)}")
                self.parts(inner, indent + 2, seen, conditions)
                return
        bare = unparse(node)
        if step.env is not None:  # the body of one of the mapping's functions, with its arguments
            args = ", ".join(f"{p} = {show(v, 40)}" for p, v in step.env.items())
            self.out.append(" " * indent + f"in {step.label}({args}): {bare} = {show(step.value)}")
            self.parts(step, indent + 2, set(), conditions)
            return
        if bare in seen:
            return
        seen.add(bare)
        text = (f"{step.label}: " if step.label else "") + bare
        pad = " " * indent
        if step.let is not None:
            name = "$" + step.let.name
            head = f"{pad}{text} = {show(step.value)}"
            if name in self.expanded:
                self.out.append(f"{head}  (let {step.let.name}, {_line(step.let)}: as above)")
                return
            self.expanded.add(name)
            if _constant(step.let.value):
                self.out.append(f"{head}  <- let {step.let.name}, a constant  ({_line(step.let)})")
                return
            self.out.append(f"{head}  <- let {step.let.name}: {unparse(step.let.value)}  ({_line(step.let)})")
            for part in step.parts:
                self.parts(part, indent + 2, seen, conditions) if part.node is step.let.value else \
                    self.step(part, indent + 2, seen, conditions)
            return
        self.out.append(f"{pad}{text} = {show(step.value)}{_why_missing(step)}")
        self.parts(step, indent + 2, seen, conditions)

    # ---- what the deciding rules did
    def message(self, outcome: RuleOutcome) -> str:
        if outcome.message is None:
            return f"rejected by rule {outcome.rule.name!r}"
        value = outcome.message.value
        return value if isinstance(value, str) else show(value)

    def message_chain(self, outcome: RuleOutcome) -> None:
        if outcome.message is None or isinstance(outcome.message.node, ast.Literal):
            return
        self.out.append(f"  message: {unparse(outcome.message.node)}  ({_line(outcome.message.node)})")
        self.parts(outcome.message, 6, set())

    def unsent(self, outcome: RuleOutcome, request: RequestOutcome) -> None:
        shape = request.shape
        assert request.condition is not None and shape.condition is not None
        self.out.append(f"not sent: {shape.endpoint} of rule `{outcome.rule.name}` ({_line(shape)})")
        self.out.append(f"  when {unparse(shape.condition)}  ->  {self.truth(request.condition.value)}")
        self.parts(request.condition, 4, set(), conditions=True)
        self.out.append("")

    def request(self, outcome: RuleOutcome, request: RequestOutcome, actual: dict) -> None:
        out = self.out
        shape = request.shape
        out.append(f"sends {actual.get('method', '')} {actual.get('url', '')}  (rule `{outcome.rule.name}`, "
                   f"{_line(shape)})")
        if request.condition is not None and shape.condition is not None:
            out.append(f"  when {unparse(shape.condition)}  ->  {self.truth(request.condition.value)}")
            self.parts(request.condition, 4, set(), conditions=True)
        for name, step in request.params:
            out.append(f"  path parameter {name} = {show(step.value)}  <- {unparse(step.node)}  ({_line(step.node)})")
            self.parts(step, 6, set())
        for what, step in (("once", request.once), ("time", request.time)):
            if step is not None:
                out.append(f"  {what} = {show(step.value)}  <- {unparse(step.node)}  ({_line(step.node)})")
                self.parts(step, 6, set())
        fields = _final(request.fields)
        for f in fields:
            if f.kind in ("field", "element"):
                self.field(f)
        left = [f for f in fields if f.kind in ("left out", "dropped")]
        if left:
            out.append("  left out:")
            for f in left:
                self.left_out(f)
        if request.body != actual.get("body"):
            out.append("  warning: the body rebuilt here differs from the translator's; this is a bug of mapspec")
        out.append("")

    def field(self, f: Field) -> None:
        origin = f.origin
        if f.kind == "element":
            self.out.append(f"  {f.path}: {f.note} = {show(f.value)}  <- {_loop(origin)}  ({_line(origin)})")
            return
        self.out.append(f"  {f.path} = {show(f.value)}  <- {_origin(f)}  ({_line(origin)})")
        if f.step is not None:
            self.chain(f.step)

    def chain(self, step: Step) -> None:
        """What a field's value was made from: the value's own parts, or a definition's chain."""
        if step.let is not None or not isinstance(step.node, ast.Path):
            if step.let is not None:
                self.step(step, 6, set())
            else:
                self.parts(step, 6, set())
        elif step.parts:  # a path into a definition or a loop variable
            self.parts(step, 6, set())

    def left_out(self, f: Field) -> None:
        origin = f.origin
        if f.kind == "dropped":
            value = "" if f.value is MISSING else f" = {show(f.value)}"
            reason = f": {f.reason}" if f.reason else ""
            self.out.append(f"    {f.path}: {f.note}{value}{reason}  <- {_loop(origin)}  ({_line(origin)})")
        else:
            note = f.note or (_why_missing(f.step).strip(" ()") if f.step is not None else "")
            self.out.append(f"    {f.path}  <- {_origin(f)}  ({_line(origin)})" + (f": {note}" if note else ""))
        if f.step is None:
            return
        if f.kind == "dropped" and f.value is MISSING:  # the list itself
            self.step(f.step, 6, set())
        elif f.step.let is not None:
            self.chain(f.step)
        else:
            self.parts(f.step, 6, set(), conditions=True)


def _loop(node: ast.Node) -> str:
    if isinstance(node, ast.ForEach):
        return f"for {node.var} in {unparse(node.iterable)}" + (
            f" if {unparse(node.condition)}" if node.condition is not None else "")
    return unparse(node)


def _origin(f: Field) -> str:
    origin = f.origin
    if isinstance(origin, ast.Spread):
        return f"...: {unparse(origin.value)}"
    if isinstance(origin, ast.Field):
        if isinstance(origin.key, ast.Literal):
            return unparse(origin.value)
        return f"{unparse(origin.key)}: {unparse(origin.value)}"
    if isinstance(origin, ast.ForEach):
        return f"for {origin.var} in {unparse(origin.iterable)}: {unparse(origin.body)}"
    return unparse(origin)


def _why_missing(step: Step) -> str:
    """For a lookup that gave missing: that the key is not there; for a setting: that it is not set."""
    if step.value is MISSING and isinstance(step.node, ast.Setting):
        return f"  (setting `{step.node.name}` is not set)"
    if step.value is MISSING and isinstance(step.node, ast.Index) and len(step.parts) == 2:
        base, key = step.parts[0].value, step.parts[1].value
        if isinstance(base, dict) and isinstance(key, str) and key not in base:
            return f"  (no key {show(key)})"
        if isinstance(base, list) and isinstance(key, int) and not isinstance(key, bool):
            return f"  (no element {key}: the list has {len(base)})"
    return ""


def _constant(node: ast.Node) -> bool:
    """A definition that reads nothing: its value says all."""
    return not any(isinstance(n, ast.Path | ast.Setting | ast.Call) for n in node.walk())


def _final(fields: list[Field]) -> list[Field]:
    """The fields as the body holds them: a field set twice is shown once, where it was first set, with the
    value set last; a field left out that something else gave is not left out."""
    last = {f.path: f for f in fields if f.kind == "field"}
    out: list[Field] = []
    placed: set[str] = set()
    for f in fields:
        if f.kind == "field":
            if f.path in placed:
                continue
            placed.add(f.path)
            out.append(last[f.path])
        elif f.kind == "left out" and f.path in last:
            continue
        else:
            out.append(f)
    return out


# ------------------------------------------------------------------ as data


class _Json:
    def __init__(self, facts: _Facts):
        self.facts = facts

    def render(self, origin: dict[str, Any] | None) -> dict[str, Any]:
        f = self.facts
        doc: dict[str, Any] = {"mapping": f.compiled.source.path, "summary": f.headline}
        if origin:
            doc["event"] = origin
        doc["settings"] = [{"name": name, **_value(value), "from": where} for name, value, where in
                           _settings(f.compiled)]
        doc["rules"] = [self.rule(o) for o in f.evaluation.rules]
        doc["definitions"] = {name[1:]: self.definition(step) for name, step in f.evaluation.lets.items()}
        result = dict(f.result)
        if "requests" in result and not result["requests"] and "rejected" not in result:
            result["requests"] = []
            result["skipped"] = {"reason": f.skip_reason or "nothing to send"}
        doc["result"] = result
        doc["requests"] = [self.request(o, r, actual) for o, r, actual in f.sent]
        if f.disagreement:
            doc["disagreement"] = f.disagreement
        return doc

    @staticmethod
    def definition(step: Step) -> dict[str, Any]:
        let = step.let
        assert let is not None
        out: dict[str, Any] = {"line": let.span.line if let.span else None, "expression": unparse(let.value),
                               **_value(step.value)}
        inner = step.parts[0] if step.parts else None
        parts = [tree(p) for p in inner.parts if not isinstance(p.node, ast.Literal)] if inner else []
        if parts:
            out["parts"] = parts
        if inner is not None and inner.skipped:
            out["not_evaluated"] = [unparse(n) for n in inner.skipped]
        return out

    def rule(self, outcome: RuleOutcome) -> dict[str, Any]:
        rule = outcome.rule
        out: dict[str, Any] = {"name": rule.name, "line": rule.span.line if rule.span else None,
                               "action": rule.action, "status": outcome.status}
        if outcome.condition is not None:
            out["condition"] = tree(outcome.condition)
        if outcome.message is not None:
            out["message"] = tree(outcome.message)
        unsent = [r for r in outcome.requests if not r.sent]
        if unsent:
            out["not_sent"] = [{"endpoint": r.shape.endpoint, "condition": tree(r.condition)}
                               for r in unsent if r.condition is not None]
        return out

    def request(self, outcome: RuleOutcome, request: RequestOutcome, actual: dict) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": outcome.rule.name, "endpoint": request.shape.endpoint,
                               "line": request.shape.span.line if request.shape.span else None,
                               "method": actual.get("method"), "url": actual.get("url")}
        if request.condition is not None:
            out["condition"] = tree(request.condition)
        if request.params:
            out["params"] = {name: tree(step) for name, step in request.params}
        for what, step in (("once", request.once), ("time", request.time)):
            if step is not None:
                out[what] = tree(step)
        fields = _final(request.fields)
        out["fields"] = [self.field(f) for f in fields if f.kind in ("field", "element")]
        out["left_out"] = [self.field(f) for f in fields if f.kind in ("left out", "dropped")]
        return out

    @staticmethod
    def field(f: Field) -> dict[str, Any]:
        out: dict[str, Any] = {"path": f.path, "kind": f.kind}
        if f.kind in ("field", "element"):
            out.update(_value(f.value))
        out["from"] = _origin(f)
        out["line"] = f.origin.span.line if f.origin.span else None
        if f.note:
            out["note"] = f.note
        if f.reason:
            out["reason"] = f.reason
        if f.step is not None:
            out["why"] = tree(f.step)
        return out


def _value(value: Any) -> dict[str, Any]:
    """A value as JSON: `{"value": ...}`, `{"missing": true}`, or a time as its ISO text with its kind."""
    if value is MISSING:
        return {"missing": True}
    if isinstance(value, Failed):
        return {"failed": value.error}
    if kind_of(value) == "time":
        return {"value": iso8601(value), "kind": "time"}
    return {"value": value}


def tree(step: Step) -> dict[str, Any]:
    """An evaluation as data: the expression, its value, the definition it reads, and its parts."""
    out: dict[str, Any] = {"expression": unparse(step.node), **_value(step.value)}
    if step.label:
        out["label"] = step.label
    if step.let is not None:  # its chain is under `definitions`, once
        out["definition"] = step.let.name
        return out
    parts = [tree(p) for p in step.parts if not isinstance(p.node, ast.Literal)]
    if parts:
        out["parts"] = parts
    if step.skipped:
        out["not_evaluated"] = [unparse(n) for n in step.skipped]
    return out
