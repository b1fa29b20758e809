"""The statements of a generated function, as a tree, and the one printer that writes them out.

The emitter builds statements into `Block`s and never indents anything itself: `render` writes a tree
with four spaces a level, `elif` for an `else` that holds only an `if`, and `pass` for a block with no
statement. A `Mark` is where a rule's test or body begins; `render` says on which line each one landed
(the line that follows it), which is how a line of the generated code maps back to a rule of the mapping.

A block also carries what the emitter knows at its current end: which values are bound (`bound`: key ->
local name, computed on every way here) and which definitions may have been computed (`maybe`).
"""

from __future__ import annotations

import re


class Line:
    """A statement on one line. `ends`: nothing after it in its block runs (return, raise, continue)."""

    __slots__ = ("text", "ends")

    def __init__(self, text: str, ends: bool = False):
        self.text = text
        self.ends = ends


class Defaults(Line):
    """`a = b = MISSING`: the fields under a parent that is not an object (`names`). `prune_defaults` takes
    out the names nothing reads after it."""

    __slots__ = ("names",)

    def __init__(self, names: list[str]):
        super().__init__(" = ".join(names) + " = MISSING")
        self.names = names


class Comment:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class Mark:
    """Zero width: the next line printed is where rule number `index` has its `kind` ("test" or "body")."""

    __slots__ = ("kind", "index")

    def __init__(self, kind: str, index: int):
        self.kind = kind
        self.index = index


class If:
    __slots__ = ("test", "body", "orelse")

    def __init__(self, test: str, body: Block, orelse: Block | None = None):
        self.test = test
        self.body = body
        self.orelse = orelse


class For:
    __slots__ = ("head", "body")

    def __init__(self, head: str, body: Block):
        self.head = head  # "for x in xs"
        self.body = body


class Def:
    """A function of the module: `def name(params):` and its body."""

    __slots__ = ("head", "body")

    def __init__(self, head: str, body: Block):
        self.head = head  # "def fn_x(a_x)"
        self.body = body


Stmt = Line | Comment | Mark | If | For | Def


class Block:
    """A list of statements, inside `owner` (a statement of `parent`), or the function's top."""

    __slots__ = ("stmts", "parent", "owner", "loop", "bound", "maybe", "when", "when_test", "computed_when")

    def __init__(self, parent: Block | None = None, owner: Stmt | None = None, loop: bool = False):
        self.stmts: list[Stmt] = []
        self.parent = parent
        self.owner = owner
        #: the body of a `for`: it runs again and again
        self.loop = loop
        self.bound: dict[tuple, str] = dict(parent.bound) if parent is not None else {}
        self.maybe: set[tuple] = set(parent.maybe) if parent is not None else set()
        #: what holds exactly when this block runs (the body of an `if` on whether paths are there)
        self.when: dict[tuple, frozenset[str]] | None = None
        self.when_test = ""  # (its test, as written)
        #: definitions that may have been computed, with what says they were: definition -> (facts that,
        #: where they hold, mean it was, the test that held: it was computed in a block whose `when` they are)
        self.computed_when: dict[tuple, tuple[dict, str]] = \
            dict(parent.computed_when) if parent is not None else {}

    def line(self, text: str, ends: bool = False) -> Line:
        stmt = Line(text, ends)
        self.stmts.append(stmt)
        return stmt

    def comment(self, text: str) -> None:
        self.stmts.append(Comment(text))

    def mark(self, kind: str, index: int) -> None:
        self.stmts.append(Mark(kind, index))

    @property
    def ends(self) -> bool:
        """Whether control never falls off the end of this block."""
        for stmt in reversed(self.stmts):
            if isinstance(stmt, Comment | Mark):
                continue
            return ends(stmt)
        return False

    def in_loop(self) -> bool:
        b: Block | None = self
        while b is not None:
            if b.loop:
                return True
            b = b.parent
        return False


def ends(stmt: Stmt) -> bool:
    if isinstance(stmt, Line):
        return stmt.ends
    if isinstance(stmt, If):
        return stmt.orelse is not None and stmt.body.ends and stmt.orelse.ends
    return False


def index_of(block: Block, stmt: Stmt) -> int:
    for i, s in enumerate(block.stmts):
        if s is stmt:
            return i
    raise ValueError("statement not in block")


def render(block: Block, indent: str = "") -> tuple[list[str], list[tuple[int, str, int]]]:
    """The lines of a block, and (line index, kind, rule index) for every mark."""
    lines: list[str] = []
    marks: list[tuple[int, str, int]] = []
    _render(block.stmts, indent, lines, marks)
    return lines, marks


def _code(stmts: list[Stmt]) -> bool:
    return any(not isinstance(s, Comment | Mark) for s in stmts)


def _render(stmts: list[Stmt], indent: str, lines: list[str], marks: list) -> None:
    if not _code(stmts):
        stmts = [*stmts, Line("pass")]
    inner = indent + "    "
    for s in stmts:
        if isinstance(s, Line):
            lines.append(indent + s.text)
        elif isinstance(s, Comment):
            lines.append(indent + "# " + s.text)
        elif isinstance(s, Mark):
            marks.append((len(lines), s.kind, s.index))
        elif isinstance(s, If):
            lines.append(f"{indent}if {s.test}:")
            _render(s.body.stmts, inner, lines, marks)
            orelse = s.orelse
            while orelse is not None and len(orelse.stmts) == 1 and isinstance(orelse.stmts[0], If):
                nested = orelse.stmts[0]
                lines.append(f"{indent}elif {nested.test}:")
                _render(nested.body.stmts, inner, lines, marks)
                orelse = nested.orelse
            if orelse is not None and _code(orelse.stmts):
                lines.append(indent + "else:")
                _render(orelse.stmts, inner, lines, marks)
        elif isinstance(s, For | Def):
            lines.append(f"{indent}{s.head}:")
            _render(s.body.stmts, inner, lines, marks)
        else:  # pragma: no cover - every statement kind is above
            raise AssertionError(type(s).__name__)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _words(stmt: Stmt) -> set[str]:
    """The names a statement's text holds (what it may read; assignments too, which only keeps more)."""
    if isinstance(stmt, Line):
        return set(_WORD.findall(stmt.text))
    if isinstance(stmt, If):
        out = set(_WORD.findall(stmt.test))
        for b in (stmt.body, stmt.orelse):
            if b is not None:
                for s in b.stmts:
                    out |= _words(s)
        return out
    if isinstance(stmt, For | Def):
        out = set(_WORD.findall(stmt.head))
        for s in stmt.body.stmts:
            out |= _words(s)
        return out
    return set()


def prune_defaults(block: Block, after: frozenset[str] | set[str] = frozenset()) -> None:
    """Take out of each `Defaults` the names that nothing after it reads (`after`: what the code after
    `block` reads), and a `Defaults` left with none."""
    following = set(after)
    for i in range(len(block.stmts) - 1, -1, -1):
        stmt = block.stmts[i]
        if isinstance(stmt, Defaults):
            live = [n for n in stmt.names if n in following]
            if not live:
                del block.stmts[i]
                continue
            if live != stmt.names:
                block.stmts[i] = Defaults(live)
        elif isinstance(stmt, If):
            prune_defaults(stmt.body, following)
            if stmt.orelse is not None:
                prune_defaults(stmt.orelse, following)
        elif isinstance(stmt, For):
            prune_defaults(stmt.body, following | _words(stmt))  # (it runs again: its own reads come after)
        elif isinstance(stmt, Def):
            prune_defaults(stmt.body)
        following |= _words(block.stmts[i])
