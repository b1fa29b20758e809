"""Requests to Braze: in flight, rate-limited, retried; refusals go to the dead-letter file."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .batching import Batch, Item
from .common import Fatal, Options, json_dumps, log
from .ledger import Account, Tracker


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
        body = json_dumps(batch.body())
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
