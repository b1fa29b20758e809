"""Delivering translated events to Braze from a Beam pipeline, with mapspec's own delivery code.

    translated events ─ Prepare (Batcher.prepare: each request cut into its request key and encoded objects;
        │                         what cannot be sent is a dead letter, as in `mapspec run`)
        ├─ objects keyed by request key ─ group (bounded: GroupByKey of chunks per key and worker; unbounded:
        │                                 GroupIntoBatches.WithShardedKey) ─ Batcher.add: requests within the
        │                                 target's limits ─ Sender.deliver (rate, retries, per-object errors)
        └─ `once:` requests keyed by their key ─ the first per key (the others not sent) ─ sent first
    every object's fate ─ per event (CombinePerKey, or state when unbounded) ─ the account's counts (metrics)
    objects refused or out of retries ─ dead letters

Every object of an event ends delivered, refused, out of retries, or (a `once:` request sent already) not sent;
each event is then counted once, as `mapspec run` counts its lines, so that the account adds up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import typehints
from apache_beam.coders import BooleanCoder
from apache_beam.transforms import userstate
from apache_beam.transforms.util import WaitOn

from .. import jsonio
from ..delivery.batching import Batch, Batcher, Group, Prepared, Unsendable
from ..delivery.common import Fatal, Options, RedactingFilter, Secret, key_problem, log, url_problem
from ..delivery.ledger import DELIVERED, EXPIRED, FAILED, REFUSED, REJECTED, SKIPPED, Account
from ..delivery.sender import RateLimiter, Sender
from ..syntax.document import DEFAULT_TARGET
from ..targets import Target, bundled
from .translate import DEAD_LETTERS, counter, dead_letter_text, log_dead_letter

GROUP_SIZE = 5000  # objects per group of one request key before it is cut into requests (bounded input)
NOT_SENT = "not sent"  # the fate of an object of a `once:` request already sent for its key

# ------------------------------------------------------------------ what travels between stages
#
# An object: (name, data, group, member, time, owner, order), plain values that Beam's coders write fast:
#   name: its array ("" for a body sent as it is); data: its JSON; group: (identity, fields, lists) of a group
#   element, or None; member: the member list it is in; time: its request's `time:` in seconds, or None;
#   owner: (event id, input, line, rejected, objects of the event, the event's JSON when it is to be in dead
#   letters, else None); order: where it came in the input.
# A request key: METHOD, URL, endpoint, array (one-array endpoints) and envelope, joined by NUL bytes (which
# none of them can hold: the envelope is JSON text); for bounded input, a shard after another NUL.


def _request_key(p: Prepared, name: str) -> bytes:
    one_array = p.endpoint is not None and p.endpoint.batch.one_array
    return b"\0".join([p.method.encode(), p.url.encode(), (p.endpoint.key if p.endpoint else "").encode(),
                       (name if one_array else "").encode(), p.envelope])


def _parse_key(key: bytes) -> tuple[str, str, str, bytes]:
    method, url, endpoint, _, rest = key.split(b"\0", 4)
    return method.decode(), url.decode(), endpoint.decode(), rest.split(b"\0", 1)[0]  # without a shard after it


class _Owner:
    """An event on its way, as Batcher and Sender see a line: they count its objects on it. `input` and `number`
    are what `mapspec run` orders its checkpoint by; a pipeline has no checkpoint."""

    __slots__ = ("id", "source", "line", "rejected", "total", "event", "input", "number", "waiting", "objects")

    def __init__(self, owner: tuple):
        self.id, self.source, self.line, self.rejected, self.total, self.event = owner
        self.input = self.number = self.waiting = self.objects = 0


class _Fates:
    """What Sender needs of a ledger: each object's fate, collected for the stage to output."""

    sent_before = None  # a pipeline never resumes from a checkpoint

    def __init__(self) -> None:
        self.done: list[tuple[_Owner, tuple[str, str, Any] | None]] = []

    def object_done(self, owner: _Owner, problem: tuple[str, str, Any] | None = None) -> None:
        self.done.append((owner, problem))

    def delivered(self, items: list) -> list:
        """Objects delivered, as the ledger's `delivered`: each told once."""
        out = [item for item in items if not item.done]
        for item in out:
            item.done = True
            self.done.append((item.owner, None))
        return out


