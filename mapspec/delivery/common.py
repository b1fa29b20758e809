"""What the parts of the delivery runtime share: options, the error that stops a run, the secret, the rate
window, URL checks."""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("mapspec.run")


class Fatal(Exception):
    """A problem that stops the run (bad key, wrong instance, a checkpoint for other input): nothing more is
    sent or dead-lettered."""


# ------------------------------------------------------------------ configuration


@dataclass
class Options:
    """How a run sends. The limits of each endpoint (objects per array and per request, bytes per body, rate)
    come from the target description; these can only make them tighter."""

    batch_size: int | None = None  # objects per array and request, at most (None: the target's)
    max_objects: int | None = None  # objects per request in all ("50 combined" contracts); None: the target's
    max_body: int | None = None  # bytes per request body (None: the target's); larger ones are split first
    in_flight: int = 8
    rate: tuple[int, float] | None = None  # requests per seconds over every endpoint together, besides each
    #                                        endpoint's own limit from the target
    retry_deadline: float = 300.0  # seconds a batch may keep being retried
    backoff_base: float = 0.25
    backoff_max: float = 20.0
    timeout: float = 30.0  # seconds for one request (connect, send, wait for the answer)
    max_line_bytes: int = 1 << 20
    linger: float = 1.0  # a partly filled batch waits at most this long
    workers: int = 0  # processes forked to parse and translate (0: this one does; else it batches and sends)
    seed: int | None = None


# ------------------------------------------------------------------ the key


#: what an HTTP header value may hold, and a REST API key is made of: visible ASCII, no spaces
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def key_problem(key: str) -> str | None:
    """Why a key cannot be sent in an Authorization header, without showing any of it; None when it can."""
    if not key:
        return "it is empty"
    if _HEADER_SAFE.fullmatch(key):
        return None
    for i, ch in enumerate(key):
        if not ("\x21" <= ch <= "\x7e"):
            what = {"\n": "a line break", "\r": "a carriage return", " ": "a space", "\t": "a tab"}.get(
                ch, "a control character" if ch < " " or ch == "\x7f" else "a character that is not ASCII")
            return f"it holds {what} at position {i + 1} (of {len(key)} characters)"
    return "it is not a valid HTTP header value"  # pragma: no cover - every case is named above


class Secret:
    """The keys of a run (and the secret values of the bodies it sends), and the one function that takes
    them out of anything shown or written."""

    MASK = "[REDACTED]"

    #: a value shorter than this is masked only where it stands alone (not inside a word), so that a test key
    #: such as "k" does not turn every "k" of a message into the mask
    SHORT = 8

    def __init__(self, key: str | None, *others: str | None):
        self.key = key or None
        self._forms: list[str] = []
        self._short: re.Pattern | None = None
        for value in (key, *others):
            self.add(value)

    def add(self, value: Any) -> None:
        """One more value never to show (its JSON-escaped form too)."""
        if not isinstance(value, str) or not value:
            return
        forms = {value, json.dumps(value)[1:-1]} - set(self._forms)
        if forms:
            self._forms = sorted({*self._forms, *forms}, key=len, reverse=True)
            short = [re.escape(f) for f in self._forms if len(f) < self.SHORT]
            self._short = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(short)})(?![A-Za-z0-9])") if short else None

    def redact(self, text: str) -> str:
        for form in self._forms:
            if len(form) >= self.SHORT and form in text:
                text = text.replace(form, self.MASK)
        if self._short is not None:
            text = self._short.sub(self.MASK, text)
        return text


class RedactingFilter(logging.Filter):
    """Takes the key out of every log record of the run."""

    def __init__(self, secret: Secret):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.secret.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = clean + "\n" + self.secret.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# ------------------------------------------------------------------ URLs


def url_problem(url: str) -> str | None:
    """Why a URL cannot be posted to; None when it can (http or https, a host, a valid port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"it is not a URL ({e})"
    if parts.scheme not in ("http", "https"):
        if not parts.scheme or not parts.netloc:
            return "it has no http:// or https:// before the host"
        return f"its scheme is {parts.scheme!r}: Braze is reached over http:// or https://"
    if not parts.hostname:
        return "it has no host"
    if port == 0:
        return "its port is 0"
    if parts.query or parts.fragment:
        return "it has a query or fragment: give the base URL only"
    return None


# ------------------------------------------------------------------ rate


class RateWindow:
    """An exact rate limit: at most `limit` requests in any window of `period` seconds.

    It remembers when the last `limit` requests were (or will be) let through; request n may go once
    `period` has passed since request n - limit. Unlike a token bucket that starts full and refills as it
    goes, no window of `period` seconds ever holds more than `limit`."""

    def __init__(self, limit: int, period: float):
        self.limit, self.period = limit, period
        self.times: deque[float] = deque(maxlen=limit)

    def reserve(self, now: float) -> float:
        """Book the next slot: the time (>= now) at which this request may go."""
        at = now if len(self.times) < self.limit else max(now, self.times[0] + self.period)
        self.times.append(at)
        return at

    def take(self, now: float) -> tuple[bool, int, float]:
        """For a server: (allowed now, requests left in the window, when the next slot frees)."""
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()
        allowed = len(self.times) < self.limit
        if allowed:
            self.times.append(now)
        reset = self.times[0] + self.period if self.times else now
        return allowed, self.limit - len(self.times), reset
