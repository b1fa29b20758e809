"""Code generation: an optimized document -> the Python source of a translator.

One generator, two outputs (as fastjsonschema does): `standalone=True` writes a module that carries
its helpers and needs only the standard library; `standalone=False` leaves them out, and `mapspec.load`
executes that text with the helpers bound from `mapspec.runtime`. The translating code is the same.
"""

from __future__ import annotations

import ast as pyast
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import runtime
from ..optimize.inline_functions import call_graph, callees_first, recursive
from ..syntax import ast
from ..syntax.unparse import unparse
from ..targets import Target
from ..types import ANYTHING, Typer
from .emit import UNSET, Emitter, conjuncts, ident, pyrepr
from .ir import Block, Def, prune_defaults, render

VERSION = "0.1.0"


@dataclass(frozen=True)
class GeneratedModule:
    source: str
    helpers: tuple[str, ...]
    #: line of the generated source -> [("test" | "body", rule)]: where each rule's condition is tested
    #: and where its body starts (the map from generated code back to the mapping)
    line_map: dict[int, list[tuple[str, ast.Rule]]] = field(default_factory=dict)
    #: local name in translate() -> the path or definition it holds, as the mapping writes it
    names: dict[str, str] = field(default_factory=dict)


_STANDALONE_DOC = '''"""A Segment-to-Braze translator written out by `mapspec compile`.

`translate(event)` takes one event (a dict) and returns the list of requests it causes, each
{"method", "url", "body"}, or raises `Rejected` with the reason. An event it skips gives an empty list of
the class `Skipped`, whose `reason` says why. It needs only the standard library, and Python 3.9 or newer.
"""
import sys

if sys.version_info < (3, 9):
    raise ImportError("this translator needs Python 3.9 or newer, not " + sys.version.split()[0])

'''

_REJECTED_CLASS = '''

class Rejected(Exception):
    """The mapping refuses this event, Rejected(message); the message says why (and with `match: all`,
    Rejected(message, requests): `requests`, what it still sends). No __init__: raising it costs what raising
    a plain exception does."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""

    @property
    def requests(self):
        return (self.args[1] or []) if len(self.args) > 1 else []


'''

_TRANSLATE = '''

def translate(event):
    """The requests one event causes."""
    if event.__class__ is not dict and not isinstance(event, dict):
        raise Rejected('an event must be a JSON object')
'''


def _module_text(header: str, *, standalone: bool, modules: list[str], helpers: list[str],
                 constants: list[tuple[str, str]], functions: list[list[str]]) -> str:
    """The module up to the body of translate(): header, imports, (standalone: Rejected and the helpers),
    constants, the mapping's own functions that stayed functions, then translate()'s head."""
    parts = [header]
    if standalone:
        parts.append(_STANDALONE_DOC)
    parts.extend(f"import {m}\n" for m in modules)
    if standalone:
        parts.append(_REJECTED_CLASS)
        parts.extend(f"{source}\n\n\n" for source in helpers)
    parts.extend(f"{name} = {source}\n" for name, source in constants)
    for lines in functions:
        parts.append("\n\n" + "".join(f"{line}\n" for line in lines))
    parts.append(_TRANSLATE)
    return "".join(parts)


@functools.cache
def _runtime_sources() -> dict[str, str]:
    """Top-level definitions of mapspec/runtime.py by name, as source text."""
    text = Path(runtime.__file__).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)  # once: ast.get_source_segment splits the whole file at every call
    out: dict[str, str] = {}
    for node in pyast.parse(text).body:
        if node.end_lineno is None:
            continue
        seg = "".join(lines[node.lineno - 1:node.end_lineno]).rstrip("\n")
        if isinstance(node, pyast.FunctionDef | pyast.ClassDef):
            out[node.name] = seg
        elif isinstance(node, pyast.Assign):
            for target in node.targets:
                if isinstance(target, pyast.Name):
                    out[target.id] = seg
        elif isinstance(node, pyast.AnnAssign) and isinstance(node.target, pyast.Name):
            out[node.target.id] = seg
    return out


