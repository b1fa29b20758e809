"""Propositional formulas over named atoms, and a small satisfiability search.

The checker uses them to reason about which values a rule can see: "does this required field have a value on
every event this rule sends?" becomes "is `rule holds and field is missing` satisfiable?". Formulas are
tuples, simplified as they are built; atoms are any hashable names.

    >>> a, b = atom("a"), atom("b")
    >>> satisfy(conj(a, neg(a))) is None
    True
    >>> satisfy(conj(disj(a, b), neg(a)))
    {'b': True, 'a': False}
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

Formula = Any  # True | False | ("atom", name) | ("not", f) | ("and", (f, ...)) | ("or", (f, ...))
#                | ("amo", (atom, ...)): at most one of the atoms holds

TRUE: Formula = True
FALSE: Formula = False


def atom(name: Hashable) -> Formula:
    return ("atom", name)


def neg(f: Formula) -> Formula:
    if f is True:
        return False
    if f is False:
        return True
    if f[0] == "not":
        return f[1]
    return ("not", f)


def _flat(kind: str, items: Iterable[Formula], unit: bool) -> Formula:
    out: list[Formula] = []
    seen: set = set()
    for f in items:
        if f is unit:
            continue
        if f is (not unit):
            return not unit
        parts = f[1] if f[0] == kind else (f,)
        for p in parts:
            if p not in seen:
                seen.add(p)
                out.append(p)
    for p in out:  # a and not a
        if neg(p) in seen:
            return not unit
    if not out:
        return unit
    if len(out) == 1:
        return out[0]
    return (kind, tuple(out))


def conj(*items: Formula) -> Formula:
    return _flat("and", items, True)


def disj(*items: Formula) -> Formula:
    return _flat("or", items, False)


def implies(a: Formula, b: Formula) -> Formula:
    return disj(neg(a), b)


def at_most_one(*names: Hashable) -> Formula:
    """At most one of the atoms holds: one clause for what would be n*(n-1)/2 pairwise exclusions (a path
    that equals one of 60 texts in 60 rules), which the search treats as a whole."""
    names = tuple(dict.fromkeys(names))
    return TRUE if len(names) < 2 else ("amo", tuple(atom(n) for n in names))


#: id of a formula -> (the formula, kept alive so that its id is not reused; its atoms in order): the checker
#: asks about the same parts (a rule's condition, a constraint) in many questions
_atoms_of: dict[int, tuple[Formula, tuple]] = {}


def atoms(f: Formula, out: dict | None = None) -> dict:
    """The atoms of a formula, in the order they first appear (a dict used as an ordered set)."""
    if out is None:
        hit = _atoms_of.get(id(f))
        if hit is None or hit[0] is not f:
            if len(_atoms_of) > 20000:
                _atoms_of.clear()
            hit = _atoms_of[id(f)] = (f, tuple(_walk_atoms(f, {})))
        return dict.fromkeys(hit[1])
    return _walk_atoms(f, out)


def _walk_atoms(f: Formula, out: dict) -> dict:
    stack = [f]
    while stack:
        f = stack.pop()
        if f is True or f is False:
            continue
        if f[0] == "atom":
            out.setdefault(f[1], None)
        elif f[0] == "not":
            stack.append(f[1])
        else:
            hit = _atoms_of.get(id(f))
            if hit is not None and hit[0] is f:  # a part met before: its atoms, in the same order
                for a in hit[1]:
                    out.setdefault(a, None)
            else:
                stack.extend(reversed(f[1]))
    return out


def satisfy(f: Formula, budget: int = 200_000) -> dict | None:
    """An assignment of the formula's atoms that makes it true, or None when there is none.

    A conjunction is cut into parts that share no atom, each solved on its own (and remembered: the checker
    asks about the same rule contexts again and again). Each part is a depth-first search that simplifies after
    each choice (unit atoms of a conjunction are set first). Past `budget` steps (each part of the formula
    rewritten is one) it gives up and answers as if satisfiable (with no assignment), and so it does when the
    search is deeper than Python's stack: a caller that warns "may" stays on the safe side."""
    out: dict = {}
    try:
        for part in _independent(f):
            found = _solve(part, budget)
            if found is None:
                return None
            out.update(found)
    except RecursionError:  # a search deeper than Python's stack (hundreds of atoms chosen in a row): unknown
        return {}
    return out


