"""mapspec: Segment-to-Braze routing as code.

    >>> import mapspec
    >>> translate = mapspec.load("segment-braze", settings={"app_id": "my-app"})
    >>> translate({"type": "track", "userId": "u1", "event": "Signed Up",
    ...            "timestamp": "2024-05-01T12:00:00Z"})[0]["body"]["events"][0]["name"]
    'Signed Up'
    >>> translate.result({"type": "identify", "anonymousId": "a1"}).rejected
    'userId or braze_id is required: send a non-empty userId, or integrations.Braze.braze_id'
    >>> translate.result({"type": "alias", "userId": "u1", "previousId": "a1"}).skipped
    'alias calls are not sent to Braze, as in Segment cloud mode'

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
    "Result",
    "Skipped",
    "Translator",
    "bundled_names",
    "compile_source",
    "load",
    "read_mapping",
    "result_of",
]

_WHERE = {
    "CompileError": "errors", "MapspecError": "errors", "Rejected": "errors", "Diagnostic": "diagnostics",
    "Result": "result", "Skipped": "runtime", "result_of": "result",
    "Translator": "compiler", "bundled_names": "compiler", "compile_source": "compiler", "load": "compiler",
    "read_mapping": "compiler",
}

if TYPE_CHECKING:
    from .compiler import Translator, bundled_names, compile_source, load, read_mapping
    from .diagnostics import Diagnostic
    from .errors import CompileError, MapspecError, Rejected
    from .result import Result, result_of
    from .runtime import Skipped


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mapspec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
