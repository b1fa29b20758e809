"""mapspec on Apache Beam (issue 12), on Beam's in-process runner, over loopback against the emulator: what a
user's pipeline and `python -m mapspec.beam` deliver, batch and dead-letter, compared with `mapspec run` on the
same input."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import apache_beam as beam
import apache_beam.testing.util
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

import mapspec
import mapspec.beam
from bench.events import event_mix
from mapspec.beam import cli as beam_cli
from mapspec.beam import deliver as beam_deliver
from mapspec.beam import translate as beam_translate
from mapspec.delivery import Job, Options, run
from mapspec.delivery.batching import Batcher
from mapspec.delivery.emulator import Emulator, Faults
from mapspec.targets import bundled
from tests.conftest import CORPUS, ROOT
from tests.test_delivery import KEY, write_events

EVERY_ENDPOINT = ROOT / "tests" / "fixtures" / "mappings" / "every_endpoint.yaml"
FAST = dict(backoff_base=0.01, backoff_max=0.2)


def pipeline() -> beam.Pipeline:
    return beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def dead_letter_records(path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in lines_of(path))


def run_beam(capsys, *args: str) -> tuple[int, str]:
    """`python -m mapspec.beam ARGS` in this process: (exit status, what it said on stderr)."""
    code = beam_cli.main(["--runner=FnApiRunner", *args])
    return code, capsys.readouterr().err


def run_dry(mapping: str, path, dead=None, **options) -> tuple[list[dict], mapspec.delivery.Account]:
    """`mapspec run --dry-run`: its requests and account."""
    out = io.BytesIO()
    account = run(Job(mapspec.load(mapping), [str(path)], None, Options(**options), out=out,
                      dead_letter=str(dead or f"{path}.run-dead")))
    return [json.loads(line) for line in out.getvalue().splitlines()], account


def objects(requests: list[dict]) -> Counter:
    """The objects of batched requests, cut as `mapspec run` cuts them (Batcher.prepare), with the request key
    each belongs to: batching may differ, these may not."""
    batcher = Batcher(Options(), bundled("braze"))
    out: Counter = Counter()
    for r in requests:
        p = batcher.prepare(r)
        for name, _, data, group, member in p.objects:
            out[(p.method, p.url, p.envelope, name, group.identity if group else None, member, data)] += 1
    return out


HOSTILE = [b"{not json", b"[1, 2]", b'"text"', b'{"type": "track", "userId": "u", "n": 1e400}', b"NaN",
           b'{"type": "identify", "userId": "\\ud800"}', b'{"type": "identify", "userId": "u\xff"}',
           b"[" * 2000 + b"]" * 2000, b'{"type": "identify", "userId": "big", "traits": {"x": "' + b"x" * 6000 + b'"}}',
           b"", b"   ", b'{"type": "identify"}', b'{"type": "alias", "userId": "u1", "previousId": "u0"}']


def write_lines(path, events: list[dict], extra: list[bytes] = ()) -> None:
    with open(path, "wb") as fh:
        for e in events:
            fh.write(json.dumps(e).encode() + b"\n")
        fh.write(b"\n".join(extra))  # the last line without a newline


# ------------------------------------------------------------------ the whole job, against a flaky Braze


def test_20000_events_through_the_pipeline_against_a_flaky_braze_lose_nothing(tmp_path, capsys, monkeypatch,
                                                                               record_property):
    events = event_mix(20_000, seed=3)
    path = tmp_path / "events.ndjson"
    write_lines(path, events, HOSTILE)
    translate = mapspec.load("segment-braze")
    expected: Counter = Counter()
    for e in events:
        try:
            requests = translate(e)
        except mapspec.Rejected:
            continue
        for r in requests:
            for array, objs in r["body"].items():
                for obj in objs:
                    expected[(array, json.dumps(obj, sort_keys=True))] += 1
    # 429s, 5xx, dropped connections, and answers slower than the client waits: Braze took the request, the
    # client gives up and sends it again (the at-least-once case)
    faults = Faults(rate_limited=0.10, server_error=0.05, drop=0.01, slow=0.05, slow_seconds=1.0, seed=32)
    monkeypatch.setenv("BRAZE_REST_API_KEY", KEY)
    with Emulator(api_key=KEY, faults=faults) as emu:
        code, said = run_beam(capsys, "--input", str(path), "--dead-letter", str(tmp_path / "dead.ndjson"),
                              "--endpoint", emu.url, "--timeout", "0.5", "--max-line-bytes", "5000")
        received = Counter((array, json.dumps(obj, sort_keys=True))
                           for arrays in emu.record.accepted.values() for array, objs in arrays.items() for obj in objs)
        statuses, dropped = dict(emu.record.statuses), emu.record.dropped
    assert code == 1, said  # rejected events and lines that are not events were dead-lettered
    assert statuses.get(429) and statuses.get(500, 0) + statuses.get(503, 0) and dropped  # faults happened
    lost = expected - received
    assert not lost, f"{sum(lost.values())} objects never reached Braze"
    assert set(received) <= set(expected)  # nothing that was not asked for
    duplicates = sum((received - expected).values())
    print(f"duplicates: {duplicates} objects delivered more than once, of {sum(expected.values())}")
    record_property("duplicates", duplicates)
    # the dead letters are run's, record for record, and the account is run's
    _, account = run_dry("segment-braze", path, tmp_path / "run-dead.ndjson", max_line_bytes=5000)
    assert dead_letter_records(tmp_path / "dead.ndjson") == dead_letter_records(tmp_path / "run-dead.ndjson")
    text = said.strip().splitlines()[-1]
    assert text.startswith("mapspec beam: read 20013, ") and "0 refused by Braze, 0 out of retries" in text, said
    want = account.text("Braze").split(";")[0].replace("would send", "delivered")
    assert text.removeprefix("mapspec beam: ").split(";")[0] == want
    assert account.invalid == 9 and account.rejected > 0


# ------------------------------------------------------------------ a dry run makes what `mapspec run` makes


@pytest.mark.parametrize("bounded", [True, False], ids=["GroupByKey", "GroupIntoBatches"])
def test_a_dry_run_makes_the_objects_mapspec_run_makes(tmp_path, bounded, monkeypatch):
    events = event_mix(3000, seed=5) + [json.loads(line) for line in CORPUS.read_text().splitlines()]
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    every = tmp_path / "every.ndjson"
    names = ["track", "delete", "alias", "identify", "merge", "subscription", "campaign", "canvas"]
    write_events(every, [{"type": "track", "event": name, "userId": f"u{i}", "timestamp": "2030-01-01T00:00:00Z",
                          "properties": {"cohort": f"c{i % 3}", "sku": f"sku {i}", "group": f"g{i % 2}", "left": i % 4 == 0}}
                         for i in range(200) for name in [*names, "cohort", "catalog item", "subscription v2"]])
    loads = []
    load = beam_translate.load_module
    monkeypatch.setattr(beam_translate, "load_module", lambda *a: loads.append(1) or load(*a))
    for mapping, data in (("segment-braze", path), (str(EVERY_ENDPOINT), every)):
        p = pipeline()
        requests, dead = p | beam_translate.ReadNDJSON(str(data)) | mapspec.beam.Translate(mapping).with_dead_letters()
        batched, unsendable = requests | mapspec.beam.BatchRequests(bounded=bounded, linger=0, with_dead_letters=True)
        out = tmp_path / "beam"
        _ = batched | beam.io.WriteToText(str(out), shard_name_template="")
        result = p.run()
        result.wait_until_finish()
        ours = [json.loads(line) for line in open(out, encoding="utf-8")]
        theirs, account = run_dry(mapping, data)
        assert objects(ours) == objects(theirs)
        got = mapspec.beam.account(result, dry=True)
        assert got.text() == account.text().replace(f"{account.requests} requests", f"{got.requests} requests")
        cohorts = [r for r in ours if r["url"].endswith("/partners/segment/cohorts")]
        if mapping != "segment-braze":
            assert sorted(r["body"]["cohort_id"] for r in cohorts) == ["c0", "c1", "c2"]  # once per key
    assert 2 <= len(loads) <= 4  # the translator loaded once per worker, not per event


# ------------------------------------------------------------------ lines that are not events


def test_malformed_lines_are_dead_letters_with_run_s_reasons(tmp_path, capsys):
    path = tmp_path / "bad.ndjson"
    write_lines(path, [{"type": "identify", "userId": "u1"}], HOSTILE)
    code, said = run_beam(capsys, "--input", str(path), "--dead-letter", str(tmp_path / "dead.ndjson"),
                          "--dry-run", "--output", str(tmp_path / "requests"), "--max-line-bytes", "5000")
    _, account = run_dry("segment-braze", path, tmp_path / "run-dead.ndjson", max_line_bytes=5000)
    assert code == 1
    ours = lines_of(tmp_path / "dead.ndjson")
    assert dead_letter_records(tmp_path / "dead.ndjson") == dead_letter_records(tmp_path / "run-dead.ndjson")
    reasons = {d["line"]: d["reason"] for d in ours}
    assert reasons[2].startswith("invalid JSON") and reasons[3] == "an event must be a JSON object, not an array"
    assert reasons[10] == "line longer than 5000 bytes (6059 bytes)"
    assert all(d["input"] == str(path) for d in ours)
    assert f"mapspec beam: {account.text('Braze')}" in said
    assert account.invalid == 9 and account.skipped == 3  # two blank lines, an alias


def test_an_archive_that_cannot_be_read_is_a_dead_letter_and_the_others_go_on(tmp_path, capsys):
    good, bad = tmp_path / "good.ndjson.gz", tmp_path / "bad.ndjson.gz"
    with gzip.open(good, "wb") as fh:
        fh.write(b'{"type": "identify", "userId": "u1"}\n{"type": "identify", "userId": "u2"}\n')
    with gzip.open(bad, "wb") as fh:
        fh.write(b"".join(b'{"type": "identify", "userId": "u3-%d"}\n' % i for i in range(10_000)))
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a corrupt block in the archive
    bad.write_bytes(data)
    code, said = run_beam(capsys, "--input", str(tmp_path / "*.ndjson.gz"), "--dead-letter", str(tmp_path / "dead"),
                          "--dry-run", "--output", str(tmp_path / "requests"))
    assert code == 1, said
    [letter] = lines_of(tmp_path / "dead")
    assert letter["input"] == str(bad) and letter["reason"].startswith(f"the rest of {bad} cannot be read: ")
    requests = [json.loads(line) for path in tmp_path.glob("requests-*") for line in open(path)]
    ids = Counter(a["external_id"].split("-")[0] for r in requests for a in r["body"]["attributes"])
    assert ids["u1"] == ids["u2"] == 1 and ids["u3"] < 10_000  # the lines read before the error go on


def test_whatever_reaches_delivery_is_batched_or_dead_lettered_and_the_account_adds_up():
    url = "https://rest.iad-01.braze.com/users/track"
    requests_made_elsewhere = [None, 5, "text", {"url": 5}, {"method": "POST"},
                               {"method": "POST", "url": url, "body": {"attributes": "no"}},
                               {"method": "POST", "url": url, "body": {"attributes": [{"external_id": "a", "x": 1e400}]}},
                               {"method": "POST", "url": url, "body": {"attributes": [{"external_id": "a"}]}}]
    p = pipeline()
    odd_event = {"type": "identify", "userId": "b", "traits": {"tags": {"a", "b"}}}  # no JSON holds a set
    translated = p | "Event" >> beam.Create([odd_event]) | mapspec.beam.Translate("segment-braze")
    made = p | "Requests" >> beam.Create(requests_made_elsewhere)
    requests, dead = (translated, made) | beam.Flatten() | mapspec.beam.BatchRequests(with_dead_letters=True)
    _ = requests | "Write" >> beam.io.WriteToText("/dev/null")
    letters = dead | beam.Map(mapspec.beam.dead_letter_text) | beam.Map(json.loads)
    beam.testing.util.assert_that(letters | beam.Map(lambda d: "event" in d), beam.testing.util.equal_to(
        [True] + [False] * 7))  # the event that JSON cannot hold, as text
    result = p.run()
    result.wait_until_finish()
    account = mapspec.beam.account(result, dry=True)
    assert (account.read, account.delivered, account.failed) == (9, 1, 8) and account.adds_up(), account.text()


# ------------------------------------------------------------------ refused, out of retries, once per key


def deliver(tmp_path, mapping: str, events: list[dict], emulator: Emulator, **options) -> tuple[list[dict], object]:
    """A user's pipeline: read, translate, deliver; every dead letter to one file."""
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    p = pipeline()
    requests, rejected = (p | mapspec.beam.ReadNDJSON(str(path))
                          | mapspec.beam.Translate(mapping).with_dead_letters())
    refused = requests | mapspec.beam.DeliverToBraze(endpoint=emulator.url, **{**FAST, **options})
    _ = ((rejected, refused) | beam.Flatten() | beam.Map(mapspec.beam.dead_letter_text)
         | beam.io.WriteToText(str(tmp_path / "dead"), shard_name_template=""))
    result = p.run()
    result.wait_until_finish()
    return lines_of(tmp_path / "dead"), mapspec.beam.account(result)


