"""Expressions and shapes -> Python: statements into blocks (`ir`), and expression text.

Everything that comes from a mapping reaches the generated source through `repr()` (names, strings,
numbers) or through an identifier made of `[A-Za-z0-9_]` with a fixed prefix, so no text of a mapping
is ever executed.

Values are bound to locals, and the emitter knows at every point which are bound on every way there
(`Block.bound`). That is the one binder:

- an event path (`traits.email`) is read into a local before the statement that needs it; the reads under
  one parent share one check that the parent is an object. A path read on one branch is read again on
  another that needs it (a read costs what a check would);
- a `let` definition is computed where a statement first needs it, on that branch only, and at most once
  per event: where it may have been computed already (on an earlier branch, or by an earlier turn of a
  loop), `if d_x is ...:` computes it only if it was not (`d_x = ...`, Python's Ellipsis, which no value
  of a mapping can be, stands for "not computed yet", set where every way to those uses passes);
- what a condition needs is read only once the tests before it hold, and the parts of a condition or of a
  fallback (`a else b`, `a or b`) that may not be evaluated compute no definition before they are.
"""

from __future__ import annotations

import datetime
import keyword
import math
import re
from collections.abc import Callable

from .. import stdlib
from ..syntax import ast
from ..types import EVENT_VALUE, Kinds, Typer, facts_of
from .ir import Block, Def, Defaults, For, If, Line, Stmt, index_of


def ident(prefix: str, text: str) -> str:
    """A checked identifier: the prefix, then the text with anything but [A-Za-z0-9_] made `_`."""
    body = re.sub(r"[^A-Za-z0-9_]", "_", text)[:40]
    name = f"{prefix}{body}"
    assert name.isidentifier() and not keyword.iskeyword(name), name
    return name


