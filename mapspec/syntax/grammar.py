"""Finds `grammar/mapspec.lark` (in a checkout, or inside the installed package) and builds its parser once."""

from __future__ import annotations

import functools
from pathlib import Path

import lark


def resource_dir(name: str) -> Path:
    """A data folder shipped with mapspec: `grammar` or `mappings`.

    An installed wheel carries them as `mapspec/_grammar` and `mapspec/_mappings`; a checkout (or an
    editable install) has them at the top of the repository."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / f"_{name}", package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mapspec's {name}/ folder is not installed beside {package}")


@functools.cache
def parser() -> lark.Lark:
    text = (resource_dir("grammar") / "mapspec.lark").read_text(encoding="utf-8")
    # cache=True keeps lark's analysis of the grammar in the temporary folder, keyed by the grammar's
    # hash and lark's version: later processes load it instead of building the parse tables again
    try:
        return lark.Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False, cache=True)
    except OSError:  # a read-only temporary folder: build the tables
        return lark.Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False)
