"""mapspec: Segment-to-Braze routing as code.

    >>> import mapspec
    >>> translate = mapspec.load("segment-braze", settings={"app_id": "my-app"})
    >>> translate({"type": "track", "userId": "u1", "event": "Signed Up",
    ...            "timestamp": "2024-05-01T12:00:00Z"})[0]["body"]["events"][0]["name"]
    'Signed Up'
"""

from __future__ import annotations

from .compiler import Translator, bundled_names, compile_source, load, read_mapping
from .diagnostics import Diagnostic
from .errors import CompileError, MapspecError, Rejected

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
