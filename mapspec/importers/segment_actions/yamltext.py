"""Writing mapping files by hand-made YAML: expressions as the plainest scalar that reads back the same,
long ones folded at spaces, comments where they help."""

from __future__ import annotations

import re

import yaml

WIDTH = 110
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?\Z")


def _reads_back(text: str, value: str) -> bool:
    try:
        return yaml.safe_load(text) == value
    except yaml.YAMLError:
        return False


def scalar(value: str, indent: int, key_width: int = 0) -> list[str]:
    """An expression as a YAML scalar: the first element goes after `key: `, the others are lines of a
    block scalar indented by `indent`."""
    if not all(_plain_char(ch) or ch in "\n\t" for ch in value):
        return [_double_quoted(value)]  # what a plain or block scalar cannot hold, escaped
    one_line = "\n" not in value and "\t" not in value
    room = WIDTH - key_width
    if not one_line and "\t" not in value and value == value.strip() and all(
            line == line.rstrip() for line in value.splitlines()):
        block = "k: |-\n" + "\n".join((" " * indent + line) if line else "" for line in value.splitlines())
        if _reads_back(block, {"k": value}):
            return ["|-", *((" " * indent + line) if line else "" for line in value.splitlines())]
    if value in ("true", "false", "null") or _NUMBER.match(value):
        return [value]
    if one_line and value == value.strip() and value and len(value) <= room:
        if _reads_back(value, value) and not value.startswith(("'", '"', "[", "{", "&", "*", "!", "|", ">", "%", "@",
                                                                "`", "#", "-", "?", ":", ",")):
            return [value]
        quoted = "'" + value.replace("'", "''") + "'"
        if len(quoted) <= room and _reads_back(quoted, value):
            return [quoted]
    if one_line and value == value.strip() and value:
        lines = _fold(value, WIDTH - indent)
        text = "k: >-\n" + "\n".join(" " * indent + line for line in lines)
        if _reads_back(text, {"k": value}):
            return [">-", *(" " * indent + line for line in lines)]
    return [_double_quoted(value)]


def one_line(value: str) -> str:
    """An expression as a YAML scalar on one line, however long (a comment can follow it)."""
    if "\n" not in value and all(_plain_char(ch) or ch == "\t" for ch in value) and value == value.strip() and value:
        if _reads_back(value, value) and not value.startswith(("'", '"', "[", "{", "&", "*", "!", "|", ">", "%", "@",
                                                                "`", "#", "-", "?", ":", ",")):
            return value
        quoted = "'" + value.replace("'", "''") + "'"
        if _reads_back(quoted, value):
            return quoted
    return _double_quoted(value)


def _plain_char(ch: str) -> bool:
    """Whether a character may stand as it is in a YAML scalar or comment: printable, and not one of the
    characters YAML reads as a line break (NEL, LS, PS) or a byte order mark."""
    o = ord(ch)
    return 0x20 <= o <= 0x7E or (0xA0 <= o <= 0xFFFD and not 0xD800 <= o <= 0xDFFF and o not in (0x2028, 0x2029, 0xFEFF)) \
        or o > 0xFFFF


def _escape(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def _double_quoted(value: str) -> str:
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not _plain_char(ch):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def json_flow(value: object) -> str:
    """A JSON value as a YAML flow value: JSON, with what YAML does not take as it is (DEL, NEL, LS, PS, a byte
    order mark, ...) written as `\\u` escapes, which JSON and YAML read alike."""
    import json

    return "".join(ch if _plain_char(ch) or ch in " \t\n" else f"\\u{ord(ch):04x}"
                   for ch in json.dumps(value, ensure_ascii=False))


def printable(text: str) -> str:
    """Text for a comment: characters a comment cannot hold written as escapes (`\\x00`, `\\u2028`)."""
    return "".join(ch if _plain_char(ch) or ch in " \t\n" else _escape(ch) for ch in text)


def _fold(value: str, width: int) -> list[str]:
    """Lines of at most `width` (where possible), broken at single spaces outside quotes, so that folding
    them back gives the text."""
    breaks = []
    quote = None
    i = 0
    while i < len(value):
        ch = value[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == " " and 0 < i < len(value) - 1 and value[i - 1] != " " and value[i + 1] != " ":
            breaks.append(i)
        i += 1
    lines, start, last = [], 0, None
    for b in breaks:
        if b - start > width and last is not None:
            lines.append(value[start:last])
            start = last + 1
        last = b
    if len(value) - start > width and last is not None and last > start:
        lines.append(value[start:last])
        start = last + 1
    lines.append(value[start:])
    return [line for line in lines]


def key(text: str) -> str:
    """A mapping key as YAML."""
    if _reads_back(f"{text}: 1", {text: 1}) and not text.startswith(("'", '"', "&", "*", "!", "?", "-", "#")):
        return text
    return "'" + text.replace("'", "''") + "'"


def entry(k: str, value: str, indent: int) -> list[str]:
    """`key: value` at an indent, the value an expression."""
    head = " " * indent + key(k) + ": "
    parts = scalar(value, indent + 2, len(head))
    return [head + parts[0], *parts[1:]]


def comment(text: str, indent: int) -> list[str]:
    """A comment, wrapped (what a comment cannot hold, escaped)."""
    words = printable(text).split()
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > WIDTH - indent - 2:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return [" " * indent + "# " + line for line in lines] or [" " * indent + "#"]
