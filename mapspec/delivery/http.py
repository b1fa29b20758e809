"""A small HTTP/1.1 client on asyncio streams: what `mapspec run` sends its requests with.

httpx, which `run` used before, spends about 1 ms of CPU per request on its own machinery (its connection
pool looks at every connection's socket for each request); this one about 0.05 ms, so that sending is no
longer what limits a run. It knows nothing of the API it talks to:

- keep-alive connections per origin (scheme, host, port), at most `max_connections` at once; an idle one is
  dropped after `keepalive` seconds, or when the server has closed it;
- TLS with the certificates verified and SNI, from the same certificates httpx uses (SSL_CERT_FILE,
  SSL_CERT_DIR, else certifi's bundle);
- replies delimited by Content-Length, chunked, or the connection's close; 1xx interim replies skipped;
  gzip and deflate bodies decoded; a reply larger than `max_reply` refused;
- one timeout over the whole request (connect, send, answer), named by the phase it ran out in;
- an origin that a proxy variable (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, unless NO_PROXY excludes the host)
  sends through a proxy goes through httpx, which tunnels to it; so does every request when a test gives an
  httpx transport.

Whatever goes wrong on the way (refused, reset or closed connections, a reply that is not HTTP, a timeout, a
certificate that does not verify) is a `TransportError` whose class says which (named as httpx names them:
ConnectError, ReadTimeout, RemoteProtocolError, ...) and whose message says what happened; never another
exception.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import time
import urllib.request
import zlib
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "mapspec"
MAX_HEAD = 64 * 1024  # bytes of a reply's status line and headers
MAX_HEADERS = 100
MAX_REPLY = 16 * 1024 * 1024  # bytes of a reply's body


class TransportError(Exception):
    """No answer: the connection could not be made, failed or closed, the reply was not HTTP, or time ran out."""


class ConnectError(TransportError):
    """The connection could not be made (refused, unknown host, the certificate did not verify)."""


class ReadError(TransportError):
    """The connection failed while the reply was read."""


class WriteError(TransportError):
    """The connection failed while the request was sent."""


class RemoteProtocolError(TransportError):
    """The server closed the connection before its reply was whole, or the reply is not HTTP/1.1."""


class ProxyError(TransportError):
    """The proxy refused or failed (through httpx)."""


class TimeoutException(TransportError):
    """Time ran out (the subclass says in which phase)."""


class ConnectTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class PoolTimeout(TimeoutException):
    pass


_BY_NAME = {cls.__name__: cls for cls in (TransportError, ConnectError, ReadError, WriteError, RemoteProtocolError,
                                          ProxyError, TimeoutException, ConnectTimeout, WriteTimeout, ReadTimeout,
                                          PoolTimeout)}


class Headers(dict):
    """A reply's headers by lowercase name (repeated ones joined with ", ")."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())


