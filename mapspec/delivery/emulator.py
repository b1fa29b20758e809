"""A local Braze REST API for development and tests: every endpoint of the target description on loopback,
with the validation and answers the description gives (Braze's messages where they are known), its
201/202/400/401/411/413/429 answers, exact rate windows with their headers, seeded fault injection (429, 5xx,
dropped connections, slow answers), a record of what it accepted and a log of the requests it answered.

    mapspec emulator --port 8765 --faults "429=0.1,5xx=0.05,drop=0.01,seed=7"
    BRAZE_REST_API_KEY=test mapspec run --endpoint http://127.0.0.1:8765 events.ndjson

Besides the target's endpoints: `GET /_emulator/record` (what it accepted, and the log: each request's time,
method, path, size, objects, injected fault and answer) and `POST /_emulator/reset` (forget both, and the rate
windows: a fresh Braze between two tests or two runs).

HTTP is handled here; what a body means, and what Braze answers to it, is in `validation.py`. Whatever a
client sends (a body of the wrong kind, a bad Content-Length, a body shorter than announced, a connection
closed midway), the emulator answers as Braze would or closes the connection, and prints no traceback.
"""

from __future__ import annotations

import datetime
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..targets import Target, bundled
from .common import RateWindow
from .validation import answer

DRAIN_LIMIT = 64 * 1024 * 1024  # bytes of an oversized body read (and dropped) so that the client hears the 413

__all__ = ["Emulator", "Faults", "Record", "log_line"]


@dataclass
class Faults:
    """Probabilities of injected faults, drawn from a seeded generator."""

    rate_limited: float = 0.0  # 429
    server_error: float = 0.0  # 500 or 503
    drop: float = 0.0  # the connection is closed without an answer
    slow: float = 0.0  # the answer is delayed by `slow_seconds`, after the body is processed
    slow_seconds: float = 0.5
    seed: int = 0

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """`429=0.1,5xx=0.05,drop=0.01,slow=0.02:0.5,seed=7`."""
        f = cls()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            try:
                if name == "429":
                    f.rate_limited = float(value)
                elif name == "5xx":
                    f.server_error = float(value)
                elif name == "drop":
                    f.drop = float(value)
                elif name == "slow":
                    p, _, seconds = value.partition(":")
                    f.slow = float(p)
                    f.slow_seconds = float(seconds or f.slow_seconds)
                elif name == "seed":
                    f.seed = int(value)
                else:
                    raise ValueError(f"unknown fault `{name}`")
            except ValueError as e:
                raise ValueError(f"bad fault spec `{part}`: {e} (faults: 429=P, 5xx=P, drop=P, slow=P:SECONDS, "
                                 "seed=N)") from None
        return f


