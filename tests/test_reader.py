"""The reader cuts any input into the lines a plain split gives, whatever the block boundaries, and a resume
reads on from exactly where a checkpoint says, after checking the lines before it."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapspec.delivery import reader
from mapspec.delivery.reader import InputChanged, Position, PrefixDigest, Source, lines


def reference(data: bytes, limit: int) -> list[tuple[int, bytes | None, int, int, bytes | None]]:
    """(number, data or None, end offset, size, digest of a long line), by a plain split."""
    out, offset = [], 0
    parts = data.split(b"\n")
    tail = parts.pop()
    pieces = [p + b"\n" for p in parts] + ([tail] if tail else [])
    for number, piece in enumerate(pieces, 1):
        offset += len(piece)
        long = len(piece) > limit
        out.append((number, None if long else piece, offset, len(piece),
                    hashlib.sha256(piece).digest() if long else None))
    return out


def read_all(path, limit, resume=None, digest=None):
    return [(line.number, line.data, line.end, line.size, line.digest)
            for block in lines(Source(0, str(path), str(path)), limit, resume, digest) for line in block]


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\n\n", b"xyz" * 5, b"{}\n", b" "]), max_size=60).map(
    b"".join), block=st.integers(1, 40), limit=st.integers(1, 30))
def test_lines_are_a_plain_split_whatever_the_blocks(tmp_path_factory, data, block, limit):
    path = tmp_path_factory.mktemp("r") / "in"
    path.write_bytes(data)
    old = reader.BLOCK
    reader.BLOCK = block
    try:
        got = read_all(path, limit)
        want = reference(data, limit)
        assert got == want
        for cut in range(len(want) + 1):  # a resume after any line gives the rest, and checks the prefix
            digest = PrefixDigest()
            for number, piece, *_ in want[:cut]:
                digest.add(reader.Line(0, number, piece, 0, 0, want[number - 1][4]))
            position = Position(cut, want[cut - 1][2] if cut else 0, digest.hexdigest())
            fresh = PrefixDigest(position.sha256)
            assert read_all(path, limit, position, fresh) == want[cut:]
            assert fresh.claimed is None or cut == 0
    finally:
        reader.BLOCK = old


def test_a_resume_refuses_other_content(tmp_path):
    path = tmp_path / "in"
    path.write_bytes(b"a\nb\nc\n")
    digest = PrefixDigest()
    for block in lines(Source(0, str(path), "in"), 100):
        for line in block[:2]:
            digest.add(line)
    position = Position(2, 4, digest.hexdigest())
    assert [line.data for block in lines(Source(0, str(path), "in"), 100, position) for line in block] == [b"c\n"]
    path.write_bytes(b"a\nX\nc\n")
    with pytest.raises(InputChanged, match="the first 2 lines of in are not those"):
        list(lines(Source(0, str(path), "in"), 100, position))
    path.write_bytes(b"a\n")
    with pytest.raises(InputChanged, match="in has 1 line, but the checkpoint is after line 2"):
        list(lines(Source(0, str(path), "in"), 100, position))
