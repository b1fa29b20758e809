"""`mapspec run` against the Braze emulator, over real HTTP on loopback: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

import mapspec
from bench.events import event_mix
from mapspec.delivery import Fatal, Job, Options, run
from mapspec.delivery.emulator import Emulator, Faults
from mapspec.delivery.validation import answer
from mapspec.targets import bundled
from tests.conftest import ROOT

KEY = "test-key-6f1c9e"
FAST = dict(backoff_base=0.01, backoff_max=0.2, linger=0.05)


def write_events(path, events):
    with open(path, "w") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")


def expected_objects(translate, events):
    out = {"attributes": Counter(), "events": Counter(), "purchases": Counter()}
    for e in events:
        try:
            requests = translate(e)
        except mapspec.Rejected:
            continue
        for r in requests:
            for array in out:
                for obj in r["body"].get(array, []):
                    out[array][json.dumps(obj, sort_keys=True)] += 1
    return out


def received(emulator):
    return {array: Counter(json.dumps(o, sort_keys=True) for o in getattr(emulator.record, array))
            for array in ("attributes", "events", "purchases")}


def test_flaky_braze_loses_nothing_and_sends_nothing_twice(tmp_path):
    events = event_mix(20_000, seed=3)
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    translate = mapspec.load("segment-braze")
    faults = Faults(rate_limited=0.10, server_error=0.05, drop=0.01, seed=32)  # a seed with drops early on
    with Emulator(api_key=KEY, faults=faults) as emu:
        job = Job(translate, [str(path)], KEY, Options(seed=1, **FAST), dead_letter=str(tmp_path / "dead.ndjson"),
                  endpoint=emu.url)
        account = run(job)
        statuses = dict(emu.record.statuses)
        dropped = emu.record.dropped
    assert received(emu) == expected_objects(translate, events)  # every object, exactly once
    assert account.adds_up() and account.read == 20_000
    assert account.refused == 0 and account.invalid == 0
    assert account.rejected == sum(1 for line in open(tmp_path / "dead.ndjson"))
    assert statuses.get(429) and (statuses.get(500, 0) + statuses.get(503, 0)) and dropped  # faults happened
    assert account.retried >= statuses[429]


def test_workers_deliver_exactly_what_one_process_does(tmp_path):
    """--workers N: N other processes parse and translate; the requests, the dead letters (with their events)
    and the account are the same as one process's, against a Braze that refuses objects and fails now and then."""
    events = event_mix(3000, seed=5)
    events[10:10] = [{"type": "identify", "userId": "u-gone", "traits": {"email": 5}}, {"type": "nothing"}]
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    with open(path, "ab") as fh:
        fh.write(b"not json\n[1]\n\n" + b'{"type":"identify","userId":"' + b"x" * 2000 + b'"}\n')
    translate = mapspec.load("segment-braze")
    results = []
    for workers in (0, 2):
        with Emulator(api_key=KEY, faults=Faults(server_error=0.1, seed=4)) as emu:
            dead = tmp_path / f"dead{workers}.ndjson"
            options = Options(seed=1, workers=workers, max_line_bytes=1000, **FAST)
            account = run(Job(translate, [str(path)], KEY, options, dead_letter=str(dead), endpoint=emu.url))
            results.append((received(emu), account.counts(), dead.read_text()))
        out = tmp_path / f"dry{workers}.ndjson"
        with open(out, "wb") as fh:
            # batches cut by their limits only (a batch that waited `linger` goes early, which depends on the
            # machine's load): the same requests, byte for byte
            run(Job(translate, [str(path)], None, Options(workers=workers, max_line_bytes=1000,
                                                          **{**FAST, "linger": 3600.0}), out=fh))
        results[-1] += (out.read_bytes(),)
    (got1, counts1, dead1, dry1), (got2, counts2, dead2, dry2) = results
    assert got1 == got2
    want = expected_objects(translate, events)
    assert sum((want[a] - got2[a]).total() for a in want) == 1  # the one Braze refused, dead-lettered
    assert counts1 == {**counts2, "requests": counts1["requests"], "retried": counts1["retried"]}
    assert counts2["read"] == len(events) + 4 and counts2["invalid"] == 3 and counts2["blank"] == 1
    assert counts2["refused"] == 1
    assert dead1 == dead2 and dry1 == dry2
    records = [json.loads(line) for line in dead2.splitlines()]
    assert sum("event" in r for r in records) == len(records) - 3  # every line that was an event shows it


