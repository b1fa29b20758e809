"""An HTTP sink that answers every request at once with Braze's 201 success: what `mapspec run` is measured
against, so that the figure is the client's own. It runs in its own process (its own core, as a real Braze
would be elsewhere), on loopback, keep-alive, and counts the requests and bytes it took.

    python bench/sink.py   # prints its port, then serves until stdin closes; at exit prints
                           # "requests bytes cpu-seconds" (the CPU time, user and system, it took to serve)
"""

from __future__ import annotations

import asyncio
import resource
import sys

REPLY = b'{"message":"success"}'
RESPONSE = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(REPLY)).encode() + b"\r\n\r\n" + REPLY)


class Sink(asyncio.Protocol):
    requests = 0
    received = 0

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        Sink.received += len(data)
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15:].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[:end + 4 + length]
            Sink.requests += 1
            self.transport.write(RESPONSE)


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", 0)
    started = _cpu()  # what serving takes, not the interpreter's start
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes our stdin
    server.close()
    print(Sink.requests, Sink.received, round(_cpu() - started, 3), flush=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    asyncio.run(main())
