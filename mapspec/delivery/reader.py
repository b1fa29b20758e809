"""Input lines in constant memory: a line longer than the limit is reported, never held whole."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any


@dataclass
class Line:
    source: str
    number: int
    data: bytes | None  # None: longer than the limit (the line is skipped, not held in memory)
    end: int  # byte offset after the line in its file (-1 for stdin)
    length: int = 0


def read_lines(paths: list[str], limit: int, skip: dict[str, Any]) -> Iterator[Line]:
    """The lines of every input; a line longer than `limit` bytes is reported, never held whole."""
    for path in paths:
        done = skip.get(path, {})
        if path == "-":
            stream: IO[bytes] = sys.stdin.buffer
            number, offset = 0, -1
            for _ in range(done.get("line", 0)):  # stdin cannot seek: skip what is done
                if not _read_line(stream, limit)[1]:
                    break
                number += 1
            yield from _lines_of(stream, path, limit, number, offset)
        else:
            with open(path, "rb") as stream:
                if done:
                    stream.seek(done["offset"])
                yield from _lines_of(stream, path, limit, done.get("line", 0), done.get("offset", 0))


def _read_line(stream: IO[bytes], limit: int) -> tuple[bytes, int, bool]:
    """(the line or its first `limit` bytes, its full length, whether it was cut)."""
    data = stream.readline(limit + 1)
    if len(data) <= limit or data.endswith(b"\n"):
        return data, len(data), False
    length = len(data)
    while True:  # discard the rest of an oversized line, a chunk at a time
        chunk = stream.readline(1 << 16)
        length += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return data[:limit], length, True


def _lines_of(stream: IO[bytes], path: str, limit: int, number: int, offset: int) -> Iterator[Line]:
    while True:
        data, length, cut = _read_line(stream, limit)
        if not length:
            return
        number += 1
        if offset >= 0:
            offset += length
        yield Line(path, number, None if cut else data, offset, length)
