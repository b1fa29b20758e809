"""Objects merged into requests within Braze's limits, each tracked back to the input line it came from.

A translated request is cut into its objects, each encoded once (`prepare`); the objects go into the open
batch of their request key (URL, method, the body's other keys) until the batch reaches the count limits or
the target's size limit (`Options.max_body`, from the target description): a body is split before it is
sent, never answered 413 for being large.
"""

from __future__ import annotations

import time
from typing import Any

from .. import jsonio
from .common import ARRAYS, DELETE_KEYS, Options
from .reader import Line

_TRACK, _DELETE = frozenset(ARRAYS), frozenset(DELETE_KEYS)


class Unsendable(Exception):
    """A translated request that cannot be sent (not a request, cannot be written as JSON, too large)."""

    def __init__(self, reason: str, refused: bool = False):
        super().__init__(reason)
        self.refused = refused  # True when it is Braze that would refuse it (larger than a request may be)


class Item:
    """One object of a request body, encoded, and the line it came from."""

    __slots__ = ("name", "obj", "data", "owner", "done")

    def __init__(self, name: str, obj: Any, data: bytes, owner: Line):
        self.name, self.obj, self.data, self.owner = name, obj, data, owner
        self.done = False  # its fate is told to the ledger once, and only once


class Batch:
    """Objects of one request key on their way to becoming one request."""

    __slots__ = ("key", "url", "method", "envelope", "kind", "arrays", "count", "size", "created", "first")

    def __init__(self, key: tuple, url: str, method: str, envelope: bytes, kind: str):
        self.key, self.url, self.method, self.envelope, self.kind = key, url, method, envelope, kind
        self.arrays: dict[str, list[Item]] = {}
        self.count = 0
        self.size = 2 + len(envelope)  # the body's bytes as it stands: {envelope,"name":[data,...],...}
        self.created = time.monotonic()
        self.first: Line | None = None  # the oldest line with an object in it

    def add(self, item: Item) -> None:
        self.size += self.grows_by(item)
        items = self.arrays.get(item.name)
        if items is None:
            self.arrays[item.name] = [item]
        else:
            items.append(item)
        self.count += 1
        if self.first is None:
            self.first = item.owner

    def grows_by(self, item: Item) -> int:
        if item.name in self.arrays:
            return len(item.data) + 1  # ,data
        # "name":[data] and, after the envelope or another array, a comma
        return len(item.name) + 5 + len(item.data) + (1 if self.envelope or self.arrays else 0)

    def body(self) -> bytes:
        if self.kind == "alone":
            return self.arrays[""][0].data
        parts = [b'"' + name.encode() + b'":[' + b",".join(i.data for i in items) + b"]"
                 for name, items in self.arrays.items() if items]
        if self.envelope:
            parts.insert(0, self.envelope)
        return b"{" + b",".join(parts) + b"}"

    def items(self) -> list[Item]:
        return [item for items in self.arrays.values() for item in items]

    def part(self, items: list[Item]) -> Batch:
        """A batch of the same request key with some of these objects (to resend half of one)."""
        out = Batch(self.key, self.url, self.method, self.envelope, self.kind)
        for item in items:
            out.add(item)
        return out


