"""The HTTP/1.1 client `mapspec run` sends with (mapspec/delivery/http.py), against loopback servers that
answer as servers do, and as they should not: in pieces, slowly, chunked, closing midway, with garbage."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from mapspec.delivery import http
from mapspec.delivery.http import Client

OK = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"message\":\"success\"}"


class RawServer:
    """A loopback server that runs `script(server, conn, number)` for each connection it accepts (number: 1,
    2, ...), and keeps what it read of each request."""

    def __init__(self, script: Callable[[RawServer, socket.socket, int], None], tls: ssl.SSLContext | None = None):
        self.script, self.tls = script, tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.names: list[str | None] = []  # the server name (SNI) of each TLS connection

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    conn.close()
                    continue
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            self.script(self, conn, number)
        except OSError:
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (head and Content-Length body); None when the client closed the connection."""
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return None
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(head + b"\r\n\r\n" + body)
        return body

    def url(self, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}/users/track"


def serve(*replies: bytes, close: bool = False, pieces: int = 0, delay: float = 0.0):
    """A script: answer each request of the connection with the next reply (in pieces of `pieces` bytes with
    `delay` between them, when given), then close if asked."""

    def script(server: RawServer, conn: socket.socket, number: int) -> None:
        for reply in replies:
            if server.read_request(conn) is None:
                return
            if pieces:
                for i in range(0, len(reply), pieces):
                    conn.sendall(reply[i:i + pieces])
                    time.sleep(delay)
            else:
                conn.sendall(reply)
        if not close:
            while server.read_request(conn) is not None:
                conn.sendall(replies[-1])

    return script


def post(url: str, body: bytes = b'{"a":1}', client: Client | None = None, n: int = 1, **kw) -> list[http.Response]:
    async def go():
        c = client or Client()
        try:
            return [await c.request("POST", url, content=body, headers={"Content-Type": "application/json"}, **kw)
                    for _ in range(n)]
        finally:
            if client is None:
                await c.aclose()

    return asyncio.run(go())


# ------------------------------------------------------------------ replies as servers send them


def test_a_reply_with_its_length_and_the_connection_kept_for_the_next_request():
    with RawServer(serve(OK)) as server:
        replies = post(server.url(), n=3)
    assert [r.status_code for r in replies] == [201] * 3 and replies[0].json() == {"message": "success"}
    assert replies[0].reason_phrase == "Created" and replies[0].headers.get("Content-Type") == "application/json"
    assert server.connections == 1  # keep-alive
    head = server.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"POST /users/track HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in head and b"Content-Length: 7" in head
    assert b"Content-Type: application/json" in head
    assert server.requests[0].endswith(b'\r\n\r\n{"a":1}')


def test_a_chunked_reply_sent_a_byte_at_a_time_with_extensions_and_trailers():
    reply = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5;name=value\r\n{\"a\":\r\n4\r\n 12}\r\n0\r\nX-Trailer: yes\r\n\r\n")
    with RawServer(serve(reply, pieces=1)) as server:
        replies = post(server.url(), n=2)
    assert [r.json() for r in replies] == [{"a": 12}] * 2 and server.connections == 1


def test_a_reply_without_length_ends_with_the_connection():
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    with RawServer(serve(reply, close=True)) as server:
        replies = post(server.url(), n=2)
    assert [r.text for r in replies] == ["all of it"] * 2 and server.connections == 2


def test_connection_close_and_http_1_0_are_not_reused():
    close = OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
    old = OK.replace(b"HTTP/1.1", b"HTTP/1.0")
    for reply in (close, old):
        with RawServer(serve(reply, reply, reply)) as server:
            assert [r.status_code for r in post(server.url(), n=2)] == [201, 201]
        assert server.connections == 2


def test_an_interim_100_continue_is_skipped():
    with RawServer(serve(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)) as server:
        [reply] = post(server.url())
    assert reply.status_code == 201


def test_a_gzip_reply_is_decoded_and_repeated_headers_are_joined():
    data = gzip.compress(b'{"ok":true}')
    reply = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: "
             + str(len(data)).encode() + b"\r\n\r\n" + data)
    with RawServer(serve(reply)) as server:
        [r] = post(server.url())
    assert r.json() == {"ok": True} and r.headers.get("X-A") == "1, 2" and r.headers["x-a"] == "1, 2"