def test_objects_braze_refuses_are_dead_letters_and_the_rest_delivered(tmp_path, monkeypatch, caplog):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("name: m\nbase_url: '\"http://x\"'\nrules:\n  - send:\n      endpoint: /users/track\n"
                       "      body:\n        events:\n          - {external_id: userId, name: event, time: timestamp}\n")
    events = [{"userId": "u", "event": "E", "timestamp": "2024-01-01T00:00:00Z"},
              {"userId": "u", "event": "E", "note": KEY},  # no time: Braze refuses this object (and the key in it)
              {"event": "E", "timestamp": "2024-01-01T00:00:00Z"}]  # no identifier
    monkeypatch.setenv("BRAZE_REST_API_KEY", KEY)
    with caplog.at_level(logging.DEBUG), Emulator(api_key=KEY) as emu:
        dead, account = deliver(tmp_path, str(mapping), events, emu)
        assert len(emu.record.events) == 1
        run(Job(mapspec.load(str(mapping)), [str(tmp_path / "events.ndjson")], KEY, Options(**FAST),
                endpoint=emu.url, dead_letter=str(tmp_path / "run-dead")))
    assert sorted((d["line"], d["reason"], d["object"], d["event"]) for d in dead) == [
        (2, "201: 'time' is required", {"external_id": "u", "name": "E"}, {**events[1], "note": "[REDACTED]"}),
        (3, "201: 'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
         {"name": "E", "time": "2024-01-01T00:00:00Z"}, events[2])]
    assert dead_letter_records(tmp_path / "dead") == dead_letter_records(tmp_path / "run-dead")  # run's, exactly
    assert (account.delivered, account.refused) == (1, 2) and account.adds_up()
    assert KEY not in (tmp_path / "dead").read_text() and KEY not in caplog.text