def helper_closure(names: set[str], ordered: bool = True) -> tuple[list[str], set[str]]:
    """The helpers (in runtime.py's order, or any order when not `ordered`) and standard modules that the
    named helpers need."""
    need: set[str] = set()
    modules: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in runtime.HELPER_IMPORTS:
            modules.add(name)
            continue
        if name in need:
            continue
        need.add(name)
        todo.extend(runtime.DEPS.get(name, ()))
    if not ordered:  # (reading runtime.py's source to order them is for the standalone module only)
        return sorted(need), modules
    order = [n for n in _runtime_sources() if n in need]
    return order, modules


def generate(doc: ast.Document, target: Target, settings: Mapping[str, Any], source_label: str,
             source_text: str, standalone: bool = True, share: bool = False) -> GeneratedModule:
    """The Python source of the translator for an optimized, checked document. With `share`, the requests
    may hold lists and objects of the event as they are (for a caller that owns its events: `run`,
    `translate`); without it, whatever passes from the event into the requests is copied."""
    typer = Typer({}, {}, {f.name: f for f in doc.functions})  # settings are inlined by now
    for let in doc.lets:
        typer.bind("$" + let.name, typer(let.value))
    em = Emitter(doc, typer, guarded=guarded_functions({f.name: f for f in doc.functions}), share=share)
    em.shared_lets(list(doc.rules))
    top = Block()
    base = doc.base_url.value if isinstance(doc.base_url, ast.Literal) else ""
    rules = list(doc.rules)
    if doc.match == "all":  # every rule that holds contributes: requests and rejections are collected
        top.line(f"{_OUT} = []")
        top.line(f"{_REJECTED} = []")
        top.line(f"{_SKIPPED} = []")
        for index, rule in enumerate(rules):
            top.comment(_comment(rule))
            if rule.condition is None:
                top.mark("body", index)
                _rule_block(em, rule, top, target, base, collect=True)
            else:
                _test(em, rule, index, _order(em, conjuncts(rule.condition), top), top, target, base,
                      collect=True)
        stmt, body = em.open_if(top, _REJECTED)
        body.line(f"raise Rejected('; '.join({_REJECTED}), {_OUT})", ends=True)
        em.close(top, stmt)
        skipped = em.helper("Skipped")
        top.line(f"return {_OUT} or {skipped}('; '.join({_SKIPPED}) or 'no rule sends anything for this event')",
                 ends=True)
    else:
        _first_match(em, list(enumerate(rules)), top, target, base)
        if not top.ends:
            top.line(f"raise Rejected({'no rule of mapping ' + repr(doc.name) + ' matches this event'!r})",
                     ends=True)
    em.finish(top)
    blocks = [em.function(f) for f in doc.functions] + [em.let_function(r) for r in em.called_let_functions()]
    blocks += em.rule_functions
    for block in [top, *blocks]:
        prune_defaults(block)
    body_lines, marks = render(top, "    ")
    function_lines = [render(b)[0] for b in blocks]
    helpers, modules = helper_closure(em.helpers | ({"_Missing", "MISSING"} if standalone else set()),
                                      ordered=standalone)
    modules |= em.modules
    sources = _runtime_sources() if standalone else {}
    digest = hashlib.sha256(source_text.encode("utf-8")).hexdigest()[:16]
    # the settings the translator was made with; one the mapping declares `ignored` (an API key kept for
    # compatibility, say) is never read, and never written into the module either
    ignored = {s.name for s in doc.settings if s.ignored}
    settings_json = json.dumps({k: v for k, v in settings.items() if v is not ast.MISSING and k not in ignored},
                               sort_keys=True, default=str)
    head = _module_text(
        f"# Generated by mapspec {VERSION} from {source_label!r} (sha256 {digest}); do not edit.\n"
        f"# Mapping {doc.name!r} compiled with settings {settings_json!r}.\n"
        + ("# Its requests may share lists and objects with the event (for a caller that owns its events).\n"
           if share else ""),
        standalone=standalone,
        modules=sorted(modules),
        helpers=[sources[h] for h in helpers] if standalone else [],
        constants=[(name, src) for src, name in em.constants.items()],
        functions=function_lines,
    )
    first = head.count("\n") + 1  # the line of the first statement of translate()'s body
    line_map: dict[int, list[tuple[str, ast.Rule]]] = {}
    for i, kind, index in marks:
        line_map.setdefault(first + i, []).append((kind, rules[index]))
    names = {name: unparse(ast.Path(None, root, steps)) for name, (root, steps) in em.described.items()}
    text = head + "".join(f"{line}\n" for line in body_lines)
    return GeneratedModule(text, tuple(sorted(em.helpers)), line_map, names)


