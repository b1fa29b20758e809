"""Every limit on what a mapping, its settings and its examples may hold, and how each is measured.

The limits keep the checker and the compiler from crashing or hanging on hostile or broken files, and
keep generated Python within what Python compiles (it refuses more than 200 nested brackets, 100 levels
of indentation and 20 nested loops). Each is documented in the README ("Limits") and reported with a
diagnostic code of its own:

    E005  YAML aliases: a value that contains itself, or aliases that add more than MAX_ALIAS_VALUES
    E006  nesting: MAX_DEPTH levels of values, MAX_FOR_DEPTH of loops (`for` items and comprehensions)
    E007  numbers: a literal with more than MAX_NUMBER_DIGITS digits, or out of a double's range
    E207  regular expressions: a repetition count above MAX_REGEX_REPEAT

The parser and the YAML reader apply the same limits before a tree is built (`guard_depth`), so that
nothing recursive ever meets a deeper structure than these.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from .diagnostics import DiagnosticBag
from .syntax import ast

#: levels of nesting in one value: every object, list, operator, call, `for` item and path step is a
#: level, and a `$definition` counts as deep as its own value
MAX_DEPTH = 64
#: `for` items inside `for` items
MAX_FOR_DEPTH = 10
#: values that YAML aliases (`*name`) may add to a file, in all
MAX_ALIAS_VALUES = 10_000
#: digits in a number literal (mantissa and exponent)
MAX_NUMBER_DIGITS = 40
#: a `{n}` or `{m,n}` count in a regular expression
MAX_REGEX_REPEAT = 1_000
#: bytes in a file that is read whole: a mapping, a target description, settings, a `.test.yaml` file, an event
MAX_FILE_BYTES = 16 * 1024 * 1024
#: bytes in one line of an NDJSON file of events read by translate, coverage, diff and explain (run's is
#: --max-line-bytes, the same by default): a longer line is an error on that line, and the file goes on
MAX_LINE_BYTES = 1 << 20


class TooLarge(OSError):
    """A file beyond MAX_FILE_BYTES: an OSError whose `strerror` says so, for every place that reports a file it
    cannot read."""


def read_bytes(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """A file's bytes (`-`: stdin's), at most `limit` of them: TooLarge beyond, having read no more than one byte
    past it (/dev/zero, a log of gigabytes named by mistake). The limit is MAX_FILE_BYTES unless given."""
    limit = MAX_FILE_BYTES if limit is None else limit
    if str(path) == "-":
        return read_stream(sys.stdin.buffer, "-", limit)
    with open(path, "rb") as fh:
        return read_stream(fh, str(path), limit)


def read_stream(fh: BinaryIO, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(errno.EFBIG, f"larger than {limit:,} bytes, the limit for a file mapspec reads whole", name)
    return data


def ndjson_lines(fh: BinaryIO, limit: int = MAX_LINE_BYTES, block: int = 1 << 16) -> Iterator[tuple[int, bytes | None]]:
    """(number, text) of every line of a stream, without its newline; text None for a line longer than `limit`
    bytes, which is skipped without holding more than `limit` bytes of it."""
    return enumerate(itertools.chain.from_iterable(ndjson_blocks(fh, limit, block)), 1)


class Lines(list):
    """A block's lines, and `raw`: byte strings that hold every byte of them (a test of every byte, such as
    jsonio.plain_numbers, need not join them again; they may hold a little more)."""

    __slots__ = ("raw",)


def ndjson_blocks(fh: BinaryIO, limit: int = MAX_LINE_BYTES, block: int = 1 << 16) -> Iterator[list[bytes | None]]:
    """The lines of a stream, a list at a time, in order, each without its newline (None for a line longer than
    `limit` bytes, which is skipped without holding more than `limit` bytes of it). Read in blocks of what is
    there (`read1`: a pipe's lines come as they arrive), cut into lines in C."""
    read = getattr(fh, "read1", fh.read)
    rest = b""
    skipping = False  # in a line longer than the limit: its bytes up to the next newline are dropped
    first = True
    while True:
        data = read(block)
        if not data:
            break
        if first:
            first = False
            while len(data) < len(BOM) and BOM.startswith(data):  # (a mark split between reads)
                more = read(len(BOM) - len(data))
                if not more:
                    break
                data += more
            if data.startswith(BOM):  # a byte order mark (see jsonio.BOM)
                data = data[len(BOM):]
        lines: list[bytes | None] = data.split(b"\n")  # type: ignore[assignment]
        if skipping:
            if len(lines) == 1:
                continue
            lines[0] = None  # the end of the line too long
            skipping = False
        elif rest:
            joined = rest + lines[0]  # type: ignore[operator]
            lines[0] = joined if len(joined) <= limit or len(lines) == 1 else None
        rest = lines.pop()  # type: ignore[assignment]
        if limit < block:  # (a line that began in this block is shorter than it)
            lines = [line if line is None or len(line) <= limit else None for line in lines]
        if lines:
            out = Lines(lines)
            out.raw = (lines[0] or b"", data)  # (the first line may begin in the block before)
            yield out
        if len(rest) > limit:
            rest, skipping = b"", True
    if skipping:
        yield [None]
    elif rest:
        yield [rest]


#: the UTF-8 byte order mark (jsonio.BOM): taken away from the start of a stream of events
BOM = b"\xef\xbb\xbf"


def line_too_long(limit: int = MAX_LINE_BYTES) -> str:
    return f"the line is longer than {limit:,} bytes, the limit for one event (--max-line-bytes)"


def too_deep(levels: int | None = None) -> str:
    if levels is None:
        return f"nested more than {MAX_DEPTH} levels deep (the limit)"
    return f"nested {levels} levels deep, more than the limit of {MAX_DEPTH}"


def number_problem(value: Any, digits: int | None = None) -> str | None:
    """Why a number from a mapping or its settings cannot be used, or None."""
    if isinstance(value, bool):
        return None
    if digits is not None and digits > MAX_NUMBER_DIGITS:
        return f"a number of {digits} digits: the limit is {MAX_NUMBER_DIGITS}"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number out of range: it is not finite (the largest is about 1.8e308)"
    if isinstance(value, int) and value.bit_length() > MAX_NUMBER_DIGITS * 4:
        return f"a number of more than {MAX_NUMBER_DIGITS} digits"
    return None


def text_problem(value: str) -> str | None:
    """Why text from a mapping or its settings cannot be sent (it must encode as UTF-8), or None."""
    for ch in value:
        if "\ud800" <= ch <= "\udfff":
            return f"text with a lone surrogate (\\u{ord(ch):04x}), which is not a character"
    return None


def data_problems(value: Any) -> Iterator[tuple[str, str]]:
    """(code, what) for each thing that makes a JSON-like value (a setting) unusable: its depth (E006), its
    numbers (E007), its text (E208). Walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            yield "E006", f"a value {too_deep()}"
            return
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    yield "E208", f"a key that is not text (a Python {type(k).__name__}): JSON keys are text"
                elif problem := text_problem(k):
                    yield "E208", f"a key with {problem}"
                stack.append((item, depth + 1))
        elif isinstance(v, list):
            stack.extend((item, depth + 1) for item in v)
        elif isinstance(v, str):
            if problem := text_problem(v):
                yield "E208", problem
        elif isinstance(v, int | float) and (problem := number_problem(v)):
            yield "E007", problem
        elif not (v is None or isinstance(v, bool | int | float)):
            yield "E208", _not_json(v)


def _not_json(value: Any) -> str:
    """What a Python value that JSON has no word for is (bytes, a tuple, a set, an object), for messages."""
    return (f"a Python {type(value).__name__}, which is not a JSON value (JSON has text, numbers, true and false, "
            "null, lists and objects)")


# ---------------------------------------------------------------- depth of a mapping's values


def _level(node: ast.Node) -> int:
    if isinstance(node, ast.Field | ast.Spread):
        return 0
    if isinstance(node, ast.Path):
        return max(1, len(node.steps))
    return 1


def check_depth(doc: ast.Document, diags: DiagnosticBag) -> bool:
    """Report values nested beyond MAX_DEPTH (counting the definitions they use) or `for` items beyond
    MAX_FOR_DEPTH. True when the document is within the limits; without recursion."""
    lets = {"$" + let.name: let for let in doc.lets}
    let_depth: dict[str, int] = {}
    reported: set[str] = set()
    ok = True

    def measure(root: ast.Node) -> tuple[int, ast.Node | None, list[str], ast.Node | None]:
        """(depth, where the deepest path first goes beyond the limit, definitions on the way there,
        the first `for` item beyond its limit)."""
        best, first_beyond, via, loops_bad = 0, None, [], None
        stack: list[tuple[ast.Node, int, int, tuple[str, ...], ast.Node | None]] = [(root, 0, 0, (), None)]
        while stack:
            node, above, loops, names, beyond = stack.pop()
            here = above + _level(node)
            if isinstance(node, ast.Path) and node.root in lets:
                extra = 0 if node.root in reported else let_depth.get(node.root, 0)
                if extra:
                    here += extra
                    if beyond is None:
                        names = names + (node.root,)
            if here > MAX_DEPTH and beyond is None:
                beyond = node
            if isinstance(node, ast.ForEach | ast.ListComp | ast.ObjectComp):  # each is a loop in Python
                loops += 1
                if loops > MAX_FOR_DEPTH and loops_bad is None:
                    loops_bad = node
            if here > best:
                best, first_beyond, via = here, beyond, list(names)
            for child in node.children():
                stack.append((child, here, loops, names, beyond))
        return best, first_beyond, via, loops_bad

    def report(depth: int, node: ast.Node | None, via: list[str], span, what: str) -> None:
        hints = [f"through {', '.join(f'`{n}`' for n in via)}"] if via else []
        if isinstance(node, ast.Binary) and node.op in ("or", "and"):
            hints.append(f"each `{node.op}` of a chain is a level: `x in [a, b, ...]` is one level for many choices")
        diags.error("E006", f"{what} is {too_deep(depth)}", node.span if node is not None and node.span else span,
                    label="too deep here", hints=hints + ["write it flatter, or split it into `let` definitions"
                                                          if not via else "use fewer definitions on top of each other"])

    def loops_report(node: ast.Node) -> None:
        diags.error("E006", f"`for` items and comprehensions nested more than {MAX_FOR_DEPTH} deep (the limit)",
                    node.span, label="too deep here")

    for name in _let_order(doc):
        let = lets[name]
        if any(isinstance(n, ast.Path) and n.root in reported for n in let.value.walk()):
            reported.add(name)  # it uses a definition already reported: one error for a chain
            continue
        depth, node, via, loops_bad = measure(let.value)
        let_depth[name] = depth
        if depth > MAX_DEPTH:
            ok = False
            reported.add(name)
            report(depth, node, via, let.span, f"`{name}`")
        if loops_bad is not None:
            ok = False
            loops_report(loops_bad)
    values: list[ast.Node] = [doc.base_url] if doc.base_url is not None else []
    values += [f.body for f in doc.functions]
    for rule in doc.rules:
        values += [n for n in (rule.condition, rule.message) if n is not None]
        for req in rule.requests:
            values += [n for n in (req.condition, req.body, req.once, req.time) if n is not None]
            values += [param.value for param in req.params]
    for value in values:
        depth, node, via, loops_bad = measure(value)
        if depth > MAX_DEPTH:
            ok = False
            report(depth, node, via, value.span, "this value")
        if loops_bad is not None:
            ok = False
            loops_report(loops_bad)
    return ok


def _let_order(doc: ast.Document) -> list[str]:
    """Definitions, each after the ones it uses (cycles broken anywhere: the checker reports them)."""
    lets = {"$" + let.name: let for let in doc.lets}
    uses = {name: [n.root for n in let.value.walk() if isinstance(n, ast.Path) and n.root in lets]
            for name, let in lets.items()}
    order: list[str] = []
    state: dict[str, int] = {}
    for start in lets:
        if state.get(start):
            continue
        stack = [(start, iter(uses[start]))]
        state[start] = 1
        while stack:
            name, deps = stack[-1]
            for dep in deps:
                if not state.get(dep):
                    state[dep] = 1
                    stack.append((dep, iter(uses[dep])))
                    break
            else:
                stack.pop()
                state[name] = 2
                order.append(name)
    return order
