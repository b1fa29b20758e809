"""A delivery job: input lines in, each one delivered, skipped or dead-lettered, in constant memory.

    Reader (a thread) ─▶ blocks of lines ─▶ Run.take(line): the line's event, its requests, its objects
    objects ─▶ Batcher (per request key) ─▶ Sender (in flight, rate, retries) ─▶ Ledger.object_done
    Ledger.decide: the one place a line's fate is decided; lines leave the ledger in input order, and only
    then count in the account, reach the dead-letter file and move the checkpoint.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

from .. import jsonio
from ..syntax.document import DEFAULT_TARGET
from ..targets import Target, bundled
from .batching import Batch, Batcher, Item, Unsendable
from .common import Fatal, Options, RedactingFilter, Secret, key_problem, log, url_problem
from .http import Client
from .ledger import FAILED, INVALID, REJECTED, SKIPPED, Account, Checkpoint, DeadLetters, Ledger
from .reader import InputChanged, Line, Reader, Source, lines
from .sender import Sender
from .store import AttributeStore
from .workers import Workers, WorkerStopped

SLICE = 256  # lines handled between two looks at the rest of the loop (answers, timers)
CHUNK = 1024  # lines a worker process translates at a time (--workers)
GC_THRESHOLD = 20_000  # allocations between two collections of the youngest generation, during a run

# what `Run.translated` finds for a line (besides the ledger's fates INVALID, REJECTED and FAILED); compared
# with ==, as they come back from worker processes as copies
TOO_LONG, BLANK, SEND, UNSENDABLE = "too long", "blank", "send", "unsendable"


@dataclass
class Job:
    translate: Callable[[dict], list]
    inputs: list[str]
    key: str | None  # the key of the target's first credential (Braze: the REST API key)
    options: Options = field(default_factory=Options)
    dead_letter: str | None = None
    checkpoint: str | None = None
    state: str | None = None  # the state store: --skip-unchanged values, requests sent once per key
    skip_unchanged: bool = False
    endpoint: str | None = None  # replaces the scheme and host of every request's URL
    out: IO[bytes] | None = None  # dry run: where batched requests go (nothing is sent, no checkpoint written)
    progress: IO[str] | None = None
    transport: Any = None  # an httpx transport, for tests (requests then go through httpx)
    stdin_name: str | None = None  # what stdin is called in the checkpoint and dead letters
    target: Target | None = None  # what the requests go to (default: the translator's target)
    keys: dict[str, str] = field(default_factory=dict)  # the keys of the target's other credentials, by name


@dataclass
class Outcome:
    """What a run tells besides its account."""

    run: Account  # this run
    whole: Account  # the job since it began (the same as `run` when it did not resume)
    resumed: list[tuple[str, int]]  # (input, lines decided before this run) for the inputs it resumed
    twice: int | None  # objects sent again that the previous run may have sent (None: not a resume, or unknown)
    pending: int = 0  # lines neither delivered nor dead-lettered when a Fatal stopped the run

    @property
    def already_complete(self) -> bool:
        """A resumed job with nothing left to read."""
        return bool(self.resumed) and self.run.read == 0 and self.pending == 0


def sources(job: Job) -> list[Source]:
    out = []
    if job.inputs.count("-") > 1:
        raise Fatal("stdin (-) can be read only once")
    for i, path in enumerate(job.inputs):
        if path == "-":
            if job.checkpoint and not job.stdin_name:
                raise Fatal("reading stdin with --checkpoint needs --stdin-name NAME, a name for this stream (the "
                            "day's export, say): a resume must not go on from another stream's position")
            name = f"stdin:{job.stdin_name}" if job.stdin_name else "-"
        else:
            name = path
        out.append(Source(i, path, name))
    return out


class Run:
    #: lines that may wait, decided, behind one that is not (its batch retried for minutes, say): beyond that
    #: the run reads on only as that line is decided, so that memory stays bounded
    MAX_WAITING = 10_000

    def __init__(self, job: Job):
        self.job, self.options = job, job.options
        self.dry = job.out is not None
        # what the requests go to: the job's, else the translator's, else the default target of mappings
        self.target = job.target or getattr(job.translate, "target", None) or bundled(DEFAULT_TARGET)
        self.keys = self.credentials() if not self.dry else {}
        if job.endpoint:
            problem = url_problem(job.endpoint)
            if problem:
                raise Fatal(f"--endpoint {job.endpoint!r} cannot be used: {problem}")
        self.secret = Secret(job.key, *self.keys.values())
        self.sources = sources(job)
        self.account = Account(dry=self.dry)
        self.checkpoint = Checkpoint(job.checkpoint, self.sources, self.options.max_line_bytes, write=not self.dry)
        saved = self.checkpoint.saved
        keep = None  # on a resume, the dead-letter file as it was at the checkpoint (what follows is decided again)
        if saved is not None and not self.dry and job.dead_letter and saved.dead_letter_size is not None \
                and saved.dead_letter_path == os.path.abspath(job.dead_letter):
            keep = saved.dead_letter_size
        self.dead = DeadLetters(job.dead_letter, self.secret, keep)
        # lines that may wait behind one whose batch is still filling (a rare kind: deletes) before that batch
        # goes anyway: about what is in flight, so that a resume sends little twice, and few batches go part-full
        self.window = max(256, 4 * self.options.in_flight * (self.options.batch_size or 75))
        self.ledger = Ledger(self.sources, self.account, self.dead, self.checkpoint, self.options.max_line_bytes,
                             save_lines=self.window, dead_letter_path=job.dead_letter)
        self.batcher = Batcher(self.options, self.target)
        self.store = AttributeStore(job.state) if job.state and job.skip_unchanged else None
        if self.store is None and job.state and not self.dry and (
                os.path.lexists(job.state) or not os.path.isdir(os.path.dirname(os.path.abspath(job.state)))):
            # a state file that is there (or cannot be) is checked before anything is read, not when a request
            # sent once per key first needs it; one that is not there yet is made only then
            self.store = AttributeStore(job.state)
        self.once_sent: set[str] = set()  # keys of requests sent at most once, seen in this run
        self.urls: dict[str, str] = {}
        self.client = None
        self.sender: Sender | None = None
        self.pool: Workers | None = None
        self.started = self.last_progress = 0.0
        from .. import Rejected

        self.Rejected = Rejected

    def credentials(self) -> dict[str, str]:
        """The key of every credential the mapping's endpoints use; Fatal when one it needs is missing or cannot
        be sent. The first credential's key is the job's `key` (`--api-key-file` or its environment variable)."""
        job, target = self.job, self.target
        if target is None or not target.credentials:
            problem = "there is none" if not job.key else key_problem(job.key)
            if problem:
                raise Fatal(f"the API key cannot be used: {problem}")
            return {}
        first = next(iter(target.credentials))
        names = needed_credentials(target, getattr(job.translate, "endpoints", None))
        keys: dict[str, str] = {}
        for name, credential in target.credentials.items():
            if name not in names:  # a key the mapping never sends is neither read nor checked
                continue
            value = job.key if name == first else job.keys.get(name) or (
                os.environ.get(credential.env) if credential.env else None)
            what = credential.description.split(",")[0] if credential.description else f"the {name} key"
            if not value:
                if credential.optional:
                    continue
                where = f"{credential.env}" + (" or --api-key-file" if name == first else "")
                raise Fatal(f"{what}: there is none; give it in {where} (or use --dry-run)")
            problem = key_problem(value)
            if problem:
                raise Fatal(f"{what} cannot be used: {problem}")
            keys[name] = value
        return keys

    # ------------------------------------------------------------------ one line

    def take(self, line: Line) -> list[Batch] | None:
        """What a line gives: a fate now (not an event, rejected, failed, nothing to send), or objects on their
        way; returns the batches its objects filled."""
        return self.apply(line, self.translated(_data(line)))

    def translated(self, data: bytes | None) -> tuple:
        """What one line's bytes give, found without the ledger (a worker process finds it for `--workers`):

            (TOO_LONG,) | (BLANK,) | (INVALID, reason, text) | (FAILED, reason, event)
            | (REJECTED, message, event, prepared or None) | (UNSENDABLE, reason, event)
            | (SEND, event, prepared)

        `prepared`: the line's requests cut into encoded objects (Batcher.prepare). Raises Fatal."""
        if data is None:
            return (TOO_LONG,)
        try:
            event = jsonio.loads(data)
        except jsonio.BadJSON as e:
            if not data.strip():
                return (BLANK,)
            return (INVALID, str(e), data.decode("utf-8", "replace").rstrip("\r\n")[:2000])
        if type(event) is not dict:
            return (INVALID, f"an event must be a JSON object, not {jsonio.kind(event)}",
                    data.decode("utf-8", "replace").rstrip("\r\n")[:2000])
        try:
            requests = self.job.translate(event)
        except self.Rejected as e:
            if not e.requests:
                return (REJECTED, str(e), event, None)
            rejected, requests = str(e), e.requests  # a rule rejected it, others send: the requests go
        except Exception as e:  # noqa: BLE001 - the last line of defence: a broken event must not stop the stream
            log.debug("the translator failed on an event", exc_info=True)
            return (FAILED, f"the translator failed on this event: {type(e).__name__}: {e}", event)
        else:
            rejected = None
        try:
            if not isinstance(requests, list):  # a skip is a list too (`Skipped`, which says why)
                raise Unsendable(f"the translator returned {jsonio.kind(requests)}, not a list of requests")
            prepared = [self.batcher.prepare(r, self.url(r)) for r in requests]
        except Unsendable as e:
            return (UNSENDABLE, str(e), event)
        return (REJECTED, rejected, event, prepared) if rejected is not None else (SEND, event, prepared)

    def apply(self, line: Line, found: tuple) -> list[Batch] | None:
        """A line's fate, or its objects on their way, from what `translated` found for it: the ledger's part,
        in input order."""
        ledger = self.ledger
        ledger.enter(line)
        kind = found[0]
        if kind == SEND:
            line.event, prepared = found[1], found[2]
        elif kind == REJECTED and found[3] is not None:
            line.event, prepared = found[2], found[3]
            ledger.dead_letter(line, f"rejected: {found[1]}")
            line.fate = REJECTED  # the requests go, the line is dead-lettered
        else:
            if kind == TOO_LONG:
                ledger.dead_letter(line, f"line longer than {self.options.max_line_bytes} bytes ({line.size} bytes)")
                ledger.decide(line, INVALID)
            elif kind == BLANK:
                line.note = "blank"
                ledger.decide(line, SKIPPED)
            elif kind == INVALID:
                ledger.dead_letter(line, found[1], text=found[2])
                ledger.decide(line, INVALID)
            elif kind == REJECTED:
                line.event = found[2]
                ledger.dead_letter(line, f"rejected: {found[1]}")
                ledger.decide(line, REJECTED)
            elif kind == FAILED:
                line.event = found[2]
                log.debug("the translator failed on line %d: %s", line.number, found[1])
                ledger.dead_letter(line, found[1])
                ledger.decide(line, FAILED)
            else:  # UNSENDABLE
                line.event, line.note = found[2], "translated"
                ledger.dead_letter(line, f"cannot be sent: {found[1]}")
                ledger.decide(line, FAILED)
            return None
        line.note = "translated"
        if self.job.skip_unchanged and self.store is not None:
            prepared = [self.store.trim_prepared(p, self.account) for p in prepared]
        full: list[Batch] = []
        batcher = self.batcher
        for p in prepared:
            if p.once is not None:
                key = f"{p.method} {p.url}\n{p.once}"
                if key in self.once_sent or self.state().was_sent(key):
                    continue  # sent already (by this run or an earlier one): not again
                self.once_sent.add(key)
                p.once = key
            full += batcher.add(p, line)
        if batcher.superseded:  # a later state of the same member took their place: delivered as that
            done = ledger.object_done
            for item in batcher.superseded:
                item.done = True
                done(item.owner)
            batcher.superseded.clear()
        if line.objects == 0:  # nothing to send
            ledger.decide(line, line.fate if line.fate == REJECTED else None)
        return full

    def state(self) -> AttributeStore:
        """The state store (opened when first needed: --skip-unchanged, or a request sent once per key)."""
        if self.store is None:
            self.store = AttributeStore(self.job.state) if self.job.state and not self.dry \
                else AttributeStore(":memory:")
        return self.store

    def url(self, request: Any) -> str | None:
        """The URL a request goes to (--endpoint in place of its scheme and host); Fatal for one that cannot be."""
        url = request.get("url") if isinstance(request, dict) else None
        if not isinstance(url, str):
            return None
        out = self.urls.get(url)
        if out is None:
            endpoint = self.job.endpoint
            out = endpoint.rstrip("/") + urlsplit(url).path if endpoint else url
            problem = url_problem(out)
            if problem:
                raise Fatal(f"the mapping sends to {out!r}, which cannot be used: {problem} (check its base_url "
                            "setting, such as rest_endpoint, or --endpoint)")
            self.urls[url] = out
        return out

    # ------------------------------------------------------------------ batches out

    async def emit(self, batch: Batch) -> None:
        if self.sender is not None:
            if batch.once is not None:  # what comes after it may need it (a cohort before its users): sent first
                await self.sender.send_now(batch)
            else:
                await self.sender.submit(batch)
            return
        out = self.job.out
        out.write(b'{"method":' + jsonio.dumps(batch.method) + b',"url":' + jsonio.dumps(batch.url)
                  + b',"body":' + batch.body() + b"}\n")
        self.account.requests += 1
        done = self.ledger.object_done
        for item in batch.items():
            item.done = True
            done(item.owner)

    def delivered(self, batch: Batch, items: list[Item]) -> None:
        if batch.once is not None:
            self.state().sent(batch.once)
        if self.job.skip_unchanged and self.store is not None and batch.endpoint is not None:
            identity = batch.endpoint.batch.identity
            for name, ids in identity.items():
                self.store.remember([item.value() for item in items if item.name == name], ids)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> Outcome:
        job, options, ledger, batcher = self.job, self.options, self.ledger, self.batcher
        if not self.dry:
            self.client = Client(max_connections=options.in_flight * 2, transport=job.transport)
            self.sender = Sender(self.client, self.secret, options, ledger, self.account, self.checkpoint,
                                 self.delivered, self.target, {**self.keys, **self._first_key()})
        sources, checkpoint, limit = self.sources, self.checkpoint, options.max_line_bytes

        def produce():
            for source in sources:
                yield from lines(source, limit, checkpoint.position(source.index), ledger.digests[source.index])

        # a checkpoint at once, before any request: a run killed before its first one still leaves one, and
        # with it the record of how far requests went
        ledger.save(wait=True)
        reader = Reader(produce)
        self.started = self.last_progress = time.monotonic()
        try:
            async for block, found in (self.translated_by_workers(reader) if self.pool is not None
                                       else self.translated_here(reader)):
                for start in range(0, len(block), SLICE):
                    for i in range(start, min(start + SLICE, len(block))):
                        full = self.apply(block[i], found[i]) if found is not None else self.take(block[i])
                        if full:
                            for batch in full:
                                await self.emit(batch)
                    await self.between_slices()
            for batch in batcher.drain():
                await self.emit(batch)
            if self.sender is not None:
                await self.sender.wait()
        except Fatal as e:
            if self.sender is not None:
                await self.sender.cancel()
            e.outcome = self.outcome(pending=len(ledger.lines))  # type: ignore[attr-defined]
            raise
        finally:
            reader.stop()
            if job.progress is not None:
                self.show_progress(self.started, final=True)
            if self.client is not None:
                await self.client.aclose()
            if self.pool is not None:
                await self.pool.aclose()
            try:
                ledger.save(wait=True)
            finally:
                self.dead.close()
                checkpoint.close()
                if self.store is not None:
                    self.store.close()
        return self.outcome()

    async def between_slices(self) -> None:
        """After a slice of lines: batches that waited long enough go, no more than a window of lines waits
        behind one, progress is shown, and the loop looks at the answers."""
        batcher, ledger, options = self.batcher, self.ledger, self.options
        now = time.monotonic()
        for batch in batcher.due(now, options.linger):
            await self.emit(batch)
        head = ledger.head
        if head is not None and len(ledger.lines) > self.window:
            for batch in batcher.holding(head):  # no more than a window waits behind one line
                await self.emit(batch)
        while len(ledger.lines) > self.MAX_WAITING and self.sender is not None:
            self.sender.check()  # a run stopped meanwhile does not wait for what will not come
            for batch in batcher.holding(ledger.head):
                await self.emit(batch)
            await asyncio.sleep(0.01)
        if self.job.progress is not None and now - self.last_progress > 0.5:
            self.last_progress = now
            self.show_progress(self.started)
        await asyncio.sleep(0)

    async def next_block(self, reader: Reader, timeout: float | None) -> list[Line] | None:
        """The next block of lines (None at the end); partly filled batches that waited go meanwhile."""
        while True:
            try:
                return await asyncio.wait_for(reader.get(), timeout=timeout)
            except TimeoutError:
                for batch in self.batcher.due(time.monotonic(), self.options.linger):
                    await self.emit(batch)
            except InputChanged as e:
                raise Fatal(f"cannot resume from the checkpoint {self.job.checkpoint}: {e}. Give the input it was "
                            "written for, or remove the checkpoint to start this job again") from None
            except OSError as e:
                raise Fatal(f"cannot read {e.filename or 'the input'}: {e.strerror or e}") from None

    async def translated_here(self, reader: Reader) -> AsyncIterator[tuple[list[Line], list[tuple] | None]]:
        """Blocks of lines, translated as they are applied (one process)."""
        while (block := await self.next_block(reader, self.options.linger)) is not None:
            yield block, None

    async def translated_by_workers(self, reader: Reader) -> AsyncIterator[tuple[list[Line], list[tuple]]]:
        """Chunks of lines with what the worker processes found for each, in input order; a few chunks per
        worker in flight, so that the workers translate while this process batches and sends."""
        assert self.pool is not None
        await self.pool.start()
        pending: deque[tuple[list[Line], asyncio.Future]] = deque()
        ahead = 3 * self.options.workers
        get: asyncio.Task | None = None
        ended = False
        try:
            while True:
                if get is None and not ended and len(pending) < ahead:
                    get = asyncio.ensure_future(self.next_block(reader, None))
                waits: set[asyncio.Future] = {get} if get is not None else set()
                if pending:
                    waits.add(pending[0][1])
                if not waits:
                    return
                done, _ = await asyncio.wait(waits, timeout=self.options.linger, return_when=asyncio.FIRST_COMPLETED)
                if not done:  # partly filled batches that waited go meanwhile
                    for batch in self.batcher.due(time.monotonic(), self.options.linger):
                        await self.emit(batch)
                    continue
                if pending and pending[0][1] in done:
                    chunk, future = pending.popleft()
                    try:
                        found = future.result()
                    except WorkerStopped:
                        raise Fatal("a worker process stopped (killed, or out of memory?); the lines not yet "
                                    "decided are after the checkpoint, for the next run") from None
                    yield chunk, _restored(_unpickled(found), self.batcher, self.job.skip_unchanged)
                    continue
                if get is not None and get in done:
                    block, get = get.result(), None
                    if block is None:
                        ended = True
                        continue
                    for start in range(0, len(block), CHUNK):
                        chunk = block[start:start + CHUNK]
                        pending.append((chunk, self.pool.submit(pickle.dumps([_data(line) for line in chunk],
                                                                             pickle.HIGHEST_PROTOCOL))))
        finally:
            if get is not None:
                get.cancel()
            for _, future in pending:
                future.cancel()

    def _first_key(self) -> dict[str, str]:
        if self.target is None or not self.target.credentials or not self.job.key:
            return {}
        return {next(iter(self.target.credentials)): self.job.key}

    def outcome(self, pending: int = 0) -> Outcome:
        resumed = [(s.name, p.line) for s, p in zip(self.sources, self.ledger.start, strict=True) if p.line]
        twice = None
        if self.checkpoint.saved is not None and self.sender is not None and self.ledger.sent_before is not None:
            twice = self.sender.twice
        return Outcome(self.account, self.ledger.whole(), resumed, twice, pending)

    def show_progress(self, started: float, final: bool = False) -> None:
        account = self.account
        rate = self.ledger.taken / max(time.monotonic() - started, 1e-9)
        in_flight = self.sender.in_flight if self.sender is not None else 0
        text = (f"{self.ledger.taken:,} events, {rate:,.0f}/s, {in_flight} in flight, {account.retried} retried, "
                f"{account.dead_lettered} dead-lettered")
        self.job.progress.write("\r" + text + ("\n" if final else ""))
        self.job.progress.flush()


