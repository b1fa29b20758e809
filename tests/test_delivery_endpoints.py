"""Every endpoint of the Braze description delivered to the emulator over loopback, batched as the description
says: merging and limits, the cohort rule (one change per state, the latest wins), once-per-key requests across
runs and resumes, credentials per endpoint family, and secrets that never show."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter

import pytest

import mapspec
from mapspec.delivery import Job, Options, execute, run
from mapspec.delivery.emulator import Emulator
from tests.conftest import ROOT
from tests.test_delivery import FAST, KEY, write_events

MAPPING = ROOT / "tests" / "fixtures" / "mappings" / "every_endpoint.yaml"
T0 = "2030-01-01T00:00:00.000Z"


def at(second: int) -> str:
    return f"2030-01-01T00:{second // 60:02d}:{second % 60:02d}.000Z"


def event(name: str, user: str = "u1", second: int = 0, **properties) -> dict:
    return {"type": "track", "event": name, "userId": user, "timestamp": at(second), "properties": properties}


def deliver(tmp_path, events, *, key=KEY, env=None, emulator=None, keys=None, **job):
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    translate = mapspec.load(str(MAPPING))
    from contextlib import nullcontext

    with nullcontext(emulator) if emulator is not None else Emulator(api_key=KEY, keys=keys) as emu:
        old = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        try:
            account = run(Job(translate, [str(path)], key, Options(**FAST), endpoint=emu.url,
                              dead_letter=str(tmp_path / "dead.ndjson"), **job))
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return account, emu.record


def requests_to(record, endpoint):
    return [entry for entry in record.log if entry["endpoint"] == endpoint]


def test_every_endpoint_is_delivered_and_merged(tmp_path):
    names = ["track", "delete", "alias", "identify", "merge", "subscription", "campaign", "canvas"]
    events = [event(name, f"u{i}") for i in range(120) for name in names]
    events += [event("subscription v2", f"u{i}", group=f"g{i % 2}", off=i % 3 == 0) for i in range(60)]
    events += [event("catalog", f"u{i}", sku=f"sku-{i}", n=i) for i in range(60)]
    events += [event("catalog item", f"u{i}", sku=f"item {i}", n=i) for i in range(60)]
    events += [event("catalog delete", f"u{i}", sku=f"sku-{i}") for i in range(60)]
    account, record = deliver(tmp_path, events)
    assert account.delivered == len(events) and account.dead_lettered == 0, account.text()
    objects = {e: sum(len(v) for v in arrays.values()) for e, arrays in record.accepted.items()}
    assert objects == {
        "POST /users/track": 240, "POST /users/delete": 120, "POST /users/alias/new": 120,
        "POST /users/identify": 120, "POST /users/merge": 120, "POST /subscription/status/set": 120,
        "POST /campaigns/trigger/send": 120, "POST /canvas/trigger/send": 120,
        "POST /v2/subscription/status/set": 8,  # 2 requests of (g0, g1) x (subscribed, unsubscribed)
        "PUT /catalogs/{catalog_name}/items": 120,  # 60 items, and 60 single items merged into it
        "DELETE /catalogs/{catalog_name}/items": 60,
    }
    # merged within each endpoint's limits: 75 per array, 50 in all, ...
    count = Counter(entry["endpoint"] for entry in record.log)
    assert count["POST /users/track"] == 2  # 120 events and 120 attributes: 75 + 45 in each array
    for endpoint in ("POST /users/delete", "POST /users/alias/new", "POST /users/identify", "POST /users/merge",
                     "POST /campaigns/trigger/send", "POST /canvas/trigger/send"):
        assert count[endpoint] == 3, endpoint  # 120 objects, 50 per request
    assert count["POST /subscription/status/set"] == 3  # 50 external ids per request
    assert count["POST /v2/subscription/status/set"] == 2  # 60 users, 50 per request
    assert count["PUT /catalogs/{catalog_name}/items"] == 4  # 60 + 60 items, 50 per request
    items = record.accepted["PUT /catalogs/{catalog_name}/items"]["items"]
    assert {"id": "item 7", "price": 7} in items  # the single item's path parameter, decoded, is its id
    v2 = record.accepted["POST /v2/subscription/status/set"]["subscription_groups"]
    users = Counter((g["subscription_group_id"], g["subscription_state"], u) for g in v2 for u in g["external_ids"])
    assert sum(users.values()) == 60 and set(users.values()) == {1}
    assert ("g0", "unsubscribed", "u0") in users and ("g1", "subscribed", "u1") in users


def test_a_cohort_is_created_once_then_changes_keep_each_users_latest_state(tmp_path):
    events = [event("cohort", "u1", 2, cohort="c1"),             # u1 enters at :02
              event("cohort", "u1", 1, cohort="c1", left=True),  # leaves at :01, sent later: :02 wins
              event("cohort", "u2", 1, cohort="c1"),             # u2 enters at :01
              event("cohort", "u2", 3, cohort="c1", left=True),  # and leaves at :03: it leaves
              event("cohort", "u3", 5, cohort="c2")]             # another cohort
    account, record = deliver(tmp_path, events, state=str(tmp_path / "state.sqlite"))
    assert account.delivered == 5, account.text()
    created = record.accepted["POST /partners/segment/cohorts"][""]
    assert sorted(c["cohort_id"] for c in created) == ["c1", "c2"]  # once per cohort
    changes = record.accepted["POST /partners/segment/cohorts/users"]["cohort_changes"]
    state = {(u, bool(c.get("should_remove"))) for c in changes for u in c["user_ids"]}
    assert state == {("u1", False), ("u2", True), ("u3", False)}
    log = [e["endpoint"] for e in record.log]  # each cohort is created before any change to it is sent
    assert log.index("POST /partners/segment/cohorts") < log.index("POST /partners/segment/cohorts/users")


def test_once_per_key_holds_across_runs_and_a_dry_run_shows_it_once(tmp_path):
    state = str(tmp_path / "state.sqlite")
    emulator = Emulator(api_key=KEY).start()  # one Braze for both runs (the key is per URL: per instance)
    try:
        deliver(tmp_path, [event("cohort", "u1", cohort="c1")], state=state, emulator=emulator)
        _, record = deliver(tmp_path, [event("cohort", "u2", cohort="c1"), event("cohort", "u3", cohort="c9")],
                            state=state, emulator=emulator)
    finally:
        emulator.stop()
    assert [c["cohort_id"] for c in record.accepted["POST /partners/segment/cohorts"][""]] == ["c1", "c9"]
    assert len(record.accepted["POST /partners/segment/cohorts/users"]["cohort_changes"]) == 3
    path = tmp_path / "dry.ndjson"
    write_events(path, [event("cohort", f"u{i}", cohort="c1") for i in range(3)])
    proc = subprocess.run([sys.executable, "-m", "mapspec", "run", "--dry-run", "-m", str(MAPPING), str(path)],
                          capture_output=True, cwd=ROOT)
    urls = [json.loads(line)["url"] for line in proc.stdout.splitlines()]
    assert urls.count("https://rest.iad-01.braze.com/partners/segment/cohorts") == 1, proc.stdout
    assert not (tmp_path / "mapspec-state.sqlite").exists()  # a dry run writes no state


def test_a_resumed_run_does_not_create_again(tmp_path):
    """A run stopped after the cohort was created, resumed from its checkpoint: the creation is not sent again."""
    from mapspec.delivery import Fatal

    state, checkpoint = str(tmp_path / "state.sqlite"), str(tmp_path / "ck.json")
    events = [event("cohort", "u1", cohort="c1")] + [event("track", f"t{i}") for i in range(5)]
    path = tmp_path / "events.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY) as emu:
        calls = []

        def stop_after_the_creation(request):  # the first run stops (a 401) once the cohort exists
            calls.append(request.url.path)
            if request.url.path == "/users/track":
                raise Fatal("stopped for the test")

        import httpx

        class Stopping(httpx.AsyncHTTPTransport):
            async def handle_async_request(self, request):
                stop_after_the_creation(request)
                return await super().handle_async_request(request)

        job = dict(endpoint=emu.url, state=state, checkpoint=checkpoint, dead_letter=str(tmp_path / "dead"))
        with pytest.raises(Fatal):
            execute(Job(mapspec.load(str(MAPPING)), [str(path)], KEY, Options(**FAST), transport=Stopping(), **job))
        assert len(emu.record.accepted["POST /partners/segment/cohorts"][""]) == 1
        account, _ = execute(Job(mapspec.load(str(MAPPING)), [str(path)], KEY, Options(**FAST), **job))
        assert len(emu.record.accepted["POST /partners/segment/cohorts"][""]) == 1  # not again
        assert len(emu.record.events) == 5


def test_the_partner_key_and_client_secret_never_show(tmp_path, caplog):
    partner = "pk-9f8e7d6c5b4a"
    secret = "cs-0a1b2c3d4e5f"  # the mapping's default client_secret setting
    events = [event("cohort", "u1", cohort="c1"), event("cohort", "u2", cohort=""),  # an empty id: refused
              event("track", "u3")]
    with caplog.at_level(logging.DEBUG):
        account, record = deliver(tmp_path, events, env={"BRAZE_PARTNER_API_KEY": partner},
                                  keys={"partner": partner},  # the emulator takes no other (a 401)
                                  state=str(tmp_path / "state.sqlite"), checkpoint=str(tmp_path / "ck.json"))
    sent = record.accepted["POST /partners/segment/cohorts"][""]
    assert sent and all(c["partner_api_key"] == "[REDACTED]" for c in sent)  # it is sent, in the body
    dead = (tmp_path / "dead.ndjson").read_text()
    assert account.refused >= 1 and dead
    written = dead + (tmp_path / "ck.json").read_text() + caplog.text
    assert partner not in written and secret not in written
    assert "[REDACTED]" in dead  # the refused creation's client_secret, masked


def test_a_cohort_only_mapping_needs_no_rest_key_but_a_track_one_does(tmp_path):
    cohort_only = tmp_path / "cohorts.yaml"
    text = MAPPING.read_text()
    cohort_only.write_text(text[: text.index("  - name: track")] + text[text.index("  - name: cohort"):])
    path = tmp_path / "e.ndjson"
    write_events(path, [event("cohort", "u1", cohort="c1")])
    env = {k: v for k, v in os.environ.items() if k not in ("BRAZE_REST_API_KEY", "BRAZE_PARTNER_API_KEY")}
    with Emulator() as emu:
        ok = subprocess.run([sys.executable, "-m", "mapspec", "run", "-m", str(cohort_only), "--endpoint", emu.url,
                             "--state", str(tmp_path / "s.sqlite"), str(path)], capture_output=True, env=env, cwd=ROOT)
        assert ok.returncode == 0, ok.stderr
        no = subprocess.run([sys.executable, "-m", "mapspec", "run", "-m", str(MAPPING), "--endpoint", emu.url,
                             str(path)], capture_output=True, env=env, cwd=ROOT)
        assert no.returncode == 2 and b"no REST API key: set BRAZE_REST_API_KEY" in no.stderr


def test_a_partly_rejected_event_sends_what_it_can_and_is_dead_lettered(tmp_path):
    mapping = tmp_path / "all.yaml"
    mapping.write_text(
        "name: all\nbase_url: '\"https://rest.iad-01.braze.com\"'\nmatch: all\nrules:\n"
        "  - name: event\n    when: is_string(userId) and is_string(event)\n    send:\n"
        "      endpoint: /users/track\n      body: {events: [{external_id: userId, name: event, time: '\"2030-01-01\"'}]}\n"
        "  - name: needs a plan\n    when: not exists(properties.plan)\n    reject: '\"no plan\"'\n")
    path = tmp_path / "e.ndjson"
    write_events(path, [{"userId": "u1", "event": "E"}, {"userId": "u2", "event": "E", "properties": {"plan": 1}}])
    with Emulator(api_key=KEY) as emu:
        account = run(Job(mapspec.load(str(mapping)), [str(path)], KEY, Options(**FAST), endpoint=emu.url,
                          dead_letter=str(tmp_path / "dead")))
        assert sorted(e["external_id"] for e in emu.record.events) == ["u1", "u2"]
    assert (account.delivered, account.rejected) == (1, 1)
    [dead] = [json.loads(line) for line in open(tmp_path / "dead")]
    assert dead["line"] == 1 and dead["reason"] == "rejected: no plan"


def test_no_key_or_secret_in_what_the_command_prints_even_at_debug(tmp_path):
    partner, secret = "pk-9f8e7d6c5b4a", "cs-0a1b2c3d4e5f"
    path = tmp_path / "e.ndjson"
    write_events(path, [event("cohort", "u1", cohort="c1"), event("cohort", "u2", cohort="")])
    env = {**os.environ, "BRAZE_REST_API_KEY": KEY, "BRAZE_PARTNER_API_KEY": partner}
    with Emulator(api_key=KEY, keys={"partner": partner}) as emu:
        proc = subprocess.run([sys.executable, "-m", "mapspec", "run", "-m", str(MAPPING), "--endpoint", emu.url,
                               "--log-level", "debug", "--state", str(tmp_path / "s.sqlite"), str(path)],
                              capture_output=True, env=env, cwd=ROOT)
        assert len(emu.record.accepted["POST /partners/segment/cohorts"][""]) == 1  # its key was right
    assert proc.returncode == 1 and b"refused" in proc.stderr  # the empty cohort id, dead-lettered to stderr
    printed = proc.stdout + proc.stderr
    assert partner.encode() not in printed and secret.encode() not in printed and KEY.encode() not in printed


@pytest.mark.parametrize("kind", ["text", "folder", "other table", "no folder"])
@pytest.mark.parametrize("how", ["once", "skip-unchanged"])
def test_a_state_file_that_is_not_one_stops_the_run_with_one_line_naming_it(tmp_path, kind, how):
    import sqlite3

    from tests.conftest import inproc

    state = tmp_path / "state.sqlite"
    if kind == "text":
        state.write_text("not a database\n")
    elif kind == "folder":
        state.mkdir()
    elif kind == "other table":
        db = sqlite3.connect(state)
        db.execute("CREATE TABLE once (a INTEGER, b INTEGER)")
        db.execute("CREATE TABLE sent (who TEXT)")
        db.commit()
        db.close()
    else:
        state = tmp_path / "missing" / "state.sqlite"
    path = tmp_path / "events.ndjson"
    write_events(path, [event("cohort", "u1", cohort="c1")])
    options = ["--skip-unchanged"] if how == "skip-unchanged" else []
    env = {"BRAZE_REST_API_KEY": KEY, "BRAZE_PARTNER_API_KEY": "pk"}
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", "-m", str(MAPPING), "--endpoint", emu.url, "--state", str(state), *options,
                      "--dead-letter", str(tmp_path / "dead"), str(path), env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "sqlite3" not in err
    assert f"the state file {state} cannot be used: " in err, err
    assert err.count("\n") == 1 and "cannot start: " in err, err  # one line, before anything is read


def test_a_key_the_mapping_never_uses_is_not_read_nor_checked(tmp_path):
    """segment-braze sends nothing with the partner key: a bad one in the environment must not stop its run."""
    from tests.conftest import inproc

    path = tmp_path / "e.ndjson"
    write_events(path, [event("track", "u1")])
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", "--endpoint", emu.url, "--state", str(tmp_path / "s.sqlite"), str(path),
                      env={"BRAZE_REST_API_KEY": KEY, "BRAZE_PARTNER_API_KEY": "bad key"})
        assert proc.returncode == 0, proc.stderr
        assert len(emu.record.events) == 1
    # the mapping that does send it still refuses it
    with Emulator(api_key=KEY) as emu:
        proc = inproc("run", "-m", str(MAPPING), "--endpoint", emu.url, "--state", str(tmp_path / "s.sqlite"),
                      str(path), env={"BRAZE_REST_API_KEY": KEY, "BRAZE_PARTNER_API_KEY": "bad key"})
    assert proc.returncode == 2 and b"cannot be used: it holds a space" in proc.stderr, proc.stderr


@pytest.mark.parametrize("given", [None, "pk-other"])
def test_the_emulator_checks_a_key_sent_in_the_body_when_it_has_it(tmp_path, given):
    import httpx

    partner = "pk-9f8e7d6c5b4a"
    body = {"client_secret": "cs-0a1b2c3d4e5f", "cohort_id": "c1", "name": "C1"}
    if given is not None:
        body["partner_api_key"] = given
    with Emulator(api_key=KEY, keys={"partner": partner}) as emu:
        url = emu.url + "/partners/segment/cohorts"
        assert httpx.post(url, json=body).status_code == 401  # missing, or another key
        assert httpx.post(url, json={**body, "partner_api_key": partner}).status_code == 201
    with Emulator(api_key=KEY) as emu:  # given no partner key: it takes what comes, as before
        assert httpx.post(emu.url + "/partners/segment/cohorts", json=body).status_code == 201


def test_the_emulator_records_no_secret_it_receives(tmp_path):
    import httpx

    partner, secret = "pk-9f8e7d6c5b4a", "cs-0a1b2c3d4e5f"
    with Emulator(api_key=KEY) as emu:
        for path, body in [("/partners/segment/cohorts", {"cohort_id": "c1", "name": "C1"}),
                           ("/partners/segment/cohorts/users",
                            {"cohort_id": "c1", "cohort_changes": [{"user_ids": ["u1"]}]})]:
            answer = httpx.post(emu.url + path, json={**body, "client_secret": secret, "partner_api_key": partner})
            assert answer.status_code == 201, answer.text
        served = httpx.get(emu.url + "/_emulator/record").text
    assert "cohort_changes" in served and "[REDACTED]" in served
    assert secret not in served and partner not in served


def test_a_stopped_run_says_one_line_in_the_singular(tmp_path):
    from tests.conftest import inproc

    path = tmp_path / "e.ndjson"
    write_events(path, [event("track", "u1")])
    with Emulator(api_key="another-key") as emu:  # a 401: the run stops with the line undecided
        proc = inproc("run", "--endpoint", emu.url, str(path), env={"BRAZE_REST_API_KEY": KEY})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "1 line was neither delivered nor dead-lettered" in err, err
