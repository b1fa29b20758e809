"""Requests of many events merged into fewer requests, as the target's description says, each object tracked
back to the input line it came from.

A translated request is matched to its endpoint in the target description and cut into objects (`prepare`):
an element of an array the endpoint merges, a member of a group (the users of a cohort change), or the whole
body for an endpoint that does not merge; each object is encoded once. The objects go into the open batch of
their request key (method, URL, the body's other fields) until an array, the request, or the target's size
limit is full: a body is split before it is sent, never answered 413 for being large. Nothing here knows an
endpoint by name.

    /users/track {"attributes": [a1]} + {"attributes": [a2], "events": [e1]}
        -> {"attributes": [a1, a2], "events": [e1]}
    /partners/segment/cohorts/users {"cohort_changes": [{"user_ids": ["u1"]}]}
        + {"cohort_changes": [{"user_ids": ["u1"], "should_remove": true}]} (a later time)
        -> {"cohort_changes": [{"user_ids": ["u1"], "should_remove": true}]}: the latest state of u1 wins
    PUT /catalogs/cars/items/c1 {"items": [{...}]} + PUT /catalogs/cars/items/c2 {"items": [{...}]}
        -> PUT /catalogs/cars/items/ {"items": [{"id": "c1", ...}, {"id": "c2", ...}]}
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import jsonio
from ..targets import Endpoint, Target
from .common import Options
from .reader import Line

ALONE = ""  # the pseudo-array of a body sent as it is


class Unsendable(Exception):
    """A translated request that cannot be sent (not a request, cannot be written as JSON, too large): never
    sent, so not refused by the API either; the line fails (see the account)."""


class Item:
    """One object of a request body, encoded, and the line it came from."""

    __slots__ = ("name", "obj", "data", "owner", "done", "group", "member", "time", "seq")

    def __init__(self, name: str, obj: Any, data: bytes, owner: Line, group: Group | None = None,
                 member: str | None = None, when: float | None = None, seq: int = 0):
        self.name, self.obj, self.data, self.owner = name, obj, data, owner
        self.done = False  # its fate is told to the ledger once, and only once
        self.group, self.member, self.time, self.seq = group, member, when, seq

    def value(self) -> Any:
        """The object (decoded from what is sent when it came from a worker process without it)."""
        return self.obj if self.obj is not None else jsonio.loads(self.data)


class Group:
    """An element of a group array (a cohort change, a subscription group) without its member lists: the
    members of equal groups go into one element."""

    __slots__ = ("identity", "fields", "lists")

    def __init__(self, identity: bytes, fields: bytes, lists: tuple[str, ...]):
        self.identity = identity  # its other fields as canonical JSON: what makes two groups one
        self.fields = fields  # those fields, encoded, without braces
        self.lists = lists  # the member lists its element had (written even when empty, as they came)

    def __reduce__(self) -> tuple:  # (from a worker process: by its fields, faster than by slots)
        return Group, (self.identity, self.fields, self.lists)


class Prepared:
    """A translated request cut into its request key and its encoded objects."""

    __slots__ = ("url", "method", "envelope", "endpoint", "objects", "once", "time")

    def __init__(self, url: str, method: str, envelope: bytes, endpoint: Endpoint | None,
                 objects: list[tuple[str, Any, bytes, Group | None, str | None]], once: str | None,
                 when: float | None):
        self.url, self.method, self.envelope, self.endpoint = url, method, envelope, endpoint
        self.objects, self.once, self.time = objects, once, when

    def __reduce__(self) -> tuple:  # (from a worker process: by its fields, faster than by slots)
        return Prepared, (self.url, self.method, self.envelope, self.endpoint, self.objects, self.once, self.time)

    @property
    def alone(self) -> bool:
        return bool(self.objects) and self.objects[0][0] == ALONE


class Batch:
    """Objects of one request key on their way to becoming one request."""

    __slots__ = ("key", "url", "method", "envelope", "endpoint", "arrays", "count", "size", "created", "first",
                 "latest", "once")

    def __init__(self, key: tuple, url: str, method: str, envelope: bytes, endpoint: Endpoint | None):
        self.key, self.url, self.method, self.envelope, self.endpoint = key, url, method, envelope, endpoint
        self.arrays: dict[str, list[Item]] = {}
        self.count = 0
        self.size = 2 + len(envelope)  # the body's bytes as it stands (an estimate for groups: never under)
        self.created = time.monotonic()
        self.first: Line | None = None  # the oldest line with an object in it
        self.latest: dict[tuple, Item] | None = None  # group members by (array, list, value), for latest-wins
        self.once: str | None = None  # a request sent at most once per key: its key

    @property
    def alone(self) -> bool:
        return ALONE in self.arrays

    def add(self, item: Item, grows: int | None = None) -> None:
        """Add an object; `grows`: what it adds to the body's size, when the caller knows it already."""
        self.size += self.grows_by(item) if grows is None else grows
        items = self.arrays.get(item.name)
        if items is None:
            self.arrays[item.name] = [item]
        else:
            items.append(item)
        self.count += 1
        if self.first is None:
            self.first = item.owner

    def remove(self, item: Item) -> None:
        self.arrays[item.name].remove(item)
        self.count -= 1

    def grows_by(self, item: Item) -> int:
        grows = len(item.data) + 1  # ,data
        if item.group is not None:  # a new group element: its braces, fields and member lists' names
            grows += len(item.group.fields) + 3 + sum(len(m) + 6 for m in item.group.lists)
        if item.name not in self.arrays:  # "name":[...] and a comma after what is before it
            grows += len(item.name) + 5
        return grows

    def body(self) -> bytes:
        if self.alone:
            return self.arrays[ALONE][0].data
        parts = [self.envelope] if self.envelope else []
        for name, items in self.arrays.items():
            if not items:
                continue
            if items[0].group is None:
                parts.append(b'"' + name.encode() + b'":[' + b",".join(i.data for i in items) + b"]")
            else:
                parts.append(b'"' + name.encode() + b'":[' + b",".join(_group_elements(items)) + b"]")
        return b"{" + b",".join(parts) + b"}"

    def items(self) -> list[Item]:
        return [item for items in self.arrays.values() for item in items]

    def last(self) -> Line:
        """The latest line with an object in the batch (each array holds its objects in input order)."""
        return max((items[-1].owner for items in self.arrays.values() if items),
                   key=lambda line: (line.input, line.number))

    def indexed(self) -> dict[tuple[str, int], Item]:
        """Objects by (array, index in that array as sent): what an API's errors[] name, where it names them."""
        return {(name, i): item for name, items in self.arrays.items() if items and items[0].group is None
                for i, item in enumerate(items)}

    def part(self, items: list[Item]) -> Batch:
        """A batch of the same request key with some of these objects (to resend half of one)."""
        out = Batch(self.key, self.url, self.method, self.envelope, self.endpoint)
        out.once = self.once
        for item in items:
            out.add(item)
        return out


