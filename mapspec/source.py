"""Source files and spans: the only place that knows how offsets become lines and columns."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceFile:
    """A mapping file's path (as the user named it) and its text."""

    path: str
    text: str
    _line_starts: list[int] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        self._line_starts.extend(starts)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 0-based (line, column), as PyYAML marks give them."""
        if line >= len(self._line_starts):
            return len(self.text)
        return self._line_starts[line] + column


@dataclass(frozen=True)
class Span:
    """A range of characters in a source file: [start, end)."""

    source: SourceFile
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.source.position(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.position(self.start)[1]

    def location(self) -> str:
        line, col = self.source.position(self.start)
        return f"{self.source.path}:{line}:{col}"

    def __repr__(self) -> str:  # short, so ASTs print readably
        return f"Span({self.location()})"
