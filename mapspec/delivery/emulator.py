"""A local Braze REST API for development and tests: /users/track and /users/delete on loopback, with
Braze's validation messages, its 201/400/401/413/429 answers, a token-bucket rate limit with its headers,
seeded fault injection (429, 5xx, dropped connections, slow answers) and a record of what it accepted.

    mapspec emulator --port 8765 --faults "429=0.1,5xx=0.05,drop=0.01,seed=7"
    BRAZE_REST_API_KEY=test mapspec run --endpoint http://127.0.0.1:8765 events.ndjson
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..targets.braze import TARGET

MAX_OBJECTS = TARGET.delivery["objects_per_array"]
MAX_DELETE_IDS = TARGET.delivery["ids_per_delete"]
MAX_BODY = TARGET.delivery["max_body"]
IDENTIFIERS = ("external_id", "braze_id", "user_alias", "email", "phone")
IDENTIFIER_ERROR = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"


@dataclass
class Faults:
    """Probabilities of injected faults, drawn from a seeded generator."""

    rate_limited: float = 0.0  # 429
    server_error: float = 0.0  # 500 or 503
    drop: float = 0.0  # the connection is closed without an answer
    slow: float = 0.0  # the answer is delayed by `slow_seconds`
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
    deleted: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    requests: int = 0

    def summary(self) -> dict[str, Any]:
        return {"attributes": len(self.attributes), "events": len(self.events), "purchases": len(self.purchases),
                "deleted": len(self.deleted), "requests": self.requests, "dropped": self.dropped,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}}


class TokenBucket:
    def __init__(self, limit: int, period: float):
        self.limit, self.period = limit, period
        self.tokens = float(limit)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the bucket is full again)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.limit, self.tokens + (now - self.stamp) * self.limit / self.period)
            self.stamp = now
            allowed = self.tokens >= 1
            if allowed:
                self.tokens -= 1
            return allowed, int(self.tokens), (self.limit - self.tokens) * self.period / self.limit


def validate_track(body: dict) -> tuple[int, dict, dict[str, list]]:
    """Braze's answer to a /users/track body: status, reply, and the objects it accepts by array."""
    if not isinstance(body, dict):
        return 400, {"message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."}, {}
    errors: list[dict] = []
    accepted: dict[str, list] = {"attributes": [], "events": [], "purchases": []}
    seen = False
    for array in ("attributes", "events", "purchases"):
        items = body.get(array)
        if items is None:
            continue
        if not isinstance(items, list):
            return 400, {"message": f"'{array}' must be an array"}, {}
        if len(items) > MAX_OBJECTS:
            return 400, {"message": "Max Input Length Exceeded",
                         "errors": [f"more than {MAX_OBJECTS} {array} in one request"]}, {}
        seen = seen or bool(items)
        for index, obj in enumerate(items):
            problem = _object_problem(array, obj)
            if problem:
                errors.append({"type": problem, "input_array": array, "index": index})
            else:
                accepted[array].append(obj)
    if not any(accepted.values()):
        reply = {"message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."}
        if errors:
            reply["errors"] = errors
        return 400, reply, {}
    reply: dict[str, Any] = {"message": "success"}
    for array in ("attributes", "events", "purchases"):
        if array in body:
            reply[f"{array}_processed"] = len(accepted[array])
    if errors:
        reply["errors"] = errors
    return 201, reply, accepted


def _object_problem(array: str, obj: Any) -> str | None:
    if not isinstance(obj, dict) or not any(obj.get(k) not in (None, "") for k in IDENTIFIERS):
        return IDENTIFIER_ERROR
    if array == "events":
        if not isinstance(obj.get("name"), str) or not obj["name"]:
            return "'name' is required"
        if not isinstance(obj.get("time"), str):
            return "'time' is required"
    if array == "purchases":
        for key in ("product_id", "currency", "time"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                return f"'{key}' is required"
        if not isinstance(obj.get("price"), int | float) or isinstance(obj.get("price"), bool):
            return "'price' is required"
        quantity = obj.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= 100:
            return "'quantity' is not valid"
    return None


class Emulator:
    """The server; use as a context manager in tests (`with Emulator() as emu: emu.url ...`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 faults: Faults | None = None, rate: tuple[int, float] = TARGET.delivery["rate_limit"],
                 max_body: int = MAX_BODY):
        self.api_key = api_key
        self.max_body = max_body
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.random_lock = threading.Lock()
        self.bucket = TokenBucket(*rate)
        self.record = Record()
        self.record_lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the record says what happened
                pass

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

            def reply(self, status: int, data: dict, headers: dict | None = None):
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                with emulator.record_lock:
                    emulator.record.statuses[status] = emulator.record.statuses.get(status, 0) + 1

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def draw(self) -> float:
        with self.random_lock:
            return self.random.random()

    def handle(self, h) -> None:
        with self.record_lock:
            self.record.requests += 1
        length = int(h.headers.get("Content-Length") or 0)
        f = self.faults
        roll = self.draw()
        if roll < f.drop:
            with self.record_lock:
                self.record.dropped += 1
            h.close_connection = True
            h.connection.close()  # no answer at all
            return
        if f.slow and self.draw() < f.slow:
            time.sleep(f.slow_seconds)
        raw = h.rfile.read(length) if length <= self.max_body else None
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:] or (self.api_key is not None and auth[7:] != self.api_key):
            h.reply(401, {"message": "Invalid API Key"})
            return
        allowed, remaining, refill = self.bucket.take()
        reset = time.time() + refill
        limit_headers = {"X-RateLimit-Limit": str(self.bucket.limit), "X-RateLimit-Remaining": str(remaining),
                         "X-RateLimit-Reset": f"{reset:.3f}"}
        if not allowed or roll < f.drop + f.rate_limited:
            limit_headers["X-RateLimit-Remaining"] = "0"
            limit_headers["X-RateLimit-Reset"] = f"{time.time() + 0.2:.3f}" if allowed else f"{reset:.3f}"
            h.reply(429, {"message": "Rate Limited"}, limit_headers)
            return
        if roll < f.drop + f.rate_limited + f.server_error:
            h.reply(503 if self.draw() < 0.5 else 500, {"message": "Internal Server Error"}, limit_headers)
            return
        if raw is None:
            h.close_connection = True
            h.reply(413, {"message": "Request Entity Too Large"}, limit_headers)
            return
        try:
            body = json.loads(raw)
        except ValueError:
            h.reply(400, {"message": "Invalid JSON"}, limit_headers)
            return
        if h.path == "/users/track":
            status, reply, accepted = validate_track(body)
            with self.record_lock:
                for array, objs in accepted.items():
                    getattr(self.record, array).extend(objs)
            h.reply(status, reply, limit_headers)
        elif h.path == "/users/delete":
            ids = [i for key in ("external_ids", "braze_ids") for i in (body.get(key) or [])] \
                if isinstance(body, dict) else []
            if len(ids) > MAX_DELETE_IDS:
                h.reply(400, {"message": "Max Input Length Exceeded"}, limit_headers)
                return
            with self.record_lock:
                self.record.deleted.extend(ids)
            h.reply(202, {"deleted": len(ids), "message": "success"}, limit_headers)
        else:
            h.reply(404, {"message": "invalid URL"}, limit_headers)

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