def _group_elements(items: list[Item]) -> list[bytes]:
    """The group elements of a group array: members of equal groups together, in the order they came."""
    groups: dict[bytes, tuple[Group, dict[str, list[bytes]]]] = {}
    for item in items:
        group = item.group
        assert group is not None
        found = groups.get(group.identity)
        if found is None:
            found = groups[group.identity] = (group, {m: [] for m in group.lists})
        else:
            for m in group.lists:
                found[1].setdefault(m, [])
        found[1].setdefault(item.member or "", []).append(item.data)
    out = []
    for group, members in groups.values():
        parts = [group.fields] if group.fields else []
        parts += [b'"' + m.encode() + b'":[' + b",".join(values) + b"]" for m, values in members.items()]
        out.append(b"{" + b",".join(parts) + b"}")
    return out


class Batcher:
    def __init__(self, options: Options, target: Target | None):
        self.options, self.target = options, target
        self.open: dict[tuple, Batch] = {}
        #: objects a later state of the same member replaced in their batch: what they said is sent, updated;
        #: the caller tells the ledger they are delivered
        self.superseded: list[Item] = []
        self._seq = 0
        self._endpoints: dict[tuple[str, str], tuple[Endpoint, dict[str, str]] | None] = {}
        self._limits: dict[int, tuple[Endpoint, tuple[int, int | None, int | None]]] = {}
        self._how: dict[tuple[str, str], tuple] = {}  # per method and URL: see _how_for
        #: whether prepared objects keep their decoded form beside their encoding (a worker process's do not:
        #: the parent decodes one where it needs it, see Item.value)
        self.keep_objects = True

    def endpoint(self, method: str, url: str) -> tuple[Endpoint, dict[str, str]] | None:
        key = (method, url)
        if key not in self._endpoints:
            if len(self._endpoints) > 10_000:
                self._endpoints.clear()
            self._endpoints[key] = self.target.endpoint_for(method, urlsplit(url).path) if self.target else None
        return self._endpoints[key]

    def _how_for(self, method: str, url: str) -> tuple:
        """How requests to a URL are cut: (endpoint, its batching rule, the body fields it merges or None when
        it merges none, whether a request's time orders group members)."""
        found = self.endpoint(method, url)
        endpoint = found[0] if found else None
        rule = endpoint.batch if endpoint else None
        if rule is None or not (rule.arrays or rule.groups):
            how: tuple = (endpoint, rule, None, False)
        else:
            how = (endpoint, rule, frozenset(rule.arrays) | frozenset(rule.groups),
                   any(g.latest_wins for g in rule.groups.values()))
        if len(self._how) > 10_000:
            self._how.clear()
        self._how[(method, url)] = how
        return how

    def prepare(self, request: Any, url: str | None = None) -> Prepared:
        """A translated request cut into its request key and its encoded objects; `url` in place of the
        request's. Raises Unsendable."""
        if type(request) is not dict or type(request.get("url")) is not str:
            raise Unsendable(f"the translator returned {jsonio.kind(request)} where a request (method, url, body) "
                             "belongs")
        body, method = request.get("body"), request.get("method", "POST")
        url = url or request["url"]
        if type(body) is not dict or type(method) is not str:
            raise Unsendable(f"the request to {url} has {jsonio.kind(body)} for a body; a body is a JSON object")
        if method != "POST":
            method = method.upper()
        once = request.get("once")
        if type(once) is not str:
            once = None
        how = self._how.get((method, url))
        if how is None:
            how = self._how_for(method, url)
        endpoint, rule, names, timed = how
        keep = self.keep_objects
        if names is None:
            return Prepared(url, method, b"", endpoint,
                            [(ALONE, body if keep else None, self._encode(body, url), None, None)], once, None)
        if rule.into is not None:
            method, url, body = _into(endpoint, self.endpoint(method, url)[1], url, body)  # type: ignore[index]
            moved = self.endpoint(method, url)
            endpoint = moved[0] if moved else endpoint
        # the request's time orders the states of a group member (latest wins): read only where that is so
        when = _seconds(request.get("time")) if timed else None
        objects: list[tuple[str, Any, bytes, Group | None, str | None]] = []
        append = objects.append
        envelope: dict[str, Any] = {}
        largest = 0
        fast = jsonio.fast_dumps
        for key, value in body.items():
            if key not in names:
                envelope[key] = value
                continue
            if value is None:
                continue
            if type(value) is not list:
                raise Unsendable(f"the request to {url} has {jsonio.kind(value)} for {key}; it must be a list")
            group = rule.groups.get(key) if rule.groups else None
            if group is None:
                for obj in value:
                    try:
                        data = fast(obj)  # orjson when it can; a null in it may be NaN: looked at closer
                    except TypeError:
                        data = None
                    if data is None or b"null" in data:
                        data = self._object(obj, key)
                    append((key, obj if keep else None, data, None, None))
                    if len(data) > largest:
                        largest = len(data)
                continue
            for obj in value:
                if type(obj) is not dict:
                    raise Unsendable(f"an element of {key} is {jsonio.kind(obj)}; it must be an object")
                fields = {k: v for k, v in obj.items() if k not in group.members}
                lists = tuple(m for m in group.members if m in obj)
                identity = jsonio.dumps({k: fields[k] for k in sorted(fields)})
                info = Group(identity, identity[1:-1] if fields else b"", lists)
                for member in lists:
                    values = obj[member]
                    for v in values if type(values) is list else [values]:
                        data = self._object(v, f"{key}.{member}")
                        append((key, v if keep else None, data, info, member))
                        largest = max(largest, len(data))
        env = b""
        if envelope:
            try:
                env = jsonio.dumps(envelope)[1:-1]
            except jsonio.Unencodable as e:
                raise Unsendable(f"the request to {url} cannot be sent: {e}") from None
        limit = self.max_body - 2 - len(env) - 1
        if largest + 40 > limit:  # look closer: the array's name counts too
            for name, _, data, _, _ in objects:
                if len(data) + len(name) + 40 > limit:
                    raise Unsendable(f"an object of {name} is {len(data):,} bytes: larger than {self.who} takes in "
                                     f"a request ({self.max_body:,} bytes)")
        return Prepared(url, method, env, endpoint, objects, once, when)

    @property
    def who(self) -> str:
        return self.target.title if self.target else "the API"

    @property
    def max_body(self) -> int:
        if self.options.max_body is not None:
            return self.options.max_body
        return (self.target.max_body_bytes if self.target else None) or (1 << 62)
    def _encode(self, body: Any, url: str) -> bytes:
        try:
            data = jsonio.dumps(body)
        except jsonio.Unencodable as e:
            raise Unsendable(f"the request to {url} cannot be sent: {e}") from None
        if len(data) > self.max_body:
            raise Unsendable(f"the request to {url} is {len(data):,} bytes: larger than {self.who} takes "
                             f"({self.max_body:,} bytes)")
        return data

    @staticmethod
    def _object(obj: Any, where: str) -> bytes:
        try:
            data = jsonio.fast_dumps(obj)  # orjson when it can, and the object holds no null (NaN would be one)
        except TypeError:
            data = None
        if data is None or b"null" in data:
            try:
                data = jsonio.dumps(obj)
            except jsonio.Unencodable as e:
                raise Unsendable(f"an object of {where} cannot be sent: {e}") from None
        return data

    def add(self, prepared: Prepared, owner: Line) -> list[Batch]:
        """Add a prepared request's objects to open batches; the batches that filled up."""
        p = prepared
        objects = p.objects
        if objects and objects[0][0] == ALONE:
            batch = Batch((p.url, p.method, id(owner), self._seq), p.url, p.method, b"", p.endpoint)
            batch.once = p.once
            self._seq += 1
            batch.add(Item(ALONE, objects[0][1], objects[0][2], owner))
            owner.waiting += 1
            owner.objects += 1
            return [batch]
        full: list[Batch] = []
        endpoint = p.endpoint
        rule = endpoint.batch  # type: ignore[union-attr]
        max_body, total, per_array = self.limits(endpoint)  # type: ignore[arg-type]
        unique, groups, one_array = rule.unique, rule.groups, rule.one_array
        open_ = self.open
        key = (p.url, p.method, p.envelope)
        batch = open_.get(key)
        seq = self._seq
        for name, obj, data, group, member in objects:
            if one_array:  # one kind of array per request
                key = (p.url, p.method, p.envelope, name)
                batch = open_.get(key)
            seq += 1
            item = Item(name, obj, data, owner, group, member, p.time, seq)
            if batch is not None:  # room for it: the body's bytes, the request's objects, the array's
                items = batch.arrays.get(name)
                if group is not None:
                    grows = batch.grows_by(item)
                else:  # as grows_by: ,data and, for a new array, "name":[...]
                    grows = len(data) + 1 if items is not None else len(data) + len(name) + 6
                room = batch.size + grows <= max_body and (total is None or batch.count < total) and (
                    per_array is None or items is None or len(items) < per_array) and (
                    not unique or not items or self._unique(batch, item, items, unique))
            if batch is None or not room:
                if batch is not None:
                    full.append(batch)
                batch = open_[key] = Batch(key, p.url, p.method, p.envelope, endpoint)
                grows = batch.grows_by(item)
                items = None
            owner.waiting += 1
            owner.objects += 1
            if group is not None:
                if groups[name].latest_wins and not self._latest(batch, item):
                    continue
                batch.add(item, grows)
                continue
            batch.size += grows  # (Batch.add, written out: this loop runs once per object)
            if items is None:
                batch.arrays[name] = [item]
            else:
                items.append(item)
            batch.count += 1
            if batch.first is None:
                batch.first = owner
        self._seq = seq
        return full

    def limits(self, endpoint: Endpoint) -> tuple[int, int | None, int | None]:
        """(bytes per body, objects per request, objects per array) for a merging endpoint: the target's,
        or the options' where tighter."""
        found = self._limits.get(id(endpoint))
        if found is None or found[0] is not endpoint:
            rule = endpoint.batch
            found = self._limits[id(endpoint)] = (endpoint, (self.max_body, _least(rule.total, self.options.max_objects),
                                                             _least(rule.per_array, self.options.batch_size)))
        return found[1]

    @staticmethod
    def _unique(batch: Batch, item: Item, items: list[Item], unique: Any) -> bool:
        """False when the array says `unique` and holds an element with the same value of that field: the
        second element of one id waits for the next request, in order."""
        key = unique.get(item.name)
        if key is None:
            return True
        obj = item.value()  # (decoded only on the endpoints that say `unique`, such as catalog items)
        if isinstance(obj, dict) and key in obj:
            value = obj[key]
            for other in items:
                seen = other.value()
                if isinstance(seen, dict) and seen.get(key) == value:
                    return False
        return True

    def _latest(self, batch: Batch, item: Item) -> bool:
        """Keep one state per group member in a batch, the latest (by time, then by arrival); False when the
        new item is the older one. What is replaced goes to `superseded`."""
        if batch.latest is None:
            batch.latest = {}
        key = (item.name, item.member, item.data)
        other = batch.latest.get(key)
        if other is not None:
            if _older(item, other):
                self.superseded.append(item)
                return False
            batch.remove(other)
            self.superseded.append(other)
        batch.latest[key] = item
        return True

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


def _into(endpoint: Endpoint, params: dict[str, str], url: str, body: dict) -> tuple[str, str, dict]:
    """A single-item request as part of a request to its collection: the path parameter moves into the items."""
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


def _least(*limits: int | None) -> int | None:
    given = [x for x in limits if x is not None]
    return min(given) if given else None


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
