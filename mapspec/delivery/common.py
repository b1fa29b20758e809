"""What the parts of the delivery runtime share: options, the error that stops a run, fast JSON."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..targets.braze import TARGET

log = logging.getLogger("mapspec.run")

#: Braze's limits, from the target schema (the one place they are written down)
BRAZE: dict[str, Any] = TARGET.delivery

try:  # parses and writes JSON about twice as fast, when installed (mapspec[fast])
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def json_loads(data: bytes) -> Any:
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except ValueError:
            pass  # the standard library again, for its error messages
    return json.loads(data)


def json_dumps(obj: Any) -> bytes:
    if _orjson is not None:
        try:
            return _orjson.dumps(obj)
        except TypeError:
            pass
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

ARRAYS = ("attributes", "events", "purchases")
DELETE_KEYS = ("external_ids", "braze_ids", "user_aliases")


class Fatal(Exception):
    """A problem that stops the run (bad key, wrong instance): nothing more is sent or dead-lettered."""


# ------------------------------------------------------------------ configuration


@dataclass
class Options:
    objects_per_array: int = BRAZE["objects_per_array"]
    max_objects: int | None = None  # "50 combined" contracts: at most this many objects per request
    ids_per_delete: int = BRAZE["ids_per_delete"]
    in_flight: int = 8
    rate: tuple[int, float] = BRAZE["rate_limit"]  # requests per seconds
    retry_deadline: float = 300.0  # seconds a batch may keep being retried
    backoff_base: float = 0.25
    backoff_max: float = 20.0
    timeout: float = 30.0
    max_line_bytes: int = 1 << 20
    linger: float = 1.0  # a partly filled batch waits at most this long
    seed: int | None = None