class Response:
    """A reply: status, reason, headers, body."""

    __slots__ = ("status_code", "reason_phrase", "headers", "content")

    def __init__(self, status_code: int, reason_phrase: str, headers: Headers, content: bytes):
        self.status_code, self.reason_phrase, self.headers, self.content = status_code, reason_phrase, headers, content

    @property
    def text(self) -> str:
        match = re.search(r"charset=([\w.-]+)", self.headers.get("content-type", ""))
        try:
            return self.content.decode(match.group(1) if match else "utf-8", "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        try:
            return json.loads(self.content)
        except RecursionError:
            raise ValueError("the reply is JSON nested deeper than a parser takes") from None

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"


class _Origin:
    __slots__ = ("scheme", "host", "port", "host_header", "tls", "idle", "proxied")

    def __init__(self, scheme: str, host: str, port: int, proxied: bool):
        self.scheme, self.host, self.port, self.proxied = scheme, host, port, proxied
        self.tls = scheme == "https"
        shown = f"[{host}]" if ":" in host else host
        self.host_header = shown if port == (443 if self.tls else 80) else f"{shown}:{port}"
        self.idle: list[_Connection] = []


class _Connection:
    __slots__ = ("reader", "writer", "since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer, self.since = reader, writer, 0.0

    def usable(self, now: float, keepalive: float) -> bool:
        """An idle connection that may carry another request: open on both sides, not idle too long."""
        return not self.writer.is_closing() and not self.reader.at_eof() and now - self.since < keepalive

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail: it is gone either way
            pass


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Client:
    """Sends requests and returns their replies; see the module's description."""

    def __init__(self, max_connections: int = 16, *, keepalive: float = 5.0, max_reply: int = MAX_REPLY,
                 transport: Any = None, trust_env: bool = True):
        self.max_connections, self.keepalive, self.max_reply = max_connections, keepalive, max_reply
        self.transport, self.trust_env = transport, trust_env
        self.slots = asyncio.Semaphore(max_connections)
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._urls: dict[str, tuple[_Origin, bytes]] = {}
        self._heads: dict[tuple, bytes] = {}
        self._ssl: ssl.SSLContext | None = None
        self._httpx: Any = None
        self._closed = False

    # ------------------------------------------------------------------ the request

    async def request(self, method: str, url: str, *, content: bytes = b"", headers: dict[str, str] | None = None,
                      timeout: float | None = 30.0) -> Response:
        """Send one request and read its reply. Raises TransportError (no answer), or ValueError for a request
        that cannot be sent as given (a URL or header that HTTP cannot carry)."""
        origin, target = self._parse(url)
        if origin.proxied or self.transport is not None:
            return await self._via_httpx(method, url, content, headers, timeout)
        head = self._head(method, origin, target, headers or {}, len(content))
        phase = [PoolTimeout]
        try:
            async with asyncio.timeout(timeout):
                async with self.slots:
                    return await self._exchange(origin, method, head, content, phase)
        except TimeoutError:
            raise phase[0](f"no answer within {timeout:g} s" if phase[0] is ReadTimeout
                           else f"timed out after {timeout:g} s ({_PHASES[phase[0]]})") from None

    async def _exchange(self, origin: _Origin, method: str, head: bytes, content: bytes, phase: list) -> Response:
        phase[0] = ConnectTimeout
        conn = self._idle(origin) or await self._connect(origin)
        done = False
        try:
            phase[0] = WriteTimeout
            write_error: BaseException | None = None
            try:
                conn.writer.write(head + content)
                await conn.writer.drain()
            except OSError as e:  # the server may have answered (a 413) before it stopped reading: read on
                write_error = e
            phase[0] = ReadTimeout
            try:
                response, keep = await self._reply(conn.reader, method)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
                if write_error is not None:
                    raise WriteError(_why(write_error, "sending the request")) from None
                if isinstance(e, asyncio.IncompleteReadError):
                    raise RemoteProtocolError("the server closed the connection in the middle of its reply") from None
                if isinstance(e, asyncio.LimitOverrunError):
                    raise RemoteProtocolError(f"the reply's headers are longer than {MAX_HEAD:,} bytes") from None
                raise ReadError(_why(e, "reading the reply")) from None
            if keep and write_error is None and not self._closed:
                conn.since = time.monotonic()
                origin.idle.append(conn)
                done = True
            return response
        finally:
            if not done:
                conn.close()

    def _idle(self, origin: _Origin) -> _Connection | None:
        idle, now = origin.idle, time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self.keepalive):
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        context = self._context() if origin.tls else None
        try:
            reader, writer = await asyncio.open_connection(
                origin.host, origin.port, ssl=context, server_hostname=origin.host if context else None,
                limit=MAX_HEAD)
        except ssl.SSLCertVerificationError as e:
            raise ConnectError(f"the certificate of {origin.host} does not verify: "
                               f"{e.verify_message or e.reason or e}") from None
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as e:
            raise ConnectError(_why(e, f"connecting to {origin.host_header}")) from None
        return _Connection(reader, writer)

    async def _reply(self, reader: asyncio.StreamReader, method: str) -> tuple[Response, bool]:
        """Read one reply; (the reply, whether the connection may carry another request)."""
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as e:
                if not e.partial:
                    raise RemoteProtocolError("the server closed the connection without answering") from None
                raise RemoteProtocolError(f"the reply is not HTTP/1.1: it is {bytes(e.partial[:60])!r}") from None
            match = _STATUS.fullmatch(line)
            if match is None:
                raise RemoteProtocolError(f"the reply is not HTTP/1.1: it starts with {bytes(line[:60])!r}")
            version, status, reason = match.group(1), int(match.group(2)), (match.group(3) or b"").strip()
            headers = await self._headers(reader)
            if status >= 200:
                break
            if status == 101:
                raise RemoteProtocolError("the server switched protocols (101), which was not asked for")
            # 100 Continue and other interim replies: the reply follows
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection if version == b"1" else "keep-alive" in connection
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "transfer-encoding" in headers:
            codings = [c.strip() for c in headers["transfer-encoding"].lower().split(",")]
            if codings[-1] == "chunked":
                body = await self._chunked(reader)
                keep = keep and "content-length" not in headers  # both: a smuggling attempt, or a broken proxy
            else:
                body, keep = await self._to_close(reader), False
        elif "content-length" in headers:
            length = _length(headers["content-length"])
            if length > self.max_reply:
                raise RemoteProtocolError(f"the reply is {length:,} bytes: more than {self.max_reply:,}")
            body = await reader.readexactly(length)
        else:
            body, keep = await self._to_close(reader), False
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            body = self._decoded(body, encoding)
        return Response(status, reason.decode("latin-1"), headers, body), keep

    async def _headers(self, reader: asyncio.StreamReader) -> Headers:
        headers = Headers()
        size = 0
        for _ in range(MAX_HEADERS + 1):
            line = await reader.readuntil(b"\n")
            size += len(line)
            if size > MAX_HEAD:
                raise RemoteProtocolError(f"the reply's headers are longer than {MAX_HEAD:,} bytes")
            if line in (b"\r\n", b"\n"):
                return headers
            if line[:1] in (b" ", b"\t") and headers:  # a folded line (obsolete): the last header goes on
                key = next(reversed(headers))
                dict.__setitem__(headers, key, f"{dict.__getitem__(headers, key)} {line.strip().decode('latin-1')}")
                continue
            name, colon, value = line.partition(b":")
            if not colon or _TOKEN.fullmatch(name) is None:
                raise RemoteProtocolError(f"the reply has a header line that is not one: {bytes(line[:60])!r}")
            key, text = name.decode("ascii").lower(), value.strip().decode("latin-1")
            old = dict.get(headers, key)
            dict.__setitem__(headers, key, text if old is None else f"{old}, {text}")
        raise RemoteProtocolError(f"the reply has more than {MAX_HEADERS} headers")

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\n")
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or re.fullmatch(rb"[0-9A-Fa-f]+", size_text) is None:
                raise RemoteProtocolError(f"a chunk of the reply has no size: {bytes(line[:40])!r}")
            size = int(size_text, 16)
            if size == 0:
                await self._headers(reader)  # trailers, if any, up to the empty line
                return b"".join(parts)
            total += size
            if total > self.max_reply:
                raise RemoteProtocolError(f"the reply is more than {self.max_reply:,} bytes")
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise RemoteProtocolError("a chunk of the reply is longer than its size says")

    async def _to_close(self, reader: asyncio.StreamReader) -> bytes:
        data = await reader.read(self.max_reply + 1)
        parts = [data]
        total = len(data)
        while data and total <= self.max_reply:
            data = await reader.read(self.max_reply + 1 - total)
            parts.append(data)
            total += len(data)
        if total > self.max_reply:
            raise RemoteProtocolError(f"the reply is more than {self.max_reply:,} bytes")
        return b"".join(parts)

    def _decoded(self, body: bytes, encoding: str) -> bytes:
        try:
            inflate = zlib.decompressobj(wbits=(47 if encoding != "deflate" else 15))
            out = inflate.decompress(body, self.max_reply + 1)
            if encoding == "deflate" and not out and body:
                raise zlib.error
        except zlib.error:
            if encoding != "deflate":
                raise RemoteProtocolError(f"the reply says it is {encoding} but is not") from None
            try:  # deflate as many servers send it: without the zlib wrapper
                out = zlib.decompressobj(wbits=-15).decompress(body, self.max_reply + 1)
            except zlib.error:
                raise RemoteProtocolError("the reply says it is deflate but is not") from None
        if len(out) > self.max_reply:
            raise RemoteProtocolError(f"the reply is more than {self.max_reply:,} bytes")
        return out

    # ------------------------------------------------------------------ what is sent

    def _parse(self, url: str) -> tuple[_Origin, bytes]:
        found = self._urls.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = -1
        if scheme not in ("http", "https") or not parts.hostname or port == -1 or port == 0:
            raise ValueError(f"cannot send to {url!r}: not an http:// or https:// URL with a host")
        host = parts.hostname
        port = port or (443 if scheme == "https" else 80)
        origin = self._origins.get((scheme, host, port))
        if origin is None:
            origin = self._origins[(scheme, host, port)] = _Origin(scheme, host, port,
                                                                   self.trust_env and _proxied(scheme, host))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if _BAD_VALUE.search(target) or " " in target:
            raise ValueError(f"cannot send to {url!r}: its path holds spaces or control characters")
        if len(self._urls) > 10_000:
            self._urls.clear()
        found = self._urls[url] = (origin, target.encode("utf-8"))
        return found

    def _head(self, method: str, origin: _Origin, target: bytes, headers: dict[str, str], length: int) -> bytes:
        key = (method, origin.host_header, target, *headers.items())
        block = self._heads.get(key)
        if block is None:
            if _TOKEN.fullmatch(method.encode("ascii", "replace")) is None:
                raise ValueError(f"{method!r} is not an HTTP method")
            lines = [f"Host: {origin.host_header}", f"User-Agent: {USER_AGENT}"]
            given = {name.lower() for name in headers}
            if "accept" not in given:
                lines.append("Accept: */*")
            for name, value in headers.items():
                if _TOKEN.fullmatch(name.encode("ascii", "replace")) is None or _BAD_VALUE.search(value):
                    raise ValueError(f"the header {name!r} cannot be sent: its name or value is not HTTP text")
                if name.lower() not in ("host", "content-length", "transfer-encoding", "connection"):
                    lines.append(f"{name}: {value}")
            block = method.encode("ascii") + b" " + target + b" HTTP/1.1\r\n" + "\r\n".join(lines).encode("latin-1")
            if len(self._heads) > 1000:
                self._heads.clear()
            self._heads[key] = block
        if length or method not in ("GET", "HEAD", "OPTIONS"):
            return block + b"\r\nContent-Length: " + str(length).encode("ascii") + b"\r\n\r\n"
        return block + b"\r\n\r\n"

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if self.trust_env and os.environ.get("SSL_CERT_FILE"):
                self._ssl = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
            elif self.trust_env and os.environ.get("SSL_CERT_DIR"):
                self._ssl = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
            else:
                try:
                    import certifi
                except ImportError:  # pragma: no cover - httpx depends on it
                    self._ssl = ssl.create_default_context()
                else:
                    self._ssl = ssl.create_default_context(cafile=certifi.where())
        return self._ssl

    # ------------------------------------------------------------------ through a proxy: httpx

    async def _via_httpx(self, method: str, url: str, content: bytes, headers: dict[str, str] | None,
                         timeout: float | None) -> Response:
        import httpx

        if self._httpx is None:
            self._httpx = httpx.AsyncClient(transport=self.transport, http2=False, trust_env=self.trust_env,
                                            limits=httpx.Limits(max_connections=self.max_connections))
        try:
            reply = await self._httpx.request(method, url, content=content, headers=headers, timeout=timeout)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            raise _BY_NAME.get(type(e).__name__, TransportError)(str(e) or type(e).__name__) from None
        return Response(reply.status_code, reply.reason_phrase, Headers((k.lower(), v) for k, v in reply.headers.items()), reply.content)

    async def aclose(self) -> None:
        self._closed = True
        for origin in self._origins.values():
            for conn in origin.idle:
                conn.close()
            origin.idle.clear()
        if self._httpx is not None:
            await self._httpx.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_PHASES = {ConnectTimeout: "connecting", WriteTimeout: "sending the request", ReadTimeout: "waiting for the reply"}


def _proxied(scheme: str, host: str) -> bool:
    """Whether the proxy variables send requests to this host through a proxy."""
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(host, proxies)


def _length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not all(v.isascii() and v.isdigit() for v in values):
        raise RemoteProtocolError(f"the reply's Content-Length is not a length: {value[:40]!r}")
    return int(values.pop())


def _why(e: BaseException, doing: str) -> str:
    if isinstance(e, asyncio.IncompleteReadError):
        return f"the connection closed while {doing}"
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"{text} ({doing})"