def needed_credentials(target: Target, endpoints: Iterable[str] | None) -> set[str]:
    """The credentials (names) that requests to these endpoints (`METHOD /path`, as the target names them)
    authenticate with; with no endpoints known, the target's first credential."""
    if endpoints is None:
        return {next(iter(target.credentials))} if target.credentials else set()
    return {e.credentials for k in endpoints if (e := target.endpoints.get(k)) is not None and e.credentials}


def _data(line: Line) -> bytes | None:
    """A line's bytes, without the byte order mark a file's first line may start with (not data)."""
    data = line.data
    if line.number == 1 and data is not None and data.startswith(jsonio.BOM):
        return data[len(jsonio.BOM):]
    return data


#: the Run a worker process translates for: set in the parent just before the workers are forked, so that
#: each has the translator, the target and the options without anything pickled
_WORKER_RUN: Run | None = None


def _translate_chunk(payload: bytes) -> bytes:
    """In a worker process: what each line's bytes give (`Run.translated`), made light to send back: an event
    only where a dead letter may show it, objects without their decoded form (the batcher of a worker keeps
    none) or endpoint (the parent has both: it decodes an object where it needs it, and looks its endpoint up).
    Pickled here; the parent unpickles it where it uses it (`_unpickled`)."""
    run = _WORKER_RUN
    assert run is not None
    run.batcher.keep_objects = False
    out = []
    for data in pickle.loads(payload):  # noqa: S301 - the lines of a chunk, from the parent that forked us
        found = run.translated(data)
        kind = found[0]
        if kind == SEND:
            for p in found[2]:
                p.endpoint = None
            found = (SEND, None, found[2])
        elif kind == REJECTED and found[3] is not None:
            for p in found[3]:
                p.endpoint = None
        out.append(found)
    return pickle.dumps(out, pickle.HIGHEST_PROTOCOL)


