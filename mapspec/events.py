"""Events as the editing tools read them: one JSON object, or one line of an NDJSON file picked by its line
number or its message id; and how a tool names an event to people (`line 29, messageId "m-29", track
"Order Completed"`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def _naming(source: str = "segment") -> tuple[str, tuple[str, ...]]:
    """The field that identifies an event, and the fields that name it, from the source's description
    (`mapspec/sources/segment.yaml`): `messageId`; `track "Order Completed"`, `page "Home"`, `identify`."""
    from .sources import get_source

    found = get_source(source)
    return (found.id or "", found.label) if found is not None else ("", ())


ID_FIELD, LABEL_FIELDS = _naming()


@dataclass(frozen=True)
class Origin:
    """Where an event was read: a file (`-` for stdin) and, in an NDJSON file, its line."""

    path: str
    line: int | None = None

    def describe(self, event: Any) -> str:
        return describe(event, self.line, "stdin" if self.path == "-" else self.path)

    def data(self, event: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.path}
        if self.line is not None:
            out["line"] = self.line
        ident = event.get(ID_FIELD) if isinstance(event, dict) else None
        if ident is not None:
            out[ID_FIELD] = ident
        return out


class EventError(Exception):
    """An event that cannot be had from a file: the message says why, for the command line."""


def _object(text: bytes, where: str) -> dict:
    """An event under the rule every command reads events by (`mapspec.jsonio`)."""
    from . import jsonio

    try:
        event = jsonio.loads(text)
    except jsonio.BadJSON as e:
        raise EventError(f"{where} is not one JSON event: {e}") from None
    except RecursionError:
        raise EventError(f"{where} is nested too deeply to read") from None
    if not isinstance(event, dict):
        raise EventError(f"{where}: an event must be a JSON object")
    return event


def pick_line(lines: Iterable[tuple[int, bytes | None]], path: str, line: int | None = None,
              message_id: str | None = None, limit: int | None = None) -> tuple[dict, Origin]:
    """One event of an NDJSON file's (number, text) lines (text None: a line longer than `limit` bytes), and
    where it came from: with `line` that line, with `message_id` the first line whose id is that."""
    name = "stdin" if path == "-" else path
    if line is not None and line < 1:
        raise EventError("--line counts from 1")
    count = 0
    for number, text in lines:
        count = number
        if line is not None:
            if number < line:
                continue
            if text is None:
                raise EventError(f"line {line} of {name} is longer than {limit:,} bytes (--max-line-bytes)")
            return _object(text, f"line {line} of {name}"), Origin(path, line)
        if text is None or message_id is None or message_id.encode("utf-8") not in text:
            continue  # cheap: most lines are not the one
        from . import jsonio

        try:
            event = jsonio.loads(text)
        except (jsonio.BadJSON, RecursionError):
            continue
        if isinstance(event, dict) and event.get(ID_FIELD) == message_id:
            return event, Origin(path, number)
    if line is not None:
        raise EventError(f"{name} has {count} line{'s' * (count != 1)}, not {line}")
    raise EventError(f"no event in {name} has {ID_FIELD} {json.dumps(message_id)}")


def pick(data: bytes, path: str, line: int | None = None, message_id: str | None = None) -> tuple[dict, Origin]:
    """One event from a file's bytes, and where it came from (for the report): the whole file as one JSON
    object, or with `line` that line, or with `message_id` the first line whose id is that."""
    name = "stdin" if path == "-" else path
    from .jsonio import BOM

    data = data[len(BOM):] if data.startswith(BOM) else data  # a byte order mark at the start (see jsonio.BOM)
    if line is not None or message_id is not None:
        return pick_line(enumerate(data.splitlines(), 1), path, line, message_id)
    try:
        return _object(data, name), Origin(path)
    except EventError:
        lines = [t for t in data.splitlines() if t.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith(b"{"):
            raise EventError(f"{name} holds {len(lines)} lines: pick one event with --line N or "
                             f"--message-id ID") from None
        raise


def describe(event: Any, line: int | None = None, path: str = "") -> str:
    """How a tool names an event: `line 29 of x.ndjson, messageId "m-29", track "Order Completed"`."""
    parts = []
    if line is not None:
        parts.append(f"line {line}" + (f" of {path}" if path else ""))
    if isinstance(event, dict):
        ident = event.get(ID_FIELD)
        if isinstance(ident, str | int) and not isinstance(ident, bool):
            parts.append(f"{ID_FIELD} {json.dumps(ident, ensure_ascii=False)}")
        label = label_of(event)
        if label:
            parts.append(label)
    return ", ".join(parts)


def label_of(event: dict) -> str:
    """`track "Order Completed"`: the first label field bare, the next one present quoted."""
    values = [event.get(f) for f in LABEL_FIELDS]
    head = values[0] if isinstance(values[0], str) and values[0] else ""
    rest = next((v for v in values[1:] if isinstance(v, str) and v), None)
    text = head
    if rest is not None:
        quoted = json.dumps(rest if len(rest) <= 60 else rest[:57] + "...", ensure_ascii=False)
        text = f"{text} {quoted}" if text else quoted
    return text
