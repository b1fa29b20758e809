"""The optimizer: a pipeline of pure passes, one module each, `Document -> Document`.

Each pass keeps spans, so diagnostics and provenance still point at the mapping after it. The
pipeline can be cut short (`rules=`) so a reader, a test or the benchmark sees what each pass buys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..syntax import ast
from .fold_constants import fold_constants
from .inline_functions import inline_functions
from .inline_lets import inline_lets
from .inline_objects import inline_objects
from .inline_settings import inline_settings
from .prune_dead import prune_dead


@dataclass(frozen=True)
class Context:
    #: the value of every declared setting (MISSING where unset)
    settings: Mapping[str, Any]


Pass = Callable[[ast.Document, Context], ast.Document]

#: the passes in the order they run; fold_constants runs again once definitions are inlined
RULES: tuple[Pass, ...] = (inline_settings, inline_functions, fold_constants, inline_lets, inline_objects,
                           fold_constants, prune_dead)


def optimize(doc: ast.Document, settings: Mapping[str, Any], rules: tuple[Pass, ...] = RULES) -> ast.Document:
    ctx = Context(settings)
    for rule in rules:
        doc = rule(doc, ctx)
    return doc


__all__ = ["RULES", "Context", "optimize", "fold_constants", "inline_functions", "inline_lets", "inline_objects",
           "inline_settings", "prune_dead"]