@dataclass(frozen=True)
class ExpressionModule:
    """The Python source of one expression of a mapping: a function `value(event, *variables)`."""

    source: str
    helpers: tuple[str, ...]
    modules: tuple[str, ...]


def expression(doc: ast.Document, node: ast.Node, variables: tuple[str, ...] = ()) -> ExpressionModule:
    """The source of `value(event, *variables)`, which gives the value of `node` on one event, computed by the
    code this generator writes for the translator (paths, definitions, functions, kinds: the same emitter).

    `doc` and `node` have their settings inlined (`optimize.inline_settings`); `variables` are the loop
    variables `node` may read (`$product`), passed in that order. This, with `GeneratedModule.line_map`, is
    all that `mapspec explain` and `mapspec coverage` know of code generation: they read every value they
    show through it, and never interpret the tree themselves."""
    typer = Typer({}, {}, {f.name: f for f in doc.functions})
    for let in doc.lets:
        typer.bind("$" + let.name, typer(let.value))
    em = Emitter(doc, typer)
    block = Block()
    params: list[str] = []
    for var in variables:
        name = em.unique(ident("i_", var.lstrip("$")))
        typer.bind(var, ANYTHING)
        em.vars[var] = name
        em.described[name] = (var, ())
        params.append(name)
    em.bind_reads([node], block)
    block.line(f"return {em.expr(node, block)}", ends=True)
    em.finish(block)
    prune_defaults(block)
    functions = [em.function(em.functions[name]) for name in _functions_needed(doc, node, em)]
    for function in functions:
        prune_defaults(function)
    lines = [f"import {m}" for m in sorted(em.modules)]
    lines.extend(f"{name} = {src}" for src, name in em.constants.items())
    for function in functions:  # the mapping's own functions, as the translator's module has them
        lines.extend(render(function)[0])
    lines.append(f"def value({', '.join(['event', *params])}):")
    lines.extend(render(block, "    ")[0])
    return ExpressionModule("\n".join(lines) + "\n", tuple(sorted(em.helpers)), tuple(sorted(em.modules)))


def _functions_needed(doc: ast.Document, node: ast.Node, em: Emitter) -> list[str]:
    """The mapping's functions that evaluating `node` may call: from it, the definitions it reads, and the
    functions they call, in the mapping's order."""
    calls: set[str] = set()
    seen: set[str] = set()
    todo = [node]
    while todo:
        for n in todo.pop().walk():
            if isinstance(n, ast.Call) and n.name in em.functions:
                calls.add(n.name)
            elif isinstance(n, ast.Path) and n.root in em.lets and n.root not in seen:
                seen.add(n.root)
                todo.append(em.lets[n.root].value)
    graph = call_graph(em.functions)
    needed, stack = set(), list(calls)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(graph[name])
    return [f.name for f in doc.functions if f.name in needed]


#: how deep calls of the mapping's functions go before a call gives missing (so no value, however deep, makes
#: the translator fail)
MAX_CALL_DEPTH = 100


def guarded_functions(functions: dict[str, ast.FunctionDef]) -> set[str]:
    """The functions that count how deep they are called, and give missing past MAX_CALL_DEPTH: the recursive
    ones, and every one when the others call each other deeper than that."""
    graph = call_graph(functions)
    loops = recursive(functions, graph)
    depth: dict[str, int] = {}
    for name in callees_first(functions, loops, graph):
        depth[name] = 1 + max((depth.get(g, 0) for g in graph[name] if g not in loops), default=0)
    if max(depth.values(), default=0) > MAX_CALL_DEPTH:
        return set(functions)
    return loops


