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
    """Raised by a translator for an event the mapping refuses, `Rejected(message)`; the message says why.

    In a mapping with `match: all`, some rules may send while others reject, `Rejected(message, requests)`:
    `requests` then holds what the event still sends (and the rejection is reported beside it).

    It has no `__init__` of its own: raising one costs what raising a plain exception does (a Python-level
    `__init__` tripled that, the larger part of what a rejected event costs a translator)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def requests(self) -> list:
        given = self.__dict__.get("_requests")
        if given is None:
            given = self.__dict__["_requests"] = (self.args[1] or []) if len(self.args) > 1 else []
        return given

    @requests.setter
    def requests(self, value: list) -> None:
        self.__dict__["_requests"] = value
