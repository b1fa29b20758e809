"""Text for a terminal: whatever a mapping or an event holds, printed so that it cannot drive the terminal.

A rule name, a key or an event value may hold escape sequences (`\\x1b[2J` clears the screen, OSC 52
writes the clipboard), C1 controls that some terminals obey, or bidirectional overrides that make text
read differently from what it is. Every command that prints such text for people passes it through
`printable`, which writes those characters as Python writes them in a string: `\\x1b`, `\\u202e`.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, the bidirectional embeddings, overrides, isolates and marks, and the
# line and paragraph separators; newline and tab are kept (callers that print one line escape them).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    c = ord(ch)
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: str) -> str:
    """`text` with every control character but newline and tab escaped."""
    return _UNSAFE.sub(_escape, text)


def printable_line(text: str) -> str:
    """`text` on one line: newlines and tabs escaped too."""
    return _UNSAFE_LINE.sub(_escape, text)


def is_printable(text: str) -> bool:
    return _UNSAFE.search(text) is None
