"""Input lines in constant memory, read in blocks on a thread of their own.

A line longer than the limit is reported, never held whole. Every byte read is accounted for by a `Line`:
its data (with its newline), or for an oversized line the SHA-256 of all of it, so that the prefix of an
input consumed so far has one digest (see `PrefixDigest`) whether it is computed while running or again
when a run resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

BLOCK = 1 << 20


class Line:
    """One input line, from the moment it is read until its fate is written down (see `ledger.Ledger`)."""

    __slots__ = ("input", "number", "data", "end", "size", "digest", "event", "waiting", "objects", "fate",
                 "letters", "note")

    def __init__(self, input: int, number: int, data: bytes | None, end: int, size: int,
                 digest: bytes | None = None):
        self.input = input  # the index of its input in the job's list
        self.number = number  # 1-based, in its input
        self.data = data  # the bytes with their newline; None for a line longer than the limit
        self.end = end  # the offset just after it in its input
        self.size = size  # its length in bytes
        self.digest = digest  # for a line longer than the limit: the SHA-256 of all its bytes
        self.event: Any = None
        self.waiting = 0  # objects still on their way
        self.objects = 0  # objects it gave
        self.fate: str | None = None  # decided by the ledger, and only there
        self.letters: list[dict] | None = None  # what goes to the dead-letter file for it
        self.note: str | None = None  # "translated" or "blank", counted in the account with its fate

    def __repr__(self) -> str:
        return f"Line({self.input}:{self.number}, fate={self.fate})"


class PrefixDigest:
    """SHA-256 of an input's consumed prefix, line by line: a line's bytes, or for a line longer than the
    limit, a marker and the SHA-256 of all its bytes (which were never held). Lines are hashed a few thousand
    at a time, in one call."""

    FLUSH = 4096

    def __init__(self, claimed: str | None = None):
        self.hash = hashlib.sha256()
        self.pending: list[bytes] = []
        # on a resume, the checkpoint's digest, which stands until the prefix read again is found to match it
        self.claimed = claimed

    def add(self, line: Line) -> None:
        pending = self.pending
        pending.append(line.data if line.data is not None else b"\0long line\0" + (line.digest or b""))
        if len(pending) >= self.FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.hash.update(b"".join(self.pending))
            self.pending = []

    def actual(self) -> str:
        """The digest of what was added."""
        self.flush()
        return self.hash.hexdigest()

    def hexdigest(self) -> str:
        return self.claimed if self.claimed is not None else self.actual()


@dataclass
class Source:
    """One input: a file, or stdin."""

    index: int
    path: str  # "-" for stdin
    name: str  # how dead letters and messages name it

    @property
    def identity(self) -> str:
        """What a checkpoint knows it by: the absolute path, or stdin's name."""
        return self.name if self.path == "-" else os.path.abspath(self.path)

    def open(self) -> IO[bytes]:
        return sys.stdin.buffer if self.path == "-" else open(self.path, "rb")  # noqa: SIM115 - closed by lines()


@dataclass
class Position:
    """How far an input was consumed: lines, bytes, and the digest of those bytes (`PrefixDigest`)."""

    line: int = 0
    offset: int = 0
    sha256: str = ""


class InputChanged(Exception):
    """The input is not the one a checkpoint was written for."""


def lines(source: Source, limit: int, resume: Position | None = None,
          digest: PrefixDigest | None = None) -> Iterator[list[Line]]:
    """The lines of one input after `resume` (a list per block read). The lines before it are read again
    into `digest`, which is compared with the checkpoint's: InputChanged when the input is not the same."""
    blocks = _blocks(source, limit)
    if resume is None or resume.line == 0:
        yield from blocks
        return
    digest = digest if digest is not None else PrefixDigest()
    last = None
    for block in blocks:
        if block[-1].number <= resume.line:
            for line in block:
                digest.add(line)
            last = block[-1]
            continue
        cut = 0
        for line in block:
            if line.number > resume.line:
                break
            digest.add(line)
            last = line
            cut += 1
        _compare(source, resume, last, digest)
        if cut < len(block):
            yield block[cut:]
        yield from blocks
        return
    _compare(source, resume, last, digest)


