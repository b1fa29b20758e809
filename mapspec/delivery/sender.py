"""Requests to Braze: in flight, rate-limited, retried; what Braze refuses goes back to the ledger.

Every batch ends in `_finish`, whatever happens to it: delivered or refused object by object from Braze's
answer, out of retries, or, for a failure nobody foresaw, dead-lettered with the error. Only `Fatal` (a
problem of configuration, not of the data) stops the run instead, and it is raised where the job awaits.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .. import jsonio
from ..targets import Target
from .batching import Batch, Item
from .common import Fatal, Options, RateWindow, Secret, log
from .http import TransportError
from .ledger import EXPIRED, FAILED, REFUSED, Account, Checkpoint, Ledger


class RateLimiter:
    """Our own pace (an exact window), paused when Braze's headers say nothing remains until a reset."""

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic):
        self.window = RateWindow(limit, period)
        self.clock = clock
        self.paused_until = 0.0

    async def acquire(self, deadline: float) -> float | None:
        """Wait for a slot; None (and no slot taken) when there is none before `deadline`, else the wait."""
        now = self.clock()
        if self.paused_until > deadline:
            return None
        at = self.window.reserve(max(now, self.paused_until))
        if at > now:
            await asyncio.sleep(at - now)
        return at - now

    def observe(self, headers, status: int) -> float:
        """Seconds Braze asks to wait: Retry-After, or X-RateLimit-Reset when nothing remains (or on a 429).
        While nothing remains, every request waits."""
        wait = retry_after(headers.get("retry-after"))
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if reset is not None and (status == 429 or remaining is not None and _number(remaining) == 0):
            until = _number(reset)
            if until is not None:
                # epoch seconds, as Braze sends it; a small number is taken as seconds from now
                seconds = until - time.time() if until > 1e9 else until
                wait = max(wait or 0.0, seconds)
                if remaining is not None and _number(remaining) == 0:
                    self.paused_until = max(self.paused_until, self.clock() + max(0.0, seconds))
        return max(0.0, wait or 0.0)