class Batcher:
    def __init__(self, options: Options):
        self.options = options
        self.open: dict[tuple, Batch] = {}
        self._envelopes: dict[Any, bytes] = {}

    def prepare(self, request: Any, url: str | None = None) -> tuple[str, str, bytes, str, list]:
        """A translated request cut into what makes its request key and its encoded objects (name, object,
        bytes); `url` in place of the request's. Raises Unsendable."""
        if type(request) is not dict or type(request.get("url")) is not str:
            raise Unsendable(f"the translator returned {_kind(request)} where a request (method, url, body) "
                             "belongs")
        body, method = request.get("body"), request.get("method", "POST")
        url = url or request["url"]
        if type(body) is not dict or type(method) is not str:
            raise Unsendable(f"the request to {url} has {_kind(body)} for a body; a body is a JSON object")
        if _DELETE.isdisjoint(body):
            kind, names = "track", _TRACK
        else:
            kind, names = "delete", _DELETE
        objects: list[tuple[str, Any, bytes]] = []
        envelope: dict[str, Any] | None = None
        largest = 0
        dumps, fast = jsonio.dumps, jsonio.fast_dumps
        for key, value in body.items():
            if key not in names:
                if envelope is None:
                    envelope = {}
                envelope[key] = value
            elif type(value) is list:
                for obj in value:
                    try:
                        data = fast(obj)  # orjson when it can, and the object holds no null (NaN would be one)
                    except TypeError:
                        data = None
                    if data is None or b"null" in data:
                        try:
                            data = dumps(obj)
                        except jsonio.Unencodable as e:
                            raise Unsendable(f"an object of {key} cannot be sent: {e}") from None
                    objects.append((key, obj, data))
                    if len(data) > largest:
                        largest = len(data)
            elif value is not None:
                raise Unsendable(f"the request to {url} has {_kind(value)} for {key}; it must be a list")
        env = b""
        if envelope and not objects and _TRACK.isdisjoint(body) and _DELETE.isdisjoint(body):
            # a body with none of the arrays the batcher merges: sent alone, as it is, rather than not at all
            try:
                data = dumps(body)
            except jsonio.Unencodable as e:
                raise Unsendable(f"the request to {url} cannot be sent: {e}") from None
            if len(data) > self.options.max_body:
                raise Unsendable(f"the request to {url} is {len(data):,} bytes: larger than Braze takes "
                                 f"({self.options.max_body:,} bytes)", refused=True)
            return url, method, b"", "alone", [("", body, data)]
        if envelope:
            try:
                env = jsonio.dumps(envelope)[1:-1]
            except jsonio.Unencodable as e:
                raise Unsendable(f"the request to {url} cannot be sent: {e}") from None
        limit = self.options.max_body - 2 - len(env) - 1
        if largest + 20 > limit:  # look closer: the array's name counts too
            for name, _, data in objects:
                if len(data) + len(name) + 5 > limit:
                    raise Unsendable(f"an object of {name} is {len(data):,} bytes: larger than Braze takes in a "
                                     f"request ({self.options.max_body:,} bytes)", refused=True)
        return url, method, env, kind, objects

    def add(self, prepared: tuple, owner: Line) -> list[Batch]:
        """Add a prepared request's objects to open batches; the batches that filled up."""
        url, method, env, kind, objects = prepared
        full: list[Batch] = []
        if kind == "alone":
            batch = Batch((url, method, id(owner)), url, method, env, kind)
            batch.add(Item("", objects[0][1], objects[0][2], owner))
            owner.waiting += 1
            owner.objects += 1
            return [batch]
        key = (url, method, env)
        open_ = self.open
        batch = open_.get(key) if kind == "track" else None
        for name, obj, data in objects:
            if kind == "delete":  # Braze takes one kind of id per /users/delete request
                key = (url, method, env, name)
                batch = open_.get(key)
            item = Item(name, obj, data, owner)
            if batch is None or not self._room(batch, item):
                if batch is not None:
                    full.append(batch)
                batch = open_[key] = Batch(key, url, method, env, kind)
            batch.add(item)
        owner.waiting += len(objects)
        owner.objects += len(objects)
        return full

    def _room(self, batch: Batch, item: Item) -> bool:
        if batch.size + batch.grows_by(item) > self.options.max_body:
            return False
        if batch.kind == "delete":
            return batch.count < self.options.ids_per_delete
        if self.options.max_objects is not None and batch.count >= self.options.max_objects:
            return False
        items = batch.arrays.get(item.name)
        return items is None or len(items) < self.options.objects_per_array

    def due(self, now: float, linger: float) -> list[Batch]:
        """The open batches that have waited `linger` seconds."""
        out = [b for b in self.open.values() if now - b.created >= linger]
        for b in out:
            del self.open[b.key]
        return out

    def holding(self, line: Line) -> list[Batch]:
        """The open batches in which `line`, the oldest undecided line, has an object: they go now, so that no
        more than a window of lines waits behind it."""
        out = [b for b in self.open.values() if b.first is line]
        for b in out:
            del self.open[b.key]
        return out

    def drain(self) -> list[Batch]:
        out = list(self.open.values())
        self.open.clear()
        return out


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null"
    return type(value).__name__
