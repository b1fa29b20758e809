"""Requests of many events merged into fewer requests, as the target's description says.

Every translated request is cut into objects (an element of an array the endpoint merges, a member of a group,
or the whole body for an endpoint that does not merge); each object remembers the input line it came from.
Objects go into open batches keyed by method, URL and the body's other fields; a batch is full when an array,
the request or the kind of request the endpoint allows is full, and is rebuilt into one body when it is sent.
Nothing here knows an endpoint by name.

    /users/track {"attributes": [a1]} + {"attributes": [a2], "events": [e1]}
        -> one batch: attributes [a1, a2], events [e1]
    /partners/segment/cohorts/users {"cohort_changes": [{"user_ids": ["u1"]}]}
        + {"cohort_changes": [{"user_ids": ["u1"], "should_remove": true}]} (later)
        -> one change object: {"user_ids": ["u1"], "should_remove": true} (the latest state of u1 wins)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ..targets import Endpoint, Target

WHOLE = ""  # the pseudo-array of an endpoint that does not merge: the object is the whole body


@dataclass
class Item:
    """One object of a request, and the input line it came from."""

    obj: Any
    owner: Any
    array: str = WHOLE
    group: str | None = None  # for a member of a group: the group's identity (its other fields, as JSON)
    member: str | None = None  # ... and the member list it is in
    time: float | None = None  # the request's time, for latest-wins
    seq: int = 0


@dataclass
class Batch:
    method: str
    url: str
    envelope: dict  # the fields the merged bodies share
    endpoint: Endpoint | None
    items: list[Item] = field(default_factory=list)
    #: per (array, group identity): the group's own fields and the member lists its elements had
    groups: dict[tuple[str, str], tuple[dict, list[str]]] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    #: the body when the endpoint does not merge (or is unknown): sent as it is
    whole: bool = False

    def count(self) -> int:
        return len(self.items)

    def in_array(self, name: str) -> int:
        return sum(1 for i in self.items if i.array == name)

    def body(self) -> Any:
        if self.whole:
            return self.items[0].obj
        out = dict(self.envelope)
        order = list(self.endpoint.batch.arrays) if self.endpoint else []
        for array in order:
            objs = [i.obj for i in self.items if i.array == array]
            if objs:
                out[array] = objs
        for array, rule in (self.endpoint.batch.groups.items() if self.endpoint else ()):
            elements: list[dict] = []
            for (garray, gid), (fields, seen) in self.groups.items():
                if garray != array:
                    continue
                members = [i for i in self.items if i.array == array and i.group == gid]
                if not members:
                    continue
                element = dict(fields)
                for m in rule.members:
                    if m in seen or any(i.member == m for i in members):
                        element[m] = [i.obj for i in members if i.member == m]
                elements.append(element)
            if elements:
                out[array] = elements
        return out

    def positions(self) -> list[tuple[str, int, Item]]:
        """Every object with its array and its index in that array as sent (an API's errors[] name these)."""
        seen: dict[str, int] = {}
        out = []
        for array in (self.endpoint.batch.arrays if self.endpoint else ()):
            for item in self.items:
                if item.array == array:
                    out.append((array, seen.get(array, 0), item))
                    seen[array] = seen.get(array, 0) + 1
        listed = {id(i) for _, _, i in out}
        out += [(i.array, -1, i) for i in self.items if id(i) not in listed]
        return out

    def split(self) -> list[Batch]:
        """Two batches of about half the objects each (for a body the API finds too large)."""
        middle = len(self.items) // 2
        return [Batch(self.method, self.url, self.envelope, self.endpoint, part, self.groups, self.created,
                      self.whole) for part in (self.items[:middle], self.items[middle:]) if part]


class Merger:
    """Open batches; `add` a translated request, get back the batches that filled up."""

    def __init__(self, target: Target | None, batch_size: int | None = None, max_objects: int | None = None):
        self.target = target
        self.batch_size = batch_size  # objects per array, at most (None: the target's)
        self.max_objects = max_objects  # objects per request in all, at most (None: the target's)
        self.open: dict[tuple, Batch] = {}
        #: objects dropped because a later state of the same member replaced them in its batch (delivered: what
        #: they said is sent, updated); the caller resolves them
        self.superseded: list[Item] = []
        self._seq = 0

    def add(self, request: dict, owner: Any) -> list[Batch]:
        method = str(request.get("method", "POST")).upper()
        url = request["url"]
        body = request.get("body")
        found = self.target.endpoint_for(method, urlsplit(url).path) if self.target else None
        if found is None or not isinstance(body, dict) or not found[0].batch.merges:
            return [self._alone(method, url, body, found[0] if found else None, owner)]
        endpoint, params = found
        rule = endpoint.batch
        if rule.into is not None:
            method, url, body = self._into(endpoint, params, url, body)
            into = self.target.endpoint_for(method, urlsplit(url).path) if self.target else None
            endpoint = into[0] if into else endpoint
        merged = set(rule.arrays) | set(rule.groups)
        envelope = {k: v for k, v in body.items() if k not in merged}
        when = _seconds(request.get("time"))
        full: list[Batch] = []
        for array, obj, group, member, fields, lists in self._objects(rule, body):
            key = (method, url, json.dumps(envelope, sort_keys=True, default=str),
                   array if rule.one_array else "")
            batch = self.open.get(key)
            if batch is None or not self._room(batch, rule, array):
                if batch is not None:
                    full.append(batch)
                batch = self.open[key] = Batch(method, url, envelope, endpoint)
            self._seq += 1
            item = Item(obj, owner, array, group, member, when, self._seq)
            if group is not None:
                known = batch.groups.setdefault((array, group), (fields, []))
                known[1].extend(m for m in lists if m not in known[1])
                if rule.groups[array].latest_wins and not self._newest(batch, item):
                    continue
            batch.items.append(item)
            owner.objects += 1
        return full

    def _alone(self, method: str, url: str, body: Any, endpoint: Endpoint | None, owner: Any) -> Batch:
        owner.objects += 1
        return Batch(method, url, {}, endpoint, [Item(body, owner)], whole=True)

    def _into(self, endpoint: Endpoint, params: dict[str, str], url: str, body: dict) -> tuple[str, str, dict]:
        """A single-item request as part of a request to its collection: the parameter moves into the items."""
        into = endpoint.batch.into
        assert into is not None
        method, _, path = into.endpoint.partition(" ")
        split = urlsplit(url)
        prefix = split.path[: len(split.path) - len(endpoint.url_path(params))]
        rest = {k: v for k, v in params.items() if k != into.param}
        new_url = f"{split.scheme}://{split.netloc}{prefix}{Endpoint(method, path, endpoint.body).url_path(rest)}"
        value = unquote(params[into.param])
        moved = {k: [{into.item_field: value, **o} if isinstance(o, dict) else o for o in v]
                 if k in endpoint.batch.arrays and isinstance(v, list) else v for k, v in body.items()}
        return method, new_url, moved

    def _objects(self, rule, body: dict) -> Iterator[tuple[str, Any, str | None, str | None, dict, list[str]]]:
        """(array, object, group identity, member list, group fields, member lists present) per object."""
        for array in rule.arrays:
            for obj in body.get(array) or ():
                yield array, obj, None, None, {}, []
        for array, group in rule.groups.items():
            for element in body.get(array) or ():
                if not isinstance(element, dict):
                    yield array, element, "", None, {}, []
                    continue
                fields = {k: v for k, v in element.items() if k not in group.members}
                identity = json.dumps(fields, sort_keys=True, default=str)
                lists = [m for m in group.members if m in element]
                for member in lists:
                    values = element[member]
                    for value in values if isinstance(values, list) else [values]:
                        yield array, value, identity, member, fields, lists

    def _room(self, batch: Batch, rule, array: str) -> bool:
        total = min(x for x in (rule.total, self.max_objects) if x is not None) \
            if rule.total is not None or self.max_objects is not None else None
        if total is not None and batch.count() >= total:
            return False
        per_array = min(x for x in (rule.per_array, self.batch_size) if x is not None) \
            if rule.per_array is not None or self.batch_size is not None else None
        return per_array is None or batch.in_array(array) < per_array

    def _newest(self, batch: Batch, item: Item) -> bool:
        """Keep one state per member in a batch: the latest by time (then by arrival). False when the new
        item is the older one (it is superseded at once)."""
        same = json.dumps(item.obj, sort_keys=True, default=str)
        for i, other in enumerate(batch.items):
            if other.array == item.array and other.member == item.member \
                    and json.dumps(other.obj, sort_keys=True, default=str) == same:
                if _older(item, other):
                    self.superseded.append(item)
                    item.owner.objects += 1  # counted, and resolved by the caller like any object
                    return False
                self.superseded.append(batch.items.pop(i))
                return True
        return True

    def due(self, now: float, linger: float) -> list[Batch]:
        out = [k for k, b in self.open.items() if now - b.created >= linger]
        return [self.open.pop(k) for k in out]

    def drain(self) -> list[Batch]:
        out = list(self.open.values())
        self.open.clear()
        return out


def _older(a: Item, b: Item) -> bool:
    """Whether `a` says something older than `b` (an unknown time is older than any known one)."""
    ta = a.time if a.time is not None else float("-inf")
    tb = b.time if b.time is not None else float("-inf")
    return (ta, a.seq) < (tb, b.seq)


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    from ..runtime import parse_time

    t = parse_time(value)
    try:
        return t.timestamp()
    except (AttributeError, OverflowError, ValueError):
        return None
