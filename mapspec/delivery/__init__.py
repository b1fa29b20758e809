"""`mapspec run`: translate a stream of Segment events and deliver it to Braze, with nothing lost.

    input lines ──▶ translate ──▶ objects, each with the input line it came from
                 └─ not JSON / rejected ──▶ dead-letter file
    objects ──▶ batches (75 attributes + 75 events + 75 purchases; 50 ids per delete) ──▶ sender
    sender: bounded in flight, token-bucket rate limit, retries with backoff and jitter up to a deadline;
            objects Braze refuses ──▶ dead-letter file
    checkpoint: the input position up to which every line is delivered or dead-lettered (the dead-letter
            file is fsynced before the checkpoint moves), so a crashed run resumes and loses nothing.

Every input line ends in exactly one of: delivered, skipped (nothing to send), or dead-lettered (not
JSON, rejected by the mapping, or refused by Braze); the account at the end adds up to the lines read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

log = logging.getLogger("mapspec.run")

try:  # parses and writes JSON about twice as fast, when installed (mapspec[fast])
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


def _loads(data: bytes) -> Any:
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except ValueError:
            pass  # the standard library again, for its error messages
    return json.loads(data)


def _dumps(obj: Any) -> bytes:
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
    objects_per_array: int = 75
    max_objects: int | None = None  # "50 combined" contracts: at most this many objects per request
    ids_per_delete: int = 50
    in_flight: int = 8
    rate: tuple[int, float] = (3000, 3.0)  # requests per seconds
    retry_deadline: float = 300.0  # seconds a batch may keep being retried
    backoff_base: float = 0.25
    backoff_max: float = 20.0
    timeout: float = 30.0
    max_line_bytes: int = 1 << 20
    linger: float = 1.0  # a partly filled batch waits at most this long
    seed: int | None = None


# ------------------------------------------------------------------ reading input in constant memory


@dataclass
class Line:
    source: str
    number: int
    data: bytes | None  # None: longer than the limit (the line is skipped, not held in memory)
    end: int  # byte offset after the line in its file (-1 for stdin)
    length: int = 0


def read_lines(paths: list[str], limit: int, skip: dict[str, Any]) -> Iterator[Line]:
    """The lines of every input; a line longer than `limit` bytes is reported, never held whole."""
    for path in paths:
        done = skip.get(path, {})
        if path == "-":
            stream: IO[bytes] = sys.stdin.buffer
            number, offset = 0, -1
            for _ in range(done.get("line", 0)):  # stdin cannot seek: skip what is done
                if not _read_line(stream, limit)[1]:
                    break
                number += 1
            yield from _lines_of(stream, path, limit, number, offset)
        else:
            with open(path, "rb") as stream:
                if done:
                    stream.seek(done["offset"])
                yield from _lines_of(stream, path, limit, done.get("line", 0), done.get("offset", 0))


def _read_line(stream: IO[bytes], limit: int) -> tuple[bytes, int, bool]:
    """(the line or its first `limit` bytes, its full length, whether it was cut)."""
    data = stream.readline(limit + 1)
    if len(data) <= limit or data.endswith(b"\n"):
        return data, len(data), False
    length = len(data)
    while True:  # discard the rest of an oversized line, a chunk at a time
        chunk = stream.readline(1 << 16)
        length += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return data[:limit], length, True


def _lines_of(stream: IO[bytes], path: str, limit: int, number: int, offset: int) -> Iterator[Line]:
    while True:
        data, length, cut = _read_line(stream, limit)
        if not length:
            return
        number += 1
        if offset >= 0:
            offset += length
        yield Line(path, number, None if cut else data, offset, length)


# ------------------------------------------------------------------ bookkeeping


@dataclass
class Account:
    read: int = 0
    translated: int = 0
    skipped: int = 0
    delivered: int = 0
    rejected: int = 0
    invalid: int = 0
    refused: int = 0  # lines with an object Braze refused or that ran out of retries
    unchanged: int = 0  # objects left out by --skip-unchanged
    requests: int = 0
    retried: int = 0

    @property
    def dead_lettered(self) -> int:
        return self.invalid + self.rejected + self.refused

    def adds_up(self) -> bool:
        return self.read == self.delivered + self.skipped + self.dead_lettered

    def text(self) -> str:
        return (f"read {self.read}, translated {self.translated}, delivered {self.delivered}, skipped {self.skipped}, "
                f"rejected {self.rejected}, dead-lettered {self.dead_lettered} "
                f"({self.invalid} not events, {self.rejected} rejected, {self.refused} refused by Braze); "
                f"{self.requests} requests, {self.retried} retried"
                + (f", {self.unchanged} unchanged objects left out" if self.unchanged else ""))


@dataclass
class Pending:
    """An input line whose objects are on their way."""

    line: Line
    event: Any
    objects: int = 0
    failed: list[dict] = field(default_factory=list)
    read_done: bool = False


class DeadLetters:
    """The dead-letter file (NDJSON); without one, the records go to stderr, so that nothing is lost."""

    def __init__(self, path: str | None):
        self.path = path
        self.fh = open(path, "a", encoding="utf-8") if path else sys.stderr
        self.dirty = False

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.dirty = True

    def sync(self) -> None:
        if self.dirty:
            self.fh.flush()
            if self.path:
                os.fsync(self.fh.fileno())
            self.dirty = False

    def close(self) -> None:
        self.sync()
        if self.path:
            self.fh.close()


class Checkpoint:
    """The input position up to which every line is delivered or dead-lettered, written atomically."""

    def __init__(self, path: str | None, inputs: list[str]):
        self.path = path
        self.inputs = inputs
        self.done: dict[str, Any] = {}
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                state = json.load(fh)
            if state.get("inputs") != inputs:
                raise Fatal(f"checkpoint {path} is for other inputs ({', '.join(state.get('inputs', []))}); "
                            "remove it to start again")
            self.done = state.get("done", {})

    def save(self, account: Account) -> None:
        if not self.path:
            return
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"inputs": self.inputs, "done": self.done, "account": account.__dict__}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class Tracker:
    """Lines in input order; the checkpoint moves past a line once it and all before it are resolved."""

    def __init__(self, account: Account, dead: DeadLetters, checkpoint: Checkpoint):
        self.account, self.dead, self.checkpoint = account, dead, checkpoint
        self.lines: dict[tuple[str, int], Pending] = {}
        self.order: list[tuple[str, int]] = []
        self.head = 0
        self.last_save = 0.0

    def open(self, line: Line, event: Any) -> Pending:
        p = Pending(line, event)
        key = (line.source, line.number)
        self.lines[key] = p
        self.order.append(key)
        return p

    def dead_letter(self, p: Pending, reason: str, **extra: Any) -> None:
        record = {"input": p.line.source, "line": p.line.number, "reason": reason, **extra}
        if p.event is not None:
            record["event"] = p.event
        self.dead.write(record)

    def object_done(self, p: Pending, failure: dict | None = None) -> None:
        p.objects -= 1
        if failure is not None:
            p.failed.append(failure)
        self.settle(p)

    def settle(self, p: Pending) -> None:
        if not p.read_done or p.objects > 0:
            return
        key = (p.line.source, p.line.number)
        if self.lines.get(key) is not p:
            return
        if p.failed:
            for failure in p.failed:
                self.dead_letter(p, failure["reason"], object=failure.get("object"))
            self.account.refused += 1
        else:
            self.account.delivered += 1
        p.event = None  # resolved: nothing of it stays in memory but its place in line
        p.objects = -1
        self.advance()

    def advance(self, force: bool = False) -> None:
        moved = None
        while self.head < len(self.order):
            p = self.lines[self.order[self.head]]
            if p.objects != -1:
                break
            moved = p.line
            del self.lines[self.order[self.head]]
            self.head += 1
        if self.head > 4096:
            del self.order[: self.head]
            self.head = 0
        if moved is not None:
            self.checkpoint.done[moved.source] = {"line": moved.number, "offset": moved.end}
        now = time.monotonic()
        if (moved is not None or force) and (force or now - self.last_save > 0.2):
            self.dead.sync()  # what the checkpoint passes over must be on disk first
            self.checkpoint.save(self.account)
            self.last_save = now

    @property
    def pending(self) -> int:
        return len(self.lines)


# ------------------------------------------------------------------ batching


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


# ------------------------------------------------------------------ sending


class RateLimiter:
    """A token bucket for our own pace, paused by Braze's X-RateLimit headers when they say so."""

    def __init__(self, limit: int, period: float):
        self.limit, self.period = limit, period
        self.tokens = float(limit)
        self.stamp = time.monotonic()
        self.paused_until = 0.0

    async def acquire(self) -> None:
        while True:
            now = time.monotonic()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                continue
            self.tokens = min(self.limit, self.tokens + (now - self.stamp) * self.limit / self.period)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) * self.period / self.limit)

    def observe(self, headers) -> float:
        """Read X-RateLimit-Remaining/Reset; returns seconds until the reset when nothing remains."""
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        try:
            if remaining is not None and reset is not None and float(remaining) <= 0:
                wait = max(0.0, float(reset) - time.time())
                self.paused_until = max(self.paused_until, time.monotonic() + wait)
                return wait
        except ValueError:
            pass
        return 0.0