def _first_match(em: Emitter, rules: list[tuple[int, ast.Rule]], top: Block, target: Target, base: str) -> None:
    """Rules (each with its number) in order, the first whose condition holds deciding. Where the rules from
    some point on each test one value against texts (`type == "track"`), one `if`/`elif` on that value leads
    to the rules that can hold for each text (see `_dispatch`); consecutive rules that begin with the same
    test share one `if` (and what it reads). A rule that is passed over says something for the rules after
    it: after `not exists($time)` is passed over, `$time` is there."""
    saved = em.narrow
    found = _dispatch(rules)
    head = rules if found is None else rules[:found[0]]
    position = 0
    while position < len(head):
        index, rule = head[position]
        if rule.condition is None:
            top.comment(_comment(rule))
            top.mark("body", index)
            _rule_block(em, rule, top, target, base)
            em.narrow = saved
            return
        ordered = _order(em, conjuncts(rule.condition), top)
        end = position + 1
        while end < len(head) and head[end][1].condition is not None and \
                repr(_order(em, conjuncts(head[end][1].condition), top)[0]) == repr(ordered[0]):  # type: ignore[arg-type]
            end += 1
        if end - position == 1:
            top.comment(_comment(rule))
            _test(em, rule, index, ordered, top, target, base)
            em.narrowed(em.facts(rule.condition, holds=False))
            position += 1
            continue
        first = ordered[0]
        em.bind_reads([first], top)
        top.comment(f"rules {', '.join(repr(r.name) for _, r in head[position:end])} all need this")
        for k, _ in head[position:end]:
            top.mark("test", k)
        stmt, shared = em.open_if(top, em.cond(first, top))
        inside = em.narrowed(em.facts(first))
        for k, r in head[position:end]:
            shared.comment(_comment(r))
            rest = [c for c in _order(em, conjuncts(r.condition), shared)  # type: ignore[arg-type]
                    if repr(c) != repr(first)]
            if not rest:
                shared.mark("body", k)
                _rule_block(em, r, shared, target, base)
                break  # the rules after it in this group can never be reached
            _test(em, r, k, rest, shared, target, base)
            em.narrowed(em.facts(ast.Unary(None, "not", _all(rest)), holds=True))
        em.narrow = inside
        em.close(top, stmt)
        position = end
    if found is not None:
        _switch(em, found[1], rules[found[0]:], top, target, base)
    em.narrow = saved


def _all(parts: list[ast.Node]) -> ast.Node:
    node = parts[0]
    for part in parts[1:]:
        node = ast.Binary(None, "and", node, part)
    return node


#: a dispatch on one value is written for at least this many rules
_DISPATCH_RULES = 3


def _texts(condition: ast.Node, subject: ast.Path) -> frozenset[str] | None:
    """The texts `subject` must equal for `condition` to hold, or None when it may hold whatever it is."""
    if isinstance(condition, ast.Binary):
        left, right = condition.left, condition.right
        if condition.op == "==" and isinstance(right, ast.Path) and isinstance(left, ast.Literal):
            left, right = right, left
        if condition.op == "==" and left == subject and isinstance(right, ast.Literal) \
                and isinstance(right.value, str):
            return frozenset({right.value})
        if condition.op == "in" and left == subject and isinstance(right, ast.Literal) \
                and isinstance(right.value, list) and right.value and all(isinstance(v, str) for v in right.value):
            return frozenset(right.value)
        if condition.op == "and":
            a, b = _texts(left, subject), _texts(right, subject)
            return a if b is None else b if a is None else a & b
        if condition.op == "or":
            a, b = _texts(left, subject), _texts(right, subject)
            return None if a is None or b is None else a | b
    return None


