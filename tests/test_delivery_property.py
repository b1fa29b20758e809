"""A property of `mapspec run`: whatever the stream holds, whatever Braze does, however often the process dies,
every line ends delivered, skipped or dead-lettered, exactly as the account says.

hypothesis draws a stream of good, bad and breaking lines, the emulator's faults (429, 5xx, dropped
connections, slow answers) and the moments the run is killed. A kill is what `kill -9` leaves: the files as
the system has them at that instant (what Python had not yet written is lost), no request started after it;
the requests already on their way reach the emulator, which may process them although the run never hears the
answer. Then the same job resumes from those files, until a run finishes.

The size runs in CI is small; MAPSPEC_PROPERTY_EXAMPLES=500 runs it long.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mapspec
from mapspec.delivery import Fatal, Job, Options, execute
from mapspec.delivery.emulator import Emulator, Faults

KEY = "prop-key-1e2f"
TRANSLATE = mapspec.load("segment-braze")
MAX_LINE = 600


def translate(event):
    if event.get("boom"):  # an event that breaks the translator, whatever the translator
        raise RuntimeError("boom")
    requests = TRANSLATE(event)
    if event.get("refuse"):  # an object Braze refuses: it names no user
        del requests[0]["body"]["attributes"][0]["external_id"]
    return requests


# ------------------------------------------------------------------ the stream


@dataclass
class Spec:
    kind: str  # what the line is
    data: bytes  # the line, without its newline
    fates: tuple[str, ...]  # the fates it may end in (out of retries is always possible for what is sent)
    reason: str = ""  # the start of its dead-letter reason
    oid: str | None = None  # the identifier its object carries in Braze


def line_spec(kind: str, n: int, extra: str) -> Spec:
    uid = f"u{n}"
    if kind == "identify":
        return Spec(kind, json.dumps({"type": "identify", "userId": uid, "traits": {"x": extra}}).encode(),
                    ("delivered", "expired"), oid=uid)
    if kind == "track":
        return Spec(kind, json.dumps({"type": "track", "userId": uid, "event": "E" + extra,
                                      "timestamp": "2024-05-01T12:00:00Z"}).encode(), ("delivered", "expired"), oid=uid)
    if kind == "delete":
        return Spec(kind, json.dumps({"type": "delete", "userId": uid}).encode(), ("delivered", "expired"), oid=uid)
    if kind == "refused":  # Braze refuses its object
        return Spec(kind, json.dumps({"type": "identify", "userId": uid, "refuse": True}).encode(),
                    ("refused", "expired"))
    if kind == "no user":
        return Spec(kind, json.dumps({"type": "identify", "traits": {"x": extra}}).encode(), ("rejected",),
                    reason="rejected: userId or braze_id is required")
    if kind == "alias":
        return Spec(kind, json.dumps({"type": "alias", "userId": uid}).encode(), ("skipped",))
    if kind == "blank":
        return Spec(kind, b" " * (n % 3), ("skipped",))
    if kind == "boom":
        return Spec(kind, json.dumps({"type": "identify", "userId": uid, "boom": True}).encode(), ("failed",),
                    reason="the translator failed on this event: RuntimeError: boom")
    bad = {"garbage": (b"{not json " + extra.encode(), "invalid JSON"),
           "array": (b"[1, 2]", "an event must be a JSON object"),
           "nan": (b'{"type":"identify","userId":"x","traits":{"v":NaN}}', "invalid JSON: NaN"),
           "big int": (b'{"type":"identify","userId":"x","traits":{"v":123456789012345678901}}', "the integer"),
           "surrogate": (b'{"type":"identify","userId":"\\udc00"}', "invalid JSON: a lone surrogate"),
           "too long": (b'{"type":"identify","userId":"x","traits":{"v":"' + b"y" * MAX_LINE + b'"}}',
                        "line longer than"),
           "bad utf-8": (b'{"type":"identify","userId":"\xff"}', "invalid UTF-8")}[kind]
    return Spec(kind, bad[0], ("invalid",), reason=bad[1])


KINDS = ["identify", "track", "delete", "refused", "no user", "alias", "blank", "boom", "garbage", "array", "nan",
         "big int", "surrogate", "too long", "bad utf-8"]

streams = st.lists(st.tuples(st.sampled_from(KINDS), st.text("abc", max_size=3)), min_size=1, max_size=120).map(
    lambda items: [line_spec(kind, n, extra) for n, (kind, extra) in enumerate(items)])
faults = st.builds(Faults, rate_limited=st.sampled_from([0, 0.1, 0.3]), server_error=st.sampled_from([0, 0.1, 0.3]),
                   drop=st.sampled_from([0, 0.05, 0.2]), slow=st.sampled_from([0, 0.1]), slow_seconds=st.just(0.02),
                   seed=st.integers(0, 1000))
kills = st.lists(st.integers(1, 12), max_size=3)  # the kills, each after that many requests of a run


# ------------------------------------------------------------------ a kill


class Killed(BaseException):
    """The process is gone (a BaseException: nothing in the run may catch it)."""


class KillSwitch(httpx.AsyncBaseTransport):
    """Passes requests on until the n-th, when it takes what is on disk (all a killed process leaves) and lets no
    request through any more."""

    def __init__(self, after: int, files: list[str]):
        self.inner = httpx.AsyncHTTPTransport()
        self.after, self.files, self.count = after, files, 0
        self.left: dict[str, bytes | None] | None = None

    async def handle_async_request(self, request):
        self.count += 1
        if self.count >= self.after:
            if self.left is None:  # the checkpoint first: the files it counts on only grow after it
                self.left = {}
                for path in self.files:
                    try:
                        with open(path, "rb") as fh:
                            self.left[path] = fh.read()
                    except FileNotFoundError:
                        self.left[path] = None
            raise Killed()
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


# ------------------------------------------------------------------ the property


EXAMPLES = int(os.environ.get("MAPSPEC_PROPERTY_EXAMPLES", 8))


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=streams, faults=faults, kills=kills, in_flight=st.integers(1, 4), batch=st.integers(1, 10),
       workers=st.sampled_from([0, 1, 2]))
# killed before the first checkpoint moved: the resume must still know what the first run sent
@example(stream=[line_spec("identify", 0, ""), line_spec("identify", 1, "")], faults=Faults(), kills=[2], in_flight=1,
         batch=1, workers=0)
# the same with worker processes translating (--workers): the ledger, the account and the checkpoint stay exact
@example(stream=[line_spec(kind, n, "") for n, kind in enumerate(KINDS * 2)], faults=Faults(server_error=0.2, seed=3),
         kills=[2, 3], in_flight=2, batch=2, workers=2)
def test_every_line_ends_as_the_account_says(stream, faults, kills, in_flight, batch, workers):
    with tempfile.TemporaryDirectory() as tmp, Emulator(api_key=KEY, faults=faults) as emu:
        path, ck, dead = (os.path.join(tmp, name) for name in ("in.ndjson", "ck.json", "dead.ndjson"))
        with open(path, "wb") as fh:
            fh.write(b"".join(spec.data + b"\n" for spec in stream))
        options = Options(in_flight=in_flight, batch_size=batch, max_line_bytes=MAX_LINE, seed=faults.seed,
                          backoff_base=0.01, backoff_max=0.1, linger=0.02, retry_deadline=30, workers=workers)
        twice = 0
        for after in [*kills, None]:
            transport = KillSwitch(after, [ck, ck + ".sent", dead]) if after else None
            job = Job(translate, [path], KEY, options, dead_letter=dead, checkpoint=ck, endpoint=emu.url,
                      transport=transport)
            try:
                account, outcome = execute(job)
            except Killed:
                for name, data in transport.left.items():  # the disk as the kill left it
                    if data is None:
                        if os.path.exists(name):
                            os.remove(name)
                    else:
                        with open(name, "wb") as fh:
                            fh.write(data)
                continue
            except Fatal as e:  # pragma: no cover - shown if it ever happens
                raise AssertionError(f"the run stopped: {e}") from None
            assert account.adds_up()
            twice += outcome.twice or 0
            if after is None:
                break
        whole = outcome.whole
        records = [json.loads(line) for line in open(dead, encoding="utf-8")] if os.path.exists(dead) else []
        received = Counter(o.get("external_id") for o in emu.record.attributes + emu.record.events)
        received.update(emu.record.external_ids + emu.record.braze_ids)

    # every line once in the account, and the account adds up
    assert whole.read == len(stream) and whole.adds_up(), whole
    # every dead-lettered line has one record (each line here gives one object), written once across the runs
    by_line = Counter(r["line"] for r in records)
    assert all(n == 1 for n in by_line.values()), by_line
    reasons = {r["line"]: r["reason"] for r in records}
    fates = Counter()
    for number, spec in enumerate(stream, 1):
        reason = reasons.get(number)
        if reason is None:  # delivered or skipped
            assert "delivered" in spec.fates or "skipped" in spec.fates, (number, spec)
            if spec.oid is not None:
                assert received[spec.oid] >= 1, (number, spec)  # delivered means Braze has it
            fates["delivered" if spec.oid else "skipped"] += 1
            continue
        if reason.startswith("retries ran out"):
            assert "expired" in spec.fates, (number, spec, reason)
            fates["expired"] += 1
        elif spec.kind == "refused":
            assert reason.endswith("'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"), reason
            fates["refused"] += 1
        else:
            assert reason.startswith(spec.reason) and spec.reason, (number, spec, reason)
            fates[spec.fates[0]] += 1
    for fate in ("delivered", "skipped", "invalid", "rejected", "failed", "refused", "expired"):
        assert getattr(whole, fate) == fates[fate], (fate, whole, fates)
    assert whole.blank == sum(1 for spec in stream if spec.kind == "blank")
    assert whole.translated == sum(1 for spec in stream if spec.kind in ("identify", "track", "delete", "refused",
                                                                         "alias"))
    # what a resume sent again is no more than it said may have been sent twice
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= twice, (duplicates, twice)