@dataclass
class Record:
    """What the emulator accepted (objects the API would process, by endpoint and array), how many answers of
    each status, and a log of the requests it answered (the latest `LOG` of them)."""

    accepted: dict[str, dict[str, list]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    requests: int = 0
    log: list[dict] = field(default_factory=list)

    LOG = 1000

    def objects(self, array: str) -> list:
        """Every accepted object of arrays of that name (`attributes`, `external_ids`...), whatever the endpoint."""
        return [obj for arrays in self.accepted.values() for obj in arrays.get(array, ())]

    def __getattr__(self, name: str) -> list:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.objects(name)

    def add(self, endpoint: str, accepted: dict[str, list]) -> None:
        arrays = self.accepted.setdefault(endpoint, {})
        for array, objs in accepted.items():
            arrays.setdefault(array, []).extend(objs)

    def note(self, entry: dict) -> None:
        self.log.append(entry)
        if len(self.log) > self.LOG:
            del self.log[: len(self.log) - self.LOG]

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for arrays in self.accepted.values():
            for array, objs in arrays.items():
                counts[array or "bodies"] = counts.get(array or "bodies", 0) + len(objs)
        return {**counts, "requests": self.requests, "dropped": self.dropped,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}

    def as_json(self) -> dict[str, Any]:
        names = {a for arrays in self.accepted.values() for a in arrays if a}
        return {"summary": self.summary(), "accepted": self.accepted, **{n: self.objects(n) for n in sorted(names)},
                "log": self.log}


MASK = "[REDACTED]"


def _mask(value: Any, shape: Any, hidden: set[str], depth: int = 0) -> Any:
    """`value` with the fields its shape marks secret (and those named in `hidden`) masked; follows the shape, so
    it goes no deeper than the target description does."""
    if shape is None or depth > 64:
        if isinstance(value, dict) and hidden:
            return {k: MASK if k in hidden else v for k, v in value.items()}
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            field_shape = shape.field_shape(k)
            if k in hidden or (field_shape is not None and field_shape.secret):
                out[k] = MASK
            else:
                out[k] = _mask(v, field_shape, set(), depth + 1)
        return out
    if isinstance(value, list) and shape.items is not None:
        return [_mask(v, shape.items, set(), depth + 1) for v in value]
    return value


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_line(entry: dict[str, Any]) -> str:
    """One request of the log, for a terminal: `12:00:01.250 POST /users/track 201 (75 objects) 18,204 bytes`."""
    status = "dropped" if entry.get("status") is None else str(entry["status"])
    parts = [str(entry.get("at", ""))[11:23], str(entry.get("method", "")), str(entry.get("url", "")), status]
    if entry.get("objects"):
        parts.append(f"({entry['objects']} object{'s' * (entry['objects'] != 1)})")
    if "bytes" in entry:
        parts.append(f"{entry['bytes']:,} bytes")
    if entry.get("fault"):
        parts.append(f"[injected: {entry['fault']}]")
    if entry.get("message"):
        parts.append(f"- {entry['message']}")
    return " ".join(parts)


class _Refuse(Exception):
    """An answer given before the body is read through (and the connection closed after it)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Gone(Exception):
    """The client is gone: nothing to answer."""


def _strict_json(raw: bytes) -> Any:
    """JSON as Braze's parser takes it: no NaN or Infinity, no invalid UTF-8; ValueError otherwise."""
    def constant(name: str):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=constant)
    except RecursionError:
        raise ValueError("nested too deep") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """A client that goes away is not an error; anything else is one line, not a traceback."""
        kind, error, _ = sys.exc_info()
        if kind is not None and issubclass(kind, (ConnectionError, TimeoutError, _Gone, OSError)):
            return
        print(f"mapspec emulator: error answering {client_address[0]}: {kind.__name__ if kind else ''}: {error}",
              file=sys.stderr)


