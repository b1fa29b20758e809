"""Exceptions raised by mapspec's public API.

    MapspecError
    ├── CompileError      the mapping (or its settings) has errors; .diagnostics lists them
    └── Rejected          the translator refuses an event; the message says why
"""

from __future__ import annotations

from .diagnostics import Diagnostic


class MapspecError(Exception):
    """Base class of every exception mapspec raises on purpose."""


class CompileError(MapspecError):
    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.render() for d in diagnostics))


class Rejected(MapspecError):
    """Raised by a translator for an event the mapping refuses; the message says why.

    In a mapping with `match: all`, some rules may send while others reject: `requests` then holds what the
    event still sends (and the rejection is reported beside it)."""

    def __init__(self, message: str = "", requests: list | None = None):
        super().__init__(message)
        self.requests: list = requests or []