class _NoCheckpoint:
    def note_sent(self, line: Any) -> None:
        pass


# ------------------------------------------------------------------ options


class _Settings:
    """What every stage of a delivery needs, picklable: the target, the options, where to send."""

    def __init__(self, target: Target, options: Options, endpoint: str | None, workers: int | None,
                 key_files: Mapping[str, str]):
        self.target, self.options, self.endpoint = target, options, endpoint
        self.workers, self.key_files = workers, dict(key_files)

    def url(self, request: Any, cache: dict[str, str]) -> str | None:
        """The URL a request goes to (the endpoint in place of its scheme and host); Fatal for one that cannot be."""
        url = request.get("url") if isinstance(request, dict) else None
        if not isinstance(url, str):
            return None
        out = cache.get(url)
        if out is None:
            out = self.endpoint.rstrip("/") + urlsplit(url).path if self.endpoint else url
            problem = url_problem(out)
            if problem:
                raise Fatal(f"the mapping sends to {out!r}, which cannot be used: {problem} (check its base_url "
                            "setting, such as rest_endpoint, or the endpoint given)")
            if len(cache) > 10_000:
                cache.clear()
            cache[url] = out
        return out


def _translated(element: Any) -> bool:
    """Whether an element is a translated event (`Translate`'s output), not one request."""
    return isinstance(element, dict) and "requests" in element and "url" not in element


def _event_of(element: Any) -> tuple[list, str | None, int | None, str | None, Any]:
    """(requests, input, line, rejected, event) of an element: a translated event (`Translate`'s output), or one
    request."""
    if _translated(element):
        return (element["requests"], element.get("input"), element.get("line"), element.get("rejected"),
                element.get("event"))
    return [element], None, None, None, None


def _event_json(event: Any) -> bytes | None:
    """An event as it travels with its objects, for their dead letters; None when it cannot be written."""
    if event is None:
        return None
    try:
        return jsonio.dumps(event)
    except jsonio.Unencodable:
        return None


def _letter(owner: _Owner, reason: str, obj: Any, secret: Secret) -> dict[str, Any]:
    """The dead letter of one of an event's objects, as `mapspec run` writes it: input, line, reason, object,
    event; the keys taken out of all of it, as `mapspec run` takes them out of its dead-letter file."""
    out = {"input": owner.source, "line": owner.line} if owner.source is not None else {}
    out["reason"], out["object"] = reason, obj
    if owner.event is not None:
        out["event"] = jsonio.loads(owner.event)
    try:
        text = jsonio.dumps(out).decode("utf-8")
    except jsonio.Unencodable:  # pragma: no cover - what it holds came from JSON
        return out
    clean = secret.redact(text)
    return out if clean == text else jsonio.loads(clean)


# ------------------------------------------------------------------ prepare


