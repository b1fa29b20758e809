"""Objects merged into requests within Braze's limits."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from .common import ARRAYS, DELETE_KEYS, Options
from .ledger import Pending


@dataclass
class Item:
    obj: Any
    owner: Pending


@dataclass
class Batch:
    url: str
    method: str
    envelope: dict  # the body's other keys (the classic app_group_id, src)
    kind: str  # "track" or "delete"
    arrays: dict[str, list[Item]] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)

    def count(self) -> int:
        return sum(len(v) for v in self.arrays.values())

    def body(self) -> dict:
        out = dict(self.envelope)
        for name, items in self.arrays.items():
            if items:
                out[name] = [i.obj for i in items]
        return out

    def items(self) -> list[tuple[str, int, Item]]:
        return [(name, i, item) for name, items in self.arrays.items() for i, item in enumerate(items)]


class Batcher:
    def __init__(self, options: Options):
        self.options = options
        self.open: dict[tuple, Batch] = {}

    def add(self, request: dict, owner: Pending) -> list[Batch]:
        """Split one translated request into objects, add them to open batches; the batches that filled up."""
        body = request.get("body")
        url, method = request["url"], request.get("method", "POST")
        if not isinstance(body, dict):
            return []
        kind = "delete" if any(k in body for k in DELETE_KEYS) else "track"
        names = DELETE_KEYS if kind == "delete" else ARRAYS
        envelope = {k: v for k, v in body.items() if k not in names}
        key = (url, method, json.dumps(envelope, sort_keys=True, default=str) if envelope else "")
        full: list[Batch] = []
        for name in names:
            for obj in body.get(name) or []:
                batch = self.open.get(key)
                if batch is None or not self._room(batch, name):
                    if batch is not None:
                        full.append(batch)
                    batch = self.open[key] = Batch(url, method, envelope, kind)
                batch.arrays.setdefault(name, []).append(Item(obj, owner))
                owner.objects += 1
        return full

    def _room(self, batch: Batch, name: str) -> bool:
        if batch.kind == "delete":
            return batch.count() < self.options.ids_per_delete
        if self.options.max_objects is not None and batch.count() >= self.options.max_objects:
            return False
        return len(batch.arrays.get(name, [])) < self.options.objects_per_array

    def due(self, now: float, linger: float) -> list[Batch]:
        out = [b for b in self.open.values() if now - b.created >= linger]
        for b in out:
            del self.open[next(k for k, v in self.open.items() if v is b)]
        return out

    def drain(self) -> list[Batch]:
        out = list(self.open.values())
        self.open.clear()
        return out