def _compare(source: Source, resume: Position, last: Line | None, digest: PrefixDigest) -> None:
    if last is None or last.number < resume.line:
        got = last.number if last is not None else 0
        raise InputChanged(f"{source.name} has {got} line{'s' * (got != 1)}, but the checkpoint is after line "
                           f"{resume.line}: it is not the input the checkpoint was written for (truncated or "
                           "replaced)")
    if last.end != resume.offset or digest.actual() != resume.sha256:
        raise InputChanged(f"the first {resume.line} lines of {source.name} are not those the checkpoint was "
                           "written for: it is another input under the same name")
    digest.claimed = None  # verified: the digest goes on from the lines read again


def _blocks(source: Source, limit: int) -> Iterator[list[Line]]:
    """Every line of one input, in blocks as read; a line longer than `limit` is hashed, never held."""
    stream = source.open()
    read = getattr(stream, "read1", stream.read)
    number = offset = 0
    carry = b""
    long_hash: Any = None  # while inside a line longer than the limit: its hash and its length so far
    long_size = 0
    try:
        while True:
            block = read(BLOCK)
            if not block:
                break
            out: list[Line] = []
            start = 0
            if long_hash is not None:  # the rest of an oversized line
                cut = block.find(b"\n")
                part = block if cut < 0 else block[: cut + 1]
                long_hash.update(part)
                long_size += len(part)
                if cut < 0:
                    continue
                number += 1
                offset += long_size
                out.append(Line(source.index, number, None, offset, long_size, long_hash.digest()))
                long_hash = None
                start = cut + 1
            if carry and block.find(b"\n", start) < 0 and len(carry) + len(block) - start <= limit:
                carry += block[start:]
                if out:
                    yield out
                continue
            parts = (carry + block[start:] if carry else block[start:] if start else block).split(b"\n")
            carry = parts.pop()
            for data in parts:
                size = len(data) + 1
                offset += size
                number += 1
                data += b"\n"
                if size > limit:
                    out.append(Line(source.index, number, None, offset, size, hashlib.sha256(data).digest()))
                else:
                    out.append(Line(source.index, number, data, offset, size))
            if len(carry) > limit:  # a line that will be longer than the limit: hash it, do not hold it
                long_hash = hashlib.sha256(carry)
                long_size = len(carry)
                carry = b""
            if out:
                yield out
        if long_hash is not None:  # the input ends inside an oversized line
            offset += long_size
            yield [Line(source.index, number + 1, None, offset, long_size, long_hash.digest())]
        elif carry:  # a last line without a newline
            offset += len(carry)
            yield [Line(source.index, number + 1, carry, offset, len(carry))]
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


class Reader:
    """Reads every input on a daemon thread and hands the lines to the event loop, a few blocks ahead.

    `get()` returns a list of lines, or None at the end; whatever goes wrong on the thread (an unreadable
    file, a checkpoint that does not match the input, a bug) is raised by `get()`, never lost."""

    AHEAD = 4  # blocks read ahead of the loop

    def __init__(self, produce: Callable[[], Iterator[list[Line]]]):
        self.produce = produce
        self.queue: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.room = threading.Semaphore(self.AHEAD)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mapspec-reader", daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self.room.acquire(timeout=0.5):
            if self.stopped.is_set():
                return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the run is over
            return False
        return True

    def _run(self) -> None:
        try:
            for block in self.produce():
                if self.stopped.is_set() or not self._put(block):
                    return
            self._put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the loop, which raises it
            self._put(e)

    async def get(self) -> list[Line] | None:
        item = await self.queue.get()
        self.room.release()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self.stopped.set()