def test_batches_respect_braze_limits(tmp_path):
    events = [{"type": "identify", "userId": f"u{i}", "traits": {"n": i}} for i in range(160)]
    events += [{"type": "delete", "userId": f"d{i}"} for i in range(120)]
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    out = tmp_path / "out.ndjson"
    with open(out, "wb") as fh:
        run(Job(mapspec.load("segment-braze"), [str(path)], None, Options(**FAST), out=fh))
    requests = [json.loads(line) for line in open(out)]
    sizes = [len(r["body"].get("attributes", r["body"].get("external_ids", []))) for r in requests]
    assert sorted(sizes) == [10, 20, 50, 50, 75, 75]
    with open(out, "wb") as fh:
        run(Job(mapspec.load("segment-braze"), [str(path)], None, Options(max_objects=50, **FAST), out=fh))
    assert max(len(json.loads(line)["body"].get("attributes", [])) for line in open(out)) == 50


def test_refused_objects_are_dead_lettered_and_the_rest_delivered(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("name: m\nbase_url: '\"http://x\"'\nrules:\n  - send:\n      endpoint: /users/track\n"
                       "      body:\n        events:\n          - {external_id: userId, name: event, time: timestamp}\n")
    events = [{"userId": "u", "event": "E", "timestamp": "2024-01-01T00:00:00Z"},
              {"userId": "u", "event": "E"},  # no time: Braze refuses this object
              {"event": "E", "timestamp": "2024-01-01T00:00:00Z"}]  # no identifier
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY) as emu:
        account = run(Job(mapspec.load(str(mapping)), [str(path)], KEY, Options(**FAST),
                          dead_letter=str(tmp_path / "dead.ndjson"), endpoint=emu.url))
        assert len(emu.record.events) == 1
    dead = [json.loads(line) for line in open(tmp_path / "dead.ndjson")]
    assert [(d["line"], d["reason"]) for d in dead] == [
        (2, "201: 'time' is required"),
        (3, "201: 'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required")]
    assert dead[0]["event"] == events[1] and dead[0]["object"] == {"external_id": "u", "name": "E"}
    assert account.delivered == 1 and account.refused == 2 and account.adds_up()


def test_413_splits_the_batch(tmp_path):
    events = [{"type": "identify", "userId": f"u{i}", "traits": {"bio": "x" * 300}} for i in range(40)]
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY, max_body=4000) as emu:
        account = run(Job(mapspec.load("segment-braze"), [str(path)], KEY, Options(**FAST), endpoint=emu.url))
        assert len(emu.record.attributes) == 40 and emu.record.statuses.get(413)
    assert account.delivered == 40


def test_retries_run_out_into_the_dead_letter_file(tmp_path):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    with Emulator(api_key=KEY, faults=Faults(server_error=1.0)) as emu:
        account = run(Job(mapspec.load("segment-braze"), [str(path)], KEY, Options(retry_deadline=0.5, **FAST),
                          dead_letter=str(tmp_path / "dead.ndjson"), endpoint=emu.url))
    [dead] = [json.loads(line) for line in open(tmp_path / "dead.ndjson")]
    assert dead["reason"].startswith("retries ran out after") and dead["line"] == 1
    assert account.expired == 1 and account.refused == 0 and account.adds_up()


def test_a_wrong_key_stops_the_run(tmp_path):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    with Emulator(api_key=KEY) as emu:
        with pytest.raises(Fatal, match="401"):
            run(Job(mapspec.load("segment-braze"), [str(path)], "wrong", Options(**FAST),
                    dead_letter=str(tmp_path / "dead.ndjson"), endpoint=emu.url))
    assert not (tmp_path / "dead.ndjson").read_text()  # not the input's fault: nothing dead-lettered


def cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "mapspec", *args], capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT, **kw)