def test_a_slow_reply_in_pieces_within_the_timeout():
    with RawServer(serve(OK, pieces=10, delay=0.02)) as server:
        [r] = post(server.url(), timeout=5)
    assert r.status_code == 201


def test_a_server_that_closes_an_idle_connection_is_not_used_again():
    def script(server, conn, number):
        server.read_request(conn)
        conn.sendall(OK)  # keep-alive, then gone

    server = RawServer(script)

    async def go():
        async with Client() as client:
            first = await client.request("POST", server.url(), content=b"{}")
            await asyncio.sleep(0.2)  # the close reaches the client meanwhile
            second = await client.request("POST", server.url(), content=b"{}")
            return first, second

    with server:
        first, second = asyncio.run(go())
    assert first.status_code == second.status_code == 201 and server.connections == 2


# ------------------------------------------------------------------ servers that misbehave: a clear error


@pytest.mark.parametrize("reply,error,message", [
    (b"garbage\r\n\r\n", http.RemoteProtocolError, "the reply is not HTTP/1.1: it starts with b'garbage"),
    (b"SSH-2.0-OpenSSH_9.6", http.RemoteProtocolError, "the reply is not HTTP/1.1: it is b'SSH-2.0"),
    (b"", http.RemoteProtocolError, "closed the connection without answering"),
    (b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"mess", http.RemoteProtocolError,
     "closed the connection in the middle of its reply"),
    (b"HTTP/1.1 201 Created\r\nContent-Le", http.RemoteProtocolError, "in the middle of its reply"),
    (b"HTTP/1.1 201 Created\r\nContent-Length: ten\r\n\r\n", http.RemoteProtocolError,
     "Content-Length is not a length: 'ten'"),
    (b"HTTP/1.1 201 Created\r\nContent-Length: 2, 3\r\n\r\n{}", http.RemoteProtocolError,
     "Content-Length is not a length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", http.RemoteProtocolError,
     "a chunk of the reply has no size: b'zz\\r\\n'"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n0\r\n\r\n", http.RemoteProtocolError,
     "a chunk of the reply is longer than its size says"),
    (b"HTTP/1.1 200 OK\r\nnot a header\r\n\r\n", http.RemoteProtocolError, "a header line that is not one"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", http.RemoteProtocolError, "longer than 65,536 bytes"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: a\r\n" * 101 + b"\r\n", http.RemoteProtocolError, "more than 100 headers"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", http.RemoteProtocolError, "switched protocols"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope", http.RemoteProtocolError,
     "says it is gzip but is not"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", http.RemoteProtocolError,
     "the reply is 2,000,000 bytes: more than 1,000,000"),
])
def test_a_reply_that_is_not_http_is_a_clear_error(reply, error, message):
    with RawServer(serve(reply, close=True)) as server:
        with pytest.raises(error) as caught:
            asyncio.run(Client(max_reply=1_000_000).request("POST", server.url(), content=b"{}"))
    assert message in str(caught.value), str(caught.value)
    assert isinstance(caught.value, http.TransportError)


def test_a_reply_that_never_comes_is_a_read_timeout():
    release = threading.Event()

    def script(server, conn, number):
        server.read_request(conn)
        release.wait(10)

    server = RawServer(script)
    with server:
        start = time.monotonic()
        with pytest.raises(http.ReadTimeout, match=r"no answer within 0.3 s"):
            post(server.url(), timeout=0.3)
        release.set()
    assert time.monotonic() - start < 5


def test_a_reply_that_stalls_midway_is_a_read_timeout():
    release = threading.Event()

    def script(server, conn, number):
        server.read_request(conn)
        conn.sendall(OK[:30])
        release.wait(10)

    server = RawServer(script)
    with server:
        with pytest.raises(http.ReadTimeout):
            post(server.url(), timeout=0.3)
        release.set()


def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(http.ConnectError, match=rf"connecting to 127.0.0.1:{port}"):
        post(f"http://127.0.0.1:{port}/x")


