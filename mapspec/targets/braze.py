"""The delivery runtime's Braze limits as the runtime read them before targets were descriptions: derived
from `braze.yaml`, the one place they are written. (Transitional: the runtime will read the description.)"""

from __future__ import annotations

from types import SimpleNamespace

from . import bundled

_braze = bundled("braze")
_track = _braze.endpoints["POST /users/track"]
_delete = _braze.endpoints["POST /users/delete"]
assert _track.rate is not None and _track.batch.per_array and _delete.batch.total and _braze.max_body_bytes

TARGET = SimpleNamespace(
    name="braze",
    description=_braze,
    delivery={
        "objects_per_array": _track.batch.per_array,
        "ids_per_delete": _delete.batch.total,
        "rate_limit": (_track.rate.requests, _track.rate.seconds),
        "max_body": _braze.max_body_bytes,
    },
)