def _subjects(condition: ast.Node) -> list[ast.Path]:
    """The paths a condition compares with a text."""
    out = []
    for n in condition.walk():
        if isinstance(n, ast.Binary) and n.op in ("==", "in"):
            for side in (n.left, n.right):
                if isinstance(side, ast.Path) and side not in out:
                    out.append(side)
    return out


def _dispatch(rules: list[tuple[int, ast.Rule]]) -> tuple[int, ast.Path] | None:
    """(position, subject): from that position on, every rule holds only for some texts of the subject (a
    last rule may have no condition), in at least `_DISPATCH_RULES` rules and for two texts or more."""
    best: tuple[int, ast.Path] | None = None
    candidates: list[ast.Path] = []
    for _, rule in rules:
        if rule.condition is not None:
            candidates += [p for p in _subjects(rule.condition) if p not in candidates]
    for subject in candidates:
        start = len(rules)
        texts: set[str] = set()
        for position in range(len(rules) - 1, -1, -1):
            condition = rules[position][1].condition
            if condition is None:
                if position != len(rules) - 1:
                    break
                start = position
                continue
            found = _texts(condition, subject)
            if found is None:
                break
            texts |= found
            start = position
        counted = sum(1 for _, r in rules[start:] if r.condition is not None)
        if counted >= _DISPATCH_RULES and len(texts) >= 2 and (best is None or start < best[0]):
            best = (start, subject)
    return best


def _pure(node: ast.Node, subject: ast.Path) -> frozenset[str] | None:
    """The texts for which `node` holds, when it tests nothing but `subject` against texts (`and` and `or`
    of such tests included); None when it tests anything else."""
    if isinstance(node, ast.Binary) and node.op in ("and", "or"):
        a, b = _pure(node.left, subject), _pure(node.right, subject)
        if a is None or b is None:
            return None
        return a & b if node.op == "and" else a | b
    if isinstance(node, ast.Binary) and node.op in ("==", "in"):
        return _texts(node, subject)
    return None


def _assume(node: ast.Node, subject: ast.Path, texts: frozenset[str]) -> ast.Node:
    """`node` where `subject` is known to be one of `texts`: the tests of the subject that this decides
    become true or false, and `and`, `or` and `not` of what is decided are folded."""
    accepted = _pure(node, subject)
    if accepted is not None:
        if texts <= accepted:
            return ast.Literal(node.span, True)
        if not texts & accepted:
            return ast.Literal(node.span, False)
        return node
    if isinstance(node, ast.Binary) and node.op in ("and", "or"):
        left, right = _assume(node.left, subject, texts), _assume(node.right, subject, texts)
        for a, b in ((left, right), (right, left)):
            if isinstance(a, ast.Literal) and isinstance(a.value, bool):
                if a.value is (node.op == "or"):
                    return a  # `true or x`, `false and x`
                return b  # `true and x`, `false or x`: x (a rule's condition is tested for its truth)
        return node if left is node.left and right is node.right else ast.Binary(node.span, node.op, left, right)
    if isinstance(node, ast.Unary) and node.op == "not":
        inner = _assume(node.operand, subject, texts)
        if isinstance(inner, ast.Literal) and isinstance(inner.value, bool):
            return ast.Literal(node.span, not inner.value)
        return node if inner is node.operand else ast.Unary(node.span, "not", inner)
    return node


def _written_texts(condition: ast.Node, subject: ast.Path) -> list[str]:
    """The texts a condition compares `subject` with, in the order it names them."""
    written: list[str] = []
    for n in condition.walk():
        if isinstance(n, ast.Binary) and n.op in ("==", "in") and _texts(n, subject) is not None:
            written += n.right.value if n.op == "in" else _texts(n, subject)  # type: ignore[union-attr,arg-type]
    return list(dict.fromkeys(written))