def _unpickled(blob: bytes) -> list[tuple]:
    """What a worker process of this run found for a chunk (`_translate_chunk` pickled it), with garbage
    collection paused meanwhile: the many small objects of a chunk made it run a dozen times per chunk."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(blob)  # noqa: S301 - written by this run's own worker processes, over a pipe
    finally:
        if enabled:
            gc.enable()


def _restored(found: list[tuple], batcher: Batcher, decode: bool) -> list[tuple]:
    """What workers found, with each request's endpoint looked up again (and, to trim unchanged attributes,
    its objects decoded)."""
    for f in found:
        kind = f[0]
        if kind == SEND or (kind == REJECTED and f[3] is not None):
            for p in f[-1]:
                hit = batcher.endpoint(p.method, p.url)
                p.endpoint = hit[0] if hit else None
                if decode:
                    p.objects = [(n, jsonio.loads(d), d, g, m) for n, _, d, g, m in p.objects]
    return found


def start_workers(run: Run) -> Workers:
    """The worker processes of `--workers N`, forked now (before this process starts a thread), each with a copy
    of the run to translate for."""
    global _WORKER_RUN
    _WORKER_RUN = run
    try:
        return Workers(run.options.workers, _translate_chunk)
    except ValueError:
        raise Fatal("--workers needs a system that can fork processes (Linux, macOS); leave it out here") from None
    except OSError as e:
        raise Fatal(f"cannot start {run.options.workers} worker processes: {e.strerror or e}") from None
    finally:
        _WORKER_RUN = None


def execute(job: Job) -> tuple[Account, Outcome]:
    """Run a job to the end: (this run's account, what else it tells). Raises Fatal, carrying `.outcome`, for a
    problem that stops it."""
    run_ = Run(job)
    redact = RedactingFilter(run_.secret)
    places = [log, *logging.getLogger().handlers]  # ours, and every handler (httpx's records go through them)
    for place in places:
        place.addFilter(redact)
    # a run makes and drops a few small objects per line (lines, objects, their tuples): with the default
    # threshold the collector runs every 700 of them and walks the older generations often, about a sixth of
    # the CPU of the process that batches and sends (the workers, forked below, inherit it)
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], GC_THRESHOLD), *threshold[1:])
    try:
        if job.options.workers >= 1:
            run_.pool = start_workers(run_)
        outcome = asyncio.run(run_.run())
    finally:
        gc.set_threshold(*threshold)
        for place in places:
            place.removeFilter(redact)
        if run_.pool is not None:
            run_.pool.join()
    return outcome.run, outcome


def run(job: Job) -> Account:
    """Run a delivery job to the end; this run's account. Raises Fatal for a problem that stops it."""
    return execute(job)[0]