class Emulator:
    """The server; use as a context manager in tests (`with Emulator() as emu: emu.url ...`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 faults: Faults | None = None, rate: tuple[int, float] | None = None,
                 max_body: int | None = None, read_timeout: float = 30.0, target: Target | None = None,
                 keys: dict[str, str] | None = None):
        """`api_key` is the key of the target's first credential; `keys` those of others, by credential name. A
        credential with a key must be given it; one without takes any non-empty key in a header, and anything in
        a body field."""
        self.target = target or bundled("braze")
        self.api_key = api_key
        first = next(iter(self.target.credentials), None)
        self.keys = {**(keys or {}), **({first: api_key} if first is not None and api_key else {})}
        self.max_body = max_body or self.target.max_body_bytes or (1 << 30)
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.random_lock = threading.Lock()
        self.rate = rate  # one window for every endpoint; None: each endpoint's rate limit from the target
        self.windows: dict[str, RateWindow] = {}
        self.window_lock = threading.Lock()
        self.record = Record()
        self.record_lock = threading.Lock()
        #: called with each entry of the log as it is made (`mapspec emulator` prints them)
        self.on_request: Callable[[dict[str, Any]], None] | None = None
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = read_timeout  # a client that stops sending midway is answered 408, not waited for forever

            def log_message(self, *args):  # quiet: the record says what happened
                pass

            def handle(self):
                try:
                    super().handle()
                except (ConnectionError, TimeoutError, _Gone):
                    self.close_connection = True

            entry: dict[str, Any] | None = None  # the log entry of the request being answered

            def do_GET(self):
                if self.path == "/_emulator/record":
                    with emulator.record_lock:
                        data = emulator.record.as_json()
                    self.reply(200, data, control=True)
                else:
                    self.reply(404, {"message": "not found"}, control=True)

            def do_POST(self):
                if self.path == "/_emulator/reset":
                    self.reply(200, {"message": "reset", "before": emulator.reset()}, control=True, close=True)
                    return
                self.entry = {"at": _now(), "method": self.command, "url": self.path}
                emulator.handle(self)

            do_PUT = do_PATCH = do_DELETE = do_POST

            def reply(self, status: int, data: dict, headers: dict | None = None, close: bool = False,
                      control: bool = False):
                payload = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if close:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True
                    raise _Gone() from None
                if control:  # the emulator's own endpoints are not the API's answers
                    return
                with emulator.record_lock:
                    emulator.record.statuses[status] = emulator.record.statuses.get(status, 0) + 1
                if self.entry is not None:
                    entry, self.entry = self.entry, None
                    entry["status"] = status
                    if status >= 300 and isinstance(data.get("message"), str):
                        entry["message"] = data["message"]
                    emulator.logged(entry)

        self.server = _Server((host, port), Handler)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> dict[str, Any]:
        """Forget what was accepted, the log and the rate windows; what there was, in summary."""
        with self.record_lock:
            before = self.record.summary()
            self.record = Record()
        with self.window_lock:
            self.windows.clear()
        return before

    def logged(self, entry: dict[str, Any]) -> None:
        """Add a request to the log (every request: answered, refused or dropped), and say it."""
        with self.record_lock:
            self.record.note(entry)
        if self.on_request is not None:
            self.on_request(entry)

    def draw(self) -> float:
        with self.random_lock:
            return self.random.random()

    # ------------------------------------------------------------------ reading a body

    def read_body(self, h) -> bytes:
        """The request's body, read in full; _Refuse for one Braze's front end would not take."""
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked(h)
        lengths = h.headers.get_all("Content-Length") or []
        if not lengths:
            raise _Refuse(411, "Length Required")
        if len(set(lengths)) != 1 or not lengths[0].strip().isdigit():
            raise _Refuse(400, "Bad Request: invalid Content-Length")
        length = int(lengths[0])
        if length > self.max_body:
            if length <= DRAIN_LIMIT:  # read it and drop it, so that the client hears the answer
                self._read(h, length, keep=False)
            raise _Refuse(413, "Request Entity Too Large")
        return self._read(h, length)

    def _read(self, h, length: int, keep: bool = True) -> bytes:
        parts, left = [], length
        try:
            while left:
                chunk = h.rfile.read(min(left, 1 << 16))
                if not chunk:
                    raise _Refuse(400, f"Bad Request: the body ended after {length - left} of {length} bytes")
                left -= len(chunk)
                if keep:
                    parts.append(chunk)
        except TimeoutError:
            raise _Refuse(408, "Request Timeout: the body did not arrive") from None
        return b"".join(parts)

    def _read_chunked(self, h) -> bytes:
        parts, total = [], 0
        try:
            while True:
                size_line = h.rfile.readline(1024)
                if not size_line:
                    raise _Refuse(400, "Bad Request: the chunked body ended early")
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _Refuse(400, "Bad Request: invalid chunk size") from None
                if size == 0:
                    while h.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                total += size
                if total > self.max_body:
                    raise _Refuse(413, "Request Entity Too Large")
                parts.append(self._read(h, size))
                h.rfile.readline(1024)  # the chunk's CRLF
        except TimeoutError:
            raise _Refuse(408, "Request Timeout: the body did not arrive") from None

    # ------------------------------------------------------------------ answering

    def handle(self, h) -> None:
        with self.record_lock:
            self.record.requests += 1
        f = self.faults
        roll = self.draw()
        entry = h.entry if h.entry is not None else {}
        if roll < f.drop:
            with self.record_lock:
                self.record.dropped += 1
            h.entry = None
            self.logged({**entry, "status": None, "fault": "drop"})
            h.close_connection = True
            h.connection.close()  # no answer at all
            return
        try:
            raw = self.read_body(h)
        except _Refuse as e:
            h.reply(e.status, {"message": e.message}, close=True)
            return
        entry["bytes"] = len(raw)
        path = h.path.split("?", 1)[0]
        found = self.target.endpoint_for(h.command, path)
        if found is None:
            h.reply(404, {"message": "invalid URL"})
            return
        endpoint = found[0]
        entry["endpoint"] = endpoint.key
        if not self.authorized(h, endpoint):
            h.reply(401, {"message": "Invalid API Key"})
            return
        now = time.monotonic()
        window = self.window_for(endpoint)
        with self.window_lock:
            allowed, remaining, reset = window.take(now)
        wall = time.time()
        limit_headers = {"X-RateLimit-Limit": str(window.limit), "X-RateLimit-Remaining": str(remaining),
                         "X-RateLimit-Reset": f"{wall + (reset - now):.3f}"}
        if not allowed or roll < f.drop + f.rate_limited:
            limit_headers["X-RateLimit-Remaining"] = "0"
            if allowed:  # an injected 429: a short pause
                limit_headers["X-RateLimit-Reset"] = f"{wall + 0.2:.3f}"
                entry["fault"] = "429"
            h.reply(429, {"message": "Rate Limited"}, limit_headers)
            return
        if roll < f.drop + f.rate_limited + f.server_error:
            entry["fault"] = "5xx"
            h.reply(503 if self.draw() < 0.5 else 500, {"message": "Internal Server Error"}, limit_headers)
            return
        try:
            body = _strict_json(raw)
        except ValueError:
            h.reply(400, {"message": "Invalid JSON"}, limit_headers)
            return
        if not self.body_authorized(endpoint, body):
            h.reply(401, {"message": "Invalid API Key"}, limit_headers)
            return
        try:
            status, reply, accepted = answer(self.target, h.command, path, body)
        except Exception as e:  # noqa: BLE001 - a bug of the emulator: said in one line, answered 500
            print(f"mapspec emulator: error validating a body for {h.path}: {type(e).__name__}: {e}",
                  file=sys.stderr)
            h.reply(500, {"message": "Internal Server Error"}, limit_headers)
            return
        accepted = {array: [self.masked(endpoint, array, obj) for obj in objs] for array, objs in accepted.items()}
        with self.record_lock:
            self.record.add(endpoint.key, accepted)
        entry["objects"] = sum(len(v) for v in accepted.values())
        entry["reply"] = reply
        if f.slow and self.draw() < f.slow:  # processed, and the answer late: a client may give up and resend
            entry["fault"] = "slow"
            time.sleep(f.slow_seconds)
        h.reply(status, reply, limit_headers)

    def authorized(self, h, endpoint) -> bool:
        """The endpoint's credentials, as the target describes them: a header must hold the key (any non-empty
        key, when the emulator was given none); a key that travels in the body is not checked."""
        credential = self.target.credentials.get(endpoint.credentials) if endpoint.credentials else None
        if credential is None or not credential.header:
            return True
        value = h.headers.get(credential.header, "")
        prefix, _, suffix = credential.format.partition("{key}")
        if not (value.startswith(prefix) and value.endswith(suffix)) or len(value) <= len(prefix) + len(suffix):
            return False
        key = value[len(prefix): len(value) - len(suffix)]
        known = self.keys.get(credential.name)
        return known is None or key == known

    def body_authorized(self, endpoint, body: Any) -> bool:
        """A key that travels in a body field: when the emulator was given that credential's key, the field must
        hold it (missing or another is a 401, as for a header)."""
        credential = self.target.credentials.get(endpoint.credentials) if endpoint.credentials else None
        if credential is None or not credential.body_field or credential.name not in self.keys:
            return True
        return isinstance(body, dict) and body.get(credential.body_field) == self.keys[credential.name]

    def masked(self, endpoint, array: str, obj: Any) -> Any:
        """An accepted object as recorded: the values of fields the target marks `secret`, and of credentials'
        body fields, masked (the record is served, logged and printed)."""
        shape = endpoint.body if not array else endpoint.body.field_shape(array)
        if array and shape is not None:
            shape = shape.items if shape.is_list else None
        hidden = {c.body_field for c in self.target.credentials.values() if c.body_field} if not array else set()
        return _mask(obj, shape, hidden)

    def window_for(self, endpoint) -> RateWindow:
        rate = self.rate if self.rate is not None else (
            (endpoint.rate.requests, endpoint.rate.seconds) if endpoint.rate is not None else (1 << 30, 1.0))
        name = "" if self.rate is not None or endpoint.rate is None else endpoint.rate.name
        window = self.windows.get(name)
        if window is None:
            window = self.windows[name] = RateWindow(*rate) if name or self.rate else RateWindow(1 << 20, 1.0)
        return window

    def start(self) -> Emulator:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