def _switch(em: Emitter, subject: ast.Path, rules: list[tuple[int, ast.Rule]], top: Block, target: Target,
            base: str) -> None:
    """`if subject == "a": <the rules that can hold for "a"> elif ...`, each branch with the rules that can
    hold for its texts (texts whose rules are the same share a branch), their conditions decided for those
    texts; then what holds for any other value (a last rule with no condition)."""
    em.bind_reads([subject], top)
    value = em.expr(subject, top)
    texts: list[str] = []
    for _, rule in rules:
        if rule.condition is not None:
            texts += [t for t in _written_texts(rule.condition, subject)
                      if t not in texts and t in (_texts(rule.condition, subject) or ())]
    groups: dict[tuple[int, ...], list[str]] = {}
    for text in texts:
        which = tuple(k for k, r in rules if r.condition is not None and text in (_texts(r.condition, subject) or ()))
        groups.setdefault(which, []).append(text)
    key = (subject.root, subject.steps)
    # the branches never run together: their temporaries take the same names (fewer locals: a call of
    # translate() clears every local it has, whichever branch it takes)
    counter, most = em._counter, em._counter

    def branch(block: Block, remaining: list[list[str]]) -> None:
        nonlocal most
        em._counter = counter
        group = remaining[0]
        if len(group) == 1:
            test = f"{value} == {group[0]!r}"
        elif len(group) == 2:
            test = f"{value} == {group[0]!r} or {value} == {group[1]!r}"
        else:
            test = f"{value} in {em.constant(f'frozenset({tuple(sorted(group))!r})', '_SET')}"
        stmt, body = em.open_if(block, test)
        inside = em.narrowed({key: frozenset({"str"})})
        taken = []
        for k, rule in rules:
            if rule.condition is None:
                continue
            condition = _assume(rule.condition, subject, frozenset(group))
            if isinstance(condition, ast.Literal) and condition.value is False:
                continue
            taken.append((k, replace(rule, condition=None if isinstance(condition, ast.Literal) else condition)))
        _first_match(em, taken, body, target, base)
        most = max(most, em._counter)
        em.narrow = inside
        if remaining[1:]:
            branch(em.open_else(block, stmt), remaining[1:])
        em.close(block, stmt)

    # branches of one text first, in the mapping's order: ruling out a branch of several texts takes a
    # comparison for each (`page` or `screen`)
    branch(top, sorted(groups.values(), key=len))
    rest = [(k, r) for k, r in rules if r.condition is None]
    if rest:  # (what the branches bound is not known here: their temporaries' names are free again)
        em._counter = counter
        _first_match(em, rest, top, target, base)
    em._counter = max(most, em._counter)


def _comment(rule: ast.Rule) -> str:
    where = rule.span.location() if rule.span else ""
    return f"rule {rule.name!r} ({where!r})"


def _order(em: Emitter, parts: list[ast.Node], block: Block) -> list[ast.Node]:
    """A condition's conjuncts, those that need fewest definitions computed and paths read first (any order
    gives the same truth: expressions have no effects and never fail)."""
    return sorted(parts, key=lambda c: em.needs(c, block))


def _test(em: Emitter, rule: ast.Rule, index: int, parts: list[ast.Node], block: Block, target: Target,
          base: str, collect: bool = False) -> None:
    """`if` on the conjuncts of a rule's condition, reading what each needs only once the ones before it
    hold (so a rule that is not tested, or fails early, reads nothing more); then the rule's body."""
    em.bind_reads([parts[0]], block)
    group, rest = [parts[0]], parts[1:]
    while rest and em.needs(rest[0], block) == (0, 0) and em.inline(rest[0]):
        group.append(rest.pop(0))
    saved = em.narrow
    tests = []
    for c in group:
        tests.append(em.cond(c, block))
        em.narrowed(em.facts(c))
    block.mark("test", index)  # (on each `if` of the chain: the last one reached has read the most)
    stmt, inner = em.open_if(block, " and ".join(tests))
    if all(_exact(c) for c in group):  # what the test says is all it says: the body runs exactly then
        inner.when, inner.when_test = em.narrow, stmt.test
    if rest:
        _test(em, rule, index, _order(em, rest, inner), inner, target, base, collect=collect)
    else:
        inner.mark("body", index)
        _rule_block(em, rule, inner, target, base, collect)
    em.narrow = saved
    em.close(block, stmt)


