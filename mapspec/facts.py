"""What the checker can know about an event from a mapping's own conditions, as formulas (`mapspec.logic`).

`present(e)` is the formula under which expression `e` has a value (is not missing); `holds(c)` the formula
under which condition `c` is true. Atoms stand for what the mapping cannot know statically ("`userId` is
there", "`type == "track"` holds"); constraints tie them together where the language says so (a path equal to
a text is there; a path cannot equal two different texts; a `let` definition is there exactly when its value
is). A rule's context is its condition and the negation of every condition before it (the first rule that
holds decides), so "a required field may be missing" is the question `satisfy(context and not present(f))`,
and a satisfying assignment names an event on which it happens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import logic
from .logic import FALSE, TRUE, Formula
from .syntax import ast
from .syntax.unparse import unparse
from .types import Typer

_KIND_TESTS = {"is_string": "text", "is_number": "a number", "is_bool": "a boolean", "is_list": "a list",
               "is_object": "an object"}


def _text(node: ast.Node) -> str:
    try:
        return unparse(node)
    except Exception:  # noqa: BLE001 - an atom only needs a stable name
        return repr(node)


class Facts:
    def __init__(self, doc: ast.Document, typer: Typer, settings: Mapping[str, Any] | None = None):
        self.lets = {"$" + let.name: let.value for let in doc.lets}
        self.declared = {s.name: s for s in doc.settings}
        self.typer = typer
        self.settings = settings
        #: atom -> the constraint that comes with it (a let's definition, an equality's implications)
        self.constraints: dict[Any, Formula] = {}
        #: equality and kind atoms -> (kind, subject): a subject equals one value and is of one kind at most
        self._exclusive: dict[Any, tuple[str, str]] = {}
        self._defining: set[str] = set()
        self._answers: dict[Formula, dict | None] = {}  # the checker asks some questions more than once

    # ---- atoms
    def _present_atom(self, node: ast.Node) -> Formula:
        text = _text(node)
        a = ("present", text)
        if a not in self.constraints:
            self.constraints[a] = TRUE
            if isinstance(node, ast.Path) and node.root in self.lets and text not in self._defining:
                if not node.steps:
                    self._defining.add(text)
                    definition = self.present(self.lets[node.root])
                    self._defining.discard(text)
                    self.constraints[a] = logic.conj(logic.implies(logic.atom(a), definition),
                                                     logic.implies(definition, logic.atom(a)))
                else:
                    self.constraints[a] = logic.implies(logic.atom(a), self._present_atom(
                        ast.Path(None, node.root, ())))
            elif isinstance(node, ast.Path) and len(node.steps) > 1:
                parent = ast.Path(None, node.root, node.steps[:-1])
                self.constraints[a] = logic.implies(logic.atom(a), self._present_atom(parent))
        return logic.atom(a)

    def _subject_atom(self, kind: str, subject: ast.Node, value: Any) -> Formula:
        """`subject == value` (kind "eq") or `is_<kind>(subject)` (kind "kind"): exclusive per subject."""
        text = _text(subject)
        a = (kind, text, json.dumps(value))
        if a not in self.constraints:
            self.constraints[a] = TRUE  # (while the null atom below is made)
            exclusive = []
            if kind == "kind":  # a value of a kind is not null
                exclusive.append(logic.neg(self._subject_atom("eq", subject, None)))
            self.constraints[a] = logic.conj(logic.implies(logic.atom(a), self.present(subject)),
                                             *(logic.implies(logic.atom(a), e) for e in exclusive))
            self._exclusive[a] = (kind, text)  # at most one per subject and kind: added by `closed`
        return logic.atom(a)

    def _opaque(self, node: ast.Node) -> Formula:
        a = ("holds", _text(node))
        self.constraints.setdefault(a, TRUE)
        return logic.atom(a)

    # ---- formulas
    def present(self, n: ast.Node) -> Formula:  # noqa: C901 - one case per node type
        """The formula under which `n` has a value."""
        if isinstance(n, ast.Literal):
            return FALSE if n.value is ast.MISSING else TRUE
        if isinstance(n, ast.Object | ast.List):
            return TRUE
        if isinstance(n, ast.Setting):
            if self.settings is not None:
                return FALSE if self.settings.get(n.name, ast.MISSING) is ast.MISSING else TRUE
            decl = self.declared.get(n.name)
            if decl is not None and (decl.required or decl.default is not ast.MISSING):
                return TRUE  # a value is always given, or has a default
            return self._present_atom(n)
        if isinstance(n, ast.Coalesce):
            return logic.disj(*(self.present(i) for i in n.items))
        if isinstance(n, ast.Guard):
            return logic.conj(self.present(n.value), self.holds(n.condition))
        if isinstance(n, ast.Conditional):
            c = self.holds(n.condition)
            return logic.disj(logic.conj(c, self.present(n.then)), logic.conj(logic.neg(c), self.present(n.otherwise)))
        kinds = self.typer(n)
        if "missing" not in kinds:
            return TRUE
        if kinds == {"missing"}:
            return FALSE
        if isinstance(n, ast.Template):  # missing when a part is missing or null
            parts = [p for p in n.parts if isinstance(p, ast.Node)]
            nullable = [p for p in parts if "null" in self.typer(p)]
            return logic.conj(*(self.present(p) for p in parts),
                              *(logic.neg(self._subject_atom("eq", p, None)) for p in nullable))
        return self._present_atom(n)

    def holds(self, n: ast.Node) -> Formula:  # noqa: C901 - one case per node type
        """The formula under which condition `n` is true (JavaScript's truth of its value)."""
        if isinstance(n, ast.Literal):
            from .runtime import truthy

            return TRUE if truthy(n.value) else FALSE
        if isinstance(n, ast.Setting):
            if self.settings is not None:
                from .runtime import truthy

                return TRUE if truthy(self.settings.get(n.name, ast.MISSING)) else FALSE
            return self._opaque(n)
        if isinstance(n, ast.Unary) and n.op == "not":
            return logic.neg(self.holds(n.operand))
        if isinstance(n, ast.Binary):
            if n.op == "and":
                return logic.conj(self.holds(n.left), self.holds(n.right))
            if n.op == "or":
                return logic.disj(self.holds(n.left), self.holds(n.right))
            if n.op in ("==", "!="):
                eq = self._equality(n.left, n.right)
                if eq is not None:
                    return eq if n.op == "==" else logic.neg(eq)
            if n.op in ("in", "not in") and isinstance(n.right, ast.Literal) and isinstance(n.right.value, list) \
                    and not isinstance(n.left, ast.Literal):
                values = [v for v in n.right.value if isinstance(v, str | int | float | bool) or v is None]
                if len(values) == len(n.right.value):
                    f = logic.disj(*(self._subject_atom("eq", n.left, v) for v in values))
                    return f if n.op == "in" else logic.neg(f)
        if isinstance(n, ast.Call) and len(n.args) == 1:
            if n.name == "exists":
                return self.present(n.args[0])
            if n.name in _KIND_TESTS:
                return self._subject_atom("kind", n.args[0], n.name)
        if "missing" in self.typer(n):  # a value's truth needs the value: true only where it is there
            return logic.conj(self.present(n), self._opaque(n))
        return self._opaque(n)

    def _equality(self, a: ast.Node, b: ast.Node) -> Formula | None:
        for subject, lit in ((a, b), (b, a)):
            if isinstance(lit, ast.Literal) and not isinstance(subject, ast.Literal):
                v = lit.value
                if v is ast.MISSING:
                    return logic.neg(self.present(subject))
                if isinstance(v, str | int | float | bool) or v is None:
                    return self._subject_atom("eq", subject, v)
        return None

    # ---- questions
    def closed(self, f: Formula) -> Formula:
        """`f` with the constraints of every atom it mentions (and of theirs)."""
        parts = [f]
        seen: set = set()
        todo = list(logic.atoms(f))
        while todo:
            a = todo.pop()
            if a in seen:
                continue
            seen.add(a)
            c = self.constraints.get(a, TRUE)
            if c is not TRUE:
                parts.append(c)
                todo.extend(logic.atoms(c))
        groups: dict[tuple[str, str], list[Any]] = {}
        for a in seen:
            group = self._exclusive.get(a)
            if group is not None:
                groups.setdefault(group, []).append(a)
        parts.extend(logic.at_most_one(*sorted(g, key=repr)) for g in groups.values() if len(g) > 1)
        return logic.conj(*parts)

    def possible(self, f: Formula) -> dict | None:
        """An assignment under which `f` (with its constraints) holds, or None when it never does."""
        closed = self.closed(f)
        if closed not in self._answers:
            self._answers[closed] = logic.satisfy(closed)
        found = self._answers[closed]
        return None if found is None else dict(found)


def describe(assignment: Mapping[Any, bool], cause: list[Any], shape: list[Any], limit: int = 5) -> str:
    """An event shape in words, from an assignment of atoms: what the `cause` atoms are (why a value is
    missing), then the `shape` atoms that hold (what makes the rule match):
    "`event` is missing and `type` is "track"". """
    words: list[str] = []
    for a, positive_only in [(a, False) for a in cause] + [(a, True) for a in shape]:
        if a not in assignment:
            continue
        v, kind = assignment[a], a[0]
        if kind == "present":
            if not v:
                words.append(f"`{a[1]}` is missing")
            elif not positive_only:
                words.append(f"`{a[1]}` is there")
        elif kind == "eq":
            if v:
                words.append(f"`{a[1]}` is {a[2]}")
            elif not positive_only:
                words.append(f"`{a[1]}` is not {a[2]}")
        elif kind == "kind" and (v or not positive_only):
            words.append(f"`{a[1]}` is {'' if v else 'not '}{_KIND_TESTS.get(json.loads(a[2]), 'of that kind')}")
        elif kind == "holds" and (v or not positive_only):
            words.append(f"`{a[1]}` is {'true' if v else 'false'}")
    words = list(dict.fromkeys(words))
    if len(words) > limit:
        words = words[:limit] + ["..."]
    return " and ".join(words)