def retry_after(value: str | None) -> float | None:
    """Retry-After: seconds, or an HTTP date."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


class Sender:
    """Sends batches as the target describes each endpoint: its credentials (a header, or a field of the body),
    its rate limit (buckets shared between endpoints), and how its answers name refused objects."""

    def __init__(self, client, secret: Secret, options: Options, ledger: Ledger, account: Account,
                 checkpoint: Checkpoint, on_delivered: Callable[[Batch, list[Item]], None] | None = None,
                 target: Target | None = None, keys: dict[str, str] | None = None):
        self.client, self.secret, self.options = client, secret, options
        self.ledger, self.account, self.checkpoint = ledger, account, checkpoint
        self.target = target
        self.title = target.title if target is not None else "the API"  # what messages call the service
        self.keys = dict(keys or {})  # credential name -> key
        self._secret_fields: dict[str, tuple[str, ...]] = {}  # per endpoint: the body fields marked secret
        self._seen_envelopes: set[bytes] = set()
        self.limiter = RateLimiter(*options.rate) if options.rate else None  # every endpoint together
        self.limiters: dict[str, RateLimiter] = {}  # per rate bucket of the target
        self.slots = asyncio.Semaphore(options.in_flight)
        self.tasks: set[asyncio.Task] = set()
        self.fatal: Fatal | None = None
        self.error: BaseException | None = None  # what a task ended with that it did not handle itself
        self.random = random.Random(options.seed)
        self.on_delivered = on_delivered
        self.in_flight = 0
        self._headers: dict[str | None, dict[str, str]] = {}
        # objects sent again that the previous run may have sent: lines up to its mark
        self.sent_before = ledger.sent_before
        self.twice = 0

    async def submit(self, batch: Batch) -> None:
        """Start sending a batch; waits while the maximum number of batches is in flight."""
        self.check()
        await self.slots.acquire()
        if self.fatal or self.error:
            self.slots.release()
            self.check()
        self.checkpoint.note_sent(batch.last())
        if self.sent_before is not None:
            self.twice += sum(1 for item in batch.items()
                              if (item.owner.input, item.owner.number) <= self.sent_before)
        self.in_flight += 1
        task = asyncio.create_task(self._run(batch))
        task.batch = batch  # type: ignore[attr-defined]
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def send_now(self, batch: Batch) -> None:
        """Send a batch and wait until it is finished (a request others depend on, such as a cohort's
        creation before its users)."""
        await self.submit(batch)
        task = next((t for t in self.tasks if getattr(t, "batch", None) is batch), None)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self.check()

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # never lost: raised where the job waits
            self.error = self.error or task.exception()

    def check(self) -> None:
        """Raise what stopped the run, if anything has."""
        if self.error is not None:
            raise self.error
        if self.fatal is not None:
            raise self.fatal

    async def _run(self, batch: Batch) -> None:
        try:
            await self.deliver(batch, time.monotonic() + self.options.retry_deadline)
        except Fatal as e:
            self.fatal = self.fatal or e
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - nothing may vanish: the objects go to the dead-letter file
            log.error("sending %d objects to %s failed unexpectedly: %s: %s", batch.count, batch.url,
                      type(e).__name__, e, exc_info=True)
            self._finish(batch.items(), (FAILED, f"internal error while sending: {type(e).__name__}: {e}"), batch)
        finally:
            self.in_flight -= 1
            self.slots.release()

    async def wait(self) -> None:
        """Until every batch submitted is finished; raises the Fatal that stopped the run, if one did."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        self.check()

    async def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def _finish(self, items: list[Item], problem: tuple[str, str] | None, batch: Batch | None = None) -> None:
        """Tell the ledger what became of these objects (each object once, whatever else happens)."""
        done = self.ledger.object_done
        reason = self.secret.redact(problem[1]) if problem is not None else None
        for item in items:
            if item.done:
                continue
            item.done = True
            done(item.owner, None if problem is None else (problem[0], reason, _shown(item, batch)))

    def headers(self, batch: Batch) -> dict[str, str]:
        """The headers of a request: its content type, its endpoint's credentials, and the target's headers for
        a request that carries several objects."""
        name = batch.endpoint.credentials if batch.endpoint else _first_credential(self.target)
        headers = self._headers.get(name)
        if headers is None:
            headers = {"Content-Type": "application/json"}
            credential = self.target.credentials.get(name) if self.target and name else None
            key = self.keys.get(name) if name else None
            if credential is not None and credential.header and key:
                headers[credential.header] = credential.format.replace("{key}", key)
            elif credential is None and self.secret.key:  # no target to say how: a bearer key
                headers["Authorization"] = f"Bearer {self.secret.key}"
            self._headers[name] = headers
        if batch.count > 1 and self.target is not None and self.target.batch_headers:
            return {**headers, **self.target.batch_headers}
        return headers

    def body(self, batch: Batch) -> bytes:
        """The body as sent: with the key of a credential that travels in the body, when there is one."""
        body = batch.body()
        name = batch.endpoint.credentials if batch.endpoint else None
        credential = self.target.credentials.get(name) if self.target and name else None
        key = self.keys.get(name) if name else None
        if credential is not None and credential.body_field and key and body.startswith(b"{"):
            field = jsonio.dumps(credential.body_field) + b":" + jsonio.dumps(key)
            body = b"{" + field + (b"," if body != b"{}" else b"") + body[1:]
        return body

    def limiters_for(self, batch: Batch) -> list[RateLimiter]:
        out = [self.limiter] if self.limiter is not None else []
        rate = batch.endpoint.rate if batch.endpoint else None
        if rate is not None:
            limiter = self.limiters.get(rate.name)
            if limiter is None:
                limiter = self.limiters[rate.name] = RateLimiter(rate.requests, rate.seconds)
            out.append(limiter)
        return out

    def _remember_secrets(self, batch: Batch) -> None:
        """The values of the body fields the target marks secret (the cohort API's client_secret) join the
        run's keys, so that a server's message that echoes the body does not carry them into a dead letter,
        a log or the reason a run stops."""
        endpoint = batch.endpoint
        if endpoint is None:
            return
        names = self._secret_fields.get(endpoint.key)
        if names is None:
            names = self._secret_fields[endpoint.key] = tuple(k for k, f in endpoint.body.fields.items() if f.secret)
        if not names:
            return
        if batch.alone:
            bodies = [item.value() for item in batch.items()]
        elif batch.envelope not in self._seen_envelopes:  # the fields every object of the batch shares
            self._seen_envelopes.add(batch.envelope)
            bodies = [jsonio.loads(b"{" + batch.envelope + b"}")]
        else:
            return
        for fields in bodies:
            if isinstance(fields, dict):
                for name in names:
                    self.secret.add(fields.get(name))

    async def deliver(self, batch: Batch, deadline: float) -> None:
        attempt = 0
        if not batch.count:
            return
        self._remember_secrets(batch)
        body = self.body(batch)
        headers = self.headers(batch)
        path = urlsplit(batch.url).path
        limiters = self.limiters_for(batch)
        while True:
            if self.fatal:
                return  # the run stops: these lines stay undecided, before the checkpoint
            waited = 0.0
            for limiter in limiters:
                waited = await limiter.acquire(deadline)
                if waited is None:
                    break
            if waited is None:
                until = time.strftime("%H:%M:%S", time.localtime(time.time() + limiter.paused_until
                                                                 - time.monotonic()))
                self._finish(batch.items(), (EXPIRED, f"retries ran out ({attempt} attempts): {self.title}'s rate limit "
                                                      f"lets nothing through until {until}, after the retry "
                                                      "deadline (--retry-deadline)"), batch)
                return
            wait = None
            self.account.requests += 1
            try:
                response = await self.client.request(batch.method, batch.url, content=body, headers=headers,
                                                     timeout=self.options.timeout)
            except TransportError as e:
                self.account.unanswered += 1
                reason = f"no answer: {type(e).__name__}" + (f": {e}" if str(e) else "")
                log.debug("POST %s: %s (attempt %d)", path, reason, attempt + 1)
            else:
                status = response.status_code
                log.debug("POST %s: %d (%d objects, attempt %d)", path, status, batch.count, attempt + 1)
                asked = max([limiter.observe(response.headers, status) for limiter in limiters] or [0.0])
                if not limiters:
                    asked = RateLimiter(1, 1.0).observe(response.headers, status)
                if status == 404 and batch.endpoint is not None and batch.endpoint.params:
                    # the path holds values from the events (a catalog's name): those events' fault, not the run's
                    self._finish(batch.items(), (REFUSED, f"404 {response.reason_phrase}: {_message(response)} "
                                                          f"({batch.method} {urlsplit(batch.url).path})"), batch)
                    return
                if status in (401, 403, 404):
                    raise Fatal(self.secret.redact(self._fatal_message(status, batch, response)))
                if status == 413:
                    if batch.count == 1:
                        self._finish(batch.items(), (REFUSED, "413 Request Entity Too Large: this one object is "
                                                              f"too large for {self.title}"), batch)
                        return
                    items = batch.items()
                    middle = len(items) // 2
                    for part in (items[:middle], items[middle:]):
                        await self.deliver(batch.part(part), deadline)
                    return
                if status == 429 or status >= 500:
                    reason = f"{status} {response.reason_phrase}"
                    wait = asked or None
                elif 200 <= status < 300 or status == 400:
                    self._settle(batch, response)
                    return
                else:
                    self._finish(batch.items(), (REFUSED, f"{status} {response.reason_phrase}: "
                                                          f"{_message(response)}"), batch)
                    return
            attempt += 1
            if wait is None:
                wait = self.random.uniform(0, min(self.options.backoff_max, self.options.backoff_base * 2 ** attempt))
            else:  # as long as the API asks, and a little more so that waiting clients do not return at once
                wait += self.random.uniform(0, self.options.backoff_base)
            if time.monotonic() + wait > deadline:
                why = f"; {self.title} asked to wait {wait:.0f} s" if wait > 1 and reason[:1] in "45" else ""
                self._finish(batch.items(), (EXPIRED, f"retries ran out after {attempt} attempts{why} "
                                                      f"(--retry-deadline); last: {reason}"), batch)
                return
            self.account.retried += 1
            await asyncio.sleep(wait)

    def _fatal_message(self, status: int, batch: Batch, response) -> str:
        """Why the run stops, from an answer that no retry changes: the key or the endpoint is wrong."""
        name = batch.endpoint.credentials if batch.endpoint else _first_credential(self.target)
        credential = self.target.credentials.get(name) if self.target and name else None
        key = f"the key in {credential.env}" if credential is not None and credential.env else "the key"
        said, url = f"{self.title} answered {status}", batch.url
        if status == 401:
            return (f"{said} ({_message(response)}) for {url}: {key} is wrong, or belongs to another "
                    f"{self.title} instance (check --endpoint, or the mapping's endpoint setting)")
        if status == 403:
            return f"{said} ({_message(response)}): {key} lacks the permission for {url}"
        return f"{said} for {url}: the endpoint is wrong (check --endpoint, or the mapping's endpoint setting)"

    def _settle(self, batch: Batch, response) -> None:
        """2xx or 400. Where the endpoint's answers name objects (`errors: indexed`), those named in errors[] are
        refused and the others delivered, and a 400 that names none refuses all; elsewhere a 2xx delivers the
        request and a 400 refuses it."""
        try:
            reply = response.json()
        except ValueError:
            reply = {}
        refused: dict[tuple[str, int], str] = {}
        if batch.endpoint is not None and batch.endpoint.batch.errors == "indexed":
            errors = reply.get("errors") if isinstance(reply, dict) else None
            for error in errors if isinstance(errors, list) else ():
                if isinstance(error, dict) and isinstance(error.get("index"), int):
                    refused[(str(error.get("input_array")), error["index"])] = str(error.get("type"))
        if response.status_code == 400 and not refused:
            self._finish(batch.items(), (REFUSED, f"400 Bad Request: {_message(response)}"), batch)
            return
        if not refused:
            delivered = self.ledger.delivered(batch.items())
            if self.on_delivered and delivered:
                self.on_delivered(batch, delivered)
            return
        delivered = []
        done = self.ledger.object_done
        indexed = batch.indexed()
        named = {id(item): reason for key, reason in refused.items() if (item := indexed.get(key)) is not None}
        for item in batch.items():
            if item.done:
                continue
            item.done = True
            reason = named.get(id(item))
            if reason is None:
                delivered.append(item)
                done(item.owner)
            else:
                done(item.owner, (REFUSED, self.secret.redact(f"{response.status_code}: {reason}"),
                                  _shown(item, batch)))
        if self.on_delivered and delivered:
            self.on_delivered(batch, delivered)


def _first_credential(target: Target | None) -> str | None:
    return next(iter(target.credentials), None) if target is not None else None


def _shown(item: Item, batch: Batch | None) -> Any:
    """An object as a dead letter shows it: a body's secret fields (as the target marks them) masked."""
    endpoint = batch.endpoint if batch is not None else None
    obj = item.value()
    if endpoint is None or not isinstance(obj, dict) or not batch.alone:
        return obj
    secret = {k for k, shape in endpoint.body.fields.items() if shape.secret}
    if not secret & set(obj):
        return obj
    return {k: (Secret.MASK if k in secret else v) for k, v in obj.items()}


def _message(response) -> str:
    try:
        data = response.json()
        return str(data.get("message") or data) if isinstance(data, dict) else str(data)
    except ValueError:
        return response.text[:200]