def _exact(condition: ast.Node) -> bool:
    """Whether a condition holds exactly when what it says about paths does (`exists(x)`, `not exists(x)`)."""
    while isinstance(condition, ast.Unary) and condition.op == "not":
        condition = condition.operand
    return (isinstance(condition, ast.Call) and condition.name == "exists" and len(condition.args) == 1
            and isinstance(condition.args[0], ast.Path))


#: in `match: all`, the locals that collect every rule's requests and rejections
_OUT, _REJECTED, _SKIPPED = "_requests", "_rejected", "_skipped"


def _loops(rule: ast.Rule) -> bool:
    return any(isinstance(n, ast.ForEach | ast.ListComp | ast.ObjectComp)
               for req in rule.requests for n in req.body.walk())


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _rule_function(em: Emitter, rule: ast.Rule, block: Block, target: Target, base: str) -> None:
    """`return rule_x(event, ...)`: a rule whose requests loop, written as a function of its own, which takes
    what is known where it is called. A loop brings locals of its own, and Python clears every local of a
    function on every call: in translate() every event would pay for them."""
    name = em.unique(ident("rule_", rule.name))
    call = block.line("", ends=True)
    body = Block()  # a function's top: what is known where it is called is known in it (passed in)
    body.bound, body.maybe, body.computed_when = dict(block.bound), set(block.maybe), dict(block.computed_when)
    counter = em._counter
    _rule_block(em, rule, body, target, base, function=False)
    em._counter = counter  # (its temporaries are its own locals: the caller's may take the same names)
    text = "\n".join(render(body)[0])
    used = set(_NAME.findall(text))
    known = set(block.bound.values()) | {em.let_name(key[1]) for key in block.maybe if key[0] == "let"}
    params = ["event", *sorted((known & used) - {"event"})]
    em.passed[id(body)] = (body, set(params))
    args = list(params)
    for key in block.maybe:  # a definition that may not be computed yet is passed as "not computed yet"
        local = em.let_name(key[1])
        if key[0] != "let" or local not in params:
            continue
        when = block.computed_when.get(key)
        if when is not None and f"{local} is {UNSET}" not in text:
            # computed exactly where a test held, and needed in the function only where that is known:
            # passed where it was computed (elsewhere it is never read)
            args[params.index(local)] = f"({local} if {when[1]} else MISSING)"
        else:
            em.mark_unset(key, block, call)
    call.text = f"return {name}({', '.join(args)})"
    top = Block()
    head = Def(f"def {name}({', '.join(params)})", body)
    top.comment(_comment(rule))
    top.stmts.append(head)
    em.rule_functions.append(top)


def _rule_block(em: Emitter, rule: ast.Rule, block: Block, target: Target, base: str,
                collect: bool = False, function: bool = True) -> None:
    """Read what the rule's body needs whatever happens (a request with a `when` reads the rest of what
    it needs only when it is sent), then the body itself (a rule whose requests loop, in a function of its
    own: see `_rule_function`)."""
    if function and not collect and em.in_function is None and rule.action == "send" and _loops(rule):
        _rule_function(em, rule, block, target, base)
        return
    exprs: list[ast.Node] = []
    if rule.message is not None:
        exprs.append(rule.message)
    for req in rule.requests:
        if req.condition is not None:
            exprs.append(req.condition)
            continue
        exprs.append(req.body)
        exprs.extend(n for n in (req.once, req.time) if n is not None)
        exprs.extend(p.value for p in req.params)
    em.bind_reads(exprs, block)
    _rule_body(em, rule, block, target, base, collect)