class Sender:
    def __init__(self, client, key: str, options: Options, tracker: Tracker, account: Account,
                 on_delivered: Callable[[Batch, list[tuple[str, int, Item]]], None] | None = None):
        self.client, self.key, self.options = client, key, options
        self.tracker, self.account = tracker, account
        self.limiter = RateLimiter(*options.rate)
        self.slots = asyncio.Semaphore(options.in_flight)
        self.tasks: set[asyncio.Task] = set()
        self.fatal: Fatal | None = None
        self.random = random.Random(options.seed)
        self.on_delivered = on_delivered
        self.in_flight = 0

    async def submit(self, batch: Batch) -> None:
        """Start sending a batch; waits while the maximum number of batches is in flight."""
        if self.fatal:
            raise self.fatal
        await self.slots.acquire()
        task = asyncio.create_task(self._run(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, batch: Batch) -> None:
        self.in_flight += 1
        try:
            await self.deliver(batch, time.monotonic() + self.options.retry_deadline)
        except Fatal as e:
            self.fatal = self.fatal or e
        finally:
            self.in_flight -= 1
            self.slots.release()

    async def wait(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.fatal:
            raise self.fatal

    def _resolve(self, items: list[tuple[str, int, Item]], reason: str | None) -> None:
        for _, _, item in items:
            self.tracker.object_done(item.owner, None if reason is None else {"reason": reason, "object": item.obj})

    async def deliver(self, batch: Batch, deadline: float) -> None:
        import httpx

        attempt = 0
        items = batch.items()
        if not items:
            return
        body = _dumps(batch.body())
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if batch.count() > 1:
            headers["X-Braze-Batch"] = "true"
        path = urlsplit(batch.url).path
        while True:
            if self.fatal:
                return
            await self.limiter.acquire()
            wait = None
            try:
                self.account.requests += 1
                response = await self.client.request(batch.method, batch.url, content=body, headers=headers,
                                                     timeout=self.options.timeout)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                log.debug("POST %s: %s (attempt %d)", path, reason, attempt + 1)
            else:
                status = response.status_code
                log.debug("POST %s: %d (%d objects, attempt %d)", path, status, len(items), attempt + 1)
                self.limiter.observe(response.headers)
                if status in (401, 403, 404):
                    raise Fatal(_fatal_message(status, batch.url, response))
                if status == 413:
                    if len(items) == 1:
                        self._resolve(items, "413 Request Entity Too Large: this one object is too large for Braze")
                        return
                    for half in _halves(batch):
                        await self.deliver(half, deadline)
                    return
                if status == 429:
                    reason = "429 Rate Limited"
                    wait = self.limiter.observe(response.headers) or None
                elif status >= 500:
                    reason = f"{status} {response.reason_phrase}"
                elif 200 <= status < 300 or status == 400:
                    self._settle(batch, items, response)
                    return
                else:
                    self._resolve(items, f"{status} {response.reason_phrase}: {_message(response)}")
                    return
            attempt += 1
            if wait is None:
                wait = self.random.uniform(0, min(self.options.backoff_max, self.options.backoff_base * 2 ** attempt))
            else:
                wait += self.random.uniform(0, self.options.backoff_base)
            if time.monotonic() + wait > deadline:
                self._resolve(items, f"retries ran out after {attempt} attempts; last: {reason}")
                return
            self.account.retried += 1
            await asyncio.sleep(wait)

    def _settle(self, batch: Batch, items: list[tuple[str, int, Item]], response) -> None:
        """2xx or 400: objects named in errors[] are refused, the others delivered (400 with none: all refused)."""
        try:
            reply = response.json()
        except ValueError:
            reply = {}
        errors = reply.get("errors") if isinstance(reply, dict) else None
        refused: dict[tuple[str, int], str] = {}
        for error in errors or []:
            if isinstance(error, dict) and isinstance(error.get("index"), int):
                refused[(str(error.get("input_array")), error["index"])] = str(error.get("type"))
        if response.status_code == 400 and not refused:
            self._resolve(items, f"400 Bad Request: {_message(response)}")
            return
        delivered = []
        for name, index, item in items:
            reason = refused.get((name, index))
            if reason is None:
                delivered.append((name, index, item))
                self.tracker.object_done(item.owner)
            else:
                self.tracker.object_done(item.owner, {"reason": f"{response.status_code}: {reason}",
                                                      "object": item.obj})
        if self.on_delivered and delivered:
            self.on_delivered(batch, delivered)


def _halves(batch: Batch) -> list[Batch]:
    items = batch.items()
    middle = len(items) // 2
    out = []
    for part in (items[:middle], items[middle:]):
        b = Batch(batch.url, batch.method, batch.envelope, batch.kind)
        for name, _, item in part:
            b.arrays.setdefault(name, []).append(item)
        out.append(b)
    return out


def _message(response) -> str:
    try:
        data = response.json()
        return str(data.get("message") or data) if isinstance(data, dict) else str(data)
    except ValueError:
        return response.text[:200]


def _fatal_message(status: int, url: str, response) -> str:
    if status == 401:
        return (f"Braze answered 401 ({_message(response)}) for {url}: the REST API key is wrong, or belongs "
                "to another Braze instance (check --endpoint / the mapping's rest_endpoint)")
    if status == 403:
        return f"Braze answered 403 ({_message(response)}): the REST API key lacks the permission for {url}"
    return f"Braze answered 404 for {url}: the endpoint is wrong (check --endpoint / rest_endpoint)"


# ------------------------------------------------------------------ skipping unchanged attributes


class AttributeStore:
    """The last attribute values sent per user, in SQLite, so unchanged ones can be left out."""

    ID_KEYS = ("external_id", "braze_id")
    KEEP = ("external_id", "braze_id", "user_alias", "_update_existing_only", "app_id")

    def __init__(self, path: str):
        import sqlite3

        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (user TEXT, name TEXT, value TEXT, PRIMARY KEY (user, name))")

    @classmethod
    def user(cls, obj: dict) -> str | None:
        for k in cls.ID_KEYS:
            if isinstance(obj.get(k), str):
                return f"{k}:{obj[k]}"
        return None

    def trim(self, obj: dict) -> dict | None:
        """The object without attributes sent before with the same value; None when nothing new is left."""
        user = self.user(obj)
        if user is None:
            return obj
        known = dict(self.db.execute("SELECT name, value FROM sent WHERE user = ?", (user,)).fetchall())
        out = {k: v for k, v in obj.items()
               if k in self.KEEP or known.get(k) != json.dumps(v, sort_keys=True, ensure_ascii=False)}
        return out if set(out) - set(self.KEEP) else None

    def remember(self, objects: list[dict]) -> None:
        rows = []
        for obj in objects:
            user = self.user(obj)
            if user is not None:
                rows.extend((user, k, json.dumps(v, sort_keys=True, ensure_ascii=False))
                            for k, v in obj.items() if k not in self.KEEP)
        self.db.executemany("INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", rows)
        self.db.commit()

    def close(self) -> None:
        self.db.close()


# ------------------------------------------------------------------ the job


@dataclass
class Job:
    translate: Callable[[dict], list]
    inputs: list[str]
    key: str | None
    options: Options = field(default_factory=Options)
    dead_letter: str | None = None
    checkpoint: str | None = None
    state: str | None = None  # --skip-unchanged store
    endpoint: str | None = None  # replaces the scheme and host of every request's URL
    out: IO[bytes] | None = None  # dry run: where batched requests go
    progress: IO[str] | None = None
    transport: Any = None  # an httpx transport, for tests


def _rebase(url: str, endpoint: str | None) -> str:
    if not endpoint:
        return url
    return endpoint.rstrip("/") + urlsplit(url).path


async def _run(job: Job) -> Account:
    from .. import Rejected

    account = Account()
    dead = DeadLetters(job.dead_letter)
    checkpoint = Checkpoint(job.checkpoint, job.inputs)
    tracker = Tracker(account, dead, checkpoint)
    if checkpoint.done:
        saved = {}
        if job.checkpoint and os.path.exists(job.checkpoint):
            saved = json.load(open(job.checkpoint, encoding="utf-8")).get("account", {})
        for k, v in saved.items():
            if hasattr(account, k) and isinstance(v, int):
                setattr(account, k, v)
    options = job.options
    batcher = Batcher(options)
    store = AttributeStore(job.state) if job.state else None
    client = None
    sender: Sender | None = None
    dry = job.out is not None
    if not dry:
        import httpx

        client = httpx.AsyncClient(transport=job.transport, http2=False,
                                   limits=httpx.Limits(max_connections=options.in_flight * 2))

        def delivered(batch: Batch, items) -> None:
            if store is not None and batch.kind == "track":
                store.remember([item.obj for name, _, item in items if name == "attributes"])

        sender = Sender(client, job.key or "", options, tracker, account, delivered)

    async def emit(batch: Batch) -> None:
        if sender is not None:
            await sender.submit(batch)
            return
        request = {"method": batch.method, "url": batch.url, "body": batch.body()}
        job.out.write(_dumps(request) + b"\n")
        account.requests += 1
        for _, _, item in batch.items():
            tracker.object_done(item.owner)

    queue: asyncio.Queue = asyncio.Queue(maxsize=64)
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    skip = {src: checkpoint.done.get(src, {}) for src in job.inputs}

    def reader() -> None:
        chunk: list[Line] = []
        try:
            for line in read_lines(job.inputs, options.max_line_bytes, skip):
                if stop.is_set():
                    return
                chunk.append(line)
                if len(chunk) >= 256:
                    asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()
                    chunk = []
            if chunk:
                asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()
        except OSError as e:
            asyncio.run_coroutine_threadsafe(queue.put(e), loop).result()
            return
        asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.monotonic()
    last_progress = 0.0
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(queue.get(), timeout=options.linger)
            except TimeoutError:
                for batch in batcher.due(time.monotonic(), options.linger):
                    await emit(batch)
                continue
            if chunk is None:
                break
            if isinstance(chunk, OSError):
                raise Fatal(f"cannot read {chunk.filename}: {chunk.strerror}")
            for line in chunk:
                await _one(job, line, tracker, batcher, account, store, emit, Rejected)
            for batch in batcher.due(time.monotonic(), options.linger):
                await emit(batch)
            if job.progress is not None and time.monotonic() - last_progress > 0.5:
                last_progress = time.monotonic()
                _progress(job.progress, account, started, sender)
        for batch in batcher.drain():
            await emit(batch)
        if sender is not None:
            await sender.wait()
    finally:
        stop.set()
        if job.progress is not None:
            _progress(job.progress, account, started, sender, final=True)
        if client is not None:
            await client.aclose()
        tracker.advance(force=True)
        dead.close()
        if store is not None:
            store.close()
    return account


async def _one(job: Job, line: Line, tracker: Tracker, batcher: Batcher, account: Account, store, emit, Rejected):
    account.read += 1
    if line.data is None:
        p = tracker.open(line, None)
        account.invalid += 1
        tracker.dead_letter(p, f"line longer than {job.options.max_line_bytes} bytes ({line.length} bytes)")
        p.read_done, p.objects = True, -1
        tracker.advance()
        return
    problem, event = None, None
    try:
        event = _loads(line.data)
    except UnicodeDecodeError as e:
        problem = f"invalid UTF-8: {e.reason}"
    except ValueError as e:
        problem = "empty line" if not line.data.strip() else f"invalid JSON: {e}"
    if problem is None and not isinstance(event, dict):
        problem = "an event must be a JSON object"
    if problem is not None:
        p = tracker.open(line, None)
        account.invalid += 1
        tracker.dead_letter(p, problem, text=line.data.decode("utf-8", "replace")[:2000])
        p.read_done, p.objects = True, -1
        tracker.advance()
        return
    p = tracker.open(line, event)
    try:
        requests = job.translate(event)
    except Rejected as e:
        account.rejected += 1
        tracker.dead_letter(p, f"rejected: {e}")
        p.read_done, p.objects, p.event = True, -1, None
        tracker.advance()
        return
    account.translated += 1
    full: list[Batch] = []
    for request in requests:
        request = dict(request, url=_rebase(request["url"], job.endpoint))
        if store is not None and isinstance(request.get("body"), dict) and request["body"].get("attributes"):
            body = dict(request["body"])
            kept = []
            for obj in body["attributes"]:
                trimmed = store.trim(obj) if isinstance(obj, dict) else obj
                if trimmed is None:
                    account.unchanged += 1
                else:
                    kept.append(trimmed)
            body["attributes"] = kept
            request["body"] = body
        full.extend(batcher.add(request, p))
    p.read_done = True
    if p.objects == 0:  # nothing to send: skipped, resolved now
        account.skipped += 1
        p.objects, p.event = -1, None
        tracker.advance()
    for batch in full:
        await emit(batch)


def _progress(stream: IO[str], account: Account, started: float, sender: Sender | None, final: bool = False) -> None:
    rate = account.read / max(time.monotonic() - started, 1e-9)
    in_flight = sender.in_flight if sender is not None else 0
    text = (f"{account.read:,} events, {rate:,.0f}/s, {in_flight} in flight, {account.retried} retried, "
            f"{account.dead_lettered} dead-lettered")
    stream.write("\r" + text + ("\n" if final else ""))
    stream.flush()


def run(job: Job) -> Account:
    """Run a delivery job to the end; raises Fatal for a problem that stops it."""
    return asyncio.run(_run(job))
