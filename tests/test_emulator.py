"""The emulator answers as Braze would whatever a client sends, over raw sockets on loopback, and prints no
traceback."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from mapspec.delivery import Job, Options, run
from mapspec.delivery.emulator import Emulator
from mapspec.delivery.validation import answer
from mapspec.targets import bundled
from tests.test_delivery import FAST, KEY, write_events

AUTH = {"Authorization": f"Bearer {KEY}"}


def raw(emu: Emulator, request: bytes, shut: bool = True) -> tuple[int, dict]:
    """Send bytes as they are; (status, reply) of the answer."""
    host, port = emu.server.server_address[:2]
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(request)
        if shut:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(head.split(b" ")[1]), json.loads(rest)


def post(path: str, body: bytes, headers: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n{headers}".encode()
            + (f"Content-Length: {len(body)}\r\n" if "Content-Length" not in headers
               and "Transfer-Encoding" not in headers else "").encode() + b"\r\n" + body)


@pytest.mark.parametrize("path,body,status,message", [
    ("/users/track", b"[" * 100_000 + b"]" * 100_000, 400, "Invalid JSON"),
    ("/users/track", b'{"attributes": [{"external_id": "u", "score": NaN}]}', 400, "Invalid JSON"),
    ("/users/track", b'{"attributes": [{"external_id": "u", "score": Infinity}]}', 400, "Invalid JSON"),
    ("/users/track", b'{"attributes": 5}', 400, "'attributes' must be an array"),
    ("/users/track", b'"text"', 400, "Valid data must be provided"),
    ("/users/track", b"\xff\xfe", 400, "Invalid JSON"),
    ("/users/delete", b'{"external_ids": 5}', 400, "'external_ids' is not valid"),
    ("/users/delete", b'{"external_ids": "abc"}', 400, "'external_ids' is not valid"),
    ("/users/delete", b'{"external_ids": [5]}', 400, "'external_ids[0]' is not valid"),
    ("/users/delete", b'{"external_ids": ["a"], "braze_ids": ["b"]}', 400, "cannot be given together"),
    ("/users/delete", b"[1]", 400, "the body must be a JSON object"),
    ("/users/delete", b'{"user_aliases": [{"alias_name": "a"}]}', 400, "'alias_label' is required"),
])
def test_bad_bodies_get_brazes_answer(path, body, status, message, capfd):
    with Emulator(api_key=KEY) as emu:
        got, reply = raw(emu, post(path, body))
        assert (got, (emu.record.external_ids + emu.record.braze_ids), emu.record.attributes) == (status, [], [])
    assert message in reply["message"]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("headers,status", [
    ("Content-Length: abc\r\n", 400), ("Content-Length: -5\r\n", 400), ("Content-Length: 1e3\r\n", 400),
    ("Content-Length: 5\r\nContent-Length: 7\r\n", 400), ("", 411),
])
def test_bad_content_length_gets_an_answer(headers, status, capfd):
    with Emulator(api_key=KEY) as emu:
        request = (f"POST /users/track HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n{headers}\r\n"
                   '{"attributes": []}').encode()
        got, _ = raw(emu, request)
        assert got == status
    assert "Traceback" not in capfd.readouterr().err


def test_a_short_body_gets_an_answer_and_blocks_nothing(capfd):
    with Emulator(api_key=KEY, read_timeout=0.5) as emu:
        body = b'{"attributes": [{"external_id": "u"}]}'
        cut = post("/users/track", body)[:-10]
        assert raw(emu, cut, shut=True)[0] == 400  # the client is done sending: the body ended early
        assert raw(emu, cut, shut=False)[0] == 408  # the client stalls: answered once the read times out
        assert httpx.post(emu.url + "/users/track", json={"attributes": [{"external_id": "u"}]},
                          headers=AUTH).status_code == 201
    assert "Traceback" not in capfd.readouterr().err


def test_a_chunked_body_is_read():
    with Emulator(api_key=KEY) as emu:
        body = b'{"attributes": [{"external_id": "u"}]}'
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
        assert raw(emu, post("/users/track", chunked, "Transfer-Encoding: chunked\r\n")) == (
            201, {"message": "success", "attributes_processed": 1})


def test_disconnects_print_no_traceback(capfd):
    with Emulator(api_key=KEY) as emu:
        host, port = emu.server.server_address[:2]
        for request in (post("/users/track", b'{"attributes": [{"external_id": "u"}]}'), b"POST /users/track HT",
                        post("/users/track", b"x" * 100)[:-50]):
            with socket.create_connection((host, port)) as s:
                s.sendall(request)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        assert httpx.post(emu.url + "/users/track", json={"attributes": [{"external_id": "u"}]},
                          headers=AUTH).status_code == 201
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err


def test_413_reaches_the_client_and_it_halves_the_batch(tmp_path):
    events = [{"type": "identify", "userId": f"u{i}", "traits": {"bio": "x" * 70_000}} for i in range(150)]  # 10 MB
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY, max_body=1 << 20) as emu:  # a Braze that takes less than the client thinks
        account = run(Job(__import__("mapspec").load("segment-braze"), [str(path)], KEY, Options(**FAST),
                          endpoint=emu.url, dead_letter=str(tmp_path / "d")))
        assert emu.record.statuses.get(413) and len(emu.record.attributes) == 150
    assert account.delivered == 150 and not (tmp_path / "d").read_text()


def test_delete_takes_one_kind_of_id_and_the_batcher_keeps_them_apart(tmp_path):
    def validate_delete(body):
        return answer(bundled("braze"), "POST", "/users/delete", body)

    assert validate_delete({"braze_ids": ["b"]})[0] == 202
    assert validate_delete({"user_aliases": [{"alias_name": "a", "alias_label": "l"}]})[0] == 202
    assert validate_delete({"external_ids": ["u"] * 51})[1]["message"] == "Max Input Length Exceeded"
    events = [{"type": "delete", "userId": "u1"}, {"type": "delete", "integrations": {"Braze": {"braze_id": "b1"}}},
              {"type": "delete", "userId": "u2"}]
    path = tmp_path / "e.ndjson"
    write_events(path, events)
    with Emulator(api_key=KEY) as emu:
        account = run(Job(__import__("mapspec").load("segment-braze"), [str(path)], KEY, Options(**FAST),
                          endpoint=emu.url))
        assert sorted(emu.record.external_ids + emu.record.braze_ids) == ["b1", "u1", "u2"] and emu.record.statuses == {202: 2}
    assert account.delivered == 3


def test_the_request_log_and_reset():
    with Emulator(api_key=KEY) as emu:
        seen = []
        emu.on_request = seen.append
        ok = httpx.post(f"{emu.url}/users/track", headers=AUTH,
                        json={"attributes": [{"external_id": "u1", "x": 1}], "events": []})
        bad = httpx.post(f"{emu.url}/users/track", headers={"Authorization": "Bearer wrong"}, json={})
        assert (ok.status_code, bad.status_code) == (201, 401)
        log = httpx.get(f"{emu.url}/_emulator/record").json()["log"]
        assert [(e["url"], e["status"]) for e in log] == [("/users/track", 201), ("/users/track", 401)]
        assert log[0]["objects"] == 1 and log[0]["bytes"] > 0 and log[0]["method"] == "POST"
        assert log[1]["message"] == "Invalid API Key" and seen == log
        from mapspec.delivery.emulator import log_line

        assert log_line(log[0]).split(" ", 1)[1] == f"POST /users/track 201 (1 object) {log[0]['bytes']} bytes"
        reset = httpx.post(f"{emu.url}/_emulator/reset")
        assert reset.status_code == 200 and reset.json()["before"]["attributes"] == 1
        record = httpx.get(f"{emu.url}/_emulator/record").json()
        assert record["summary"] == {"requests": 0, "dropped": 0, "statuses": {}} and record["log"] == []


def test_the_log_says_which_faults_were_injected():
    from mapspec.delivery.emulator import Faults

    with Emulator(api_key=KEY, faults=Faults(drop=0.5, seed=3)) as emu:
        for _ in range(8):
            try:
                httpx.post(f"{emu.url}/users/track", headers=AUTH, json={"attributes": [{"external_id": "u"}]})
            except httpx.HTTPError:
                pass
        log = list(emu.record.log)
    dropped = [e for e in log if e.get("fault") == "drop"]
    assert dropped and all(e["status"] is None for e in dropped) and len(log) == 8


def test_reset_forgets_the_rate_window():
    with Emulator(api_key=KEY, rate=(1, 60.0)) as emu:
        first = httpx.post(f"{emu.url}/users/track", headers=AUTH, json={"attributes": [{"external_id": "u"}]})
        limited = httpx.post(f"{emu.url}/users/track", headers=AUTH, json={"attributes": [{"external_id": "u"}]})
        httpx.post(f"{emu.url}/_emulator/reset")
        again = httpx.post(f"{emu.url}/users/track", headers=AUTH, json={"attributes": [{"external_id": "u"}]})
        assert (first.status_code, limited.status_code, again.status_code) == (201, 429, 201)
