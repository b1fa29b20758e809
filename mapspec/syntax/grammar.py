"""Finds `grammar/mapspec.lark` (in a checkout, or inside the installed package) and builds its parser once.

Building lark's LALR tables takes about 50 ms, too long for every `mapspec check`. The tables are
shipped beside the grammar instead, as plain JSON data (`mapspec.lark.json`, written by
`python -m mapspec.syntax.grammar`), together with the SHA-256 of the grammar text and the lark
version they were built from. They are used only when both match; otherwise the parser is built from
the grammar. Nothing is ever unpickled, and nothing is read from a temporary or shared folder (lark's
own `cache=True` unpickles a file at a predictable path in the temporary folder, which any local user
could plant).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # lark is imported where a parser is made (most expressions never need it: syntax.reader)
    import lark

#: the options every mapspec parser is built with (part of what the shipped tables must match)
#: (an expression is `start`; the head of a YAML `for` item, `$i, $x in list`, is `for_head`)
OPTIONS: dict[str, Any] = {"parser": "lalr", "propagate_positions": True, "maybe_placeholders": False,
                           "start": ["start", "for_head"]}
TABLE_NAME = "mapspec.lark.json"
_FORMAT = 1


def resource_dir(name: str) -> Path:
    """A data folder shipped with mapspec: `grammar` or `mappings`.

    An installed wheel carries them as `mapspec/_grammar` and `mapspec/_mappings`; a checkout (or an
    editable install) has them at the top of the repository."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / f"_{name}", package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mapspec's {name}/ folder is not installed beside {package}")


def grammar_text() -> str:
    return (resource_dir("grammar") / "mapspec.lark").read_text(encoding="utf-8")


def fingerprint(text: str) -> dict[str, Any]:
    """What a shipped table must have been built from to be used."""
    import lark

    return {"format": _FORMAT, "grammar_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "lark": lark.__version__, "options": OPTIONS}


def build(text: str) -> lark.Lark:
    """The parser, built from the grammar (slow: lark analyses the grammar)."""
    import lark

    return lark.Lark(text, **OPTIONS)


# lark's serialized tables have dicts keyed by integers (states, token numbers) and tuples; JSON has
# neither, so such a dict is written as {"#int": [[key, value], ...]} and tuples as lists.
def _to_json(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(type(k) is int for k in value):
            return {"#int": [[k, _to_json(v)] for k, v in value.items()]}
        if not all(type(k) is str for k in value):
            raise TypeError("a parse table key that is neither text nor an integer")
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    raise TypeError(f"a parse table value of type {type(value).__name__}")


def _int_keys(pairs: list[tuple[str, Any]]) -> Any:
    if len(pairs) == 1 and pairs[0][0] == "#int":
        return {int(k): v for k, v in pairs[0][1]}
    return dict(pairs)


def table_data(parser_: lark.Lark, text: str) -> str:
    """The JSON text of a parser's tables, with the fingerprint of the grammar they come from."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = parser_.memo_serialize([TerminalDef, Rule])
    return json.dumps({"built_from": fingerprint(text), "data": _to_json(data), "memo": _to_json(memo)},
                      separators=(",", ":"), sort_keys=True) + "\n"


def load_table(table: str, text: str) -> lark.Lark | None:
    """The parser from shipped tables, or None when they were not built from this grammar and lark."""
    import lark

    try:
        stored = json.loads(table, object_pairs_hook=_int_keys)
    except ValueError:
        return None
    if not isinstance(stored, dict) or stored.get("built_from") != fingerprint(text):
        return None
    try:
        return lark.Lark._load_from_dict(stored["data"], stored["memo"])
    except Exception:  # noqa: BLE001 - tables this lark cannot read: build the parser instead
        return None


@functools.cache
def parser() -> lark.Lark:
    text = grammar_text()
    try:
        table = (resource_dir("grammar") / TABLE_NAME).read_text(encoding="utf-8")
    except OSError:
        table = ""
    return load_table(table, text) or build(text)


def main() -> None:  # pragma: no cover - exercised by tests through write_table
    """`python -m mapspec.syntax.grammar`: rebuild the shipped tables after a change to the grammar."""
    path = write_table()
    print(f"wrote {path}")


def write_table() -> Path:
    text = grammar_text()
    path = resource_dir("grammar") / TABLE_NAME
    path.write_text(table_data(build(text), text), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    main()