def _rule_body(em: Emitter, rule: ast.Rule, block: Block, target: Target, base: str,
               collect: bool = False) -> None:
    """A rule's action: in `match: first` it returns or raises; in `match: all` it adds to what is collected."""
    if rule.action in ("skip", "reject"):
        fallback = f"{'skipped' if rule.action == 'skip' else 'rejected'} by rule {rule.name!r}"
        if isinstance(rule.message, ast.Literal) and isinstance(rule.message.value, str):
            message = repr(rule.message.value)
        elif rule.message is not None and em.kinds(rule.message) <= {"str"}:
            message = em.expr(rule.message, block)
        else:
            value = em.expr(rule.message, block) if rule.message is not None else "MISSING"
            message = em.fresh("m")
            block.line(f"{message} = {em.helper('text')}({value})")
            message = f"{message} if {message} is not MISSING else {fallback!r}"
        if rule.action == "skip":  # an empty list that says why
            if collect:
                block.line(f"{_SKIPPED}.append({message})")
            else:
                block.line(f"return {em.helper('Skipped')}({message})", ends=True)
        elif collect:
            block.line(f"{_REJECTED}.append({message})")
        else:
            block.line(f"raise Rejected({message})", ends=True)
        return

    def request(req: ast.Request, into: Block) -> str:
        endpoint, _ = target.find(req.endpoint)
        assert endpoint is not None  # the checker reported an unknown endpoint
        given = {p.key.value: p.value for p in req.params}  # type: ignore[attr-defined]
        pieces: list[str] = []
        rest = endpoint.path
        for name in endpoint.params:
            head, _, rest = rest.partition("{" + name + "}")
            value = em.fresh("p")
            into.line(f"{value} = {em.helper('url_param')}({em.expr(given[name], into)})")
            stmt, missing = em.open_if(into, f"{value} is MISSING")
            missing.line(f"raise Rejected({_param_problem(name, endpoint.key)!r})", ends=True)
            em.close(into, stmt)
            pieces += [repr(head), value]
        pieces.append(repr(rest))
        literal = [p for p in pieces if p != "''"]
        if len(literal) == 1:
            url = em.constant(repr(base + endpoint.path), "_URL")
        else:
            url = " + ".join([em.constant(repr(base), "_BASE")] + literal)
        text = f"{{'method': {endpoint.method!r}, 'url': {url}, 'body': {em.out(req.body, into)}}}"
        if req.once is None and req.time is None:
            return text
        r = em.fresh("r")
        into.line(f"{r} = {text}")
        for key, node in (("once", req.once), ("time", req.time)):
            if node is None:
                continue
            value = em.local(f"{em.helper('text')}({em.expr(node, into)})", into, "k")
            into.line(f"if {value} is not MISSING: {r}[{key!r}] = {value}")
        return r

    if not rule.requests:  # every request was compiled out
        if not collect:
            reason = f"rule {rule.name!r} sends nothing: the `when` of every request is false (known when compiled)"
            block.line(f"return {em.helper('Skipped')}({reason!r})", ends=True)
        return
    if collect or not all(req.condition is None for req in rule.requests):
        out = _OUT if collect else "requests"
        if not collect:
            block.line(f"{out} = []")
        for req in rule.requests:
            if req.condition is None:
                block.line(f"{out}.append({request(req, block)})")
                continue

            def send(inner: Block, req: ast.Request = req) -> None:
                exprs = [req.body, *(n for n in (req.once, req.time) if n is not None), *(p.value for p in req.params)]
                saved = em.narrowed(em.facts(req.condition))  # type: ignore[arg-type]
                em.bind_reads(exprs, inner)
                inner.line(f"{out}.append({request(req, inner)})")
                em.narrow = saved

            em.branch(block, em.cond(req.condition, block), send)
        if not collect:
            reason = f"rule {rule.name!r} sends nothing: the `when` of every request is false"
            block.line(f"return {out} or {em.helper('Skipped')}({reason!r})", ends=True)
        return
    texts = [request(req, block) for req in rule.requests]
    block.line("return [" + ", ".join(texts) + "]", ends=True)


def _param_problem(name: str, endpoint: str) -> str:
    return (f"the path parameter `{name}` of {endpoint} is missing (or is not text or a number, or is \"\", "
            "\".\" or \"..\")")


__all__ = ["ExpressionModule", "GeneratedModule", "expression", "generate", "pyrepr"]