def pyrepr(value) -> str:
    """Python source for a JSON value: repr, with non-finite floats spelt out."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({repr(str(value))})"
    if isinstance(value, list):
        return "[" + ", ".join(pyrepr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{repr(k)}: {pyrepr(v)}" for k, v in value.items()) + "}"
    if value is ast.MISSING:
        return "MISSING"
    assert value is None or isinstance(value, bool | int | float | str), type(value)
    return repr(value)


def loop_parts(n: ast.ForEach | ast.ListComp | ast.ObjectComp) -> list[ast.Node]:
    """What a loop evaluates for each element (its variables in scope), its condition last."""
    parts = [n.body] if isinstance(n, ast.ForEach) else [n.value] if isinstance(n, ast.ListComp) else [n.key, n.value]
    return parts + ([n.condition] if n.condition is not None else [])


def conjuncts(node: ast.Node) -> list[ast.Node]:
    if isinstance(node, ast.Binary) and node.op == "and":
        return conjuncts(node.left) + conjuncts(node.right)
    return [node]


#: calls the emitter writes in a form of their own, not as a call of their helper
_SPECIAL_CALLS = frozenset(stdlib.INLINE | {"coalesce", "lower", "non_empty", "length"})

#: "not computed yet": what a definition's local holds before it is computed, where it may be
UNSET = "..."

_SIMPLE = re.compile(r"-?\d+(\.\d+)?|'[^'\\]*'|None|True|False|MISSING")


def _plain_format(node: ast.Node) -> bool:
    """A constant strftime format that format_time passes on as it is (no `%L`), which strftime takes."""
    if not (isinstance(node, ast.Literal) and isinstance(node.value, str)) or "%L" in node.value:
        return False
    try:
        datetime.datetime(2000, 1, 1).strftime(node.value)
    except ValueError:  # (a lone surrogate; on some systems a NUL)
        return False
    return True


_ANY = frozenset({"null", "bool", "int", "float", "str", "list", "object", "time", "missing"})


def _implies(facts: dict, other: dict) -> bool:
    """Whether paths of the kinds `facts` says are of the kinds `other` says."""
    return all((facts.get(k) or _ANY) <= kinds for k, kinds in other.items())


#: the Python class of the values of a kind (those of one class alone)
_PY_CLASS = {"str": "str", "int": "int", "float": "float", "list": "list", "object": "dict"}
#: a temporary of the emitter's (see `fresh`)
_TEMP = re.compile(r"t\d+")


class Emitter:
    def __init__(self, doc: ast.Document, typer: Typer, guarded: set[str] | None = None, share: bool = False):
        self.doc = doc
        #: values pass from the event into the output as they are, lists and objects included (see `out`)
        self.share = share
        self.typer = typer
        self.lets = {"$" + let.name: let for let in doc.lets}
        self.functions = {f.name: f for f in doc.functions}
        #: the generated name of each of the mapping's functions that stays a function
        self.function_names = {name: ident("fn_", name) for name in self.functions}
        #: the functions whose calls pass a depth on, and give missing past 100 (recursive ones)
        self.guarded = set(self.functions) if guarded is None else guarded
        #: the function whose body is being written
        self.in_function: str | None = None
        #: variables in scope ($product of a loop, a function's parameter, an inlined call's argument) -> local
        self.vars: dict[str, str] = {}
        #: what the conditions around the code being written say about paths: (root, steps) -> kinds
        self.narrow: dict[tuple, Kinds] = {}
        self._narrow_typer: tuple[dict, Typer] = (self.narrow, typer)
        #: whether a path that only a fallback needs is left to be read there, however deep (see `_collect`)
        self._deep_lazy = False
        #: the locals that the code being written has tested for MISSING already (see `call`)
        self._guarding: set[str] = set()
        self.constants: dict[str, str] = {}  # source -> name
        self.helpers: set[str] = set()
        self.modules: set[str] = set()
        self.used_names: set[str] = set()
        self._counter = 0
        #: the local of every path and definition, key -> name; and each local -> the mapping's text for it
        self._names: dict[tuple, str] = {}
        self.described: dict[str, tuple[str, tuple]] = {}
        #: where each definition is computed or checked, and those that need `d_x = ...` before
        self._sites: dict[tuple, list[tuple[Block, Stmt]]] = {}
        self._needs_unset: set[tuple] = set()
        self._computing: list[str] = []
        #: definitions computed by a function of their own (see `shared_lets`): root -> the definitions it takes
        self.let_functions: dict[str, tuple[str, ...]] = {}
        self._let_functions_called: dict[str, str] = {}
        #: the rules written as functions of their own (see codegen._rule_function), each a block to print,
        #: and (by the id of its top block) the names the call passes in
        self.rule_functions: list[Block] = []
        self.passed: dict[int, tuple[Block, set[str]]] = {}
        self._absent: dict[int, tuple[ast.Node, frozenset[tuple]]] = {}  # (see `absent_unless`)

    # ---- names and constants
    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def constant(self, source: str, prefix: str = "_C") -> str:
        if source not in self.constants:
            self.constants[source] = f"{prefix}{len(self.constants) + 1}"
        return self.constants[source]

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        return name

    def kinds(self, node: ast.Node) -> Kinds:
        """The kinds of `node` here: narrowed by what the conditions around the code being written say."""
        if not self.narrow:
            return self.typer(node)
        if isinstance(node, ast.Path):
            found = self.narrow.get((node.root, node.steps))
            if found is not None:
                return found
            return self.typer(node)
        if self._narrow_typer[0] is not self.narrow:  # (one typer per narrowing, kept while it is in force)
            self._narrow_typer = (self.narrow, self.typer.under(self.narrow))
        return self._narrow_typer[1](node)

    # ---- blocks and what is bound where
    def open_if(self, block: Block, test: str) -> tuple[If, Block]:
        stmt = If(test, None)  # type: ignore[arg-type]
        stmt.body = Block(block, stmt)
        block.stmts.append(stmt)
        return stmt, stmt.body

    def open_else(self, block: Block, stmt: If) -> Block:
        stmt.orelse = Block(block, stmt)
        return stmt.orelse

    def close(self, block: Block, stmt: If | For) -> None:
        """After a statement: what is bound on every way out of it, and the definitions that may be."""
        outs: list[Block] = []
        if isinstance(stmt, For):
            outs = [block, stmt.body]  # the body ran no times, or some
        else:
            outs.append(stmt.body)
            outs.append(stmt.orelse if stmt.orelse is not None else block)
        live = [b for b in outs if b is block or not b.ends]
        if not live:
            return  # nothing after this statement runs
        bound = {k: v for k, v in live[0].bound.items() if all(k in b.bound for b in live[1:])}
        maybe: set[tuple] = set()
        for b in live:
            maybe |= b.maybe
            maybe.update(k for k in b.bound if k[0] == "let" and k not in bound)
        maybe.difference_update(bound)
        computed_when = dict(block.computed_when)
        body = stmt.body
        if isinstance(stmt, If) and body.when is not None and body in live:
            # the body ran exactly where its `when` held (and where it did not, it still does not): what
            # it computed, and what it knows was computed where facts that include its own hold, is known
            # after it where they hold
            when = body.when
            for k, known in body.computed_when.items():
                if k not in computed_when and _implies(known[0], when):
                    computed_when[k] = known
            for k in body.bound:
                if k[0] == "let" and k not in bound and k not in computed_when:
                    computed_when[k] = (when, body.when_test)
        block.bound, block.maybe, block.computed_when = bound, maybe, computed_when

    def branch(self, block: Block, test: str, then: Callable[[Block], None],
               otherwise: Callable[[Block], None] | None = None) -> If:
        stmt, body = self.open_if(block, test)
        then(body)
        if otherwise is not None:
            otherwise(self.open_else(block, stmt))
        self.close(block, stmt)
        return stmt

    # ---- what conditions say about paths
    def facts(self, condition: ast.Node, holds: bool = True) -> dict[tuple, Kinds]:
        """Path -> kinds where `condition` holds (or, with `holds=False`, where it does not)."""
        return facts_of(condition, self.kinds, holds)

    def narrowed(self, facts: dict[tuple, Kinds]) -> dict[tuple, Kinds]:
        """Narrow by `facts` from here on; returns what to restore."""
        saved = self.narrow
        if facts:
            self.narrow = {**saved, **{k: (saved.get(k, v) & v) for k, v in facts.items()}}
        return saved

    # ---- paths and definitions
    def _key(self, root: str, steps: tuple) -> tuple:
        if root == "":
            return ("event", steps)
        if root in self.vars:
            return (self.vars[root], steps)
        return (self.let_name(root), steps)

    def let_name(self, root: str) -> str:
        key = ("let", root)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = self.unique(ident("d_", root.lstrip("$")))
            self.described[name] = (root, ())
        return name

    def _path_name(self, root: str, key: tuple) -> str:
        name = self._names.get(key)
        if name is None:
            steps = key[1]
            label = (root.lstrip("$") + "_" if root else "") + "_".join(str(s) for s in steps)
            name = self._names[key] = self.unique(ident("v_" if root else "e_", label))
            self.described[name] = (root, steps)
        return name

    def _collect(self, node: ast.Node, inner: frozenset[str], paths: list, lets: list, certain: bool,
                 everywhere: bool = False, lazy: bool = False) -> None:
        """The paths (root, steps) read and the definitions computed whenever `node` is evaluated: not in
        branches that may not be taken (no definitions there, and no paths in the branches of a
        conditional), nor below variables bound inside it (`inner`). `everywhere`: every branch too.
        `lazy`: `node` is evaluated only when what comes before it does not decide (`a else b`, `a and b`):
        a field of an object known here is then left to be read where it is used (see `inline_read`)."""
        if isinstance(node, ast.Path):
            if lazy and node.root not in inner and node.steps and (
                    self._deep_lazy or self.inline_read(node.root, node.steps) is not None):
                return  # (read where it is needed: inline, or by the statements of a fallback)
            if node.root in inner:
                return
            if node.root in self.lets and node.root not in self.vars:
                if certain:
                    lets.append(node.root)
                    if node.steps:
                        paths.append((node.root, node.steps))
                return
            if node.root == "" and not node.steps:
                return
            if node.steps:
                paths.append((node.root, node.steps))
            return
        if isinstance(node, ast.ForEach | ast.ListComp | ast.ObjectComp):
            self._collect(node.iterable, inner, paths, lets, certain, everywhere)
            inner = inner | {node.var, node.index_var or node.var}
            deep, self._deep_lazy = self._deep_lazy, False  # (what a loop's fallbacks need is read once, before it)
            for child in loop_parts(node):  # (a loop may run no times: what it computes, it computes inside)
                self._collect(child, inner, paths, lets, everywhere, everywhere)
            self._deep_lazy = deep
            return
        if isinstance(node, ast.With):
            for value in node.values:
                self._collect(value, inner, paths, lets, certain, everywhere)
            self._collect(node.body, inner | set(node.names), paths, lets, certain, everywhere)
            return
        if isinstance(node, ast.Object) and self._deep_lazy and not inner and not everywhere:
            entries = list(node.entries)
            while entries:
                needed, n = self._run(entries)
                if needed is None:
                    self._collect(entries.pop(0), inner, paths, lets, certain, everywhere, lazy)
                    continue
                del entries[:n]  # (read under the test of the object they need: see `group`)
                self._collect(ast.Path(None, "", needed[1]), inner, paths, lets, certain, everywhere, lazy)
            return
        if isinstance(node, ast.Guard) and self._deep_lazy and not inner and not self.vars \
                and self.in_function is None and self.tested_path(node.condition):
            return  # (read where it is tested: see `nested_guard`)
        if isinstance(node, ast.Guard | ast.Conditional) and not everywhere:
            self._collect(node.condition, inner, paths, lets, certain, lazy=lazy)
            return
        if isinstance(node, ast.Coalesce):
            self._collect(node.items[0], inner, paths, lets, certain, everywhere)
            for item in node.items[1:]:
                self._collect(item, inner, paths, lets, everywhere, everywhere, True)
            return
        if isinstance(node, ast.Call) and node.name == "coalesce" and node.args:
            self._collect(ast.Coalesce(node.span, node.args), inner, paths, lets, certain, everywhere)
            return
        if isinstance(node, ast.Binary) and node.op in ("and", "or"):
            self._collect(node.left, inner, paths, lets, certain, everywhere)
            self._collect(node.right, inner, paths, lets, everywhere, everywhere, True)
            return
        for child in node.children():
            self._collect(child, inner, paths, lets, certain, everywhere, lazy)

    def inline_read(self, root: str, steps: tuple, block: Block | None = None) -> str | None:
        """`parent.get(key, MISSING)`: a field read where it is used, for a field of the event or of a
        variable known to hold an object here (one read, no test of the parent)."""
        if len(steps) > 1:
            parent = self._object_parent(root, steps, block)
            return None if parent is None else f"{parent}.get({steps[-1]!r}, MISSING)"
        if len(steps) != 1 or not isinstance(steps[0], str):
            return None
        if root == "":
            parent = "event"
        elif root in self.vars and self.kinds(ast.Path(None, root, ())) <= {"object"}:
            parent = self.vars[root]
        else:
            return None
        return f"{parent}.get({steps[0]!r}, MISSING)"

    def _object_parent(self, root: str, steps: tuple, block: Block | None = None) -> str | None:
        """The local of the object a field of the event belongs to, when the conditions around the code
        being written say it is an object (inside the test of a group of fields: see `group`), and (given
        a block) it is bound there."""
        if root != "" or not steps or not isinstance(steps[-1], str):
            return None
        if len(steps) == 1:
            return "event"
        key = ("event", steps[:-1])
        name = self._names.get(key)
        found = self.narrow.get(("", steps[:-1]))
        if name is None or found is None or not found <= {"object"}:
            return None
        return name if block is None or block.bound.get(key) == name else None

    def _deep_reads(self, node: ast.Node, block: Block) -> bool:
        """Whether `node` reads a path that is not bound here and cannot be read inline (`a.b.c`): outside a
        loop, a fallback that does is written as statements that read it only when it is needed (in a loop,
        it is read once before it)."""
        return not block.in_loop() and any(isinstance(n, ast.Path) and n.steps and n.root not in self.lets
                   and self._key(n.root, n.steps) not in block.bound and self.inline_read(n.root, n.steps) is None
                   for n in node.walk())

    def needs(self, node: ast.Node, block: Block) -> tuple[int, int]:
        """(definitions, paths) that evaluating `node` here would compute or read first."""
        paths: list = []
        lets: list = []
        self._collect(node, frozenset(), paths, lets, True)
        unbound_lets = {r for r in lets if ("let", r) not in block.bound}
        unread = sum(1 for r, s in dict.fromkeys(paths) if self._key(r, s) not in block.bound)
        return len(unbound_lets), unread

    def needs_reads(self, node: ast.Node, block: Block) -> bool:
        """Whether evaluating `node` may need a path or definition that `block` has not bound, on any of its
        branches."""
        paths: list = []
        lets: list = []
        self._deep_lazy = not block.in_loop()
        self._collect(node, frozenset(), paths, lets, True, everywhere=True)
        self._deep_lazy = False
        return any(("let", r) not in block.bound for r in lets) or \
            any(self._key(r, s) not in block.bound for r, s in paths)

    def inline(self, node: ast.Node) -> bool:
        """Whether `node` is written as an expression alone, with no statement before it (given that what it
        reads is bound): then it may sit in a branch of a conditional expression, evaluated only there."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Object):
                if n.entries:
                    return False
            elif isinstance(n, ast.List):
                if any(isinstance(i, ast.ForEach) or "missing" in self.kinds(i) for i in n.items):
                    return False
            elif isinstance(n, ast.ListComp | ast.ObjectComp | ast.With | ast.ForEach):
                return False
            stack.extend(n.children())
        return True

    def bind_reads(self, nodes: list[ast.Node], block: Block) -> None:
        """Bind, at the end of `block`, the definitions and paths that evaluating the nodes needs whatever
        branches they take. Reads under one parent share one check that the parent is an object."""
        paths: list = []
        lets: list = []
        self._deep_lazy = not block.in_loop()
        for node in nodes:
            self._collect(node, frozenset(), paths, lets, True)
        self._deep_lazy = False
        for root in dict.fromkeys(lets):
            self.let(root, block)
        tries: dict[str, dict[tuple, list[tuple]]] = {}
        for root, steps in dict.fromkeys(paths):
            children = tries.setdefault(root, {})
            for i in range(1, len(steps) + 1):
                below = children.setdefault(steps[:i - 1], [])
                if steps[:i] not in below:
                    below.append(steps[:i])
        for root, children in tries.items():
            self._read_under(block, root, (), children)

    def _is_object(self, root: str, steps: tuple) -> bool:
        if root == "" and not steps:
            return True
        found = self.narrow.get((root, steps))
        if found is not None:
            return found <= {"object"}
        if not steps:
            return self.typer.variables.get(root, EVENT_VALUE) <= {"object"}
        return False

    def _local(self, root: str, steps: tuple, block: Block) -> str:
        if not steps:
            if root == "":
                return "event"
            if root in self.vars:
                return self.vars[root]
            return self.let(root, block)
        return block.bound[self._key(root, steps)]

    def _read_under(self, block: Block, root: str, prefix: tuple, children_of: dict[tuple, list[tuple]]) -> None:
        children = children_of.get(prefix)
        if not children:
            return
        parent = self._local(root, prefix, block)
        todo = [c for c in children if self._key(root, c) not in block.bound]
        fields = [c for c in todo if isinstance(c[-1], str)]
        for c in todo:
            if not isinstance(c[-1], str):
                key = self._key(root, c)
                name = self._path_name(root, key)
                block.line(f"{name} = {self.helper('getp')}({parent}, {c[-1]!r})")
                block.bound[key] = name
        if fields and not self._is_object(root, prefix):
            stmt, body = self.open_if(block, self.is_a(parent, parent, "dict", self._path_kinds(root, prefix)))
            before = set(block.bound)
            self._read_fields(body, root, parent, fields, children_of)
            names = [name for key, name in body.bound.items() if key not in before]
            orelse = self.open_else(block, stmt)
            orelse.stmts.append(Defaults(names))
            for key, name in body.bound.items():
                if key not in before:
                    orelse.bound[key] = name
            self.close(block, stmt)
        else:
            self._read_fields(block, root, parent, fields, children_of)
        for c in children:
            if c not in fields:
                self._read_under(block, root, c, children_of)

    def _read_fields(self, block: Block, root: str, parent: str, fields: list[tuple],
                     children_of: dict[tuple, list[tuple]]) -> None:
        """`name = parent.get(key, MISSING)` for each field of an object, then what is read under each."""
        for c in fields:
            key = self._key(root, c)
            name = self._path_name(root, key)
            block.line(f"{name} = {parent}.get({c[-1]!r}, MISSING)")
            block.bound[key] = name
        for c in fields:
            self._read_under(block, root, c, children_of)

    def let(self, root: str, block: Block) -> str:
        """The local of a definition, computed here unless it is bound on every way here; where it may have
        been computed on some, only if it was not."""
        key = ("let", root)
        name = self.let_name(root)
        if key in block.bound:
            return name
        if root in self._computing:  # the checker refuses definitions in terms of themselves (E209)
            raise AssertionError(f"{root} is defined in terms of itself")
        sites = self._sites.setdefault(key, [])
        when = block.computed_when.get(key)
        if when is not None and _implies(self.narrow, when[0]):
            return name  # computed where what holds here held
        if key in block.maybe or block.in_loop():
            self._needs_unset.add(key)
            stmt, body = self.open_if(block, f"{name} is {UNSET}")
            sites.append((block, stmt))
            self._compute(root, name, body)
            self.close(block, stmt)
        else:
            start = len(block.stmts)
            self._compute(root, name, block)
            sites.append((block, block.stmts[start]))
        block.bound[key] = name
        block.maybe.discard(key)
        return name

    def mark_unset(self, key: tuple, block: Block, stmt: Stmt) -> None:
        """`stmt` (in `block`) needs the definition's local set, computed or "not computed yet"."""
        self._needs_unset.add(key)
        self._sites.setdefault(key, []).append((block, stmt))

    def _compute(self, root: str, name: str, block: Block) -> None:
        value = self.lets[root].value
        self._computing.append(root)
        try:
            if root in self.let_functions:  # written once, as a function: a call here
                args = ["event"] + [self.let(dep, block) for dep in self.let_functions[root]]
                block.line(f"{name} = {self.let_function_name(root)}({', '.join(args)})")
            else:
                self.bind_reads([value], block)
                block.line(f"{name} = {self.expr(value, block)}")
        finally:
            self._computing.pop()
        block.bound[("let", root)] = name

    def let_function_name(self, root: str) -> str:
        """The name of a definition's function (written into the module once something calls it)."""
        name = self._let_functions_called.get(root)
        if name is None:
            name = self._let_functions_called[root] = self.unique(ident("let_", root.lstrip("$")))
        return name

    def called_let_functions(self) -> list[str]:
        return list(self._let_functions_called)

    def shared_lets(self, rules: list[ast.Rule], threshold: int = 16) -> None:
        """Choose the definitions to write as functions of their own: those of `threshold` nodes or more (a path
        counts one more for each step: each is a read, and a check that what it reads from is an object) that
        several places use (a definition computed on several branches would otherwise be written out on each),
        and that take the definitions they use whenever they are computed (those are passed in)."""
        uses: dict[str, int] = {}
        for part in [*rules, *(let.value for let in self.doc.lets)]:
            for n in part.walk():
                if isinstance(n, ast.Path) and n.root in self.lets:
                    uses[n.root] = uses.get(n.root, 0) + 1
        for root, let in self.lets.items():
            size = sum(1 + len(n.steps) if isinstance(n, ast.Path) else 1 for n in let.value.walk())
            if uses.get(root, 0) < 2 or size < threshold:
                continue
            every: list = []
            self._collect(let.value, frozenset(), [], every, True, everywhere=True)
            certain: list = []
            self._collect(let.value, frozenset(), [], certain, True)
            if set(every) <= set(certain):
                self.let_functions[root] = tuple(dict.fromkeys(certain))

    def let_function(self, root: str) -> Block:
        """The Python function that computes a definition: from the event, and the definitions it uses."""
        block = Block()
        saved = (self.vars, self.narrow, self.in_function)
        self.vars, self.narrow, self.in_function = {}, {}, None
        deps = self.let_functions[root]
        params = ["event"]
        try:
            for dep in deps:
                self.vars[dep] = self.let_name(dep)
                params.append(self.vars[dep])
            value = self.lets[root].value
            self.bind_reads([value], block)
            block.line(f"return {self.expr(value, block)}", ends=True)
        finally:
            self.vars, self.narrow, self.in_function = saved
        top = Block()
        head = Def(f"def {self.let_function_name(root)}({', '.join(params)})", block)
        block.parent, block.owner = top, head
        let = self.lets[root]
        top.comment(f"{root} ({let.span.location() if let.span else ''!r})")
        top.stmts.append(head)
        return top

    def finish(self, top: Block) -> None:
        """`d_x = ...` for each definition that is computed only if it was not: where every way to its
        computations and checks passes, outside any loop, before the first of them."""
        for key in sorted(self._needs_unset):
            every = [self._chain(b, s) for b, s in self._sites[key]]
            for root in dict.fromkeys(id(c[0][0]) for c in every):  # translate(), and each rule function
                chains = [c for c in every if id(c[0][0]) == root]
                if root in self.passed and self._names[key] in self.passed[root][1]:
                    continue  # passed in by the call, which has it from translate()
                self._unset(key, chains)

    def _unset(self, key: tuple, chains: list[list[tuple[Block, Stmt]]]) -> None:
        """`d_x = ...` where every way to the statements at the ends of `chains` (all from one function's
        top) passes, outside any loop, before the first of them."""
        level = 0
        while all(len(c) > level + 1 for c in chains) and all(c[level + 1][0] is chains[0][level + 1][0]
                                                            for c in chains[1:]):
            level += 1
        for j in range(1, level + 1):  # never inside a loop: it would forget each turn
            if chains[0][j][0].loop:
                level = j - 1
                break
        block = chains[0][level][0]
        at = min(index_of(block, c[level][1]) for c in chains)
        block.stmts.insert(at, Line(f"{self._names[key]} = {UNSET}  # {key[1]}: computed when first needed"))

    @staticmethod
    def _chain(block: Block, stmt: Stmt) -> list[tuple[Block, Stmt]]:
        """(block, its statement on the way) from the function's top block down to `stmt`."""
        out = [(block, stmt)]
        while block.parent is not None:
            stmt, block = block.owner, block.parent  # type: ignore[assignment]
            out.append((block, stmt))
        out.reverse()
        return out

    # ---- expressions
    def simple(self, text: str) -> bool:
        return text.isidentifier() or _SIMPLE.fullmatch(text) is not None

    def reuse(self, node: ast.Node, block: Block) -> tuple[str, str]:
        """(first use, later uses) of a value needed more than once: a walrus temp when not simple."""
        text = self.expr(node, block)
        if self.simple(text):
            return text, text
        t = self.fresh("t")
        return f"({t} := {text})", t

    def local(self, text: str, block: Block, prefix: str = "t") -> str:
        """`text` as a local (assigned here unless it is one)."""
        if text.isidentifier():
            return text
        t = self.fresh(prefix)
        block.line(f"{t} = {text}")
        return t

    def expr(self, n: ast.Node, block: Block) -> str:  # noqa: C901 - one case per node type
        if isinstance(n, ast.Literal):
            return pyrepr(n.value)  # (a list or object literal is a fresh object each time)
        if isinstance(n, ast.Path):
            if not n.steps:
                if n.root in self.vars:
                    return self.vars[n.root]
                if n.root == "":
                    return "event"
                return self.let(n.root, block)
            key = self._key(n.root, n.steps)
            found = block.bound.get(key)
            if found is None:
                read = self.inline_read(n.root, n.steps, block)
                if read is not None:
                    return read
                self.bind_reads([n], block)
                found = block.bound[self._key(n.root, n.steps)]
            return found
        if isinstance(n, ast.Setting):  # only when settings were not inlined
            return "MISSING"
        if isinstance(n, ast.Index):
            if isinstance(n.base, ast.Literal) and isinstance(n.base.value, dict) and all(
                    not isinstance(v, dict | list) for v in n.base.value.values()):
                table = self.constant(pyrepr(n.base.value), "_TABLE")  # immutable values: safe to share
                if self.kinds(n.key) <= {"str", "missing", "null"}:
                    return f"{table}.get({self.expr(n.key, block)}, MISSING)"
                return f"{self.helper('getp')}({table}, {self.expr(n.key, block)})"
            return f"{self.helper('getp')}({self.expr(n.base, block)}, {self.expr(n.key, block)})"
        if isinstance(n, ast.Call):
            return self.call(n, block)
        if isinstance(n, ast.Unary):
            if n.op == "not":
                op = n.operand
                if isinstance(op, ast.Call) and op.name == "exists" and len(op.args) == 1:
                    return f"({self.expr(op.args[0], block)} is MISSING)"
                return f"(not {self.cond(n.operand, block)})"
            return f"{self.helper('neg')}({self.expr(n.operand, block)})"
        if isinstance(n, ast.Binary):
            return self.binary(n, block)
        if isinstance(n, ast.Coalesce):
            return self.coalesce(list(n.items), block)
        if isinstance(n, ast.Guard):
            return self.conditional(n.condition, n.value, None, block)
        if isinstance(n, ast.Conditional):
            return self.conditional(n.condition, n.then, n.otherwise, block)
        if isinstance(n, ast.Template):
            return self.template(n, block)
        if isinstance(n, ast.Object):
            return self.object(n, block)
        if isinstance(n, ast.List):
            return self.list(n, block)
        if isinstance(n, ast.ListComp | ast.ObjectComp):
            return self.comprehension(n, block)
        if isinstance(n, ast.With):
            return self.with_(n, block)
        raise AssertionError(f"cannot emit {type(n).__name__}")

    def conditional(self, condition: ast.Node, then: ast.Node, otherwise: ast.Node | None, block: Block) -> str:
        """`then if condition else otherwise` (otherwise missing): an expression when the branches need
        nothing more, else statements, so that each branch reads and computes only when it is taken."""
        if otherwise is None and not self.vars and self.in_function is None and not block.in_loop():
            path = self.tested_path(condition)
            if path is not None and self._key(path.root, path.steps) not in block.bound:
                return self.nested_guard(path, condition, then, block)
        test = self.cond(condition, block)
        yes, no = self.facts(condition), self.facts(condition, holds=False)
        if otherwise is None and isinstance(then, ast.Call) and then.name == "non_empty" and len(then.args) == 1:
            saved = self.narrowed(yes)  # `non_empty(x) if is_string(x)`: one test of emptiness in the same one
            kinds = self.kinds(then.args[0])
            x = self.expr(then.args[0], block) if not self.needs_reads(then.args[0], block) else ""
            self.narrow = saved
            if x.isidentifier() and not kinds & {"int", "float", "bool", "time"}:
                return f"({x} if ({test}) and {x} else MISSING)"
        if all(x is None or (not self.needs_reads(x, block) and self.inline(x)) for x in (then, otherwise)):
            saved = self.narrowed(yes)
            a = self.expr(then, block)
            self.narrow = saved
            if otherwise is None:
                b = "MISSING"
            else:
                saved = self.narrowed(no)
                b = self.expr(otherwise, block)
                self.narrow = saved
            return f"({a} if {test} else {b})"
        t = self.fresh("t")

        def taken(node: ast.Node | None, facts: dict) -> Callable[[Block], None]:
            def fill(inner: Block) -> None:
                if node is None:
                    inner.line(f"{t} = MISSING")
                    return
                saved = self.narrowed(facts)
                self.bind_reads([node], inner)
                inner.line(f"{t} = {self.expr(node, inner)}")
                self.narrow = saved
            return fill

        self.branch(block, test, taken(then, yes), taken(otherwise, no))
        return t

    def tested_path(self, condition: ast.Node) -> ast.Path | None:
        """The path a condition tests, when it is a test of one field deep in the event (`is_string(a.b.c)`)
        that never holds for a missing one: then where it holds, every object on the way is there."""
        if not (isinstance(condition, ast.Call) and len(condition.args) == 1):
            return None
        path = condition.args[0]
        if not (isinstance(path, ast.Path) and path.root == "" and len(path.steps) >= 2
                and all(isinstance(step, str) for step in path.steps)):
            return None
        holds = facts_of(condition, self.typer).get((path.root, path.steps))
        return path if holds is not None and "missing" not in holds else None

    def nested_guard(self, path: ast.Path, condition: ast.Node, then: ast.Node, block: Block) -> str:
        """`then if condition` where the condition tests a field deep in the event: each object on the way
        is read and tested in turn, and the field and `then` only under the last (no reads, no tests of
        the field, where an object on the way is not there)."""
        t = self.fresh("t")
        block.line(f"{t} = MISSING")
        inner, depth = block, len(path.steps) - 1
        while depth > 0 and self._key("", path.steps[:depth]) not in block.bound:
            depth -= 1
        parent = self._local("", path.steps[:depth], block)
        opened: list[tuple[Block, If]] = []
        for i in range(depth, len(path.steps)):
            if not self._is_object("", path.steps[:i]):
                stmt, body = self.open_if(inner, self.is_a(parent, parent, "dict", self._path_kinds("", path.steps[:i])))
                opened.append((inner, stmt))
                inner = body
            key = self._key("", path.steps[:i + 1])
            name = self._path_name("", key)
            inner.line(f"{name} = {parent}.get({path.steps[i]!r}, MISSING)")
            inner.bound[key] = name
            parent = name
        inner.line(f"{t} = {self.conditional(condition, then, None, inner)}")
        for outer, stmt in reversed(opened):
            self.close(outer, stmt)
        return t

    def is_a(self, use: str, again: str, py: str, kinds: Kinds) -> str:
        """`isinstance(x, py)` for a value of these kinds (`use` its first mention, `again` the others): the
        exact class first, which costs a fraction of isinstance where it holds, and a missing value ruled
        out before isinstance, which costs most where it does not (a subclass still passes)."""
        exact = f"{use}.__class__ is {py}"
        if "missing" in kinds and kinds != {"missing"}:
            return f"({exact} or ({again} is not MISSING and isinstance({again}, {py})))"
        return f"({exact} or isinstance({again}, {py}))"

    def _path_kinds(self, root: str, steps: tuple) -> Kinds:
        return self.kinds(ast.Path(None, root, steps))

    def cond(self, n: ast.Node, block: Block) -> str:
        """An expression whose Python truth is the mapping's (JavaScript's) truth of the value."""
        if isinstance(n, ast.Binary) and n.op in ("and", "or"):
            return self.logical(n, block, as_value=False)
        kinds = self.kinds(n)
        text = self.expr(n, block)
        if kinds <= {"bool", "str", "missing", "null", "int"}:
            return text  # Python's truth agrees with JavaScript's for these
        return f"{self.helper('truthy')}({text})"

    def logical(self, n: ast.Binary, block: Block, as_value: bool) -> str:
        """`a and b`, `a or b`: b is evaluated only when it decides, and computes its definitions only then."""
        left = self.cond(n.left, block)
        both_bool = self.kinds(n.left) <= {"bool"} and self.kinds(n.right) <= {"bool"}
        if not self._lets_in(n.right, block) and self.inline(n.right):
            facts = self.facts(n.left) if n.op == "and" else {}
            self.bind_reads([n.right], block)  # here, before narrowing: what `left` says holds only inside
            saved = self.narrowed(facts)
            right = self.cond(n.right, block)
            self.narrow = saved
            inner = f"({left} {n.op} {right})"
            return f"bool{inner}" if as_value and not both_bool else inner
        t = self.fresh("t")
        block.line(f"{t} = {'bool(' + left + ')' if as_value and not both_bool else left}")

        def right_side(inner: Block) -> None:
            saved = self.narrowed(self.facts(n.left) if n.op == "and" else {})
            self.bind_reads([n.right], inner)
            r = self.cond(n.right, inner)
            inner.line(f"{t} = {'bool(' + r + ')' if as_value and not both_bool else r}")
            self.narrow = saved

        self.branch(block, t if n.op == "and" else f"not {t}", right_side)
        return t

    def _lets_in(self, node: ast.Node, block: Block) -> bool:
        """Whether evaluating `node` may compute a definition not bound here."""
        for n in node.walk():
            if isinstance(n, ast.Path) and n.root in self.lets and n.root not in self.vars \
                    and ("let", n.root) not in block.bound:
                return True
        return False

    def binary(self, n: ast.Binary, block: Block) -> str:
        op = n.op
        if op in ("and", "or"):
            return self.logical(n, block, as_value=True)
        a, b = n.left, n.right
        if op in ("==", "!=") and any(isinstance(x, ast.Literal) and x.value is None for x in (a, b)):
            other = b if isinstance(a, ast.Literal) and a.value is None else a
            return f"({self.expr(other, block)} {'is' if op == '==' else 'is not'} None)"
        if op in ("==", "!="):
            strict = any(isinstance(x, ast.Literal) and isinstance(x.value, str) for x in (a, b)) or \
                (self.kinds(a) <= {"str", "missing", "null"} and self.kinds(b) <= {"str", "missing", "null"})
            x, y = self.expr(a, block), self.expr(b, block)
            if strict:
                return f"({x} {op} {y})"
            text = f"{self.helper('eq')}({x}, {y})"
            return text if op == "==" else f"(not {text})"
        if op in ("<", "<=", ">", ">="):
            x, y = self.expr(a, block), self.expr(b, block)
            ka, kb = self.kinds(a), self.kinds(b)
            if (ka <= {"int", "float"} and kb <= {"int", "float"}) or (ka <= {"str"} and kb <= {"str"}):
                return f"({x} {op} {y})"  # two numbers, or two texts: Python's comparison is the mapping's
            fn = self.helper("lt" if op in ("<", ">") else "le")
            return f"{fn}({x}, {y})" if op in ("<", "<=") else f"{fn}({y}, {x})"
        if op in ("in", "not in"):
            return self.member(n, block)
        if op == "without":
            obj = self.expr(a, block)
            if isinstance(b, ast.Literal) and isinstance(b.value, list | str):
                keys = sorted({k for k in (b.value if isinstance(b.value, list) else [b.value])
                               if isinstance(k, str)})
                const = self.constant(f"frozenset({tuple(keys)!r})", "_KEYS")
            else:
                const = f"{self.helper('keyset')}({self.expr(b, block)})"
            # a new object, whose lists and objects are copies too: it may be sent as it is (`out`)
            value = self.copy("v", "v")
            if self.kinds(a) <= {"object"} and ":=" not in obj:
                return f"{{k: {value} for k, v in {obj}.items() if k not in {const}}}"
            if obj.isidentifier():
                test = self.is_a(obj, obj, "dict", self.kinds(a))
                return f"({{k: {value} for k, v in {obj}.items() if k not in {const}}} if {test} else MISSING)"
            without = f"{self.helper('without')}({obj}, {const})"
            return without if self.share else f"{self.helper('fresh')}({without})"
        x, y = self.expr(a, block), self.expr(b, block)
        if op == "+":
            return f"{self.helper('add')}({x}, {y})"
        return f"{self.helper('arith')}({op!r}, {x}, {y})"

    def member(self, n: ast.Binary, block: Block) -> str:
        a, b = n.left, n.right
        x = self.expr(a, block)
        if (isinstance(b, ast.Literal) and isinstance(b.value, list) and b.value
                and all(isinstance(v, str) for v in b.value) and self.kinds(a) <= {"str", "missing", "null"}):
            const = self.constant(f"frozenset({tuple(sorted(set(b.value)))!r})", "_SET")
            return f"({x} {n.op} {const})"
        y = self.expr(b, block)
        text = f"{self.helper('member')}({x}, {y})"
        return text if n.op == "in" else f"(not {text})"

    def coalesce(self, items: list[ast.Node], block: Block) -> str:
        """`a else b else ...`: the first neither missing nor null; the ones after it are evaluated only
        when needed (as statements when they compute a definition)."""
        first, rest = items[0], items[1:]
        if not rest:
            return self.expr(first, block)
        kinds = self.kinds(first)
        if "missing" not in kinds and "null" not in kinds:
            return self.expr(first, block)
        tail_node = ast.Coalesce(None, tuple(rest)) if len(rest) > 1 else rest[0]
        if self._lets_in(tail_node, block) or not self.inline(tail_node) or self._deep_reads(tail_node, block):
            counter = self._counter
            text = self.expr(first, block)
            t = self.local(text, block)
            check = f"{t} is MISSING" if "null" not in kinds else \
                f"{t} is None or {t} is MISSING" if "missing" in kinds else f"{t} is None"
            if _TEMP.fullmatch(t) and int(t[1:]) > counter:  # a temporary of this expression's: the result
                out = t
            else:  # a path's or a definition's local (or a constant): the result needs one of its own
                out = self.fresh("t")
                block.line(f"{out} = {t}")

            def fallback(inner: Block) -> None:
                self.bind_reads([tail_node], inner)
                if "null" not in kinds:
                    inner.line(f"{out} = {self.coalesce(rest, inner)}")
                    return
                value = self.local(self.coalesce(rest, inner), inner)
                # (a null first value stays when nothing after it is there)
                inner.line(f"{out} = {value} if {value} is not MISSING else {t}")

            self.branch(block, check, fallback)
            return out
        use, again = self.reuse(first, block)
        if "null" not in kinds:
            tail = self.coalesce(rest, block)
            return f"({again} if {use} is not MISSING else {tail})"
        # first may be null: use it only when nothing after it is there
        tail_kinds = self.kinds(tail_node)
        tail = self.coalesce(rest, block)
        check = f"{use} is not None and {again} is not MISSING" if "missing" in kinds else f"{use} is not None"
        if "missing" not in tail_kinds:
            return f"({again} if {check} else {tail})"
        t = self.fresh("t")
        return f"({again} if {check} else ({t} if ({t} := {tail}) is not MISSING else {again}))"

    def template(self, n: ast.Template, block: Block) -> str:
        values = [p for p in n.parts if isinstance(p, ast.Node)]
        if all(self.kinds(v) <= {"str", "missing", "null"} for v in values):
            checks, pieces = [], []
            for p in n.parts:
                if isinstance(p, str):
                    if p:
                        pieces.append(repr(p))
                    continue
                use, again = self.reuse(p, block)
                kinds = self.kinds(p)
                if kinds <= {"str"}:
                    pieces.append(use if use == again else again)
                    if use != again:
                        checks.append(f"{use} is not MISSING")  # (only to assign the temporary first)
                    continue
                # text or nothing (a subclass of str is text too)
                tests = (["is not MISSING"] if "missing" in kinds else []) + (["is not None"] if "null" in kinds else [])
                checks += [f"{use if i == 0 else again} {test}" for i, test in enumerate(tests)]
                pieces.append(again)
            joined = " + ".join(pieces) or "''"
            return f"({joined} if {' and '.join(checks)} else MISSING)" if checks else f"({joined})"
        literals, vals = [""], []
        for p in n.parts:
            if isinstance(p, str):
                literals[-1] += p
            else:
                vals.append(self.expr(p, block))
                literals.append("")
        return f"{self.helper('template')}({tuple(literals)!r}, ({', '.join(vals)},))"

    def call(self, n: ast.Call, block: Block) -> str:
        name = n.name
        args = n.args
        if name in self.functions and name not in stdlib.FUNCTIONS:
            texts = [self.expr(a, block) for a in args]
            if name in self.guarded:
                texts.append("depth + 1" if self.in_function in self.guarded else "1")
            return f"{self.function_names[name]}({', '.join(texts)})"
        if name in stdlib.INLINE:
            if name == "is_number":
                if "bool" not in self.kinds(args[0]):
                    return f"isinstance({self.expr(args[0], block)}, (int, float))"
                use, again = self.reuse(args[0], block)
                return f"(isinstance({use}, (int, float)) and not isinstance({again}, bool))"
            x = self.expr(args[0], block)
            if name == "exists":
                return f"({x} is not MISSING)"
            py = {"is_string": "str", "is_bool": "bool", "is_list": "list", "is_object": "dict"}[name]
            return self.is_a(x, x, py, self.kinds(args[0])) if x.isidentifier() else f"isinstance({x}, {py})"
        if name == "coalesce":
            return self.coalesce(list(args), block)
        if name == "lower":
            if self.kinds(args[0]) <= {"str"}:
                return f"{self.expr(args[0], block)}.lower()"
            use, again = self.reuse(args[0], block)
            return f"({again}.lower() if {self.is_a(use, again, 'str', self.kinds(args[0]))} else MISSING)"
        if name == "length" and self.kinds(args[0]) <= {"str", "list", "object"}:
            return f"len({self.expr(args[0], block)})"
        if name == "non_empty":
            kinds = self.kinds(args[0])
            if not kinds & {"int", "float", "bool", "time"}:  # Python's truth is emptiness (MISSING is false)
                return f"({self.expr(args[0], block)} or MISSING)"
            use, again = self.reuse(args[0], block)
            return f"({again} if isinstance({use}, (str, list, dict)) and {again} else MISSING)"
        if name == "format_time" and len(args) == 2 and _plain_format(args[1]) \
                and self.kinds(args[0]) <= {"time", "missing"}:  # a time or nothing: its own strftime
            if "missing" not in self.kinds(args[0]):
                return f"{self.expr(args[0], block)}.strftime({args[1].value!r})"  # type: ignore[attr-defined]
            use, again = self.reuse(args[0], block)
            return f"({again}.strftime({args[1].value!r}) if {use} is not MISSING else MISSING)"  # type: ignore[attr-defined]
        fn = stdlib.FUNCTIONS[name]
        if fn.passes and len(args) == 1:  # the values it gives back as they are: a class test, not a call
            kinds = self.kinds(args[0])
            if kinds <= fn.passes:
                return self.expr(args[0], block)
            classes = sorted(_PY_CLASS[k] for k in kinds & fn.passes)
            if classes:
                use, again = self.reuse(args[0], block)
                test = f"{use}.__class__ is {classes[0]}" if len(classes) == 1 else \
                    f"{use}.__class__ in ({', '.join(classes)},)"
                return f"({again} if {test} else {self.helper(fn.helper)}({again}))"
        root = self._strict_root(n)
        if root is not None:  # missing gives missing: the helpers are called only when it is there
            x = self.expr(root, block)
            if x.isidentifier() and x not in self._guarding:
                self._guarding.add(x)
                try:
                    return f"(MISSING if {x} is MISSING else {self._helper_call(fn, args, block)})"
                finally:
                    self._guarding.discard(x)
        return self._helper_call(fn, args, block)

    def _strict_root(self, n: ast.Call) -> ast.Node | None:
        """The value that a chain of strict calls (`format_time(parse_time(x), ...)`) is missing with: the
        first argument of the innermost, when it may be missing (and may be something else)."""
        node: ast.Node = n
        while (isinstance(node, ast.Call) and node.args and node.name in stdlib.FUNCTIONS
               and node.name not in _SPECIAL_CALLS and node.name not in self.functions
               and stdlib.FUNCTIONS[node.name].strict):
            node = node.args[0]
        if node is n:
            return None
        kinds = self.kinds(node)
        return node if "missing" in kinds and kinds != {"missing"} else None

    def _helper_call(self, fn: stdlib.Function, args: tuple[ast.Node, ...], block: Block) -> str:
        texts = []
        for index, arg in enumerate(args):
            param = fn.param(index)
            if param is not None and param.regex:  # a constant pattern, compiled once with the module
                pattern = arg.value if isinstance(arg, ast.Literal) else ""  # type: ignore[attr-defined]
                self.modules.add("re")
                texts.append(self.constant(f"re.compile({pattern!r})", "_RE"))
            else:
                texts.append(self.expr(arg, block))
        return f"{self.helper(fn.helper)}({', '.join(texts)})"

    # ---- what goes into the output: never an object or list of the event (or of another output)
    def out(self, n: ast.Node, block: Block) -> str:
        """A value placed in the output. Objects and lists built here are new; a list or object that comes
        from the event (a path, a definition, a function's result) is copied (`fresh`), so that changing the
        output never changes the caller's event. Values that cannot be lists or objects pass as they are."""
        if self.share or self.is_fresh(n):
            return self.expr(n, block)
        use, again = self.reuse(n, block)
        # most values are text: one class test, and the call only for what may hold lists or objects
        return f"({self.copy(use, again)})"

    def copy(self, use: str, again: str) -> str:
        """The value (`use` first, `again` after), copied if it is a list or object: values of the plain
        classes (text, numbers, true, false, null), the most common, pass after one set lookup."""
        if self.share:
            return again
        return f"{again} if {use}.__class__ in {self.helper('PLAIN')} else {self.helper('fresh')}({again})"

    def is_fresh(self, n: ast.Node) -> bool:
        """Whether a value is never a list or object of the event: not one at all, or built here."""
        if isinstance(n, ast.Object | ast.List | ast.Literal | ast.ListComp | ast.ObjectComp) \
                or not (self.kinds(n) & {"list", "object"}):
            return True  # (a comprehension's elements are made fresh as they are added)
        if isinstance(n, ast.Binary) and n.op == "without":
            return True
        if isinstance(n, ast.Coalesce):
            return all(self.is_fresh(i) for i in n.items)
        if isinstance(n, ast.Guard):
            return self.is_fresh(n.value)
        if isinstance(n, ast.Conditional):
            return self.is_fresh(n.then) and self.is_fresh(n.otherwise)
        if isinstance(n, ast.Call) and n.name == "non_empty":
            return self.is_fresh(n.args[0])
        return False

    def copied(self, name: str, n: ast.Node) -> str:
        """`name` (holding the value of `n`), copied if it may be a list or object of the event."""
        if self.share or self.is_fresh(n):
            return name
        return f"({self.copy(name, name)})"

    # ---- objects and lists: built by statements into a local, which is the expression
    def object(self, n: ast.Object, block: Block) -> str:
        """A dict display of the entries from the first until one that may be missing (or that is not a
        plain field or spread); statements for the rest. With no statements, the display is the expression
        (a fresh object where it is evaluated: its values are locals or expressions of them)."""
        if not n.entries:
            return "{}"
        entries = list(n.entries)
        display = self._display(entries, block)
        if not entries:
            return f"{{{', '.join(display)}}}"
        name = self.fresh("o")
        if entries[1:] and self._either(entries[0], entries[1]) and isinstance(entries[0].key, ast.Literal):  # type: ignore[attr-defined]
            self._either_display(name, display, entries, block)
        else:
            block.line(f"{name} = {{{', '.join(display)}}}")
        while entries:
            if entries[1:] and self._either(entries[0], entries[1]):
                e, after = entries.pop(0), entries.pop(0)
                self._either_field(name, e, after, block)  # type: ignore[arg-type]
                continue
            needed, n = self._run(entries) if not block.in_loop() else (None, 0)
            if needed is not None:
                self.group(name, needed, entries[:n], block)
                del entries[:n]
                continue
            self.entry(name, entries.pop(0), block)
        return name

    def entry(self, name: str, e: ast.Node, block: Block) -> None:
        if isinstance(e, ast.Spread):
            self.spread(name, e.value, block)
        else:
            self.field(name, e, e.value, block)  # type: ignore[arg-type, attr-defined]

    # ---- fields that each need one object of the event: written under one test of it
    def absent_unless(self, node: ast.Node) -> frozenset[tuple]:
        """The objects of the event (("", steps)) that `node` is missing without: where one of them is not
        an object, `node` is missing (a field of it; a strict function of one; a table's entry for one;
        the first of several that are; text made of one)."""
        known = self._absent.get(id(node))  # (by identity: nodes may hold lists; the node kept, so its id is)
        if known is None or known[0] is not node:
            known = self._absent[id(node)] = (node, frozenset(self._absent_unless(node)))
        return known[1]

    def _absent_unless(self, node: ast.Node) -> set[tuple] | frozenset[tuple]:
        if isinstance(node, ast.Path):
            if node.root != "" or not all(isinstance(step, str) for step in node.steps):
                return set()
            return {("", node.steps[:i]) for i in range(1, len(node.steps))}
        if isinstance(node, ast.Call) and node.args and self._strict(node.name):
            return self.absent_unless(node.args[0])
        if isinstance(node, ast.Index) and isinstance(node.base, ast.Literal) and isinstance(node.base.value, dict):
            return self.absent_unless(node.key)
        if isinstance(node, ast.Coalesce):
            return frozenset.intersection(*(self.absent_unless(item) for item in node.items))
        if isinstance(node, ast.Guard):
            return self.absent_unless(node.value)
        if isinstance(node, ast.Template):
            return frozenset().union(*(self.absent_unless(p) for p in node.parts if isinstance(p, ast.Node)))
        if isinstance(node, ast.Binary) and node.op == "without":  # (missing unless it is an object)
            return self.absent_unless(node.left) | self._itself(node.left)
        return set()

    def _itself(self, node: ast.Node) -> set[tuple]:
        if isinstance(node, ast.Path) and node.root == "" and node.steps and \
                all(isinstance(step, str) for step in node.steps):
            return {("", node.steps)}
        return set()

    def _strict(self, name: str) -> bool:
        """Whether a call of `name` is missing when its first argument is (as the generated code writes it)."""
        return (name in stdlib.FUNCTIONS and name not in self.functions and name not in stdlib.INLINE
                and name != "coalesce" and stdlib.FUNCTIONS[name].strict)

    def _needs(self, e: ast.Node) -> frozenset[tuple] | set[tuple]:
        """The objects of the event an entry needs (see `absent_unless`), but those known to be objects."""
        if isinstance(e, ast.Spread):  # a spread of what is not an object adds nothing
            needs = self.absent_unless(e.value) | self._itself(e.value)
        elif isinstance(e, ast.Field) and isinstance(e.key, ast.Literal):
            needs = self.absent_unless(e.value)
        else:
            return set()
        return {k for k in needs if not (self.narrow.get(k) or frozenset({"missing"})) <= {"object"}}

    def _run(self, entries: list[ast.Node]) -> tuple[tuple | None, int]:
        """(the object, how many): two or more entries from the first on that are all missing (or add
        nothing) where one object of the event is not an object; the outermost such object."""
        common = self._needs(entries[0])
        n = 1
        while common and n < len(entries) and not (entries[n + 1:] and self._either(entries[n], entries[n + 1])):
            more = common & self._needs(entries[n])
            if not more:
                break
            common, n = more, n + 1
        if n < 2 or not common:
            return None, 0
        return min(common, key=lambda key: len(key[1])), n

    def group(self, name: str, needed: tuple, entries: list[ast.Node], block: Block) -> None:
        """Entries that need one object of the event, under one test of it: there, what they read below
        its fields is read first (one test of each object on the way), its fields where they are used."""
        path = ast.Path(None, "", needed[1])
        key = self._key("", needed[1])
        if key not in block.bound:
            self.bind_reads([path], block)
        parent = block.bound[key]

        def fill(inner: Block) -> None:
            saved = self.narrowed({needed: frozenset({"object"})})
            rest = list(entries)
            while rest:  # (those that need an object inside it: a group of their own)
                inside, n = self._run(rest)
                if inside is not None:
                    self.group(name, inside, rest[:n], inner)
                    del rest[:n]
                else:
                    self.entry(name, rest.pop(0), inner)
            self.narrow = saved

        if self._is_object("", needed[1]):
            fill(block)
        else:
            self.branch(block, self.is_a(parent, parent, "dict", self.kinds(path)), fill)

    def _display(self, entries: list[ast.Node], block: Block) -> list[str]:
        """The entries of a dict display, taken from the front of `entries`: fields with a key known and a
        value that is never missing, and spreads of objects."""
        display: list[str] = []
        while entries:
            e = entries[0]
            if isinstance(e, ast.Spread) and self.kinds(e.value) <= {"object"}:
                display.append(f"**{self.out(e.value, block)}")
            elif (isinstance(e, ast.Field) and isinstance(e.key, ast.Literal) and isinstance(e.key.value, str)
                  and "missing" not in self.kinds(e.value)):
                display.append(f"{e.key.value!r}: {self.out(e.value, block)}")
            else:
                break
            entries.pop(0)
        return display

    def _either_display(self, name: str, display: list[str], entries: list[ast.Node], block: Block) -> None:
        """An object that goes on with `a: x` then `b: y if not exists(x)` (see `_either`): where x is there,
        one display takes it and the entries after it that can be displayed there; where it is not, the
        display so far, then the other field and those entries as statements. Takes them from `entries`."""
        e, after = entries.pop(0), entries.pop(0)
        there = ast.Call(None, "exists", (e.value,))  # type: ignore[attr-defined]
        taken: list[ast.Node] = []

        def then(inner: Block) -> None:
            rest = list(entries)
            more = [f"{e.key.value!r}: {self.out(e.value, inner)}"] + self._display(rest, inner)  # type: ignore[attr-defined]
            taken.extend(entries[:len(entries) - len(rest)])
            inner.line(f"{name} = {{{', '.join(display + more)}}}")

        def otherwise(inner: Block) -> None:
            inner.line(f"{name} = {{{', '.join(display)}}}")
            self.field(name, after, after.value.value, inner)  # type: ignore[attr-defined]
            for t in taken:
                if isinstance(t, ast.Spread):
                    self.spread(name, t.value, inner)
                else:
                    self.field(name, t, t.value, inner)  # type: ignore[arg-type]

        self.branch(block, f"{self.expr(e.value, block)} is not MISSING", self._under(there, then),  # type: ignore[attr-defined]
                    self._under(after.value.condition, otherwise))  # type: ignore[attr-defined]
        del entries[:len(taken)]

    def _either(self, e: ast.Node, after: ast.Node) -> bool:
        """`a: x` then `b: y if not exists(x)`: one or the other (`$identity`'s external_id, else braze_id)."""
        return (isinstance(e, ast.Field) and isinstance(after, ast.Field) and isinstance(e.value, ast.Path)
                and isinstance(after.value, ast.Guard) and isinstance(after.value.condition, ast.Unary)
                and after.value.condition.op == "not" and isinstance(after.value.condition.operand, ast.Call)
                and after.value.condition.operand.name == "exists"
                and after.value.condition.operand.args == (e.value,)
                and "missing" in self.kinds(e.value) and self.kinds(e.value) != {"missing"})

    def _either_field(self, name: str, e: ast.Field, after: ast.Field, block: Block) -> None:
        """`if x is not MISSING: o[a] = x` `else: o[b] = y`, each branch knowing whether x is there."""
        there = ast.Call(None, "exists", (e.value,))
        self.branch(block, f"{self.expr(e.value, block)} is not MISSING",
                    self._under(there, lambda inner: self.field(name, e, e.value, inner)),
                    self._under(after.value.condition,  # type: ignore[attr-defined]
                                lambda inner: self.field(name, after, after.value.value, inner)))  # type: ignore[attr-defined]

    def spread(self, name: str, v: ast.Node, block: Block) -> None:
        if isinstance(v, ast.Guard) and self.needs_reads(v.value, block):
            def guarded(inner: Block) -> None:
                self.bind_reads([v.value], inner)
                self.spread(name, v.value, inner)

            self.branch(block, self.cond(v.condition, block), self._under(v.condition, guarded))
            return
        if (isinstance(v, ast.Binary) and v.op == "without" and isinstance(v.right, ast.Literal)
                and isinstance(v.right.value, list)):
            # every field but some, straight into the object: no intermediate object
            source = self.expr(v.left, block)
            if source.isidentifier():
                keys = sorted({k for k in v.right.value if isinstance(k, str)})
                const = self.constant(f"frozenset({tuple(keys)!r})", "_KEYS")
                def copy(inner: Block) -> None:
                    loop = For(f"for k, v in {source}.items()", Block())
                    loop.body = Block(inner, loop, loop=True)
                    inner.stmts.append(loop)
                    loop.body.line(f"if k not in {const}: {name}[k] = {self.copy('v', 'v')}")
                    self.close(inner, loop)

                if self.kinds(v.left) <= {"object"}:
                    copy(block)
                else:
                    self.branch(block, self.is_a(source, source, "dict", self.kinds(v.left)), copy)
                return
        value = self.out(v, block)
        if self.kinds(v) <= {"object"}:
            block.line(f"{name}.update({value})")
        else:
            t = self.local(value, block)
            block.line(f"if {self.is_a(t, t, 'dict', self.kinds(v))}: {name}.update({t})")

    def _under(self, condition: ast.Node, fill: Callable[[Block], object]) -> Callable[[Block], None]:
        """`fill`, narrowed by what `condition` says."""
        def run(inner: Block) -> None:
            saved = self.narrowed(self.facts(condition))
            fill(inner)
            self.narrow = saved
        return run

    def field(self, name: str, e: ast.Field, value: ast.Node, block: Block) -> None:
        """`name[key] = value`, left out when the value is missing; a guarded value that needs reads of its
        own reads them only when its condition holds."""
        if isinstance(value, ast.Guard) and self.needs_reads(value.value, block):
            def guarded(inner: Block) -> None:
                self.bind_reads([value.value], inner)
                self.field(name, e, value.value, inner)

            self.branch(block, self.cond(value.condition, block), self._under(value.condition, guarded))
            return
        if isinstance(value, ast.Coalesce) and isinstance(e.key, ast.Literal) and "missing" in self.kinds(value):
            self._coalesce_field(name, e, value, block)
            return
        root = self._missing_root(value)
        if root is not None and self._if_in_object(root, block, lambda inner: self.field(name, e, value, inner)):
            return
        may_miss = "missing" in self.kinds(value)
        text = self.expr(value, block) if may_miss else self.out(value, block)
        if isinstance(e.key, ast.Literal):
            key = repr(e.key.value)
            if not may_miss:
                block.line(f"{name}[{key}] = {text}")
                return
        elif not may_miss and "missing" not in self.kinds(e.key):
            block.line(f"{name}[{self.expr(e.key, block)}] = {text}")
            return
        else:
            key = self.local(self.expr(e.key, block), block, "k")
        t = self.local(text, block)
        conds = ([f"{t} is not MISSING"] if may_miss else []) + \
            ([f"{key} is not MISSING"] if not isinstance(e.key, ast.Literal) and "missing" in self.kinds(e.key)
             else [])
        if not conds:
            block.line(f"{name}[{key}] = {t}")
            return
        block.line(f"if {' and '.join(conds)}: {name}[{key}] = {self.copied(t, value) if may_miss else t}")

    def _coalesce_field(self, name: str, e: ast.Field, value: ast.Coalesce, block: Block) -> None:
        """`key: a else b`, as statements: the first value stored where it is there (neither missing nor
        null), the field of the others where it is not (a null first stays when none of them is there)."""
        first, rest = value.items[0], value.items[1:]
        kinds = self.kinds(first)
        tail = ast.Coalesce(value.span, rest) if len(rest) > 1 else rest[0]
        if not kinds & {"missing", "null"}:  # (never missing: the others are never needed)
            self.field(name, e, first, block)
            return
        t = self.local(self.expr(first, block), block)
        key = repr(e.key.value)  # type: ignore[attr-defined]
        there = f"{t} is not None and {t} is not MISSING" if "null" in kinds and "missing" in kinds else \
            f"{t} is not None" if "null" in kinds else f"{t} is not MISSING"

        def then(inner: Block) -> None:
            inner.line(f"{name}[{key}] = {self.copied(t, first)}")

        def otherwise(inner: Block) -> None:
            if "null" not in kinds:
                self.field(name, e, tail, inner)
                return
            def null(b: Block) -> None:
                if "missing" in kinds:
                    self.branch(b, f"{t} is None", lambda c: c.line(f"{name}[{key}] = None"))
                else:
                    b.line(f"{name}[{key}] = None")

            if isinstance(tail, ast.Path) and self._if_in_object(tail, inner, lambda b: self.field(name, e, tail, b),
                                                                 null):
                return
            self.bind_reads([tail], inner)
            v = self.local(self.expr(tail, inner), inner)
            self.branch(inner, f"{v} is not MISSING", lambda b: b.line(f"{name}[{key}] = {self.copied(v, tail)}"),
                        null)

        self.branch(block, there, then, self._under(ast.Unary(None, "not", ast.Call(None, "exists", (first,))),
                                                    otherwise) if "null" not in kinds else otherwise)

    def _if_in_object(self, path: ast.Path, block: Block, there: Callable[[Block], None],
                      otherwise: Callable[[Block], None] | None = None) -> bool:
        """`if "k" in parent:` `there` (with the field read as `parent["k"]`), else `otherwise`, for a field
        not read yet of an object known here; False (and nothing written) for any other path."""
        key = self._key(path.root, path.steps)
        parent = None if key in block.bound else self._object_parent(path.root, path.steps, block)
        if parent is None:
            return False

        def read(inner: Block) -> None:
            inner.bound[key] = f"{parent}[{path.steps[-1]!r}]"
            there(inner)

        self.branch(block, f"{path.steps[-1]!r} in {parent}", self._under(ast.Call(None, "exists", (path,)), read),
                    otherwise)
        return True

    def _missing_root(self, value: ast.Node) -> ast.Path | None:
        """The field of the event that `value` is missing without (a strict function of it, a table's entry
        for it), when it may be missing."""
        node = value
        while True:
            if isinstance(node, ast.Call) and node.args and self._strict(node.name):
                node = node.args[0]
            elif isinstance(node, ast.Index) and isinstance(node.base, ast.Literal) \
                    and isinstance(node.base.value, dict):
                node = node.key
            else:
                break
        if isinstance(node, ast.Path) and node.root == "" and node.steps and "missing" in self.kinds(node):
            return node
        return None

    def list(self, n: ast.List, block: Block) -> str:
        plain = [i for i in n.items if not isinstance(i, ast.ForEach)]
        if len(plain) == len(n.items) and all("missing" not in self.kinds(i) for i in plain):
            return "[" + ", ".join(self.out(i, block) for i in plain) + "]"
        name = self.fresh("l")
        block.line(f"{name} = []")
        for item in n.items:
            if isinstance(item, ast.ForEach):
                self.for_each(item, name, block)
                continue
            value = self.out(item, block)
            if "missing" in self.kinds(item):
                t = self.local(value, block)
                block.line(f"if {t} is not MISSING: {name}.append({t})")
            else:
                block.line(f"{name}.append({value})")
        return name

    def for_each(self, n: ast.ForEach, out: str, block: Block) -> None:
        loop, inner, saved = self.loop(n, block)
        value = self.out(n.body, inner)
        if "missing" in self.kinds(n.body):
            t = self.local(value, inner)
            inner.line(f"if {t} is not MISSING: {out}.append({t})")
        else:
            inner.line(f"{out}.append({value})")
        self.end_loop(block, loop, saved)

    def comprehension(self, n: ast.ListComp | ast.ObjectComp, block: Block) -> str:
        """A list or object built by a loop, into a local that is the expression."""
        out = self.fresh("l" if isinstance(n, ast.ListComp) else "o")
        block.line(f"{out} = {'[]' if isinstance(n, ast.ListComp) else '{}'}")
        loop, inner, saved = self.loop(n, block)
        if isinstance(n, ast.ListComp):
            value = self.out(n.value, inner)
            if "missing" in self.kinds(n.value):
                t = self.local(value, inner)
                inner.line(f"if {t} is not MISSING: {out}.append({t})")
            else:
                inner.line(f"{out}.append({value})")
        else:
            key = self.expr(n.key, inner)
            value = self.expr(n.value, inner) if "missing" in self.kinds(n.value) else self.out(n.value, inner)
            k = self.local(key, inner, "k")
            v = self.local(value, inner)
            tests = ([] if self.kinds(n.key) <= {"str"} else [self.is_a(k, k, "str", self.kinds(n.key))]) + \
                ([f"{v} is not MISSING"] if "missing" in self.kinds(n.value) else [])
            stored = self.copied(v, n.value) if "missing" in self.kinds(n.value) else v
            if tests:
                inner.line(f"if {' and '.join(tests)}: {out}[{k}] = {stored}")
            else:
                inner.line(f"{out}[{k}] = {stored}")
        self.end_loop(block, loop, saved)
        return out

    def loop(self, n: ast.ForEach | ast.ListComp | ast.ObjectComp, block: Block) -> tuple[For, Block, tuple]:
        """`for` over what a loop iterates (a list's elements or (index, element); an object's keys or
        (key, value); nothing for anything else), with its variables bound and its condition tested:
        the statement, the block of its body, and what `end_loop` restores."""
        iterable = self.local(self.expr(n.iterable, block), block)
        kinds = self.kinds(n.iterable)
        self.typer.bind_loop(n)
        var = self.unique(ident("i_", n.var.lstrip("$")))
        saved = (dict(self.vars), self.narrow)
        if n.index_var is None:
            if kinds <= {"list"} or kinds <= {"object"}:
                head = f"for {var} in {iterable}"
            else:
                head = f"for {var} in ({iterable} if isinstance({iterable}, (list, dict)) else ())"
        else:
            index = self.unique(ident("i_", n.index_var.lstrip("$")))
            if kinds <= {"list"}:
                source = f"enumerate({iterable})"
            elif kinds <= {"object"}:
                source = f"{iterable}.items()"
            else:
                source = (f"({iterable}.items() if isinstance({iterable}, dict) else enumerate({iterable}) "
                          f"if isinstance({iterable}, list) else ())")
            head = f"for {index}, {var} in {source}"
            self.vars[n.index_var] = index
            self.narrow = {k: v for k, v in self.narrow.items() if k[0] != n.index_var}
        self.vars[n.var] = var
        self.narrow = {k: v for k, v in self.narrow.items() if k[0] != n.var}
        self.described[var] = (n.var, ())
        stmt = For(head, None)  # type: ignore[arg-type]
        stmt.body = inner = Block(block, stmt, loop=True)
        block.stmts.append(stmt)
        if n.condition is not None:
            self.bind_reads([n.condition], inner)
            skip = self.open_if(inner, f"not {self.cond(n.condition, inner)}")
            skip[1].line("continue", ends=True)
            self.close(inner, skip[0])
            self.narrow = {**self.narrow, **self.facts(n.condition)}
        self.bind_reads([p for p in loop_parts(n) if p is not n.condition], inner)
        return stmt, inner, saved

    def end_loop(self, block: Block, stmt: For, saved: tuple) -> None:
        self.vars, self.narrow = saved
        self.close(block, stmt)

    def with_(self, n: ast.With, block: Block) -> str:
        """An inlined call: each argument computed once into a local, then the body."""
        saved = dict(self.vars)
        for name, value in zip(n.names, n.values, strict=True):
            text = self.expr(value, block)
            local = self.unique(ident("a_", name.lstrip("$")))
            block.line(f"{local} = {text}")
            self.vars[name] = local
            self.described[local] = (name, ())
            self.typer.bind(name, self.kinds(value))
        self.bind_reads([n.body], block)
        out = self.expr(n.body, block)
        self.vars = saved
        return out

    def function(self, f: ast.FunctionDef) -> Block:
        """The Python function of one of the mapping's functions; a guarded one gives missing past a depth of
        100."""
        block = Block()
        saved = (self.vars, self.narrow, self.in_function)
        self.vars, self.narrow, self.in_function = {}, {}, f.name
        params = []
        try:
            for p in f.params:
                local = self.unique(ident("a_", p.lstrip("$")))
                self.vars[p] = local
                self.typer.bind(p, frozenset({"null", "bool", "int", "float", "str", "list", "object", "missing"}))
                params.append(local)
            if f.name in self.guarded:
                params.append("depth")
                guard = self.open_if(block, "depth > 100")
                guard[1].line("return MISSING", ends=True)
                self.close(block, guard[0])
            self.bind_reads([f.body], block)
            block.line(f"return {self.expr(f.body, block)}", ends=True)
        finally:
            self.vars, self.narrow, self.in_function = saved
        top = Block()
        head = Def(f"def {self.function_names[f.name]}({', '.join(params)})", block)
        block.parent, block.owner = top, head
        top.comment(f"{f.name}({', '.join(f.params)}) ({f.span.location() if f.span else ''!r})")
        top.stmts.append(head)
        return top