class _PrepareFn(beam.DoFn):
    """Each translated event's requests cut into objects (`Batcher.prepare`), keyed by request key; an event
    whose requests cannot be sent is decided here, as `mapspec run` decides it."""

    ONCE, ONCE_OWNERS = "once", "once owners"

    def __init__(self, settings: _Settings, bounded: bool, group_size: int, letters: bool):
        self.settings, self.bounded, self.group_size = settings, bounded, group_size
        self.letters = letters  # each event travels with its objects, for their dead letters
        self.counts = {name: counter(name) for name in ("read", "translated", SKIPPED, REJECTED, FAILED, REFUSED)}

    def setup(self) -> None:
        self.batcher = Batcher(self.settings.options, self.settings.target)
        self.urls: dict[str, str] = {}
        self.prefix = uuid.uuid4().bytes[:8]
        self.events = 0
        self.chunks: dict[bytes, int] = {}  # objects keyed so far per request key (bounded: the chunk they are in)

    def process(self, element: Any) -> Iterator[Any]:
        if not _translated(element):  # a request made elsewhere counts as an event read and translated, so
            self.counts["read"].inc()  # that the account adds up
            self.counts["translated"].inc()
        requests, source, line, rejected, event = _event_of(element)
        self.events += 1
        event_id = self.prefix + self.events.to_bytes(8, "big")
        origin = {"input": source, "line": line} if source is not None else {}
        try:
            if not isinstance(requests, list):  # a skip is a list too (`Skipped`)
                raise Unsendable(f"the translator returned {jsonio.kind(requests)}, not a list of requests")
            prepared = [self.batcher.prepare(r, self.settings.url(r, self.urls)) for r in requests]
        except Unsendable as e:
            fate = FAILED  # never sent (too large, not JSON): not refused by the API either
            self.counts[fate].inc()
            letter = {**origin, "reason": f"cannot be sent: {e}"}
            if event is not None:
                letter["event"] = event
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, letter)
            return
        total = sum(len(p.objects) for p in prepared)
        if total == 0:  # nothing to send
            self.counts[REJECTED if rejected else SKIPPED].inc()
            return
        owner = (event_id, source, line, bool(rejected), total, _event_json(event) if self.letters else None)
        order_base = (source or "", line or 0, event_id)
        for r, p in enumerate(prepared):
            records = [(name, data, (g.identity, g.fields, g.lists) if g is not None else None, member, p.time, owner,
                        (*order_base, r, i))
                       for i, (name, _, data, g, member) in enumerate(p.objects)]
            if p.once is not None:
                key, order = f"{p.method} {p.url}\n{p.once}", (*order_base, r)
                yield beam.pvalue.TaggedOutput(self.ONCE, (key, (order, [(_request_key(p, rec[0]), rec)
                                                                         for rec in records])))
                yield beam.pvalue.TaggedOutput(self.ONCE_OWNERS, (key, order, owner, len(records)))
                continue
            for rec in records:
                key = _request_key(p, rec[0])
                if self.bounded:
                    if len(self.chunks) > 100_000:
                        self.chunks.clear()
                    n = self.chunks.get(key, 0)
                    self.chunks[key] = n + 1
                    key += b"\0" + self.prefix + (n // self.group_size).to_bytes(8, "big")
                yield key, rec


# ------------------------------------------------------------------ `once:` requests


class _Earliest(beam.CombineFn):
    """Of the requests of one `once:` key, the first in the input (combined where they are made: a key that
    every event of a large audience carries is never gathered in one place)."""

    def create_accumulator(self) -> tuple | None:
        return None

    def add_input(self, acc: tuple | None, request: tuple) -> tuple:
        return request if acc is None or request[0] < acc[0] else acc

    def merge_accumulators(self, accumulators: Iterable[tuple | None]) -> tuple | None:
        out = None
        for acc in accumulators:
            if acc is not None:
                out = self.add_input(out, acc)
        return out

    def extract_output(self, acc: tuple | None) -> tuple | None:
        return acc


def _send_first(keyed: tuple[str, tuple]) -> Iterator[tuple[bytes, list]]:
    """The first request of a `once:` key, as groups of objects by request key."""
    yield from _group_by_key(keyed[1][1])


def _not_first(request: tuple[str, tuple, tuple, int], first: Mapping[str, tuple]) -> Iterator[Any]:
    """The objects of a `once:` request that is not the first of its key: not sent."""
    key, order, owner, objects = request
    if first[key] != order:
        for _ in range(objects):
            yield _fate(owner, NOT_SENT)


_SENT = beam.DoFn.StateParam(userstate.ReadModifyWriteStateSpec("sent", BooleanCoder()))


class _FirstSeenFn(beam.DoFn):
    """Unbounded input: of the requests of one `once:` key, the first that arrives goes on, for the job's life."""

    def process(self, keyed: tuple[str, list], sent=_SENT) -> Iterator[Any]:
        _, (_, objects) = keyed
        if sent.read():
            for _, rec in objects:
                yield beam.pvalue.TaggedOutput(NOT_SENT, _fate(rec[5], NOT_SENT))
            return
        sent.write(True)
        yield from _group_by_key(objects)


def _group_by_key(objects: list) -> Iterator[tuple[bytes, list]]:
    groups: dict[bytes, list] = {}
    for key, rec in objects:
        groups.setdefault(key, []).append(rec)
    yield from groups.items()


# ------------------------------------------------------------------ batches


def _fate(owner: tuple | _Owner, fate: str) -> tuple[bytes, tuple[str, bool, int]]:
    """One object's fate, keyed by its event: (event id, (fate, rejected, objects of the event))."""
    if isinstance(owner, _Owner):
        return owner.id, (fate, owner.rejected, owner.total)
    return owner[0], (fate, owner[3], owner[4])


class _BatchFn(beam.DoFn):
    """A group of objects of one request key cut into requests (`Batcher.add`, within the target's limits),
    which `handle` sends or writes."""

    def __init__(self, settings: _Settings):
        self.settings = settings
        self.requests = counter("requests")

    def setup(self) -> None:
        self.target = self.settings.target

    def batches(self, keyed: tuple[Any, Iterable[tuple]], fates: list) -> Iterator[Batch]:
        key, records = keyed
        key = getattr(key, "key", key)  # GroupIntoBatches.WithShardedKey's ShardedKey
        method, url, endpoint_key, envelope = _parse_key(key)
        endpoint = self.target.endpoints.get(endpoint_key) if endpoint_key else None
        batcher = Batcher(self.settings.options, self.target)
        owners: dict[bytes, _Owner] = {}
        for name, data, group, member, when, owner, _ in sorted(records, key=lambda rec: rec[6]):
            found = owners.get(owner[0])
            if found is None:
                found = owners[owner[0]] = _Owner(owner)
            obj = jsonio.loads(data)
            info = Group(*group) if group is not None else None
            yield from batcher.add(Prepared(url, method, envelope, endpoint, [(name, obj, data, info, member)], None,
                                            when), found)
            if batcher.superseded:  # a later state of the same member took their place: delivered as that
                for item in batcher.superseded:
                    item.done = True
                    fates.append((item.owner, None))
                batcher.superseded.clear()
        yield from batcher.drain()


class _WriteFn(_BatchFn):
    """A dry run: each request as `mapspec run --dry-run` writes it; its objects would be sent."""

    def process(self, keyed: tuple[Any, Iterable[tuple]]) -> Iterator[Any]:
        fates: list = []
        for batch in self.batches(keyed, fates):
            self.requests.inc()
            yield beam.pvalue.TaggedOutput("requests", b'{"method":' + jsonio.dumps(batch.method) + b',"url":'
                                           + jsonio.dumps(batch.url) + b',"body":' + batch.body() + b"}")
            for item in batch.items():
                item.done = True
                fates.append((item.owner, None))
        for owner, _ in fates:
            yield _fate(owner, DELIVERED)


# ------------------------------------------------------------------ sending


class _LockedWindow:
    """A rate window shared by the threads of a worker process."""

    def __init__(self, window: Any):
        self.window, self.lock = window, threading.Lock()

    def reserve(self, now: float) -> float:
        with self.lock:
            return self.window.reserve(now)

    def take(self, now: float) -> tuple[bool, int, float]:
        with self.lock:
            return self.window.take(now)


_limiters: dict[tuple, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(name: str, requests: int, seconds: float, workers: int) -> RateLimiter:
    """The rate limiter of this worker process for one of the target's buckets: its share of the limit, 1 /
    `workers` (a limit of fewer requests than workers becomes one request per proportionally longer period)."""
    limit, period = (requests // workers, seconds) if requests >= workers else (1, seconds * workers / requests)
    key = (name, limit, period)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(limit, period)
            limiter.window = _LockedWindow(limiter.window)  # type: ignore[assignment]
        return limiter


class _PipelineSender(Sender):
    """mapspec run's Sender, with rate limiters shared by the threads of the process, each a share of the limit."""

    def __init__(self, *args: Any, workers: int, **kw: Any):
        self.workers = workers
        super().__init__(*args, **kw)

    def limiters_for(self, batch: Batch) -> list[RateLimiter]:
        out = []
        if self.options.rate is not None:
            out.append(shared_limiter("", *self.options.rate, self.workers))
        rate = batch.endpoint.rate if batch.endpoint else None
        if rate is not None:
            out.append(shared_limiter(rate.name, rate.requests, rate.seconds, self.workers))
        return out


def read_keys(target: Target, key_files: Mapping[str, str]) -> dict[str, str]:
    """The key of each of the target's credentials that has one: from its file (any path Beam's file systems
    read: a local file, gs://, s3://) or from the worker's environment. Fatal for a key that cannot be sent."""
    from apache_beam.io.filesystems import FileSystems

    keys: dict[str, str] = {}
    for name, credential in target.credentials.items():
        what = credential.description.split(",")[0] if credential.description else f"the {name} key"
        path = key_files.get(name)
        if path:
            try:
                with FileSystems.open(path) as fh:
                    value = fh.read().decode("utf-8").strip()
            except Exception as e:  # noqa: BLE001 - whatever the file system raises, said without a traceback
                raise Fatal(f"{what}: cannot read its file {path}: {type(e).__name__}") from None
            if not value:
                raise Fatal(f"{what}: its file {path} is empty")
        else:
            value = os.environ.get(credential.env) if credential.env else None
        if not value:
            continue
        problem = key_problem(value)
        if problem:
            raise Fatal(f"{what} cannot be used: {problem}")
        keys[name] = value
    return keys


class KeylessText(beam.DoFn):
    """Dead letters as lines of NDJSON with the keys taken out of them, as `mapspec run` writes its file: the
    keys read on the workers, as the sender reads them (a dead letter of `Translate`, which knows no key, may
    hold an event that holds one)."""

    def __init__(self, settings: _Settings):
        self.settings = settings

    def setup(self) -> None:
        self.secret = Secret(None, *read_keys(self.settings.target, self.settings.key_files).values())

    def process(self, record: dict) -> Iterator[str]:
        yield self.secret.redact(dead_letter_text(record))


class _SendFn(_BatchFn):
    """Sends each group's requests with mapspec run's Sender, `in_flight` at a time, on an event loop of its own
    (one per instance, so per worker thread); outputs every object's fate, and dead letters."""

    def setup(self) -> None:
        from ..delivery.http import Client

        super().setup()
        settings = self.settings
        self.keys = read_keys(self.target, settings.key_files)
        first = next(iter(self.target.credentials), None)
        self.secret = Secret(self.keys.get(first) if first else None, *self.keys.values())
        self.redact = RedactingFilter(self.secret)
        # as under `mapspec run`: ours, and every handler of the worker (httpx's records go through them)
        self.redacting = [log, *logging.getLogger().handlers]
        for place in self.redacting:
            place.addFilter(self.redact)
        self.loop = asyncio.new_event_loop()
        self.client = Client(max_connections=settings.options.in_flight * 2)
        self.account = Account()
        self.metrics = {name: counter(name) for name in ("requests", "unanswered", "retried")}

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            loop.run_until_complete(self.client.aclose())
            loop.close()
        for place in getattr(self, "redacting", ()):
            place.removeFilter(self.redact)

    def needed(self, batch: Batch) -> None:
        """Fatal when the key that the batch's endpoint needs is missing."""
        name = batch.endpoint.credentials if batch.endpoint else next(iter(self.target.credentials), None)
        credential = self.target.credentials.get(name) if name else None
        if credential is None or credential.optional or name in self.keys:
            return
        what = credential.description.split(",")[0] if credential.description else f"the {name} key"
        where = f"{credential.env} in the workers' environment" if credential.env else "its environment variable"
        raise Fatal(f"{what}: there is none; give it in {where}, or as a file (key_files / --api-key-file)")

    def process(self, keyed: tuple[Any, Iterable[tuple]]) -> Iterator[Any]:
        fates: list = []
        collected = _Fates()
        sender = _PipelineSender(self.client, self.secret, self.settings.options, collected, self.account,
                                 _NoCheckpoint(), target=self.target, keys=self.keys, workers=self.settings.workers)
        before = self.account.counts()

        async def send() -> None:
            try:
                for batch in self.batches(keyed, fates):
                    self.needed(batch)
                    await sender.submit(batch)
                await sender.wait()
            except BaseException:
                await sender.cancel()
                raise

        try:
            self.loop.run_until_complete(send())
        finally:
            after = self.account.counts()
            for name, metric in self.metrics.items():
                if after[name] > before[name]:
                    metric.inc(after[name] - before[name])
        for owner, _ in fates:
            yield _fate(owner, DELIVERED)
        for owner, problem in collected.done:
            if problem is None:
                yield _fate(owner, DELIVERED)
                continue
            fate, reason, obj = problem
            yield _fate(owner, fate)
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, _letter(owner, reason, obj, self.secret))


# ------------------------------------------------------------------ the account


class _EventFate(beam.CombineFn):
    """An event's objects' fates -> the event's, as `mapspec run`'s ledger decides a line: refused outweighs the
    other ways to fail (out of retries; an error while sending), which outweigh rejected (a reject rule beside
    rules that send); an event none of whose objects was sent (each a `once:` request sent already) is skipped,
    or rejected."""

    def create_accumulator(self) -> list:
        return [0, 0, 0, 0, 0, False, 0]  # objects, sent, refused, expired, failed, rejected, objects of the event

    def add_input(self, acc: list, fate: tuple[str, bool, int]) -> list:
        name, rejected, total = fate
        acc[0] += 1
        acc[1] += name != NOT_SENT
        acc[2] += name == REFUSED
        acc[3] += name == EXPIRED
        acc[4] += name == FAILED
        acc[5] = acc[5] or rejected
        acc[6] = total
        return acc

    def merge_accumulators(self, accumulators: Iterable[list]) -> list:
        out = self.create_accumulator()
        for acc in accumulators:
            for i in range(5):
                out[i] += acc[i]
            out[5] = out[5] or acc[5]
            out[6] = max(out[6], acc[6])
        return out

    def extract_output(self, acc: list) -> str:
        return _decide(acc)


def _decide(acc: list) -> str:
    _, sent, refused, expired, failed, rejected, _ = acc
    if not sent:
        return REJECTED if rejected else SKIPPED
    return (REFUSED if refused else FAILED if failed else EXPIRED if expired else REJECTED if rejected
            else DELIVERED)


class _EventFates(_EventFate):
    def extract_output(self, acc: list) -> list:
        return acc


_FATES = beam.DoFn.StateParam(userstate.CombiningValueStateSpec("fates", combine_fn=_EventFates()))


class _EventFateFn(beam.DoFn):
    """Unbounded input: an event's fate once all its objects' fates are in (their number travels with them)."""

    def process(self, keyed: tuple[bytes, tuple], fates=_FATES) -> Iterator[str]:
        fates.add(keyed[1])
        acc = fates.read()
        if acc[0] >= acc[6]:
            fates.clear()
            yield _decide(acc)


def _same(x: Any) -> Any:
    return x


def _count(fate: str) -> None:
    counter(fate).inc()


# ------------------------------------------------------------------ the transforms


def default_workers(options: Any) -> int:
    """How many worker processes send at once, as far as the pipeline options say: --max_num_workers or
    --num_workers, the DirectRunner's --direct_num_workers when it runs processes; else 1."""
    if options is None:
        return 1
    from apache_beam.options.pipeline_options import DirectOptions, WorkerOptions

    worker = options.view_as(WorkerOptions)
    given = worker.max_num_workers or worker.num_workers
    if given:
        return given
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == "multi_processing":
        return direct.direct_num_workers or os.cpu_count() or 1
    return 1


def _settings(target: Target | str | None, endpoint: str | None, workers: int | None, key_files, api_key_file,
              options: Options) -> _Settings:
    if target is None:
        target = bundled(DEFAULT_TARGET)
    elif isinstance(target, str):
        from ..targets import get_target

        found = get_target(target)
        if found is None:
            raise ValueError(f"unknown target {target!r}")
        target = found
    if endpoint:
        problem = url_problem(endpoint)
        if problem:
            raise ValueError(f"endpoint {endpoint!r} cannot be used: {problem}")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    files = dict(key_files or {})
    if api_key_file:
        first = next(iter(target.credentials), None)
        if first is None:
            raise ValueError(f"the target {target.name} has no credentials for api_key_file")
        files[first] = api_key_file
    unknown = set(files) - set(target.credentials)
    if unknown:
        raise ValueError(f"key_files names {', '.join(sorted(unknown))}, not credentials of the target "
                         f"{target.name} ({', '.join(target.credentials)})")
    return _Settings(target, options, endpoint, workers, files)


def _options(batch_size: int | None, max_objects: int | None, in_flight: int, rate: tuple[int, float] | None,
             retry_deadline: float, timeout: float, linger: float, **more: Any) -> Options:
    for name, value in (("batch_size", batch_size), ("max_objects", max_objects), ("in_flight", in_flight)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1")
    for name, value in (("retry_deadline", retry_deadline), ("timeout", timeout)):
        if not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds")
    return Options(batch_size=batch_size, max_objects=max_objects, in_flight=in_flight, rate=rate,
                   retry_deadline=retry_deadline, timeout=timeout, linger=linger, **more)


class _Deliver(beam.PTransform):
    def __init__(self, *, target: Target | str | None = None, endpoint: str | None = None, workers: int | None = None,
                 in_flight: int = 8, rate: tuple[int, float] | None = None, retry_deadline: float = 300.0,
                 timeout: float = 30.0, batch_size: int | None = None, max_objects: int | None = None,
                 key_files: Mapping[str, str] | None = None, api_key_file: str | None = None,
                 group_size: int = GROUP_SIZE, linger: float = 1.0, bounded: bool | None = None, **more: Any):
        super().__init__()
        self.settings = _settings(target, endpoint, workers, key_files, api_key_file,
                                  _options(batch_size, max_objects, in_flight, rate, retry_deadline, timeout, linger,
                                           **more))
        if group_size < 1:
            raise ValueError("group_size must be at least 1")
        self.group_size = group_size
        self.bounded = bounded  # None: as the input is

    def stages(self, events, handle: _BatchFn, outputs: tuple[str, ...]):
        """Prepare, the first of each `once:` key, group, handle (send or write); the account. Returns the
        handler's outputs and every dead letter."""
        bounded = events.is_bounded if self.bounded is None else self.bounded
        if self.settings.workers is None:
            self.settings.workers = default_workers(getattr(events.pipeline, "_options", None))
        prepare = _PrepareFn(self.settings, bounded, self.group_size, letters=DEAD_LETTERS in outputs)
        prepared = events | "Prepare" >> beam.ParDo(prepare) \
            .with_outputs(DEAD_LETTERS, _PrepareFn.ONCE, _PrepareFn.ONCE_OWNERS, main="objects")
        if bounded:
            first = prepared[_PrepareFn.ONCE] | "First of each once key" >> beam.CombinePerKey(_Earliest())
            once_first = first | "Once first" >> beam.FlatMap(_send_first)
            not_sent = prepared[_PrepareFn.ONCE_OWNERS] | "Once not first" >> beam.FlatMap(
                _not_first, beam.pvalue.AsDict(first | "Its order" >> beam.MapTuple(lambda key, req: (key, req[0]))))
            groups = prepared.objects | "Group" >> beam.GroupByKey()
        else:
            once = (prepared[_PrepareFn.ONCE]
                    | "First of each" >> beam.ParDo(_FirstSeenFn()).with_outputs(NOT_SENT, main="first"))
            once_first, not_sent = once.first, once[NOT_SENT]
            groups = (prepared.objects
                      | "Keyed" >> beam.Map(_same).with_output_types(typehints.Tuple[bytes, typehints.Any])
                      | "Group" >> beam.GroupIntoBatches.WithShardedKey(
                          self.group_size, max_buffering_duration_secs=self.settings.options.linger))
        once_done = once_first | "Send once" >> beam.ParDo(handle).with_outputs(*outputs, main="fates")
        # what comes after a once request may need it (a cohort before its users): sent when they are done
        done = groups | "After once" >> WaitOn(once_done.fates) if bounded else groups
        handled = done | "Requests" >> beam.ParDo(handle).with_outputs(*outputs, main="fates")
        fates = (once_done.fates, handled.fates, not_sent) | "Fates" >> beam.Flatten()
        if bounded:
            decided = fates | "Per event" >> beam.CombinePerKey(_EventFate()) | "Fate" >> beam.Values()
        else:
            decided = fates | "Per event" >> beam.ParDo(_EventFateFn())
        _ = decided | "Count" >> beam.Map(_count)
        dead = [prepared[DEAD_LETTERS]]
        if DEAD_LETTERS in outputs:
            dead += [once_done[DEAD_LETTERS], handled[DEAD_LETTERS]]
        dead_letters = dead | "Dead letters" >> beam.Flatten()
        return once_done, handled, dead_letters


class DeliverToBraze(_Deliver):
    """Translated events in (`Translate`'s output, or bare request dicts), delivered to Braze as `mapspec run`
    delivers them: batched within the target's limits, rate-limited, retried with backoff, each object refused
    by Braze or out of retries reported. The output is the dead letters: records of what could not be sent, or
    was refused, or ran out of retries (`{"input", "line", "reason", "object", "event"}`, as `mapspec run`
    writes them; "event" is left out for a request made elsewhere than `Translate`).

    Objects are grouped per request key (METHOD, URL, the body's other fields; the array too where a request
    takes one kind): for bounded input with a GroupByKey, in chunks of `group_size` objects per key and worker;
    for unbounded input with `GroupIntoBatches.WithShardedKey` (a partial group waits at most `linger` seconds).
    Each group is cut into requests by mapspec's Batcher and sent by mapspec's Sender, `in_flight` at a time per
    worker thread. `bounded=True` or `False` chooses the first way or the second whatever the input is.

    Rates: each worker process paces every endpoint to 1 / `workers` of its limit in the target (Braze's limits
    are per workspace): give `workers` the number of processes that send at once. `rate` (requests, seconds)
    adds a limit over every endpoint together, shared the same way.

    Keys: read on the workers, never carried in the pipeline: each credential's environment variable
    (BRAZE_REST_API_KEY, BRAZE_PARTNER_API_KEY) or a file (`api_key_file` for the REST key; `key_files`
    {credential: path} for any; gs:// and the other file systems Beam reads). A key that is missing where an
    endpoint needs it, or that is rejected (401, 403), fails the pipeline with the reason.

    `once:` requests (a cohort's creation) are sent once per key in the job, before the other requests (bounded
    input); the job remembers nothing for the next (unlike `mapspec run --state`)."""

    def expand(self, events):
        _, _, dead_letters = self.stages(events, _SendFn(self.settings), (DEAD_LETTERS,))
        return dead_letters

    def as_text(self) -> beam.PTransform:
        """Dead letters (this transform's, `Translate`'s) as lines of NDJSON with the keys taken out of them, as
        `mapspec run` writes its file: `dead | deliver.as_text() | beam.io.WriteToText(...)`."""
        return beam.ParDo(KeylessText(self.settings))


class BatchRequests(_Deliver):
    """A dry run of `DeliverToBraze`: the requests it would send, each a line of JSON as `mapspec run --dry-run`
    writes it (`{"method", "url", "body"}`), batched the same way; nothing is sent and no key is read.

    `.with_dead_letters()` makes the result a pair (requests, dead letters: the events whose requests cannot be
    sent); without it, dead letters are logged as warnings."""

    def __init__(self, *, with_dead_letters: bool = False, **kw: Any):
        super().__init__(**kw)
        self.dead_letters = with_dead_letters

    def with_dead_letters(self) -> BatchRequests:
        self.dead_letters = True
        return self

    def expand(self, events):
        once, handled, dead_letters = self.stages(events, _WriteFn(self.settings), ("requests",))
        requests = (once.requests, handled.requests) | "All requests" >> beam.Flatten()
        if self.dead_letters:
            return requests, dead_letters
        _ = dead_letters | "Log dead letters" >> beam.Map(log_dead_letter)
        return requests


# ------------------------------------------------------------------ after the run


def account(result: Any, dry: bool = False) -> Account | None:
    """The account of a finished pipeline from its metrics (committed where the runner tells them apart), as
    `mapspec run` prints it; None when the runner gives no metrics."""
    from apache_beam.metrics.metric import MetricsFilter

    from .translate import NAMESPACE

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except (NotImplementedError, AttributeError, KeyError):
        return None
    out = Account(dry=dry)
    for c in found:
        name = c.key.metric.name
        if name in Account.COUNTS:
            value = c.committed if c.committed is not None else c.attempted
            setattr(out, name, getattr(out, name) + (value or 0))
    return out


__all__ = ["BatchRequests", "DeliverToBraze", "account", "read_keys", "shared_limiter"]
