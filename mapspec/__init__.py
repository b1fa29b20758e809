"""mapspec: Segment-to-Braze routing as code.

    >>> import mapspec
    >>> translate = mapspec.load("segment-braze", settings={"app_id": "my-app"})
    >>> translate({"type": "track", "userId": "u1", "event": "Signed Up",
    ...            "timestamp": "2024-05-01T12:00:00Z"})[0]["body"]["events"][0]["name"]
    'Signed Up'

The names below are imported when first used, so that the command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CompileError",
    "Diagnostic",
    "MapspecError",
    "Rejected",
    "Translator",
    "bundled_names",
    "compile_source",
    "load",
    "read_mapping",
]

_WHERE = {
    "CompileError": "errors", "MapspecError": "errors", "Rejected": "errors", "Diagnostic": "diagnostics",
    "Translator": "compiler", "bundled_names": "compiler", "compile_source": "compiler", "load": "compiler",
    "read_mapping": "compiler",
}

if TYPE_CHECKING:
    from .compiler import Translator, bundled_names, compile_source, load, read_mapping
    from .diagnostics import Diagnostic
    from .errors import CompileError, MapspecError, Rejected


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mapspec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
