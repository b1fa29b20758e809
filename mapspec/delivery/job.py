"""A delivery job from input lines to delivered, skipped or dead-lettered."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

from .batching import Batch, Batcher
from .common import Fatal, Options, json_dumps, json_loads
from .ledger import Account, Checkpoint, DeadLetters, Tracker
from .reader import Line, read_lines
from .sender import Sender
from .store import AttributeStore


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
        job.out.write(json_dumps(request) + b"\n")
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
        event = json_loads(line.data)
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
