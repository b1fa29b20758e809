"""A local Braze REST API for development and tests: /users/track and /users/delete on loopback, with
Braze's validation messages, its 201/202/400/401/411/413/429 answers, an exact rate window with its headers,
seeded fault injection (429, 5xx, dropped connections, slow answers) and a record of what it accepted.

    mapspec emulator --port 8765 --faults "429=0.1,5xx=0.05,drop=0.01,seed=7"
    BRAZE_REST_API_KEY=test mapspec run --endpoint http://127.0.0.1:8765 events.ndjson

HTTP is handled here; what a body means, and what Braze answers to it, is in `validation.py`. Whatever a
client sends (a body of the wrong kind, a bad Content-Length, a body shorter than announced, a connection
closed midway), the emulator answers as Braze would or closes the connection, and prints no traceback.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..targets.braze import TARGET
from .common import RateWindow
from .validation import IDENTIFIER_ERROR, IDENTIFIERS, MAX_DELETE_IDS, MAX_OBJECTS, answer, validate_track

MAX_BODY = TARGET.delivery["max_body"]
DRAIN_LIMIT = 64 * 1024 * 1024  # bytes of an oversized body read (and dropped) so that the client hears the 413

__all__ = ["IDENTIFIER_ERROR", "IDENTIFIERS", "MAX_BODY", "MAX_DELETE_IDS", "MAX_OBJECTS", "Emulator", "Faults",
           "Record", "validate_track"]


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
    """What the emulator accepted (objects Braze would process) and how many answers of each status."""

    attributes: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    purchases: list[dict] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    requests: int = 0

    def summary(self) -> dict[str, Any]:
        return {"attributes": len(self.attributes), "events": len(self.events), "purchases": len(self.purchases),
                "deleted": len(self.deleted), "requests": self.requests, "dropped": self.dropped,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}


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
                 faults: Faults | None = None, rate: tuple[int, float] = TARGET.delivery["rate_limit"],
                 max_body: int = MAX_BODY, read_timeout: float = 30.0):
        self.api_key = api_key
        self.max_body = max_body
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.random_lock = threading.Lock()
        self.window = RateWindow(*rate)
        self.window_lock = threading.Lock()
        self.record = Record()
        self.record_lock = threading.Lock()
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

            def do_GET(self):
                if self.path == "/_emulator/record":
                    with emulator.record_lock:
                        data = {"summary": emulator.record.summary(), "attributes": emulator.record.attributes,
                                "events": emulator.record.events, "purchases": emulator.record.purchases,
                                "deleted": emulator.record.deleted}
                    self.reply(200, data)
                else:
                    self.reply(404, {"message": "not found"})

            def do_POST(self):
                emulator.handle(self)

            def reply(self, status: int, data: dict, headers: dict | None = None, close: bool = False):
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
                with emulator.record_lock:
                    emulator.record.statuses[status] = emulator.record.statuses.get(status, 0) + 1

        self.server = _Server((host, port), Handler)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

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
        if roll < f.drop:
            with self.record_lock:
                self.record.dropped += 1
            h.close_connection = True
            h.connection.close()  # no answer at all
            return
        try:
            raw = self.read_body(h)
        except _Refuse as e:
            h.reply(e.status, {"message": e.message}, close=True)
            return
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:] or (self.api_key is not None and auth[7:] != self.api_key):
            h.reply(401, {"message": "Invalid API Key"})
            return
        now = time.monotonic()
        with self.window_lock:
            allowed, remaining, reset = self.window.take(now)
        wall = time.time()
        limit_headers = {"X-RateLimit-Limit": str(self.window.limit), "X-RateLimit-Remaining": str(remaining),
                         "X-RateLimit-Reset": f"{wall + (reset - now):.3f}"}
        if not allowed or roll < f.drop + f.rate_limited:
            limit_headers["X-RateLimit-Remaining"] = "0"
            if allowed:  # an injected 429: a short pause
                limit_headers["X-RateLimit-Reset"] = f"{wall + 0.2:.3f}"
            h.reply(429, {"message": "Rate Limited"}, limit_headers)
            return
        if roll < f.drop + f.rate_limited + f.server_error:
            h.reply(503 if self.draw() < 0.5 else 500, {"message": "Internal Server Error"}, limit_headers)
            return
        try:
            body = _strict_json(raw)
        except ValueError:
            h.reply(400, {"message": "Invalid JSON"}, limit_headers)
            return
        try:
            status, reply, accepted = answer(h.path, body)
        except Exception as e:  # noqa: BLE001 - a bug of the emulator: said in one line, answered 500
            print(f"mapspec emulator: error validating a body for {h.path}: {type(e).__name__}: {e}",
                  file=sys.stderr)
            h.reply(500, {"message": "Internal Server Error"}, limit_headers)
            return
        with self.record_lock:
            for array, objs in accepted.items():
                if array in ("attributes", "events", "purchases"):
                    getattr(self.record, array).extend(objs)
                else:
                    self.record.deleted.extend(objs)
        if f.slow and self.draw() < f.slow:  # processed, and the answer late: a client may give up and resend
            time.sleep(f.slow_seconds)
        h.reply(status, reply, limit_headers)

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
