"""Expressions and shapes -> Python source text.

Everything that comes from a mapping reaches the generated source through `repr()` (names, strings,
numbers) or through an identifier made of `[A-Za-z0-9_]` with a fixed prefix, so no text of a mapping
is ever executed. Each event path is read once per block into a local, and objects are built with
the fewest checks their kinds allow.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field

from .. import stdlib
from ..syntax import ast
from ..types import Kinds, Typer


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
    """What a loop evaluates for each element (its variables in scope)."""
    parts = [n.body] if isinstance(n, ast.ForEach) else [n.value] if isinstance(n, ast.ListComp) else [n.key, n.value]
    return parts + ([n.condition] if n.condition is not None else [])


@dataclass
class Block:
    """A run of statements, with the names it (or an enclosing block) has bound."""

    parent: Block | None = None
    lines: list[str] = field(default_factory=list)
    bound: dict[tuple, str] = field(default_factory=dict)

    def lookup(self, key: tuple) -> str | None:
        b: Block | None = self
        while b is not None:
            if key in b.bound:
                return b.bound[key]
            b = b.parent
        return None

    def emit(self, line: str) -> None:
        self.lines.append(line)


class Emitter:
    def __init__(self, doc: ast.Document, typer: Typer):
        self.doc = doc
        self.typer = typer
        self.lets = {"$" + let.name: let for let in doc.lets}
        self.functions = {f.name: f for f in doc.functions}
        #: the generated name of each of the mapping's functions (recursive ones, or all of them when
        #: the optimizer did not inline)
        self.function_names = {name: ident("fn_", name) for name in self.functions}
        #: writing the body of one of the mapping's functions (its calls pass the depth on)
        self.in_function = False
        self.loop_vars: dict[str, str] = {}
        self.constants: dict[str, str] = {}  # source -> name
        self.helpers: set[str] = set()
        self.modules: set[str] = set()
        self.used_names: set[str] = set()
        self._counter = 0
        #: every path and definition bound anywhere, key -> local name (for tracing)
        self.all_bound: dict[tuple, str] = {}

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
        return self.typer(node)

    # ---- paths and definitions: bound once per block
    def bind_reads(self, nodes: list[ast.Node], block: Block, inner_vars: frozenset[str] = frozenset()) -> None:
        """Bind, at the top of `block`, every path and definition the nodes read (outside inner loops and
        untaken branches). Reads under one parent share one check that the parent is an object."""
        wanted: list[tuple[str, tuple]] = []
        for node in nodes:
            self._collect(node, inner_vars, wanted)
        for root, _ in wanted:
            if root in self.lets:
                self.let(root, block)
        tries: dict[str, dict[tuple, None]] = {}
        for root, steps in wanted:
            for i in range(1, len(steps) + 1):
                tries.setdefault(root, {})[steps[:i]] = None
        for root, paths in tries.items():
            self._bind_children(block, block.lines, root, (), list(paths))

    def _collect(self, node: ast.Node, inner: frozenset[str], out: list[tuple[str, tuple]]) -> None:
        if isinstance(node, ast.ForEach | ast.ListComp | ast.ObjectComp):
            self._collect(node.iterable, inner, out)
            inner = inner | {node.var, node.index_var or node.var}
            for child in loop_parts(node):
                self._collect(child, inner, out)
            return
        if isinstance(node, ast.With):
            for value in node.values:
                self._collect(value, inner, out)
            self._collect(node.body, inner | set(node.names), out)
            return
        if isinstance(node, ast.Path):
            if node.root not in inner:
                out.append((node.root, node.steps))
            return
        if isinstance(node, ast.Guard | ast.Conditional):
            # only the condition is read up front: a branch reads what it needs when it is taken
            self._collect(node.condition, inner, out)
            return
        for child in node.children():
            self._collect(child, inner, out)

    def _bind_children(self, block: Block, lines: list[str], root: str, prefix: tuple, paths: list[tuple]) -> None:
        """Emit the reads of every path one step below `prefix` (and, recursively, below those)."""
        children = [p for p in paths if len(p) == len(prefix) + 1 and p[:len(prefix)] == prefix]
        todo = [c for c in children if block.lookup(("path", root, c)) is None]
        parent = self.path(root, prefix, block) if prefix or root else "event"
        known_object = (root == "" and not prefix) or self._path_kinds(root, prefix) <= {"object"}
        names: list[str] = []
        inner: list[str] = []
        for child in todo:
            step = child[-1]
            label = (root.lstrip("$") + "_" if root else "") + "_".join(str(s) for s in child)
            name = self.unique(ident("v_" if root else "e_", label))
            key = ("path", root, child)
            if isinstance(step, int):
                lines.append(f"{name} = {self.helper('getp')}({parent}, {step!r})")
            else:
                (lines if known_object else inner).append(f"{name} = {parent}.get({step!r}, MISSING)")
                names.append(name)
            block.bound[key] = name
            self.all_bound[key] = name
        below: list[str] = []
        after: list[str] = []  # reads below children that were read before, or read whatever the parent
        for child in children:
            before = len(block.bound)
            sub: list[str] = []
            self._bind_children(block, sub, root, child, paths)
            if inner and isinstance(child[-1], str) and child in todo:
                inner.extend(sub)  # below a field read only when the parent is an object
                below.extend(name for key, name in list(block.bound.items())[before:])
            else:
                after.extend(sub)
        if inner:
            lines.append(f"if isinstance({parent}, dict):")
            lines.extend("    " + line for line in inner)
            lines.append("else:")
            lines.append("    " + " = ".join(names + below) + " = MISSING")
        lines.extend(after)

    def needs_reads(self, node: ast.Node, block: Block) -> bool:
        """Whether evaluating `node` needs a path or definition that `block` has not read yet."""
        for n in node.walk():
            if isinstance(n, ast.Path) and n.root not in self.loop_vars:
                if block.lookup(("path", n.root, n.steps if not n.root else ())) is None:
                    return True
        return False

    def branch(self, node: ast.Node, block: Block) -> tuple[list[str], str]:
        """Statements and expression for a value computed only on one branch of a condition."""
        inner = Block(block)
        self.bind_reads([node], inner)
        value = self.expr(node, inner)
        return inner.lines, value

    def path(self, root: str, steps: tuple, block: Block) -> str:
        key = ("path", root, steps)
        found = block.lookup(key)
        if found:
            return found
        if not steps:
            if root == "":
                return "event"
            if root in self.lets:
                return self.let(root, block)
            raise AssertionError(f"unbound variable {root}")  # loop variables are bound by their loop
        parent = self.path(root, steps[:-1], block)
        step = steps[-1]
        label = (root.lstrip("$") + "_" if root else "") + "_".join(str(s) for s in steps)
        name = self.unique(ident("v_" if root else "e_", label))
        parent_kinds = self._path_kinds(root, steps[:-1])
        if isinstance(step, str) and (root == "" and len(steps) == 1):
            block.emit(f"{name} = event.get({step!r}, MISSING)")
        elif isinstance(step, str) and parent_kinds <= {"object"}:
            block.emit(f"{name} = {parent}.get({step!r}, MISSING)")
        elif isinstance(step, str):
            block.emit(f"{name} = {parent}.get({step!r}, MISSING) if isinstance({parent}, dict) else MISSING")
        else:
            block.emit(f"{name} = {self.helper('getp')}({parent}, {step!r})")
        block.bound[key] = name
        self.all_bound[key] = name
        return name

    def _path_kinds(self, root: str, steps: tuple) -> Kinds:
        if root and not steps:
            return self.typer.variables.get(root, frozenset({"missing", "object", "list"}))
        return frozenset({"missing", "object", "list", "other"})

    def let(self, root: str, block: Block) -> str:
        key = ("path", root, ())
        found = block.lookup(key)
        if found:
            return found
        value = self.lets[root].value
        self.bind_reads([value], block)
        name = self.unique(ident("d_", root.lstrip("$")))
        block.emit(f"{name} = {self.expr(value, block)}")
        block.bound[key] = name
        self.all_bound[key] = name
        return name

    # ---- expressions
    def simple(self, text: str) -> bool:
        return text.isidentifier() or re.fullmatch(r"-?\d+(\.\d+)?|'[^'\\]*'|None|True|False|MISSING", text) is not None

    def reuse(self, node: ast.Node, block: Block) -> tuple[str, str]:
        """(first use, later uses) of a value needed more than once: a walrus temp when not simple."""
        text = self.expr(node, block)
        if self.simple(text):
            return text, text
        t = self.fresh("t")
        return f"({t} := {text})", t

    def expr(self, n: ast.Node, block: Block) -> str:  # noqa: C901 - one case per node type
        if isinstance(n, ast.Literal):
            v = n.value
            if isinstance(v, dict | list) and v:
                return pyrepr(v)  # a fresh object each time, never a shared one
            return pyrepr(v)
        if isinstance(n, ast.Path):
            if n.root and n.root in self.loop_vars and not n.steps:
                return self.loop_vars[n.root]
            key = ("path", n.root, n.steps)
            found = block.lookup(key)
            if found is None:
                found = self.path(n.root, n.steps, block)
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
            if not self.needs_reads(n.value, block):
                return f"({self.expr(n.value, block)} if {self.cond(n.condition, block)} else MISSING)"
            return self.branches(n.condition, n.value, None, block)
        if isinstance(n, ast.Conditional):
            if not self.needs_reads(n.then, block) and not self.needs_reads(n.otherwise, block):
                return (f"({self.expr(n.then, block)} if {self.cond(n.condition, block)} "
                        f"else {self.expr(n.otherwise, block)})")
            return self.branches(n.condition, n.then, n.otherwise, block)
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

    def branches(self, condition: ast.Node, then: ast.Node, otherwise: ast.Node | None, block: Block) -> str:
        """`then if condition else otherwise` as statements, so each branch reads only when it is taken."""
        t = self.fresh("t")
        block.emit(f"if {self.cond(condition, block)}:")
        lines, value = self.branch(then, block)
        block.lines.extend("    " + line for line in lines)
        block.emit(f"    {t} = {value}")
        block.emit("else:")
        if otherwise is None:
            block.emit(f"    {t} = MISSING")
        else:
            lines, value = self.branch(otherwise, block)
            block.lines.extend("    " + line for line in lines)
            block.emit(f"    {t} = {value}")
        return t

    def cond(self, n: ast.Node, block: Block) -> str:
        """An expression whose Python truth is the mapping's (JavaScript's) truth of the value."""
        if isinstance(n, ast.Binary) and n.op in ("and", "or"):
            return f"({self.cond(n.left, block)} {n.op} {self.cond(n.right, block)})"
        kinds = self.kinds(n)
        text = self.expr(n, block)
        if kinds <= {"bool", "str", "missing", "null", "int"}:
            return text  # Python's truth agrees with JavaScript's for these
        return f"{self.helper('truthy')}({text})"

    def binary(self, n: ast.Binary, block: Block) -> str:
        op = n.op
        if op in ("and", "or"):
            left = self.cond(n.left, block)
            right = self.cond(n.right, block)
            both_bool = self.kinds(n.left) <= {"bool"} and self.kinds(n.right) <= {"bool"}
            inner = f"({left} {op} {right})"
            return inner if both_bool else f"bool{inner}"
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
            value = f"v if v.__class__ is str else {self.helper('fresh')}(v)"
            if self.kinds(a) <= {"object"} and ":=" not in obj:
                return f"{{k: {value} for k, v in {obj}.items() if k not in {const}}}"
            if obj.isidentifier():
                return f"({{k: {value} for k, v in {obj}.items() if k not in {const}}} if isinstance({obj}, dict) else MISSING)"
            return f"{self.helper('fresh')}({self.helper('without')}({obj}, {const}))"
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
        first, rest = items[0], items[1:]
        if not rest:
            return self.expr(first, block)
        kinds = self.kinds(first)
        use, again = self.reuse(first, block)
        if "null" not in kinds:
            tail = self.coalesce(rest, block)
            return f"({again} if {use} is not MISSING else {tail})" if "missing" in kinds else use
        # first may be null: use it only when nothing after it is there
        tail_node = ast.Coalesce(None, tuple(rest)) if len(rest) > 1 else rest[0]
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
                if self.kinds(p) <= {"str"}:
                    pieces.append(use if use == again else again)
                    if use != again:
                        checks.append(f"{use}.__class__ is str")
                else:
                    checks.append(f"{use}.__class__ is str")
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
            depth = "depth + 1" if self.in_function else "1"
            return f"{self.function_names[name]}({', '.join(texts + [depth])})"
        if name in stdlib.INLINE:
            x = self.expr(args[0], block)
            if name == "exists":
                return f"({x} is not MISSING)"
            if name == "is_number":
                use, again = self.reuse(args[0], block)
                return f"(isinstance({use}, (int, float)) and not isinstance({again}, bool))"
            py = {"is_string": "str", "is_bool": "bool", "is_list": "list", "is_object": "dict"}[name]
            return f"isinstance({x}, {py})"
        if name == "coalesce":
            return self.coalesce(list(args), block)
        if name == "lower":
            if self.kinds(args[0]) <= {"str"}:
                return f"{self.expr(args[0], block)}.lower()"
            use, again = self.reuse(args[0], block)
            return f"({again}.lower() if isinstance({use}, str) else MISSING)"
        if name == "non_empty":
            use, again = self.reuse(args[0], block)
            return f"({again} if isinstance({use}, (str, list, dict)) and {again} else MISSING)"
        fn = stdlib.FUNCTIONS[name]
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
        if self.is_fresh(n):
            return self.expr(n, block)
        use, again = self.reuse(n, block)
        # most values are text: one class test, and the call only for what may hold lists or objects
        return f"({again} if {use}.__class__ is str else {self.helper('fresh')}({again}))"

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
        if self.is_fresh(n):
            return name
        return f"({name} if {name}.__class__ is str else {self.helper('fresh')}({name}))"

    # ---- objects and lists: built by statements into a local, which is the expression
    def object(self, n: ast.Object, block: Block) -> str:
        if not n.entries:
            return "{}"
        name = self.fresh("o")
        entries = list(n.entries)
        display: list[str] = []
        while entries:
            e = entries[0]
            if isinstance(e, ast.Spread) and self.kinds(e.value) <= {"object"}:
                display.append(f"**{self.out(e.value, block)}")
                entries.pop(0)
                continue
            if not (isinstance(e, ast.Field) and isinstance(e.key, ast.Literal) and isinstance(e.key.value, str)
                    and "missing" not in self.kinds(e.value)):
                break
            display.append(f"{e.key.value!r}: {self.out(e.value, block)}")
            entries.pop(0)
        block.emit(f"{name} = {{{', '.join(display)}}}")
        for e in entries:
            if isinstance(e, ast.Spread):
                v = e.value
                if (isinstance(v, ast.Binary) and v.op == "without" and isinstance(v.right, ast.Literal)
                        and isinstance(v.right.value, list)):
                    # every field but some, straight into the object: no intermediate object
                    source = self.expr(v.left, block)
                    if source.isidentifier():
                        keys = sorted({k for k in v.right.value if isinstance(k, str)})
                        const = self.constant(f"frozenset({tuple(keys)!r})", "_KEYS")
                        pad = ""
                        if not self.kinds(v.left) <= {"object"}:
                            block.emit(f"if isinstance({source}, dict):")
                            pad = "    "
                        block.emit(f"{pad}for k, v in {source}.items():")
                        block.emit(f"{pad}    if k not in {const}:")
                        block.emit(f"{pad}        {name}[k] = v if v.__class__ is str else {self.helper('fresh')}(v)")
                        continue
                value = self.out(e.value, block)
                if self.kinds(e.value) <= {"object"}:
                    block.emit(f"{name}.update({value})")
                else:
                    t = value if value.isidentifier() else self.fresh("t")
                    if t != value:
                        block.emit(f"{t} = {value}")
                    block.emit(f"if isinstance({t}, dict):")
                    block.emit(f"    {name}.update({t})")
                continue
            may_miss = "missing" in self.kinds(e.value)
            value = self.expr(e.value, block) if may_miss else self.out(e.value, block)
            if isinstance(e.key, ast.Literal):
                key = repr(e.key.value)
                if not may_miss:
                    block.emit(f"{name}[{key}] = {value}")
                    continue
            else:
                kt = self.fresh("k")
                block.emit(f"{kt} = {self.expr(e.key, block)}")
                key = kt
            t = value if value.isidentifier() else self.fresh("t")
            if t != value:
                block.emit(f"{t} = {value}")
            conds = ([f"{t} is not MISSING"] if may_miss else []) + \
                ([f"{key} is not MISSING"] if not isinstance(e.key, ast.Literal) else [])
            block.emit(f"if {' and '.join(conds)}:")
            block.emit(f"    {name}[{key}] = {self.copied(t, e.value) if may_miss else t}")
        return name

    def list(self, n: ast.List, block: Block) -> str:
        plain = [i for i in n.items if not isinstance(i, ast.ForEach)]
        if len(plain) == len(n.items) and all("missing" not in self.kinds(i) for i in plain):
            return "[" + ", ".join(self.out(i, block) for i in plain) + "]"
        name = self.fresh("l")
        block.emit(f"{name} = []")
        for item in n.items:
            if isinstance(item, ast.ForEach):
                self.for_each(item, name, block)
                continue
            value = self.out(item, block)
            if "missing" in self.kinds(item):
                t = value if value.isidentifier() else self.fresh("t")
                if t != value:
                    block.emit(f"{t} = {value}")
                block.emit(f"if {t} is not MISSING:")
                block.emit(f"    {name}.append({t})")
            else:
                block.emit(f"{name}.append({value})")
        return name

    def for_each(self, n: ast.ForEach, out: str, block: Block) -> None:
        inner = self.loop(n, block)
        value = self.out(n.body, inner)
        if "missing" in self.kinds(n.body):
            inner.emit(f"if {value} is not MISSING:")
            inner.emit(f"    {out}.append({value})")
        else:
            inner.emit(f"{out}.append({value})")
        self.end_loop(n, block, inner)

    def comprehension(self, n: ast.ListComp | ast.ObjectComp, block: Block) -> str:
        """A list or object built by a loop, into a local that is the expression."""
        out = self.fresh("l" if isinstance(n, ast.ListComp) else "o")
        block.emit(f"{out} = {'[]' if isinstance(n, ast.ListComp) else '{}'}")
        inner = self.loop(n, block)
        if isinstance(n, ast.ListComp):
            value = self.out(n.value, inner)
            if "missing" in self.kinds(n.value):
                t = value if value.isidentifier() else self.fresh("t")
                if t != value:
                    inner.emit(f"{t} = {value}")
                inner.emit(f"if {t} is not MISSING:")
                inner.emit(f"    {out}.append({t})")
            else:
                inner.emit(f"{out}.append({value})")
        else:
            key = self.expr(n.key, inner)
            value = self.expr(n.value, inner) if "missing" in self.kinds(n.value) else self.out(n.value, inner)
            k = key if key.isidentifier() else self.fresh("k")
            if k != key:
                inner.emit(f"{k} = {key}")
            v = value if value.isidentifier() else self.fresh("t")
            if v != value:
                inner.emit(f"{v} = {value}")
            tests = ([] if self.kinds(n.key) <= {"str"} else [f"{k}.__class__ is str"]) + \
                ([f"{v} is not MISSING"] if "missing" in self.kinds(n.value) else [])
            stored = self.copied(v, n.value) if "missing" in self.kinds(n.value) else v
            if tests:
                inner.emit(f"if {' and '.join(tests)}:")
                inner.emit(f"    {out}[{k}] = {stored}")
            else:
                inner.emit(f"{out}[{k}] = {stored}")
        self.end_loop(n, block, inner)
        return out

    def loop(self, n: ast.ForEach | ast.ListComp | ast.ObjectComp, block: Block) -> Block:
        """`for` over what a loop iterates (a list's elements or (index, element); an object's keys or
        (key, value); nothing for anything else), with its variables bound and its condition tested:
        the block of the loop's body."""
        iterable = self.expr(n.iterable, block)
        if not iterable.isidentifier():
            t = self.fresh("t")
            block.emit(f"{t} = {iterable}")
            iterable = t
        kinds = self.kinds(n.iterable)
        self.typer.bind_loop(n)
        var = self.unique(ident("i_", n.var.lstrip("$")))
        if n.index_var is None:
            if kinds <= {"list"} or kinds <= {"object"}:
                block.emit(f"for {var} in {iterable}:")
            else:
                block.emit(f"for {var} in ({iterable} if isinstance({iterable}, (list, dict)) else ()):")
        else:
            index = self.unique(ident("i_", n.index_var.lstrip("$")))
            if kinds <= {"list"}:
                source = f"enumerate({iterable})"
            elif kinds <= {"object"}:
                source = f"{iterable}.items()"
            else:
                source = (f"({iterable}.items() if isinstance({iterable}, dict) else enumerate({iterable}) "
                          f"if isinstance({iterable}, list) else ())")
            block.emit(f"for {index}, {var} in {source}:")
        inner = Block(block)
        for name, local in ((n.var, var), (n.index_var, index if n.index_var else None)):
            if name and local:
                inner.bound[("path", name, ())] = local
                self.loop_vars[name] = local
        self.bind_reads(loop_parts(n), inner)
        if n.condition is not None:
            inner.emit(f"if not {self.cond(n.condition, inner)}:")
            inner.emit("    continue")
        return inner

    def end_loop(self, n: ast.ForEach | ast.ListComp | ast.ObjectComp, block: Block, inner: Block) -> None:
        for name in (n.var, n.index_var):
            if name:
                self.loop_vars.pop(name, None)
        block.lines.extend("    " + line for line in inner.lines)

    def with_(self, n: ast.With, block: Block) -> str:
        """An inlined call: each argument computed once into a local, then the body."""
        for name, value in zip(n.names, n.values, strict=True):
            text = self.expr(value, block)
            local = self.unique(ident("a_", name.lstrip("$")))
            block.emit(f"{local} = {text}")
            block.bound[("path", name, ())] = local
            self.loop_vars[name] = local
            self.typer.bind(name, self.kinds(value))
        self.bind_reads([n.body], block)
        return self.expr(n.body, block)

    def function(self, f: ast.FunctionDef) -> list[str]:
        """The Python function of one of the mapping's functions: past a depth of 100 it gives MISSING."""
        block = Block()
        params = []
        for p in f.params:
            local = self.unique(ident("a_", p.lstrip("$")))
            block.bound[("path", p, ())] = local
            self.loop_vars[p] = local
            self.typer.bind(p, frozenset({"null", "bool", "int", "float", "str", "list", "object", "missing"}))
            params.append(local)
        self.in_function = True
        try:
            self.bind_reads([f.body], block)
            value = self.expr(f.body, block)
        finally:
            self.in_function = False
            for p in f.params:
                self.loop_vars.pop(p, None)
        head = f"def {self.function_names[f.name]}({', '.join(params + ['depth'])}):"
        doc = f"    # {f.name}({', '.join(f.params)}) ({f.span.location() if f.span else ''!r})"
        return [head, doc, "    if depth > 100:", "        return MISSING",
                *("    " + line for line in block.lines), f"    return {value}"]