def test_retries_that_run_out_are_dead_letters(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAZE_REST_API_KEY", KEY)
    with Emulator(api_key=KEY, faults=Faults(server_error=1.0)) as emu:
        dead, account = deliver(tmp_path, "segment-braze", [{"type": "identify", "userId": "u"}], emu,
                                retry_deadline=0.5)
    [letter] = dead
    assert letter["reason"].startswith("retries ran out after") and letter["line"] == 1
    assert letter["object"]["external_id"] == "u" and letter["event"] == {"type": "identify", "userId": "u"}
    assert (account.expired, account.read) == (1, 1) and account.adds_up()


def test_a_cohort_is_created_once_before_its_users_and_the_partner_key_stays_secret(tmp_path, monkeypatch):
    partner = "pk-1a2b3c4d5e"
    (tmp_path / "partner").write_text(partner + "\n")
    monkeypatch.setenv("BRAZE_REST_API_KEY", KEY)
    monkeypatch.delenv("BRAZE_PARTNER_API_KEY", raising=False)
    events = [{"type": "track", "event": "cohort", "userId": f"u{i}", "timestamp": f"2030-01-01T00:00:{i:02d}Z",
               "properties": {"cohort": f"c{i % 2}"}} for i in range(40)]
    events.append({"type": "track", "event": "cohort", "userId": "u99", "timestamp": "2030-01-01T00:01:00Z",
                   "properties": {"cohort": ""}})  # Braze refuses a cohort without an id
    with Emulator(api_key=KEY, keys={"partner": partner}) as emu:  # another partner key: a 401
        dead, account = deliver(tmp_path, str(EVERY_ENDPOINT), events, emu,
                                key_files={"partner": str(tmp_path / "partner")})
        created = emu.record.accepted["POST /partners/segment/cohorts"][""]
        log = [e["endpoint"] for e in emu.record.log]
    assert sorted(c["cohort_id"] for c in created) == ["c0", "c1"]  # once per key in the job
    assert all(c["partner_api_key"] == "[REDACTED]" for c in created)  # sent, and masked in the record
    creations = [i for i, e in enumerate(log) if e == "POST /partners/segment/cohorts"]
    assert max(creations) < log.index("POST /partners/segment/cohorts/users")  # each cohort before its users
    assert account.delivered == 40 and account.refused == 1 and account.adds_up(), account.text()
    assert partner not in (tmp_path / "dead").read_text() and "[REDACTED]" in (tmp_path / "dead").read_text()


# ------------------------------------------------------------------ rate, keys


def test_each_worker_takes_its_share_of_the_rate_limit():
    assert beam_deliver.shared_limiter("t1", 3000, 3.0, 4).window.window.limit == 750
    slow = beam_deliver.shared_limiter("t2", 50, 60.0, 100).window.window
    assert (slow.limit, slow.period) == (1, 120.0)
    limiter = beam_deliver.shared_limiter("t3", 10, 1.0, 2)  # 5 per second, for every thread of the process
    assert beam_deliver.shared_limiter("t3", 10, 1.0, 2) is limiter
    times: list[float] = []
    threads = [threading.Thread(target=lambda: times.extend(limiter.window.reserve(100.0) for _ in range(5)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    assert all(times[i + 5] - times[i] >= 1.0 for i in range(len(times) - 5))  # never 6 in a second


def test_the_rate_is_shared_over_the_workers_when_sending(tmp_path, monkeypatch):
    sent: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sent.append(time.monotonic())
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("BRAZE_REST_API_KEY", KEY)
    try:
        events = [{"type": "identify", "userId": f"u{i}"} for i in range(9)]

        class Local:
            url = f"http://127.0.0.1:{server.server_address[1]}"

        _, account = deliver(tmp_path, "segment-braze", events, Local(), rate=(6, 1.0), workers=3, batch_size=1)
    finally:
        server.shutdown()
        server.server_close()
    assert account.delivered == 9 and len(sent) == 9
    sent.sort()
    assert all(sent[i + 2] - sent[i] >= 0.95 for i in range(len(sent) - 2))  # 6 per second over 3: 2 each


def test_keys_are_read_on_the_workers_never_carried_in_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAZE_REST_API_KEY", KEY)
    (tmp_path / "key").write_text("file-key-77aa")
    p = pipeline()
    _ = (p | beam.Create([{"type": "identify", "userId": "u"}]) | mapspec.beam.Translate("segment-braze")
         | mapspec.beam.DeliverToBraze(api_key_file=str(tmp_path / "key")))
    graph = p.to_runner_api().SerializeToString()
    assert KEY.encode() not in graph and b"file-key-77aa" not in graph
    assert beam_deliver.read_keys(bundled("braze"), {"rest": str(tmp_path / "key")})["rest"] == "file-key-77aa"
    (tmp_path / "bad").write_text("two words")
    with pytest.raises(mapspec.delivery.Fatal, match="cannot be used: it holds a space at position 4"):
        beam_deliver.read_keys(bundled("braze"), {"rest": str(tmp_path / "bad")})


def test_no_key_or_secret_in_what_the_command_prints_even_at_debug(tmp_path):
    partner, secret = "pk-9f8e7d6c5b4a", "cs-0a1b2c3d4e5f"  # the client secret: the mapping's default setting
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "track", "event": "cohort", "userId": f"u{i}", "timestamp": "2030-01-01T00:00:00Z",
                         "properties": {"cohort": cohort}} for i, cohort in enumerate(["c1", ""])])
    with open(path, "a") as fh:  # a line that is not an event, with a key in it: dead-lettered as text
        fh.write(f'{{"type": "identify", "userId": "{partner}"\n')
    env = {**os.environ, "BRAZE_REST_API_KEY": KEY, "BRAZE_PARTNER_API_KEY": partner, "PYTHONPATH": str(ROOT)}
    with Emulator(api_key=KEY, keys={"partner": partner}) as emu:  # another partner key: a 401
        proc = subprocess.run([sys.executable, "-m", "mapspec.beam", "-m", str(EVERY_ENDPOINT), "--endpoint", emu.url,
                               "--log-level", "debug", "--input", str(path), "--dead-letter", str(tmp_path / "dead")],
                              capture_output=True, env=env, cwd=tmp_path, timeout=300)
        assert len(emu.record.accepted["POST /partners/segment/cohorts"][""]) == 1  # sent, with its key
    assert proc.returncode == 1, proc.stderr[-3000:]  # the empty cohort id, refused
    printed = proc.stdout + proc.stderr + (tmp_path / "dead").read_bytes()
    assert b"DEBUG mapspec.run: POST /partners/segment/cohorts: 201" in proc.stderr  # debug it was
    assert partner.encode() not in printed and secret.encode() not in printed and KEY.encode() not in printed
    assert b'"client_secret":"[REDACTED]"' in (tmp_path / "dead").read_bytes()
    assert b'"text":"{\\"type\\": \\"identify\\", \\"userId\\": \\"[REDACTED]\\""' in (tmp_path / "dead").read_bytes()


# ------------------------------------------------------------------ the command line's answers


def test_the_command_says_what_is_wrong_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BRAZE_REST_API_KEY", raising=False)
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    dead = str(tmp_path / "dead")
    code, said = run_beam(capsys, "--input", str(path), "--dead-letter", dead)
    assert code == 2 and "no REST API key: set BRAZE_REST_API_KEY, or give --api-key-file PATH" in said
    code, said = run_beam(capsys, "--input", str(path), "--dead-letter", dead, "--dry-run")
    assert code == 2 and "--dry-run writes the batched requests to --output PREFIX" in said
    code, said = run_beam(capsys, "--input", str(path), "--dead-letter", dead, "--dry-runn")  # not a run that sends
    assert code == 2 and "unknown option --dry-runn (did you mean --dry-run?)" in said
    with monkeypatch.context() as without_beam:
        without_beam.setitem(sys.modules, "apache_beam", None)  # as where only mapspec is installed
        code, said = run_beam(capsys, "--input", str(path), "--dead-letter", dead, "--dry-run", "--output", dead)
    assert code == 2 and "Apache Beam is not installed: pip install 'mapspec[beam]'" in said
    code, said = run_beam(capsys, "--input", str(path), "--dead-letter", str(path / "dead"), "--dry-run",
                          "--output", dead)  # not after the job has sent everything
    assert code == 2 and f"--dead-letter {str(path / 'dead')!r}: cannot write there" in said
    code, said = run_beam(capsys, "--input", str(path), "--dead-letter", str(tmp_path), "--dry-run", "--output", dead)
    assert code == 2 and "is a folder: give a file name" in said
    code, said = run_beam(capsys, "--input", str(tmp_path / "nothing-*.ndjson"), "--dead-letter", dead, "--dry-run",
                          "--output", dead)
    assert code == 2 and "matches no file" in said
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - when: type ==\n    skip: true\n")
    code, said = run_beam(capsys, "--mapping", str(bad), "--input", str(path), "--dead-letter", dead, "--dry-run",
                          "--output", dead)
    assert code == 2 and f"{bad}:3:" in said and "Traceback" not in said


def test_a_key_braze_refuses_stops_the_job_with_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BRAZE_REST_API_KEY", "wrong-key-0042")
    path = tmp_path / "e.ndjson"
    write_events(path, [{"type": "identify", "userId": "u"}])
    with Emulator(api_key=KEY) as emu:
        code, said = run_beam(capsys, "--input", str(path), "--dead-letter", str(tmp_path / "dead"),
                              "--endpoint", emu.url)
    assert code == 2
    assert "mapspec beam: stopped: Braze answered 401 (Invalid API Key)" in said and "wrong-key-0042" not in said


# ------------------------------------------------------------------ the README, as a user reads it


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Running on Apache Beam"):]
    return section[:section.index("\n## ", 1)]


def blocks(kind: str) -> list[str]:
    return [b.split("```", 1)[0] for b in readme_section().split(f"```{kind}\n")[1:]]


def user_folder(tmp_path, url: str) -> dict:
    """A folder as the README's user has it: settings.json (sending to `url`), events/ in two files."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.ndjson").write_text("".join(lines[:30]))
    (tmp_path / "events" / "b.ndjson").write_text("".join(lines[30:]))
    (tmp_path / "settings.json").write_text(json.dumps({"rest_endpoint": url}))
    return {**os.environ, "BRAZE_REST_API_KEY": KEY, "PYTHONPATH": str(ROOT)}


def expected_from_run(tmp_path) -> tuple[Counter, object]:
    requests, account = run_dry("segment-braze", CORPUS, tmp_path / "run-dead.ndjson")
    return Counter(json.dumps(o, sort_keys=True) for r in requests for v in r["body"].values() for o in v), account


def test_the_readme_pipeline_runs_as_written(tmp_path):
    [snippet] = blocks("python")
    (tmp_path / "pipeline.py").write_text(snippet)
    with Emulator(api_key=KEY) as emu:
        env = user_folder(tmp_path, emu.url)
        proc = subprocess.run([sys.executable, "pipeline.py", "--runner", "FnApiRunner"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        got = Counter(json.dumps(o, sort_keys=True) for arrays in emu.record.accepted.values()
                      for objs in arrays.values() for o in objs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    want, account = expected_from_run(tmp_path)
    assert got == want
    assert proc.stdout.strip() == account.text().replace("would send", "delivered").split(";")[0] + \
        "; 3 requests (3 answered, 0 without an answer), 0 retried"
    assert len(lines_of(tmp_path / "dead.ndjson")) == account.dead_lettered == 8


def test_the_readme_command_runs_as_written(tmp_path):
    [command] = [b for b in blocks("sh") if "--input 'events/" in b]
    line = command.replace("\\\n", " ").splitlines()[-1]
    args = shlex.split(line)
    assert args[:3] == ["python", "-m", "mapspec.beam"]
    with Emulator(api_key=KEY) as emu:
        env = user_folder(tmp_path, emu.url)
        proc = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        got = sum(len(objs) for arrays in emu.record.accepted.values() for objs in arrays.values())
    want, account = expected_from_run(tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the samples hold events the mapping rejects
    assert got == sum(want.values())
    assert f"mapspec beam: {account.text('Braze').replace('would send', 'delivered').split(';')[0]};" in proc.stderr
    assert dead_letter_records(tmp_path / "dead.ndjson") == sorted(
        json.dumps({**r, "input": f"events/{'a' if r['line'] <= 30 else 'b'}.ndjson",
                    "line": r["line"] if r["line"] <= 30 else r["line"] - 30}, sort_keys=True)
        for r in lines_of(tmp_path / "run-dead.ndjson"))


def test_the_readme_dataflow_command_gives_beam_its_options():
    [command] = [b for b in blocks("sh") if "DataflowRunner" in b]
    args = shlex.split(command.replace("\\\n", " "))[3:]
    ours, theirs = beam_cli._parser().parse_known_args(args)
    assert (ours.workers, ours.api_key_file, ours.dead_letter) == (10, "gs://my-secrets/braze-rest-api-key",
                                                                 "gs://my-bucket/mapspec/dead.ndjson")
    options = PipelineOptions(theirs).get_all_options(retain_unknown_options=True)
    assert options["runner"] == "DataflowRunner" and options["max_num_workers"] == 10
    assert options["extra_packages"] == ["dist/mapspec-0.1.0-py3-none-any.whl"]
