"""A small type system: the set of kinds a value may have at run time.

Kinds: "missing" (no value), "null", "bool", "int", "float", "str", "list", "object", and "time"
(a parsed time, which must be formatted before it is sent). The checker uses kinds to report
certain mismatches; the code generator uses them to leave out checks that cannot fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from . import stdlib
from .syntax import ast

Kinds = frozenset[str]

JSON: Kinds = frozenset({"null", "bool", "int", "float", "str", "list", "object"})
EVENT_VALUE: Kinds = JSON | {"missing"}
BOOL: Kinds = frozenset({"bool"})
STR: Kinds = frozenset({"str"})
NUM: Kinds = frozenset({"int", "float"})
#: what a function's parameter may hold
ANYTHING: Kinds = JSON | {"missing", "time"}

SETTING_KINDS: dict[str, Kinds] = {
    "string": STR, "bool": BOOL, "number": NUM, "integer": frozenset({"int"}),
    "object": frozenset({"object"}), "list": frozenset({"list"}), "any": JSON,
}


def kind_of(value: object) -> str:
    if value is ast.MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "time"


def describe(kinds: Kinds) -> str:
    if kinds >= JSON - {"null"}:
        rest = kinds - JSON
        return " or ".join(["any JSON value"] + sorted(rest - {"missing"}))
    names = {"str": "text", "int": "integer", "float": "number", "bool": "boolean", "object": "object",
             "list": "list", "null": "null", "missing": "missing", "time": "time"}
    if kinds >= NUM:
        kinds = (kinds - NUM) | {"number"}
        names["number"] = "number"
    return " or ".join(sorted(names[k] for k in kinds)) or "nothing"


_TESTS = {"is_string": frozenset({"str"}), "is_number": frozenset({"int", "float"}),
          "is_bool": frozenset({"bool"}), "is_list": frozenset({"list"}), "is_object": frozenset({"object"})}


def _capture_kinds(pattern: ast.Node) -> Kinds:
    """What regex_capture gives for a written-out pattern: named groups, groups, or the match."""
    if isinstance(pattern, ast.Literal) and isinstance(pattern.value, str):
        try:
            compiled = re.compile(pattern.value)
        except re.error:
            return frozenset({"missing"})
        kind = "object" if compiled.groupindex else "list" if compiled.groups else "str"
        return frozenset({kind, "missing"})
    return frozenset({"str", "list", "object", "missing"})


def _conjuncts(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def facts_of(condition: ast.Node, kinds: Callable[[ast.Node], Kinds], holds: bool = True) -> dict[tuple, Kinds]:
    """What a condition says about paths, (root, steps) -> kinds, where it holds (or, with `holds=False`, where
    it does not): `exists(x)`, the kind tests (`is_string(x)`, ...) and `x == "text"`, through `and`, `or`
    and `not` (`not (a or b)` says what `not a` and `not b` say). `kinds` gives a path's kinds without the
    condition."""
    out: dict[tuple, Kinds] = {}

    def add(part: ast.Node, positive: bool) -> None:
        while isinstance(part, ast.Unary) and part.op == "not":
            part, positive = part.operand, not positive
        if isinstance(part, ast.Binary) and part.op in ("and", "or"):
            if (part.op == "and") == positive:  # both sides hold (or, negated, neither does)
                add(part.left, positive)
                add(part.right, positive)
            return
        found: Kinds | None = None
        subject: ast.Node | None = None
        if isinstance(part, ast.Call) and len(part.args) == 1 and isinstance(part.args[0], ast.Path):
            subject = part.args[0]
            if part.name == "exists":
                found = kinds(subject) - {"missing"} if positive else frozenset({"missing"})
            elif part.name in _TESTS and positive:
                found = _TESTS[part.name]
        elif (positive and isinstance(part, ast.Binary) and part.op == "=="
              and isinstance(part.left, ast.Path) and isinstance(part.right, ast.Literal)
              and isinstance(part.right.value, str)):
            subject, found = part.left, frozenset({"str"})
        if subject is None or found is None:
            return
        key = (subject.root, subject.steps)  # type: ignore[attr-defined]
        out[key] = (out.get(key) or kinds(subject)) & found

    add(condition, holds)
    return out


class Typer:
    """Infers kinds of expressions. `variables` maps `$name` to kinds; `settings` setting names to kinds."""

    def __init__(self, variables: Mapping[str, Kinds], settings: Mapping[str, Kinds],
                 functions: Mapping[str, ast.FunctionDef] | None = None):
        self.variables = dict(variables)
        self.settings = settings
        self.functions = dict(functions or {})
        # keyed by id(); the node is kept beside its kinds so that its id cannot be reused meanwhile
        self._memo: dict[int, tuple[ast.Node, Kinds]] = {}
        #: the functions whose result is being worked out (a recursive call is any value)
        self._calling: set[str] = set()
        #: what the conditions around the expression say about paths: (root, steps) -> kinds
        self.narrow: dict[tuple, Kinds] = {}

    def bind(self, name: str, kinds: Kinds) -> None:
        self.variables[name] = kinds

    def bind_params(self, f: ast.FunctionDef) -> None:
        """A function's parameters, as its body sees them: anything, missing included."""
        for p in f.params:
            self.bind(p, ANYTHING)

    def bind_loop(self, n: ast.ForEach | ast.ListComp | ast.ObjectComp) -> None:
        """The kinds of a loop's variables, from the kinds of what it iterates."""
        kinds = self(n.iterable)
        if n.index_var is None:
            self.bind(n.var, JSON if "list" in kinds else STR if "object" in kinds else frozenset({"missing"}))
            return
        self.bind(n.index_var, (frozenset({"int"}) if "list" in kinds else frozenset())
                  | (STR if "object" in kinds else frozenset()) or frozenset({"missing"}))
        self.bind(n.var, JSON if kinds & {"list", "object"} else frozenset({"missing"}))

    def call_kinds(self, f: ast.FunctionDef, args: tuple[ast.Node, ...]) -> Kinds:
        """The kinds of a call of one of the mapping's functions: its body with the arguments' kinds."""
        if f.name in self._calling or len(args) != len(f.params) or len(self._calling) > 30:
            return ANYTHING  # recursive, misused, or too deep a chain to follow
        inner = Typer(self.variables, self.settings, self.functions)
        inner._calling = self._calling | {f.name}
        for p, a in zip(f.params, args, strict=True):
            inner.bind(p, self(a))
        return inner(f.body) | {"missing"}  # a call past the depth guard gives missing

    def __call__(self, node: ast.Node) -> Kinds:
        found = self._memo.get(id(node))
        if found is not None and found[0] is node:
            return found[1]
        kinds = self._infer(node)
        self._memo[id(node)] = (node, kinds)
        return kinds

    def under(self, narrow: Mapping[tuple, Kinds]) -> Typer:
        """This typer where the paths of `narrow` ((root, steps) -> kinds) are known to have those kinds
        (inside `if is_string(x)`, say): the same variables (a binding made later is seen), its own memo."""
        if not narrow:
            return self
        inner = Typer.__new__(Typer)
        inner.variables, inner.settings, inner.functions = self.variables, self.settings, self.functions
        inner._memo, inner._calling = {}, self._calling
        inner.narrow = {**self.narrow, **{k: self.narrow.get(k, v) & v for k, v in narrow.items()}}
        return inner

    def _narrowed(self, value: ast.Node, condition: ast.Node) -> Kinds:
        """The kinds of `value` where `condition` holds: `x if is_string(x)` is text, and so is
        `non_empty(x) if is_string(x)`."""
        facts = facts_of(condition, self)
        return self.under(facts)(value) if facts else self(value)

    def _infer(self, n: ast.Node) -> Kinds:  # noqa: C901 - one case per node type
        if isinstance(n, ast.Literal):
            return frozenset({kind_of(n.value)})
        if isinstance(n, ast.Path):
            if self.narrow:
                found = self.narrow.get((n.root, n.steps))
                if found is not None:
                    return found
            if n.root == "":
                return EVENT_VALUE if n.steps else frozenset({"object"})  # `$event` is an object
            base = self.variables.get(n.root, EVENT_VALUE | {"time"})
            if not n.steps:
                return base
            return EVENT_VALUE if base & {"list", "object"} else frozenset({"missing"})
        if isinstance(n, ast.Setting):
            return self.settings.get(n.name, JSON) | {"missing"}
        if isinstance(n, ast.Index):
            if isinstance(n.base, ast.Literal) and isinstance(n.base.value, dict):  # a table written out
                return frozenset(kind_of(v) for v in n.base.value.values()) | {"missing"}
            return EVENT_VALUE
        if isinstance(n, ast.Call):
            fn = stdlib.FUNCTIONS.get(n.name)
            if n.name == "non_empty" and n.args:  # the argument itself, when it is non-empty
                return (self(n.args[0]) & {"str", "list", "object"}) | {"missing"}
            if n.name == "length" and len(n.args) == 1 and self(n.args[0]) <= {"str", "list", "object"}:
                return frozenset({"int"})  # the length of text, a list or an object is always there
            if n.name == "coalesce" and n.args:
                return self(ast.Coalesce(n.span, n.args))
            if n.name == "regex_capture" and len(n.args) == 2:
                return _capture_kinds(n.args[1])
            if fn is None and n.name in self.functions:
                return self.call_kinds(self.functions[n.name], n.args)
            return fn.returns if fn else EVENT_VALUE
        if isinstance(n, ast.Unary):
            return BOOL if n.op == "not" else NUM | {"missing"}
        if isinstance(n, ast.Binary):
            if n.op in ("and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in"):
                return BOOL
            if n.op == "without":
                return frozenset({"object", "missing"})
            if n.op == "+":
                return NUM | STR | {"missing"}
            return NUM | {"missing"}
        if isinstance(n, ast.Coalesce):
            kinds: set[str] = set()
            maybe_missing = True
            for item in n.items:
                k = self(item)
                kinds |= k - {"missing"}
                if "missing" not in k and "null" not in k:
                    maybe_missing = False
                    break
                if "missing" not in k:
                    maybe_missing = False
            if maybe_missing:
                kinds.add("missing")
            return frozenset(kinds)
        if isinstance(n, ast.Guard):
            return self._narrowed(n.value, n.condition) | {"missing"}
        if isinstance(n, ast.Conditional):
            return self._narrowed(n.then, n.condition) | self(n.otherwise)
        if isinstance(n, ast.Template):
            parts = [self(p) for p in n.parts if isinstance(p, ast.Node)]
            if any(k & {"missing", "null"} for k in parts):
                return STR | {"missing"}
            return STR
        if isinstance(n, ast.Object | ast.ObjectComp):
            return frozenset({"object"})
        if isinstance(n, ast.List | ast.ListComp):
            return frozenset({"list"})
        if isinstance(n, ast.With):
            for name, value in zip(n.names, n.values, strict=True):
                self.bind(name, self(value))
            return self(n.body)
        return EVENT_VALUE