def _independent(f: Formula) -> list[Formula]:
    """The conjuncts of `f` grouped into formulas that share no atom."""
    if f is True or f is False or f[0] != "and":
        return [f]
    parts = list(f[1])
    owner: dict = {}  # atom -> index of the group that holds it
    groups: list[list[int]] = []
    parent = list(range(len(parts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, p in enumerate(parts):
        for a in atoms(p):
            if a in owner:
                parent[find(i)] = find(owner[a])
            else:
                owner[a] = i
    by_root: dict[int, list[Formula]] = {}
    for i, p in enumerate(parts):
        by_root.setdefault(find(i), []).append(p)
    groups = list(by_root.values())
    return [conj(*g) for g in groups]


_solved: dict[Formula, dict | None] = {}


def _solve(f: Formula, budget: int) -> dict | None:
    try:
        found = _solved[f]
    except KeyError:
        found = _search(f, budget)
        if len(_solved) > 20000:
            _solved.clear()
        _solved[f] = found
    return None if found is None else dict(found)


#: id -> (formula, kept alive; the set of its atoms), across searches: their parts are mostly the same constraints
_atom_sets: dict[int, tuple[Formula, frozenset]] = {}


def _search(f: Formula, budget: int) -> dict | None:
    steps = [0]
    known = _atom_sets
    if len(known) > 50000:
        known.clear()

    def atoms_in(g: Formula) -> frozenset:
        hit = known.get(id(g))
        if hit is not None and hit[0] is g:
            return hit[1]
        if g is True or g is False:
            found: frozenset = frozenset()
        elif g[0] == "atom":
            found = frozenset((g[1],))
        elif g[0] == "not":
            found = atoms_in(g[1])
        else:
            found = frozenset().union(*map(atoms_in, g[1]))
        known[id(g)] = (g, found)
        return found

    def put(g: Formula, values: dict) -> Formula:
        """The formula with atoms replaced by truth values, simplified (parts that mention none of them are not
        walked)."""
        steps[0] += 1  # the budget counts work, not only choices
        if g is True or g is False:
            return g
        kind = g[0]
        if kind == "atom":
            return values.get(g[1], g)
        if kind == "not":
            inner = put(g[1], values)
            return g if inner is g[1] else neg(inner)
        if atoms_in(g).isdisjoint(values):
            return g
        if kind == "amo":  # one holds: the others do not; none of these: at most one of the others
            holding = [p for p in g[1] if values.get(p[1]) is True]
            rest = [p for p in g[1] if p[1] not in values]
            if len(holding) > 1:
                return False
            return conj(*(("not", p) for p in rest)) if holding else at_most_one(*(p[1] for p in rest))
        items = [put(p, values) for p in g[1]]
        return conj(*items) if kind == "and" else disj(*items)

    def search(f: Formula, chosen: dict) -> dict | None:
        steps[0] += 1
        if f is True:
            return chosen
        if f is False:
            return None
        if steps[0] > budget:
            return {}
        pure = _pure(f)  # atoms of one sign only: that value never hurts, no choice to make
        if pure:
            steps[0] += len(pure)
            return search(put(f, pure), {**chosen, **pure})
        name, value = _pick(f)
        found = search(put(f, {name: value}), {**chosen, name: value})
        if found is not None:
            return found
        if _literal(f, name, value):  # the other value makes the formula false: one step, nothing to build
            steps[0] += 1
            return None
        return search(put(f, {name: not value}), {**chosen, name: not value})

    found = search(f, {})
    if found is None:
        return None
    for name in atoms(f):  # atoms the search never had to decide: any value does
        found.setdefault(name, False)
    return found


def _pure(f: Formula) -> dict:
    """The atoms that occur with one sign only (in `at_most_one` an atom counts as negative: false never breaks
    it), with the value that sign wants: setting them so keeps a satisfiable formula satisfiable. Earlier
    rules' conditions, negated in a rule's context, are mostly such atoms (`event` is not "e1", ...)."""
    signs: dict = {}
    stack = [(f, True)]
    while stack:
        g, positive = stack.pop()
        if g is True or g is False:
            continue
        kind = g[0]
        if kind == "atom":
            signs[g[1]] = signs.get(g[1], positive) if signs.get(g[1], positive) == positive else None
        elif kind == "not":
            stack.append((g[1], not positive))
        elif kind == "amo":
            stack.extend((p, not positive) for p in g[1])
        else:
            stack.extend((p, positive) for p in g[1])
    return {name: sign for name, sign in signs.items() if sign is not None}


def _literal(f: Formula, name: Hashable, value: bool) -> bool:
    """Whether `f` is, or is a conjunction of, the literal `name` = `value` and other things."""
    lit = ("atom", name) if value else ("not", ("atom", name))
    return f == lit or (f[0] == "and" and lit in f[1])


def _pick(f: Formula) -> tuple[Hashable, bool]:
    """The atom to decide next, and the value to try first: a lone literal of a conjunction if there is one."""
    if f[0] == "and":
        for p in f[1]:
            if p[0] == "atom":
                return p[1], True
            if p[0] == "not" and p[1][0] == "atom":
                return p[1][1], False
    if f[0] == "atom":
        return f[1], True
    if f[0] == "not" and f[1][0] == "atom":
        return f[1][1], False
    while f[0] != "atom":  # the first atom, as atoms() orders them: the leftmost (formulas hold no True/False)
        f = f[1] if f[0] == "not" else f[1][0]
    return f[1], True


def valid(f: Formula) -> bool:
    """Whether the formula holds whatever its atoms are."""
    return satisfy(neg(f)) is None