def test_a_reset_connection_is_an_error_and_the_next_request_gets_a_new_one():
    def script(server, conn, number):
        server.read_request(conn)
        if number == 1:  # a reset (RST), not a close
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return
        conn.sendall(OK)

    server = RawServer(script)

    async def go():
        async with Client() as client:
            with pytest.raises(http.TransportError):
                await client.request("POST", server.url(), content=b"{}")
            return await client.request("POST", server.url(), content=b"{}")

    with server:
        assert asyncio.run(go()).status_code == 201
    assert server.connections == 2


def test_a_large_body_is_sent_whole():
    body = b'{"a":"' + b"x" * 3_000_000 + b'"}'
    with RawServer(serve(OK)) as server:
        [r] = post(server.url(), body=body)
    assert r.status_code == 201 and server.requests[0].endswith(body)


def test_headers_that_http_cannot_carry_are_refused_before_anything_is_sent():
    async def go(headers):
        async with Client() as client:
            await client.request("POST", "http://127.0.0.1:9/x", content=b"{}", headers=headers)

    for headers in ({"X-A": "a\r\nX-Evil: 1"}, {"X A": "b"}, {"X-A": "a\nb"}):
        with pytest.raises(ValueError, match="cannot be sent"):
            asyncio.run(go(headers))
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        asyncio.run(Client().request("POST", "ftp://example.com/x"))


def test_at_most_max_connections_at_once():
    active, most = [0], [0]
    lock = threading.Lock()

    def script(server, conn, number):
        while server.read_request(conn) is not None:
            with lock:
                active[0] += 1
                most[0] = max(most[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1
            conn.sendall(OK)

    server = RawServer(script)

    async def go():
        async with Client(max_connections=3) as client:
            return await asyncio.gather(*[client.request("POST", server.url(), content=b"{}") for _ in range(12)])

    with server:
        assert [r.status_code for r in asyncio.run(go())] == [201] * 12
    assert most[0] <= 3 and server.connections <= 3


# ------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return cert, key


def _tls_server(certificate) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = RawServer(serve(OK), tls=context)
    context.sni_callback = lambda sock, name, ctx: server.names.append(name)
    return server


def test_tls_verifies_the_certificate_and_sends_the_server_name(certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with _tls_server(certificate) as server:
        replies = post(server.url("https", "localhost"), n=2)
    assert [r.status_code for r in replies] == [201, 201] and server.connections == 1
    assert server.names == ["localhost"]


def test_tls_refuses_a_certificate_it_cannot_verify(certificate, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with _tls_server(certificate) as server:
        with pytest.raises(http.ConnectError, match="the certificate of localhost does not verify"):
            post(server.url("https", "localhost"))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with _tls_server(certificate) as server:  # the right certificate, for another name
        with pytest.raises(http.ConnectError, match="does not verify"):
            post(server.url("https", "127.0.0.1"))


# ------------------------------------------------------------------ proxies


def test_a_proxy_from_the_environment_is_used_through_httpx(monkeypatch):
    with RawServer(serve(OK)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        [r] = post("http://braze.invalid/users/track")
    assert r.status_code == 201
    assert proxy.requests[0].startswith(b"POST http://braze.invalid/users/track HTTP/1.1\r\n")


def test_no_proxy_sends_directly(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with RawServer(serve(OK)) as server:
        [r] = post(server.url())
    assert r.status_code == 201 and server.requests[0].startswith(b"POST /users/track HTTP/1.1")


def test_an_unreachable_proxy_is_a_connect_error(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(http.ConnectError):
        post("http://braze.invalid/users/track")


def test_run_goes_through_the_proxy_the_environment_names(tmp_path, monkeypatch):
    import json

    import mapspec
    from mapspec.delivery import Job, Options, run

    path = tmp_path / "e.ndjson"
    path.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}"}) + "\n" for i in range(3)))
    with RawServer(serve(OK)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        account = run(Job(mapspec.load("segment-braze"), [str(path)], "key-123", Options(linger=0.05),
                          endpoint="http://braze.invalid"))
    assert account.delivered == 3 and account.adds_up(), account.text()
    [request] = proxy.requests
    assert request.startswith(b"POST http://braze.invalid/users/track HTTP/1.1\r\n")
    assert b"Bearer key-123" in request
