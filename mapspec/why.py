"""Why one event gives what it gives: a mapping evaluated on one event, part by part.

`mapspec explain` prints this record; `mapspec coverage` counts it over many events. Every value in it comes
from code that the generator writes for that expression (`codegen.expression`), run on the event: this module
only decides which parts of an expression are evaluated, by the short circuits the language defines (`and`,
`or`, `else`, `if`, the rules tried in order), and never computes a value itself. Tests check that the
outputs it rebuilds are the translator's, event by event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import optimize
from .codegen import expression
from .compiler import Compiled, load_expression
from .runtime import MISSING, truthy
from .syntax import ast


class Failed:
    """The value of an expression whose generated code raised (a bug): shown, never hidden."""

    def __init__(self, error: BaseException):
        self.error = f"{type(error).__name__}: {error}"

    def __repr__(self) -> str:
        return f"<failed: {self.error}>"


@dataclass
class Step:
    """One expression evaluated: its value, and the parts evaluated to get it, in order."""

    node: ast.Node
    value: Any
    parts: list[Step] = field(default_factory=list)
    #: parts left unevaluated by a short circuit (`a or b` when `a` holds)
    skipped: list[ast.Node] = field(default_factory=list)
    #: a label before the expression: the key of an object's field, `...` for a spread
    label: str = ""
    #: when the node reads a `let` definition alone (`$identity`): the definition
    let: ast.Let | None = None
    #: what a loop evaluated for each element (its `if`, then what it gives), and what a call of one of the
    #: mapping's functions evaluated in its body: counted by coverage, not printed by explain
    inner: list[Step] = field(default_factory=list)
    #: for the body of a function: its parameters' values
    env: dict[str, Any] | None = None

    def walk(self) -> Iterator[Step]:
        """This step and every step below it, parts and inner ones, in order."""
        stack = [self]
        while stack:
            step = stack.pop()
            yield step
            stack.extend(reversed(step.parts + step.inner))


@dataclass
class Field:
    """A field of a request body: sent (`value`), left out (`value` is MISSING), or an element of a `for`."""

    path: str
    value: Any
    #: the part of the mapping that gives it: a Field, a Spread, a list item, a ForEach
    origin: ast.Node
    #: the evaluation of the expression behind it (None for a further field of a spread already shown)
    step: Step | None
    #: for a `for` element: which element of the list it comes from; for what is left out: why
    note: str = ""
    kind: str = "field"  # "field" | "left out" | "element" | "dropped"
    #: why an element of a `for` was dropped
    reason: str = ""


@dataclass
class RequestOutcome:
    shape: ast.Request
    condition: Step | None
    sent: bool
    params: list[tuple[str, Step]] = field(default_factory=list)
    once: Step | None = None
    time: Step | None = None
    fields: list[Field] = field(default_factory=list)
    body: Any = MISSING


@dataclass
class RuleOutcome:
    rule: ast.Rule
    #: "decided" (match: first), "holds" (match: all), "no", "not tried", "compiled out"
    status: str
    condition: Step | None = None
    message: Step | None = None
    requests: list[RequestOutcome] = field(default_factory=list)


@dataclass
class Evaluation:
    rules: list[RuleOutcome]
    #: the steps of every definition evaluated, by `$name`
    lets: dict[str, Step]

    @property
    def deciding(self) -> list[RuleOutcome]:
        return [r for r in self.rules if r.status in ("decided", "holds")]


class Evaluator:
    """Evaluates the parts of one compiled mapping on events."""

    def __init__(self, compiled: Compiled, helpers: Mapping[str, Callable[..., Any]] | None = None):
        """`helpers` replace runtime helpers by name in the code run (a fixed clock for `now`)."""
        self.compiled = compiled
        self.helpers = dict(helpers or {})
        self.document = compiled.document
        self.settings = compiled.settings
        self.inlined = optimize.optimize(compiled.document, compiled.settings, (optimize.inline_settings,))
        self.lets = {"$" + let.name: let for let in compiled.document.lets}
        #: rules the optimizer kept, by the span they share with the mapping's rules
        self.kept = {id(r.span) for r in compiled.optimized.rules}
        self._functions: dict[tuple[int, tuple[str, ...]], tuple[ast.Node, Callable[..., Any]]] = {}
        self._let_steps: dict[str, Step] = {}
        #: the prefixes of event paths (`traits.address` of `traits.address.city`), made once each
        self._prefixes: dict[tuple[int, int], tuple[ast.Node, ast.Path]] = {}
        self.functions = {f.name: f for f in compiled.document.functions}
        #: steps left for following loops element by element and calls into function bodies, on this event
        self._budget = 0
        #: how deep in function bodies the walk is (each level is a few Python frames)
        self._depth = 0
        #: events whose loops or calls were too big to follow in full (coverage counts what was followed)
        self.cut_short = False

    # ---- values, through generated code
    def _inline(self, node: ast.Node) -> ast.Node:
        settings = self.settings

        def fn(n: ast.Node) -> ast.Node:
            if isinstance(n, ast.Setting):
                return ast.Literal(n.span, settings.get(n.name, MISSING))
            return n

        return ast.rewrite(node, fn)

    def value(self, node: ast.Node, event: dict, env: dict[str, Any]) -> Any:
        names = tuple(env)
        key = (id(node), names)
        found = self._functions.get(key)
        if found is None or found[0] is not node:
            found = (node, load_expression(expression(self.inlined, self._inline(node), names), self.helpers))
            self._functions[key] = found
        try:
            return found[1](event, *env.values())
        except Exception as e:  # noqa: BLE001 - a bug in generated code is shown in the explanation
            return Failed(e)

    # ---- steps: what was evaluated, in order
    def step(self, node: ast.Node, event: dict, env: dict[str, Any], label: str = "") -> Step:  # noqa: C901
        self._budget -= 1
        if isinstance(node, ast.Path) and node.root in self.lets and node.root not in env and not node.steps:
            let_step = self.let_step(node.root, event)
            return Step(node, let_step.value, let_step.parts, let_step.skipped, label, let_step.let)
        value = self.value(node, event, env)
        step = Step(node, value, label=label)
        parts, skipped = step.parts, step.skipped
        sub = self.step
        if isinstance(node, ast.Path):
            if node.root in self.lets and node.root not in env:
                parts.append(self.let_step(node.root, event))
            elif node.root and node.steps:
                parts.append(Step(ast.Path(None, node.root, ()), env.get(node.root, MISSING)))
            elif not node.root and len(node.steps) > 1 and value is MISSING:
                # where the path stops: the first part that is missing, or not an object or list
                for i in range(1, len(node.steps)):
                    prefix = self._prefix(node, i)
                    v = self.value(prefix, event, env)
                    if v is MISSING or not isinstance(v, dict | list):
                        parts.append(Step(prefix, v))
                        break
        elif isinstance(node, ast.Binary) and node.op in ("and", "or"):
            operands = _chain(node, node.op)
            for i, operand in enumerate(operands):
                s = sub(operand, event, env)
                parts.append(s)
                if truthy(s.value) == (node.op == "or") and i + 1 < len(operands):
                    skipped.extend(operands[i + 1:])
                    break
        elif isinstance(node, ast.Conditional):
            cond = sub(node.condition, event, env)
            parts.append(cond)
            taken, other = (node.then, node.otherwise) if truthy(cond.value) else (node.otherwise, node.then)
            parts.append(sub(taken, event, env))
            skipped.append(other)
        elif isinstance(node, ast.Guard):
            cond = sub(node.condition, event, env)
            parts.append(cond)
            if truthy(cond.value):
                parts.append(sub(node.value, event, env))
            else:
                skipped.append(node.value)
        elif isinstance(node, ast.Coalesce):
            for i, item in enumerate(node.items):
                s = sub(item, event, env)
                parts.append(s)
                if s.value is not MISSING and s.value is not None:
                    skipped.extend(node.items[i + 1:])
                    break
        elif isinstance(node, ast.Object):
            for entry in node.entries:
                if isinstance(entry, ast.Spread):
                    parts.append(sub(entry.value, event, env, "..."))
                elif isinstance(entry.key, ast.Literal):
                    parts.append(sub(entry.value, event, env, str(entry.key.value)))
                else:
                    parts.append(sub(entry.key, event, env, "key"))
                    parts.append(sub(entry.value, event, env, "value"))
        elif isinstance(node, ast.List):
            for item in node.items:
                if isinstance(item, ast.ForEach):
                    iterable = sub(item.iterable, event, env, f"for {_vars(item)} in")
                    parts.append(Step(item, iterable.value, [iterable], label="for",
                                      inner=self.loop(item, iterable.value, event, env)))
                else:
                    parts.append(sub(item, event, env))
        elif isinstance(node, ast.ListComp | ast.ObjectComp):
            iterable = sub(node.iterable, event, env)
            parts.append(iterable)
            step.inner.extend(self.loop(node, iterable.value, event, env))
        elif isinstance(node, ast.Call) and node.name in self.functions:
            args = [sub(a, event, env) for a in node.args]
            parts.extend(args)
            body = self.call(self.functions[node.name], args, event)
            if body is not None:
                parts.append(body)
        elif isinstance(node, ast.Index):
            parts.extend(sub(child, event, env) for child in (node.base, node.key))
        else:
            for child in node.children():
                if not isinstance(child, ast.Literal):
                    parts.append(sub(child, event, env))
        return step

    def loop(self, node: ast.ForEach | ast.ListComp | ast.ObjectComp, iterated: Any, event: dict,
             env: dict[str, Any]) -> list[Step]:
        """What a loop evaluates for each element: its `if`, then (where it holds) what it gives."""
        out: list[Step] = []
        for bound in elements(node, iterated):
            if self._budget <= 0:
                self.cut_short = True
                break
            inner = {**env, **bound}
            if node.condition is not None:
                cond = self.step(node.condition, event, inner, "if")
                out.append(cond)
                if not truthy(cond.value):
                    continue
            if isinstance(node, ast.ForEach):
                out.append(self.step(node.body, event, inner))
            elif isinstance(node, ast.ListComp):
                out.append(self.step(node.value, event, inner))
            else:
                out.append(self.step(node.key, event, inner, "key"))
                out.append(self.step(node.value, event, inner, "value"))
        return out

    def call(self, f: ast.FunctionDef, args: list[Step], event: dict) -> Step | None:
        """The body of one of the mapping's functions, evaluated with the arguments' values."""
        if self._budget <= 0 or self._depth >= 30 or len(args) != len(f.params):
            self.cut_short = True
            return None
        env = {p: a.value for p, a in zip(f.params, args, strict=True)}
        self._depth += 1
        try:
            body = self.step(f.body, event, env, f.name)
        finally:
            self._depth -= 1
        body.env = env
        return body

    def _prefix(self, node: ast.Path, length: int) -> ast.Path:
        found = self._prefixes.get((id(node), length))
        if found is None or found[0] is not node:
            found = (node, ast.Path(node.span, node.root, node.steps[:length]))
            self._prefixes[(id(node), length)] = found
        return found[1]

    def let_step(self, name: str, event: dict) -> Step:
        found = self._let_steps.get(name)
        if found is None:
            let = self.lets[name]
            inner = self.step(let.value, event, {})
            found = Step(ast.Path(let.span, name, ()), inner.value, [inner] if _worth(inner) else [], let=let)
            self._let_steps[name] = found
        return found

    # ---- the mapping on one event
    def evaluate(self, event: dict, budget: int = 20_000) -> Evaluation:
        """The mapping on one event, part by part; `budget` bounds the steps spent following loops element by
        element and calls into functions (an event holding a list of a million elements is counted in part)."""
        self._let_steps = {}
        self._budget = budget
        self._depth = 0
        self.cut_short = False
        outcomes: list[RuleOutcome] = []
        decided = False
        every = self.document.match == "all"
        for rule in self.document.rules:
            if decided:
                outcomes.append(RuleOutcome(rule, "not tried"))
                continue
            cond = self.step(rule.condition, event, {}) if rule.condition is not None else None
            holds = cond is None or truthy(cond.value)
            if id(rule.span) not in self.kept:
                outcomes.append(RuleOutcome(rule, "compiled out", cond))
                continue
            if not holds:
                outcomes.append(RuleOutcome(rule, "no", cond))
                continue
            outcome = RuleOutcome(rule, "holds" if every else "decided", cond)
            decided = not every
            if rule.message is not None:
                outcome.message = self.step(rule.message, event, {})
            for request in rule.requests:
                outcome.requests.append(self.request(request, event))
            outcomes.append(outcome)
        return Evaluation(outcomes, dict(self._let_steps))

    def request(self, shape: ast.Request, event: dict) -> RequestOutcome:
        cond = self.step(shape.condition, event, {}) if shape.condition is not None else None
        out = RequestOutcome(shape, cond, cond is None or truthy(cond.value))
        if not out.sent:
            return out
        for param in shape.params:
            out.params.append((str(param.key.value), self.step(param.value, event, {})))  # type: ignore[attr-defined]
        if shape.once is not None:
            out.once = self.step(shape.once, event, {})
        if shape.time is not None:
            out.time = self.step(shape.time, event, {})
        out.body = self.shape(shape.body, event, {}, "", out.fields)
        return out

    def shape(self, node: ast.Node, event: dict, env: dict[str, Any], path: str, out: list[Field]) -> Any:
        """The value a body's shape builds, with a Field for every field sent, left out, or repeated by `for`."""
        if isinstance(node, ast.Object):
            built: dict[str, Any] = {}
            for entry in node.entries:
                if isinstance(entry, ast.Spread):
                    step = self.step(entry.value, event, env)
                    if isinstance(step.value, dict) and step.value:
                        first: Step | None = step
                        for key, value in step.value.items():
                            built[key] = value
                            out.append(Field(_join(path, key), value, entry, first))
                            first = None
                    else:
                        note = "adds nothing: an empty object" if isinstance(step.value, dict) else \
                            "adds nothing: not an object"
                        out.append(Field(path or "(the body)", MISSING, entry, step, note, "left out"))
                    continue
                key_step = None
                if isinstance(entry.key, ast.Literal):
                    key = entry.key.value
                else:
                    key_step = self.step(entry.key, event, env, "key")
                    if not isinstance(key_step.value, str):
                        out.append(Field(_join(path, f"[{_text(entry.key)}]"), MISSING, entry, key_step,
                                         "its name is missing", "left out"))
                        continue
                    key = key_step.value
                where = _join(path, key)
                if isinstance(entry.value, ast.Object | ast.List):
                    built[key] = self.shape(entry.value, event, env, where, out)
                    continue
                step = self.step(entry.value, event, env)
                if key_step is not None:  # what the name and the value were made from
                    step = Step(entry, step.value, [key_step, replace(step, label="value")])
                if step.value is MISSING:
                    out.append(Field(where, MISSING, entry, step, kind="left out"))
                else:
                    built[key] = step.value
                    out.append(Field(where, step.value, entry, step))
            return built
        if isinstance(node, ast.List):
            items: list[Any] = []
            for item in node.items:
                if not isinstance(item, ast.ForEach):
                    where = f"{path}[{len(items)}]"
                    if isinstance(item, ast.Object | ast.List):
                        items.append(self.shape(item, event, env, where, out))
                        continue
                    step = self.step(item, event, env)
                    if step.value is MISSING:
                        out.append(Field(where, MISSING, item, step, kind="left out"))
                    else:
                        items.append(step.value)
                        out.append(Field(where, step.value, item, step))
                    continue
                iterable = self.step(item.iterable, event, env)
                bound_all = elements(item, iterable.value)
                if not bound_all:
                    note = "no elements: the list is empty" if isinstance(iterable.value, list) else \
                        "no elements: the object is empty" if isinstance(iterable.value, dict) else \
                        "no elements: not a list or an object"
                    out.append(Field(f"{path}[]", MISSING, item, iterable, note, "dropped"))
                for index, bound in enumerate(bound_all):
                    inner = {**env, **bound}
                    element = bound[item.var]
                    which = (f"key {_text(ast.Literal(None, list(iterable.value)[index]))}"
                             if isinstance(iterable.value, dict) else f"element {index}") + \
                        f" of {_text(item.iterable)}"
                    if item.condition is not None:
                        cond = self.step(item.condition, event, inner)
                        if not truthy(cond.value):
                            out.append(Field(f"{path}[]", element, item, cond, which, "dropped",
                                             f"`if {_text(item.condition)}` is false"))
                            continue
                    where = f"{path}[{len(items)}]"
                    if isinstance(item.body, ast.Object | ast.List):
                        out.append(Field(where, element, item, None, which, "element"))
                        items.append(self.shape(item.body, event, inner, where, out))
                        continue
                    step = self.step(item.body, event, inner)
                    if step.value is MISSING:
                        out.append(Field(f"{path}[]", element, item, step, which, "dropped", "`yield` is missing"))
                    else:
                        items.append(step.value)
                        out.append(Field(where, step.value, item, step, which))
            return items
        step = self.step(node, event, env)
        out.append(Field(path, step.value, node, step, kind="field" if step.value is not MISSING else "left out"))
        return step.value


def _chain(node: ast.Node, op: str) -> list[ast.Node]:
    """The operands of `a and b and c` (or of `or`), in order."""
    out: list[ast.Node] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Binary) and n.op == op:
            todo.extend((n.right, n.left))
        else:
            out.append(n)
    return out


def elements(node: ast.ForEach | ast.ListComp | ast.ObjectComp, iterated: Any) -> list[dict[str, Any]]:
    """The variables a loop binds for each element, as the language iterates: a list gives its elements
    (`$i, $x`: index and element), an object its keys (`$k, $v`: key and value), anything else nothing."""
    var, index = node.var, node.index_var
    if isinstance(iterated, list):
        return [{index: i, var: x} if index else {var: x} for i, x in enumerate(iterated)]
    if isinstance(iterated, dict):
        return [{index: k, var: v} if index else {var: k} for k, v in iterated.items()]
    return []


def _vars(node: ast.ForEach | ast.ListComp | ast.ObjectComp) -> str:
    return f"{node.index_var}, {node.var}" if node.index_var else node.var


def _worth(step: Step) -> bool:
    return not isinstance(step.node, ast.Literal)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _text(node: ast.Node) -> str:
    from .syntax.unparse import unparse

    return unparse(node)