def test_malformed_input_is_dead_lettered_with_line_numbers(tmp_path):
    path = tmp_path / "bad.ndjson"
    with open(path, "wb") as fh:
        fh.write(b'{"type":"identify","userId":"u1"}\n')
        fh.write(b"not json\n")
        fh.write(b"[1, 2]\n")
        fh.write(b'{"type":"identify","userId":"\xff\xfe"}\n')
        fh.write(b'{"type":"track","userId":"u","event":"' + b"x" * (10 * 1024 * 1024) + b'"}\n')
        fh.write(b'{"type":"identify","userId":"u6"}\n')
        fh.write(b'{"type":"identify","userId":"u7"')  # truncated last line
    dead = tmp_path / "dead.ndjson"
    proc = cli("run", "--dry-run", "--dead-letter", str(dead), str(path))
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in open(dead)]
    assert [(r["line"], r["reason"].split(":")[0]) for r in records] == [
        (2, "invalid JSON"), (3, "an event must be a JSON object, not an array"), (4, "invalid UTF-8"),
        (5, "line longer than 1048576 bytes (10485801 bytes)"), (7, "invalid JSON")]
    sent = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [o["external_id"] for r in sent for o in r["body"]["attributes"]] == ["u1", "u6"]
    assert "read 7" in proc.stderr.decode() and "dead-lettered 5" in proc.stderr.decode()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_kill_9_then_resume_loses_nothing(tmp_path, workers):
    events = event_mix(3000, seed=9)
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    translate = mapspec.load("segment-braze")
    args = ["run", str(path), "--checkpoint", str(tmp_path / "ck.json"), "--dead-letter", str(tmp_path / "dead.ndjson"),
            "--in-flight", "2", "--batch-size", "10", "--workers", workers]
    with Emulator(api_key=KEY, faults=Faults(slow=1.0, slow_seconds=0.05)) as emu:
        env = {"BRAZE_REST_API_KEY": KEY}
        proc = subprocess.Popen([sys.executable, "-m", "mapspec", *args, "--endpoint", emu.url],
                                env={**os.environ, **env}, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ck = tmp_path / "ck.json"
            if ck.exists() and json.loads(ck.read_text())["inputs"][0]["line"] > 500:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = json.loads((tmp_path / "ck.json").read_text())["inputs"][0]["line"]
        assert 500 < done < 3000, "the kill must land mid-run"
        emu.faults = Faults()
        second = cli(*args, "--endpoint", emu.url, env=env)
        assert second.returncode == 1, second.stderr  # rejections in the mix are dead-lettered
        got = received(emu)
        want = expected_objects(translate, events)
        for array in want:
            assert not (want[array] - got[array]), f"{array} lost"  # at least once: nothing lost
        twice = sum((got[array] - want[array]).total() for array in want)
        said = re.search(rb"(\d+) objects may have been sent twice", second.stderr)
        assert twice <= (int(said.group(1)) if said else 0), second.stderr  # no more than it said
        whole = re.search(rb"the whole job: read (\d+), translated (\d+), delivered (\d+), skipped (\d+), "
                          rb"dead-lettered (\d+)", second.stderr)
        read, translated, delivered, skipped, dead = map(int, whole.groups())
        assert read == 3000 == delivered + skipped + dead, second.stderr  # the account adds up across the kill
        assert translated == read - dead  # every line counted once, though the killed run got past the checkpoint
        requests = emu.record.requests
        third = cli(*args, "--endpoint", emu.url, env=env)  # a finished job sends nothing, and says so
        assert emu.record.requests == requests and third.returncode == 0, third.stderr
        assert b"already complete" in third.stderr
    dead_lines = [json.loads(line)["line"] for line in open(tmp_path / "dead.ndjson")]
    assert len(dead_lines) == len(set(dead_lines)) == sum(1 for e in events if "userId" not in e) == dead


def test_the_api_key_appears_nowhere(tmp_path):
    path = tmp_path / "e.ndjson"
    write_events(path, event_mix(300, seed=2) + [{"bad": True}])
    with Emulator(api_key=KEY, faults=Faults(rate_limited=0.2, server_error=0.2, drop=0.05, seed=2)) as emu:
        proc = cli("run", str(path), "--endpoint", emu.url, "--log-level", "debug", "--batch-size", "5", "--checkpoint",
                   str(tmp_path / "ck.json"), "--dead-letter", str(tmp_path / "dead.ndjson"),
                   env={"BRAZE_REST_API_KEY": KEY})
        assert emu.record.requests > 30 and emu.record.statuses.get(429)
    logged = proc.stdout + proc.stderr
    assert b"DEBUG" in logged and b"POST /users/track" in logged
    assert KEY.encode() not in logged
    for name in ("ck.json", "dead.ndjson"):
        assert KEY not in (tmp_path / name).read_text()


def test_key_from_a_file_and_never_from_a_flag(tmp_path):
    keyfile = tmp_path / "key"
    keyfile.write_text(KEY + "\n")
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    with Emulator(api_key=KEY) as emu:
        proc = cli("run", str(path), "--endpoint", emu.url, "--api-key-file", str(keyfile))
        assert proc.returncode == 0, proc.stderr
        assert len(emu.record.attributes) == 1
    assert cli("run", "--api-key", KEY).returncode == 2


def test_skip_unchanged_leaves_out_what_braze_already_has(tmp_path):
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u", "traits": {"plan": "pro", "email": "a@b.c"}}])
    state = str(tmp_path / "state.sqlite")
    with Emulator(api_key=KEY) as emu:
        for _ in range(2):
            account = run(Job(mapspec.load("segment-braze"), [str(path)], KEY, Options(**FAST), state=state, skip_unchanged=True,
                              endpoint=emu.url))
        write_events(path, [{"type": "identify", "userId": "u", "traits": {"plan": "team", "email": "a@b.c"}}])
        run(Job(mapspec.load("segment-braze"), [str(path)], KEY, Options(**FAST), state=state, skip_unchanged=True, endpoint=emu.url))
        sent = emu.record.attributes
    assert account.unchanged == 1 and account.skipped == 1
    assert sent == [{"external_id": "u", "email": "a@b.c", "plan": "pro", "_update_existing_only": False},
                    {"external_id": "u", "plan": "team", "_update_existing_only": False}]


def test_emulator_validation_messages():
    def validate_track(body):
        return answer(bundled("braze"), "POST", "/users/track", body)

    status, reply, _ = validate_track({"events": [{"external_id": "u", "name": "E", "time": "2024-01-01"},
                                                  {"name": "E"}]})
    assert status == 201 and reply["errors"] == [
        {"type": "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
         "input_array": "events", "index": 1}]
    assert validate_track({"attributes": [{"external_id": "u"}] * 76})[1]["message"] == "Max Input Length Exceeded"
    assert validate_track({"purchases": [{"external_id": "u", "product_id": "p", "currency": "USD", "price": 1,
                                          "time": "2024-01-01", "quantity": 101}]})[0] == 400


def test_emulator_command(tmp_path):
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "mapspec", "emulator", "--port", "0", "--faults", "seed=3"],
                            stderr=subprocess.PIPE, env={**os.environ, "BRAZE_REST_API_KEY": KEY}, cwd=ROOT)
    try:
        banner = proc.stderr.readline().decode()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        endpoints = proc.stderr.readline().decode()
        assert f"GET {url}/_emulator/record" in endpoints and f"POST {url}/_emulator/reset" in endpoints
        reply = httpx.post(url + "/users/track", json={"attributes": [{"external_id": "u", "plan": "pro"}]},
                           headers={"Authorization": f"Bearer {KEY}"})
        assert reply.status_code == 201 and reply.json() == {"message": "success", "attributes_processed": 1}
        assert int(reply.headers["X-RateLimit-Limit"]) == 3000
        assert httpx.post(url + "/users/track", json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
        record = httpx.get(url + "/_emulator/record").json()
        assert record["attributes"] == [{"external_id": "u", "plan": "pro"}]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # generous: the machine may be loaded
    assert proc.returncode == 0 and b'"attributes": 1' in err
    log = err.decode()
    assert " POST /users/track 201 (1 object) " in log and " POST /users/track 401 " in log, log


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_the_emulator_stops_on_ctrl_c_or_kill_even_started_with_sigint_ignored(how):
    """A script's `mapspec emulator &` starts it with SIGINT ignored: Ctrl-C (or kill -INT) then did nothing, and
    `kill` left no summary."""
    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "mapspec", "emulator", "--port", "0"], stderr=subprocess.PIPE,
                            cwd=ROOT, preexec_fn=ignore_sigint)
    try:
        proc.stderr.readline()
        proc.stderr.readline()
        proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and b'"requests": 0' in err, err


def test_progress_on_a_terminal_and_clean_stdout(tmp_path):
    import pty

    path = tmp_path / "e.ndjson"
    write_events(path, event_mix(2000, seed=1))
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mapspec", "run", "--dry-run", str(path), "--dead-letter",
                             str(tmp_path / "dead.ndjson")], stdout=subprocess.PIPE, stderr=follower, cwd=ROOT)
    os.close(follower)
    out, _ = proc.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert b"events" in seen and b"/s, 0 in flight, 0 retried" in seen and b"\r" in seen
    assert all(json.loads(line)["method"] == "POST" for line in out.decode().splitlines())
