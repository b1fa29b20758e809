"""`mapspec run` against hostile events and faults: every line ends delivered, skipped or dead-lettered, and the
run says what happened. Each test is a user's complaint (issue 13), over real HTTP on loopback.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mapspec
from bench.events import event_mix
from mapspec.delivery import Fatal, Job, Options, execute, run
from mapspec.delivery.common import RateWindow, Secret, key_problem, url_problem
from mapspec.delivery.emulator import Emulator
from mapspec.delivery.sender import RateLimiter
from mapspec.targets import bundled
from tests.conftest import inproc
from tests.test_delivery import FAST, KEY, cli, write_events

MAX_BODY = bundled("braze").max_body_bytes

TRANSLATE = mapspec.load("segment-braze")


def dead_letters(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")] if os.path.exists(path) else []


class TinyServer:
    """A loopback HTTP server that answers every POST with `answer(number, body)`: (status, headers, reply)."""

    def __init__(self, answer):
        self.requests: list[tuple[float, bytes, dict]] = []
        self.paths: list[str] = []  # each request's method and path
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((time.monotonic(), body, dict(self.headers)))
                server.paths.append(f"{self.command} {self.path}")
                status, headers, reply = answer(len(server.requests), body)
                payload = json.dumps(reply).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", "Content-Length": str(len(payload)),
                             **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_PUT = do_DELETE = do_PATCH = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def ok(number, body):
    return 201, {}, {"message": "success"}



# ------------------------------------------------------------------ one bad event stops everything


def test_an_event_that_breaks_the_translator_is_dead_lettered_and_the_stream_goes_on(tmp_path):
    events = [{"type": "identify", "userId": f"u{i}"} for i in range(10_000)]
    events.insert(3, {"type": "identify", "userId": "boom"})

    def translate(event):
        if event.get("userId") == "boom":
            raise RecursionError("maximum recursion depth exceeded")
        return TRANSLATE(event)

    path = tmp_path / "e.ndjson"
    write_events(path, events)
    out = io.BytesIO()
    account = run(Job(translate, [str(path)], None, Options(**FAST), out=out, dead_letter=str(tmp_path / "d")))
    [dead] = dead_letters(tmp_path / "d")
    assert dead["line"] == 4 and dead["event"] == {"type": "identify", "userId": "boom"}
    assert dead["reason"] == "the translator failed on this event: RecursionError: maximum recursion depth exceeded"
    assert account.failed == 1 and account.delivered == 10_000 and account.adds_up()
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sum(len(r["body"]["attributes"]) for r in sent) == 10_000


def test_the_events_from_the_issue_are_delivered_or_dead_lettered_with_the_reason(tmp_path):
    path = tmp_path / "e.ndjson"
    lines = [b'{"type":"track","userId":"u1","event":"E","timestamp":"0001-01-01T00:00:00+01:00"}',
             b'{"type":"identify","userId":"u2","traits":{"birthday":"9999-12-31T23:59:59-01:00"}}',
             b'{"type":"track","userId":"u3","event":"E","timestamp":' + b"9" * 400 + b"}",
             b'{"type":"group","userId":"u4","groupId":' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}",
             b'{"type":"identify","userId":"u5","traits":{"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
             b'{"type":"identify","userId":"\\ud800"}',
             b'{"type":"identify","userId":"u7"}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", str(path), "--endpoint", emu.url, "--dead-letter", str(tmp_path / "d"),
                   env={"BRAZE_REST_API_KEY": KEY})
        got = {o.get("external_id") for o in emu.record.attributes + emu.record.events}
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr.decode()[-3000:]
    assert got == {"u2", "u7"}
    reasons = {d["line"]: d["reason"] for d in dead_letters(tmp_path / "d")}
    assert sorted(reasons) == [1, 3, 4, 5, 6]
    assert reasons[4] in ("rejected: a group call needs a groupId",  # nested 1,000 deep, it is no group id
                          "invalid JSON: nested deeper than JSON parsers take")  # or no event, without orjson
    assert reasons[1].startswith("rejected: the event has no time Braze can read")  # before the year 1: no time
    assert "beyond 64 bits" in reasons[3] and "nested deeper" in reasons[5] and "surrogate" in reasons[6]
    assert b"read 7" in proc.stderr


def test_a_lone_surrogate_does_not_take_its_batch_with_it(tmp_path):
    events = [{"type": "identify", "userId": f"u{i}"} for i in range(38)]

    def translate(event):  # a translator written in Python can make any string
        requests = TRANSLATE(event)
        if event["userId"] == "u20":
            requests[0]["body"]["attributes"][0]["nickname"] = "\ud800"
        return requests

    path = tmp_path / "e.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY) as emu:
        account = run(Job(translate, [str(path)], KEY, Options(**FAST), endpoint=emu.url,
                          dead_letter=str(tmp_path / "d")))
        assert len(emu.record.attributes) == 37
    [dead] = dead_letters(tmp_path / "d")
    assert dead["line"] == 21 and "surrogate" in dead["reason"]
    assert account.delivered == 37 and account.failed == 1 and account.adds_up()


@pytest.mark.parametrize("key,problem", [("kéy-6f1c", "not ASCII at position 2"), ("key\n6f1c", "a line break"),
                                         ("key 6f1c", "a space"), ("key\x006f1c", "a control character")])
def test_a_key_that_cannot_be_a_header_is_refused_before_anything_is_sent(tmp_path, key, problem):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    with Emulator() as emu:
        if "\x00" not in key:  # the environment cannot hold a NUL: the key file can
            proc = inproc("run", str(path), "--endpoint", emu.url, env={"BRAZE_REST_API_KEY": key})
            assert proc.returncode == 2 and problem in proc.stderr.decode() and b"Traceback" not in proc.stderr
            assert key.encode() not in proc.stderr + proc.stdout
        (tmp_path / "key").write_bytes(key.encode())
        proc = inproc("run", str(path), "--endpoint", emu.url, "--api-key-file", str(tmp_path / "key"))
        assert proc.returncode == 2 and problem in proc.stderr.decode()
        with pytest.raises(Fatal, match=problem):
            run(Job(TRANSLATE, [str(path)], key, Options(**FAST), endpoint=emu.url))
        assert emu.record.requests == 0
    assert key_problem("6f1c9e-AB_x.y") is None


def test_an_unforeseen_failure_while_sending_is_dead_lettered_not_lost(tmp_path, monkeypatch):
    from mapspec.delivery import sender

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": f"u{i}"} for i in range(200)])
    real = sender.Sender._settle
    calls = []

    def flaky(self, batch, response):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in the sender")
        return real(self, batch, response)

    monkeypatch.setattr(sender.Sender, "_settle", flaky)
    with Emulator(api_key=KEY) as emu:
        account = run(Job(TRANSLATE, [str(path)], KEY, Options(**FAST), endpoint=emu.url,
                          dead_letter=str(tmp_path / "d")))
    dead = dead_letters(tmp_path / "d")
    assert dead and all(d["reason"] == "internal error while sending: RuntimeError: a bug in the sender" for d in dead)
    assert account.failed == len(dead) and account.delivered == 200 - len(dead) and account.adds_up()


def test_an_error_on_the_reader_thread_surfaces(tmp_path, monkeypatch):
    from mapspec.delivery import job

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])

    def broken(*args, **kwargs):
        raise LookupError("not an OSError")
        yield

    monkeypatch.setattr(job, "lines", broken)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(_outcome(Job(TRANSLATE, [str(path)], None, Options(),
                                                                        out=io.BytesIO()))), daemon=True)
    thread.start()
    thread.join(120)  # it used to wait forever
    assert not thread.is_alive() and isinstance(result[0], LookupError)


def _outcome(job):
    try:
        return run(job)
    except BaseException as e:  # noqa: BLE001
        return e


@pytest.mark.parametrize("content", ["", "not json", "[]", '{"inputs": []}', '{"done": {"x": {"line": 3}}}',
                                     '{"mapspec_checkpoint": 2, "inputs": [{"name": "E", "line": 1}], "account": {}}',
                                     '{"mapspec_checkpoint": 2, "inputs": [{"name": "E", "identity": "E", "line": "x", '
                                     '"offset": 0, "sha256": ""}], "account": {}, "max_line_bytes": 1048576}'])
def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path, content):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    (tmp_path / "ck").write_text(content.replace('"E"', json.dumps(str(path))))
    proc = inproc("run", "--dry-run", str(path), "--checkpoint", str(tmp_path / "ck"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert b"is not a mapspec run checkpoint" in proc.stderr and b"Traceback" not in proc.stderr


# ------------------------------------------------------------------ silent changes and silent loss


@pytest.mark.parametrize("codec", ["orjson", "stdlib"])
def test_numbers_json_cannot_carry_are_dead_lettered_not_sent_as_null(tmp_path, monkeypatch, codec):
    from mapspec import jsonio

    if codec == "stdlib":
        monkeypatch.setattr(jsonio, "_orjson", None)
        monkeypatch.setattr(jsonio, "fast_dumps", jsonio._no_fast)
    path = tmp_path / "e.ndjson"
    path.write_bytes(b'{"type":"identify","userId":"u1","traits":{"score":NaN}}\n'
                     b'{"type":"identify","userId":"u2","traits":{"score":-Infinity}}\n'
                     b'{"type":"identify","userId":"u3","traits":{"score":1e400}}\n'
                     b'{"type":"identify","userId":"u4","traits":{"score":12345678901234567890123}}\n'
                     b'{"type":"identify","userId":"u5","traits":{"score":-9223372036854775808}}\n')
    with Emulator(api_key=KEY) as emu:
        account = run(Job(TRANSLATE, [str(path)], KEY, Options(**FAST), endpoint=emu.url,
                          dead_letter=str(tmp_path / "d")))
        assert emu.record.attributes == [{"external_id": "u5", "score": -9223372036854775808,
                                          "_update_existing_only": False}]
    reasons = [d["reason"] for d in dead_letters(tmp_path / "d")]
    assert reasons == ["invalid JSON: NaN is not a number JSON allows",
                       "invalid JSON: -Infinity is not a number JSON allows",
                       "invalid JSON: the number 1e400 is beyond the range of a double",
                       "the integer 12345678901234567890123 is beyond 64 bits: Braze would not keep it exactly "
                       "(send it as text)"]
    assert account.invalid == 4 and account.delivered == 1


def test_a_translator_that_makes_nan_is_refused_not_sent_as_null(tmp_path):
    def translate(event):
        requests = TRANSLATE(event)
        requests[0]["body"]["attributes"][0]["score"] = float("nan") if event["userId"] == "u1" else 2**70
        return requests

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u1"}, {"type": "identify", "userId": "u2"}])
    out = io.BytesIO()
    account = run(Job(translate, [str(path)], None, Options(**FAST), out=out, dead_letter=str(tmp_path / "d")))
    assert out.getvalue() == b"" and account.failed == 2
    assert [d["reason"] for d in dead_letters(tmp_path / "d")] == [
        "cannot be sent: an object of attributes cannot be sent: NaN and Infinity are not numbers JSON allows",
        "cannot be sent: an object of attributes cannot be sent: the integer 1180591620717411303424 is beyond 64 "
        "bits: Braze would not keep it exactly"]


def _stop_after(n: int):
    """A server that answers 201 to the first n requests, then 401: a run that stops midway, deterministically."""
    def answer(number, body):
        return (201, {}, {"message": "success"}) if number <= n else (401, {}, {"message": "Invalid API Key"})
    return answer


def test_a_checkpoint_refuses_another_file_under_the_same_name(tmp_path):
    path = tmp_path / "daily.ndjson"
    ck = tmp_path / "ck.json"
    write_events(path, [{"type": "identify", "userId": f"monday-{i}"} for i in range(300)])
    with TinyServer(_stop_after(2)) as url:
        with pytest.raises(Fatal):
            run(Job(TRANSLATE, [str(path)], KEY, Options(in_flight=1, batch_size=50, **FAST), endpoint=url,
                    checkpoint=str(ck)))
    position = json.loads(ck.read_text())["inputs"][0]
    assert 0 < position["line"] < 300
    write_events(path, [{"type": "identify", "userId": f"tuesday-{i}"} for i in range(300)])  # the next day
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", str(path), "--checkpoint", str(ck), "--endpoint", emu.url, env={"BRAZE_REST_API_KEY": KEY})
        assert proc.returncode == 2 and emu.record.requests == 0
    message = proc.stderr.decode()
    assert f"the first {position['line']} lines of {path} are not those the checkpoint was written for" in message
    assert "remove the checkpoint to start this job again" in message and "Traceback" not in message
    write_events(path, [{"type": "identify", "userId": f"monday-{i}"} for i in range(10)])  # truncated
    proc = inproc("run", "--dry-run", str(path), "--checkpoint", str(ck))
    assert proc.returncode == 2 and b"has 10 lines, but the checkpoint is after line" in proc.stderr
    assert json.loads(ck.read_text())["inputs"][0] == position  # a refusal leaves the checkpoint as it was
    write_events(path, [{"type": "identify", "userId": f"monday-{i}"} for i in range(300)])  # the right file
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", str(path), "--checkpoint", str(ck), "--endpoint", emu.url,
                      env={"BRAZE_REST_API_KEY": KEY})
        assert proc.returncode == 0, proc.stderr
        assert Counter(o["external_id"] for o in emu.record.attributes) == Counter(
            f"monday-{i}" for i in range(position["line"], 300))  # in any order: requests go in parallel


def test_a_checkpoint_goes_on_in_a_file_that_grew(tmp_path, monkeypatch):
    path = tmp_path / "log.ndjson"
    ck = tmp_path / "ck.json"
    write_events(path, [{"type": "identify", "userId": f"a{i}"} for i in range(100)])
    with Emulator(api_key=KEY) as emu:
        monkeypatch.chdir(tmp_path)  # the first run names it from its folder, the resume by its full path
        assert inproc("run", "log.ndjson", "--checkpoint", str(ck), "--endpoint", emu.url,
                      env={"BRAZE_REST_API_KEY": KEY}).returncode == 0
        monkeypatch.undo()
        with open(path, "a") as fh:
            fh.write(json.dumps({"type": "identify", "userId": "b0"}) + "\n")
        proc = inproc("run", str(path), "--checkpoint", str(ck), "--endpoint", emu.url, env={"BRAZE_REST_API_KEY": KEY})
        assert proc.returncode == 0, proc.stderr
        ids = [o["external_id"] for o in emu.record.attributes]
        assert sorted(ids[:100]) == sorted(f"a{i}" for i in range(100)) and ids[100:] == ["b0"]
    assert b"read 1," in proc.stderr and b"the whole job: read 101," in proc.stderr


def test_stdin_with_a_checkpoint_needs_a_name_and_the_same_stream(tmp_path):
    ck = tmp_path / "ck.json"
    day1 = "".join(json.dumps({"type": "identify", "userId": f"d1-{i}"}) + "\n" for i in range(50)).encode()
    day2 = "".join(json.dumps({"type": "identify", "userId": f"d2-{i}"}) + "\n" for i in range(50)).encode()
    proc = inproc("run", "--dry-run", "-", "--checkpoint", str(ck), input=day1)
    assert proc.returncode == 2 and b"needs --stdin-name NAME" in proc.stderr
    with Emulator(api_key=KEY) as emu:
        args = ["run", "-", "--checkpoint", str(ck), "--stdin-name", "export", "--endpoint", emu.url]
        env = {"BRAZE_REST_API_KEY": KEY}
        assert inproc(*args, input=day1, env=env).returncode == 0
        proc = inproc(*args, input=day1, env=env)  # the same stream again: nothing left
        assert proc.returncode == 0 and b"already complete" in proc.stderr, proc.stderr
        proc = inproc(*args, input=day2, env=env)  # another stream under the same name
        assert proc.returncode == 2 and b"the first 50 lines of stdin:export are not those" in proc.stderr
        assert len(emu.record.attributes) == 50
    dead = json.loads(ck.read_text())
    assert dead["inputs"][0]["name"] == "stdin:export"


def test_the_same_path_twice_is_two_inputs(tmp_path):
    path = tmp_path / "e.ndjson"
    ck = tmp_path / "ck.json"
    write_events(path, [{"type": "identify", "userId": f"u{i}"} for i in range(400)])
    options = Options(in_flight=1, batch_size=25, **FAST)
    with TinyServer(_stop_after(20)) as url:  # stops during the second copy
        with pytest.raises(Fatal):
            run(Job(TRANSLATE, [str(path), str(path)], KEY, options, endpoint=url, checkpoint=str(ck)))
    state = json.loads(ck.read_text())
    assert state["inputs"][0]["line"] == 400 and 0 < state["inputs"][1]["line"] < 400
    with Emulator(api_key=KEY) as emu:
        account, outcome = execute(Job(TRANSLATE, [str(path), str(path)], KEY, options, endpoint=emu.url,
                                       checkpoint=str(ck)))
        ids = Counter(o["external_id"] for o in emu.record.attributes)
    assert set(ids) == {f"u{i}" for i in range(state["inputs"][1]["line"], 400)}  # what the second copy left
    assert account.read == 400 - state["inputs"][1]["line"]
    assert outcome.whole.read == 800 and outcome.whole.delivered == 800 and outcome.whole.adds_up()


# ------------------------------------------------------------------ too large


def test_bodies_are_split_by_the_targets_size_limit_before_they_are_sent(tmp_path):
    assert Options().max_body is None  # the target's: 4 MB for Braze
    big = "x" * 200_000
    events = [{"type": "identify", "userId": f"u{i}", "traits": {"bio": big}} for i in range(40)]  # 8 MB
    events.append({"type": "identify", "userId": "huge", "traits": {"bio": "y" * (MAX_BODY + 1)}})
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY) as emu:
        account = run(Job(TRANSLATE, [str(path)], KEY, Options(max_line_bytes=8 << 20, **FAST), endpoint=emu.url,
                          dead_letter=str(tmp_path / "d")))
        statuses = dict(emu.record.statuses)
        assert len(emu.record.attributes) == 40
    assert 413 not in statuses and statuses[201] >= 2
    [dead] = dead_letters(tmp_path / "d")
    # said with the service's title, and counted as what it is: never sent, so not refused by Braze
    assert dead["line"] == 41 and "larger than Braze takes in a request (4,194,304 bytes)" in dead["reason"]
    assert account.delivered == 40 and account.refused == 0 and account.failed == 1
    assert account.requests == statuses[201]
    assert "1 untranslatable or unsendable, 0 refused by Braze" in account.text("Braze")


def test_the_emulator_answers_413_to_a_body_too_large():
    import httpx

    with Emulator(api_key=KEY) as emu:
        body = json.dumps({"attributes": [{"external_id": "u", "bio": "x" * (5 << 20)}]}).encode()
        reply = httpx.post(emu.url + "/users/track", content=body, headers={"Authorization": f"Bearer {KEY}"},
                           timeout=60)
        assert reply.status_code == 413 and reply.json() == {"message": "Request Entity Too Large"}
        small = httpx.post(emu.url + "/users/track", json={"attributes": [{"external_id": "u"}]},
                           headers={"Authorization": f"Bearer {KEY}"})
        assert small.status_code == 201


# ------------------------------------------------------------------ honest reporting


def test_without_a_key_run_refuses_to_start_and_a_dry_run_says_would_send(tmp_path):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    proc = inproc("run", str(path))  # no BRAZE_REST_API_KEY in its environment
    assert proc.returncode == 2 and proc.stdout == b""
    assert b"no REST API key: set BRAZE_REST_API_KEY, or give --api-key-file FILE; or --dry-run" in proc.stderr
    proc = inproc("run", "--dry-run", str(path))
    assert proc.returncode == 0 and b"would send 1," in proc.stderr and b"delivered" not in proc.stderr
    assert b"1 request written, nothing sent" in proc.stderr and json.loads(proc.stdout)["method"] == "POST"


@pytest.mark.parametrize("endpoint,problem", [("127.0.0.1:8766", "no http:// or https://"),
                                              ("localhost:8766", "no http:// or https://"),
                                              ("ftp://127.0.0.1:8766", "its scheme is 'ftp'"),
                                              ("http://", "no host"), ("http://127.0.0.1:99999", "not a URL"),
                                              ("https://x/?a=1", "query or fragment")])
def test_a_bad_endpoint_is_refused_at_start(tmp_path, endpoint, problem):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    proc = inproc("run", str(path), "--endpoint", endpoint, env={"BRAZE_REST_API_KEY": KEY}, timeout=120)
    assert proc.returncode == 2 and problem in proc.stderr.decode(), proc.stderr
    assert url_problem("http://127.0.0.1:8765") is None and url_problem("https://rest.iad-01.braze.com/") is None


def test_a_mapping_that_sends_to_a_url_without_scheme_stops_the_run(tmp_path):
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"rest_endpoint": "rest.iad-01.braze.com"}))
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    proc = inproc("run", str(path), "--settings", str(settings), env={"BRAZE_REST_API_KEY": KEY}, timeout=120)
    assert proc.returncode == 2
    assert b"the mapping sends to 'rest.iad-01.braze.com/users/track', which cannot be used" in proc.stderr


def test_connection_failures_are_counted_apart_from_brazes_answers(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    account = run(Job(TRANSLATE, [str(path)], KEY, Options(retry_deadline=1.0, **FAST),
                      endpoint=f"http://127.0.0.1:{port}", dead_letter=str(tmp_path / "d")))
    [dead] = dead_letters(tmp_path / "d")
    assert dead["reason"].startswith("retries ran out after") and "last: no answer: ConnectError" in dead["reason"]
    assert account.expired == 1 and account.refused == 0
    assert account.requests >= 2 and account.unanswered == account.requests
    assert f"{account.requests} requests (0 answered, {account.requests} without an answer)" in account.text()


def test_blank_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "e.ndjson"
    path.write_bytes(b'{"type":"identify","userId":"u1"}\n\n   \n\t\r\n{"type":"identify","userId":"u2"}\n\n')
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", str(path), "--endpoint", emu.url, env={"BRAZE_REST_API_KEY": KEY})
        assert len(emu.record.attributes) == 2
    assert proc.returncode == 0, proc.stderr
    assert b"read 6, translated 2, delivered 2, skipped 4 (4 blank), dead-lettered 0" in proc.stderr


def test_retry_after_waits_at_least_as_long_as_asked(tmp_path):
    def answer(number, body):
        if number == 1:
            return 429, {"Retry-After": "1"}, {"message": "Rate Limited"}
        if number == 2:
            return 503, {"Retry-After": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))}, \
                {"message": "Service Unavailable"}
        return 201, {}, {"message": "success"}

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    tiny = TinyServer(answer)
    with tiny as url:
        account = run(Job(TRANSLATE, [str(path)], KEY, Options(**FAST), endpoint=url))
    times = [t for t, _, _ in tiny.requests]
    assert account.delivered == 1 and len(times) == 3
    assert times[1] - times[0] >= 1.0  # never sooner than asked (FAST backs off 0.2 s at most)
    assert times[2] - times[1] >= 0.5  # an HTTP date two seconds ahead (whole seconds: at least one more)


def test_a_rate_limit_reset_an_hour_away_dead_letters_at_once_instead_of_stalling(tmp_path):
    def answer(number, body):
        return 429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)}, \
            {"message": "Rate Limited"}

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": f"u{i}"} for i in range(3)])
    result: list = []
    with TinyServer(answer) as url:
        job = Job(TRANSLATE, [str(path)], KEY, Options(retry_deadline=30, batch_size=1, in_flight=1, **FAST),
                  endpoint=url, dead_letter=str(tmp_path / "d"))
        thread = threading.Thread(target=lambda: result.append(_outcome(job)), daemon=True)
        thread.start()
        thread.join(120)  # it used to sleep until the reset, an hour
    assert not thread.is_alive()
    account = result[0]
    assert account.expired == 3 and account.requests == 1  # once Braze said an hour, nothing more was sent
    reasons = [d["reason"] for d in dead_letters(tmp_path / "d")]
    assert "Braze asked to wait 3600 s" in reasons[0] or "Braze asked to wait 3599 s" in reasons[0]
    assert all("rate limit lets nothing through until" in r for r in reasons[1:])


def test_the_rate_window_is_exact():
    limit, period = 30, 3.0
    window = RateWindow(limit, period)
    now, granted = 0.0, []
    for _ in range(400):  # clients asking as fast as they can, with the clock moving in uneven steps
        at = window.reserve(now)
        granted.append(at)
        now = at + (0.001 if len(granted) % 7 else 0.4)
    for i, t in enumerate(granted):
        assert sum(1 for u in granted[i:] if u < t + period) <= limit  # every window of 3 s holds at most 30
    server = RateWindow(limit, period)
    allowed = [server.take(t / 100)[0] for t in range(1000)]  # a request every 10 ms for 10 s
    for start in range(0, 1000 - 300):
        assert sum(allowed[start:start + 300]) <= limit


def test_the_limiter_of_a_run_never_lets_more_through_than_the_rate():
    import asyncio

    clock = [0.0]

    async def go():
        limiter = RateLimiter(10, 1.0, clock=lambda: clock[0])
        times = []
        for _ in range(55):
            waited = await limiter.acquire(deadline=1e9)
            clock[0] += waited + 0.01
            times.append(clock[0])
        return times

    import unittest.mock

    async def no_sleep(seconds):
        return None

    with unittest.mock.patch("mapspec.delivery.sender.asyncio.sleep", no_sleep):
        times = asyncio.run(go())
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 1.0 - 1e-9) <= 10


def test_timeout_is_a_flag(tmp_path):
    stalls = threading.Event()

    def answer(number, body):
        stalls.wait(30)  # no answer for longer than the timeout
        return 201, {}, {"message": "success"}

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    with TinyServer(answer) as url:
        proc = inproc("run", str(path), "--endpoint", url, "--timeout", "0.3", "--retry-deadline", "1", "--dead-letter",
                   str(tmp_path / "d"), env={"BRAZE_REST_API_KEY": KEY}, timeout=120)
        stalls.set()
    assert proc.returncode == 1, proc.stderr
    [dead] = dead_letters(tmp_path / "d")
    assert "no answer: ReadTimeout" in dead["reason"]


def test_the_key_is_redacted_from_what_braze_echoes(tmp_path):
    def answer(number, body):
        if number == 1:
            return 400, {}, {"message": f"bad request from key {KEY}"}
        return 401, {}, {"message": f"Invalid API key: {KEY}"}

    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u1"}, {"type": "identify", "userId": "u2"}])
    with TinyServer(answer) as url:
        proc = cli("run", str(path), "--endpoint", url, "--batch-size", "1", "--in-flight", "1", "--dead-letter",
                   str(tmp_path / "d"), "--log-level", "debug", env={"BRAZE_REST_API_KEY": KEY})
    assert proc.returncode == 2
    assert KEY.encode() not in proc.stderr + proc.stdout and b"Invalid API key: [REDACTED]" in proc.stderr
    text = (tmp_path / "d").read_text()
    assert KEY not in text and "bad request from key [REDACTED]" in text
    assert Secret("a\"b").redact('{"k": "a\\"b"} a"b') == '{"k": "[REDACTED]"} [REDACTED]'


def test_a_dry_run_writes_no_checkpoint(tmp_path):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    assert inproc("run", "--dry-run", str(path), "--checkpoint", str(tmp_path / "ck")).returncode == 0
    assert not (tmp_path / "ck").exists()


# ------------------------------------------------------------------ resume


def test_resume_accounting_adds_up_and_says_what_may_have_been_sent_twice(tmp_path):
    events = event_mix(1200, seed=5)
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    ck, dead = tmp_path / "ck.json", tmp_path / "dead.ndjson"
    options = Options(in_flight=4, batch_size=20, **FAST)
    with TinyServer(_stop_after(15)) as url:
        with pytest.raises(Fatal) as stopped:
            run(Job(TRANSLATE, [str(path)], KEY, options, endpoint=url, checkpoint=str(ck), dead_letter=str(dead)))
    first = stopped.value.outcome
    assert first.pending > 0 and first.run.adds_up()
    saved = json.loads(ck.read_text())
    assert saved["account"]["read"] == saved["inputs"][0]["line"]  # the account is of the lines before the position
    with Emulator(api_key=KEY) as emu:
        account, outcome = execute(Job(TRANSLATE, [str(path)], KEY, options, endpoint=emu.url, checkpoint=str(ck),
                                       dead_letter=str(dead)))
        resent = len(emu.record.attributes) + len(emu.record.events) + len(emu.record.purchases)
    assert outcome.resumed == [(str(path), saved["inputs"][0]["line"])]
    assert outcome.whole.read == 1200 and outcome.whole.adds_up() and account.adds_up()
    assert 0 < outcome.twice <= resent
    lines = [d["line"] for d in dead_letters(dead)]
    assert sorted(lines) == sorted(set(lines))  # each dead line once, though the first run got past some of them
    assert len(set(lines)) == outcome.whole.dead_lettered
    proc = inproc("run", str(path), "--checkpoint", str(ck), "--dead-letter", str(dead), "--endpoint",
               "http://127.0.0.1:9", env={"BRAZE_REST_API_KEY": KEY})
    assert proc.returncode == 0 and b"already complete: nothing left to read" in proc.stderr
    assert b"the job: read 1200," in proc.stderr


def test_bodies_of_another_endpoint_merge_as_the_target_says(tmp_path):
    def translate(event):  # /users/identify: its arrays merge, 50 in all (the target description says so)
        return [{"method": "POST", "url": "https://x/users/identify",
                 "body": {"aliases_to_identify": [{"external_id": event["userId"],
                                                   "user_alias": {"alias_name": "a", "alias_label": "l"}}]}}]

    path = tmp_path / "e.ndjson"
    write_events(path, [{"userId": "u1"}, {"userId": "u2"}])
    tiny = TinyServer(ok)
    with tiny as url:
        account = run(Job(translate, [str(path)], KEY, Options(**FAST), endpoint=url))
    assert account.delivered == 2 and account.skipped == 0 and account.requests == 1
    [(_, body, _)] = tiny.requests
    assert [a["external_id"] for a in json.loads(body)["aliases_to_identify"]] == ["u1", "u2"]


def test_lines_waiting_behind_a_slow_one_are_bounded(tmp_path, monkeypatch):
    from mapspec.delivery import job as job_module
    from mapspec.delivery.ledger import Ledger

    tries = Counter()

    def answer(number, body):  # the first line's request fails until most others went through, or 25 times
        slow = b'"u0"' in body
        tries["u0" if slow else "others"] += 1
        if slow and tries["others"] < 100 and tries["u0"] < 20:
            return 503, {}, {"message": "Service Unavailable"}
        return 201, {}, {"message": "success"}

    waiting = []
    enter = Ledger.enter

    def counting(self, line):
        enter(self, line)
        waiting.append(len(self.lines))

    monkeypatch.setattr(Ledger, "enter", counting)
    monkeypatch.setattr(job_module.Run, "MAX_WAITING", 300, raising=False)
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": f"u{i}"} for i in range(1500)])
    with TinyServer(answer) as url:
        account = run(Job(TRANSLATE, [str(path)], KEY, Options(in_flight=4, batch_size=10, **FAST),
                          endpoint=url))
    assert account.delivered == 1500 and account.retried >= 1
    assert max(waiting) <= 300 + job_module.SLICE  # read on only as the slow line was decided


def test_a_path_from_event_data_never_leaves_its_endpoint_and_a_404_there_is_the_events_fault(tmp_path):
    """`..` in a catalog name made `/catalogs/../items`, which clients send as `/items`; a catalog Braze does not
    have answers 404, which stopped the whole run (and every resume) instead of refusing those items."""
    from tests.conftest import compile_text
    translate = compile_text(
        "name: catalogs\nbase_url: '\"https://braze.example\"'\nrules:\n  - name: item\n    when: type == \"identify\"\n    send:\n"
        "      - endpoint: PUT /catalogs/{catalog_name}/items\n        params: {catalog_name: traits.cat}\n"
        "        body: {items: [{id: userId}]}\n", path="catalogs.yaml")
    cats = ["..", "", ".", "gone", "shop", "%2E%2E"]
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": f"u{i}", "traits": {"cat": c}} for i, c in enumerate(cats)])
    server = TinyServer(lambda n, body: (404, {}, {"message": "catalog not found"}) if "gone" in server.paths[n - 1]
                        else (202, {}, {"message": "success"}))
    with server as url:
        account = run(Job(translate, [str(path)], KEY, Options(in_flight=1, **FAST), endpoint=url,
                          dead_letter=str(tmp_path / "d")))
    assert sorted(server.paths) == ["PUT /catalogs/%252E%252E/items", "PUT /catalogs/gone/items",
                                    "PUT /catalogs/shop/items"]
    reasons = {d["line"]: d["reason"] for d in dead_letters(tmp_path / "d")}
    assert sorted(reasons) == [1, 2, 3, 4] and all("path parameter `catalog_name`" in reasons[i] for i in (1, 2, 3))
    assert reasons[4].startswith("404") and "catalog not found" in reasons[4]
    assert account.delivered == 2 and account.refused == 1 and account.rejected == 3 and account.adds_up()


@pytest.mark.parametrize(("status", "workers"), [(400, 0), (401, 0), (400, 1)])
def test_a_server_that_echoes_the_body_never_carries_the_client_secret_out(tmp_path, status, workers):
    """The cohort API's client_secret (a body field the target marks secret) came back in a 400's message into
    the dead letter's reason, and in a 401's into the reason the run stopped."""
    from tests.test_delivery_endpoints import MAPPING, event
    secret = "cs-0a1b2c3d4e5f"  # the fixture mapping's default client_secret setting
    path = tmp_path / "e.ndjson"
    write_events(path, [event("cohort", "u1", cohort="c1")])
    server = TinyServer(lambda n, body: (status, {}, {"message": f"cannot take {body.decode()}"}))
    stopped = None
    with server as url:
        try:
            run(Job(mapspec.load(str(MAPPING)), [str(path)], KEY, Options(workers=workers, **FAST), endpoint=url,
                    dead_letter=str(tmp_path / "d"), state=str(tmp_path / "s.sqlite")))
        except Fatal as e:
            stopped = str(e)
    assert server.requests and secret.encode() in server.requests[0][1]  # it was sent
    written = (tmp_path / "d").read_text() + (stopped or "")
    assert "cannot take" in written and "[REDACTED]" in written and secret not in written


def test_a_worker_that_dies_stops_the_run_and_the_next_run_goes_on(tmp_path):
    """--workers: a worker process killed (the system's OOM killer, say) stops the run with the reason, never a
    traceback or a hang; the lines it had are after the checkpoint, and the next run delivers them."""
    events = event_mix(3000, seed=6)
    events[2000] = {"type": "identify", "userId": "die"}
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    real = mapspec.load("segment-braze")

    def dies_on_one(event):
        if event.get("userId") == "die":
            os._exit(9)  # what kill -9 does to a worker: no exception, no goodbye
        return real(event)

    dies_on_one.target = real.target  # type: ignore[attr-defined]
    dies_on_one.endpoints = real.endpoints  # type: ignore[attr-defined]
    ck, dead = str(tmp_path / "ck.json"), str(tmp_path / "dead.ndjson")
    with Emulator(api_key=KEY) as emu:
        with pytest.raises(Fatal, match="a worker process stopped") as e:
            run(Job(dies_on_one, [str(path)], KEY, Options(workers=2, **FAST), dead_letter=dead, checkpoint=ck,
                    endpoint=emu.url))
        stopped = e.value.outcome
        assert stopped.run.read < 3000 and stopped.run.adds_up()
        account, outcome = execute(Job(real, [str(path)], KEY, Options(workers=2, **FAST), dead_letter=dead,
                                       checkpoint=ck, endpoint=emu.url))
    assert outcome.whole.read == 3000 and outcome.whole.adds_up()
    assert "die" in emu.record.external_ids or any(a.get("external_id") == "die" for a in emu.record.attributes)


def test_a_short_key_is_masked_where_it_stands_alone_not_inside_every_word():
    """With BRAZE_REST_API_KEY=k, dead letters read `/wor[REDACTED]/...` and `date-li[REDACTED]e`."""
    secret = Secret("k")
    assert secret.redact("/work/date-like: key k, Bearer k, {\"key\": \"k\"}") == (
        "/work/date-like: key [REDACTED], Bearer [REDACTED], {\"key\": \"[REDACTED]\"}")
    long = Secret("0123456789abcdef")  # a real key's length: masked wherever it is, inside a word too
    assert long.redact("x0123456789abcdefy") == "x[REDACTED]y"


def _a_checkpoint(tmp_path) -> tuple[str, dict]:
    """An events file and the checkpoint a run over it wrote: one to break."""
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    ck = tmp_path / "ck"
    with Emulator(api_key=KEY) as emu:
        run(Job(TRANSLATE, [str(path)], KEY, Options(**FAST), endpoint=emu.url, checkpoint=str(ck),
                dead_letter=str(tmp_path / "dead")))
    return str(path), json.loads(ck.read_text())


@pytest.mark.parametrize("change", [
    ("dead_letter", "x"), ("dead_letter", -1), ("dead_letter", {"path": 3, "size": 0}),
    ("dead_letter", {"path": "/d", "size": -1}), ("dead_letter", {"path": "/d"}),
    ("account", {"a": [1]}), ("account", {}), ("account", []), ("max_line_bytes", 0), ("max_line_bytes", True),
    ("inputs", [1]), ("inputs", {}), ("mapspec_checkpoint", 2.0), ("mapspec_checkpoint", True),
    ("extra", 1), ("input", "deep")])
def test_every_malformed_part_of_a_checkpoint_is_refused_with_exit_2(tmp_path, change):
    path, state = _a_checkpoint(tmp_path)
    name, value = change
    if name == "input":
        state["inputs"][0]["line"] = -3
    elif name == "account" and value == {"a": [1]}:
        state["account"] = {**state["account"], "a": [1]}
    else:
        state[name] = value
    (tmp_path / "ck").write_text(json.dumps(state))
    proc = inproc("run", "--dry-run", path, "--checkpoint", str(tmp_path / "ck"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert b"is not a mapspec run checkpoint" in proc.stderr and b"Traceback" not in proc.stderr, proc.stderr


def test_a_checkpoint_nested_past_any_depth_is_refused_not_a_recursion_error(tmp_path):
    path, _ = _a_checkpoint(tmp_path)
    (tmp_path / "ck").write_text("[" * 100_000)
    proc = inproc("run", "--dry-run", path, "--checkpoint", str(tmp_path / "ck"), timeout=120)
    assert proc.returncode == 2 and b"is not a mapspec run checkpoint" in proc.stderr, proc.stderr


def test_the_checkpoint_a_run_writes_is_read_back(tmp_path):
    path, state = _a_checkpoint(tmp_path)
    proc = inproc("run", "--dry-run", path, "--checkpoint", str(tmp_path / "ck"), timeout=120)
    assert proc.returncode == 0 and b"already complete" in proc.stderr, proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_sent_mark_beside_the_checkpoint_is_read_no_further_than_its_one_line(tmp_path):
    path, _ = _a_checkpoint(tmp_path)
    sent = tmp_path / "ck.sent"
    sent.unlink(missing_ok=True)
    sent.symlink_to("/dev/zero")
    proc = inproc("run", "--dry-run", path, "--checkpoint", str(tmp_path / "ck"), timeout=120)
    assert proc.returncode == 0 and b"already complete" in proc.stderr, proc.stderr
