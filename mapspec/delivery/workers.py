"""Worker processes for `--workers N`: forked once, each fed chunks of work over a socket of its own, each
answering them in the order they came.

The parent's side lives on its event loop: a chunk is written to a worker's socket and its answer read back
without any thread of the parent in between (a process pool's threads, which pickle, queue and unpickle under
the parent's GIL, left the workers waiting a fifth of the time). The work is a function of bytes to bytes,
which the workers inherit when they are forked: nothing else crosses the sockets.

A worker that dies (killed, out of memory) closes its socket: every answer still awaited from it raises
`WorkerStopped`. When the parent closes its side (the run is over, stopped, or the parent was killed), each
worker reads the end of its socket and exits; workers ignore Ctrl-C, which the parent handles.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Callable

_HEAD = struct.Struct("!cQ")  # kind (b"W" work, b"R" result, b"E" error), length
_LIMIT = 1 << 30  # bytes an answer may hold (the parent reads whatever a worker sends: never paused)


class WorkerStopped(Exception):
    """A worker process stopped before it answered."""


class Workers:
    """`count` processes forked now (before the parent starts a thread), each running `work` on what it is
    sent; `submit` returns a future of the answer."""

    def __init__(self, count: int, work: Callable[[bytes], bytes]):
        context = multiprocessing.get_context("fork")  # ValueError where processes cannot be forked
        pairs = [socket.socketpair() for _ in range(count)]
        self.sockets = [mine for mine, _ in pairs]
        self.processes = []
        try:
            for i, (_, theirs) in enumerate(pairs):
                others = [s.fileno() for s in self.sockets] + [t.fileno() for j, (_, t) in enumerate(pairs) if j != i]
                process = context.Process(target=_serve, args=(theirs, others, work), daemon=True,
                                          name=f"mapspec-worker-{i + 1}")
                process.start()  # OSError when the system refuses another process
                self.processes.append(process)
        except BaseException:
            self.join(timeout=1)  # those started see their socket close, and exit
            raise
        finally:
            for _, theirs in pairs:
                theirs.close()
        self.writers: list[asyncio.StreamWriter] = []
        self.waiting: list[deque[asyncio.Future]] = [deque() for _ in range(count)]
        self.stopped: list[BaseException | None] = [None] * count
        self.readers: list[asyncio.Task] = []
        self.next = 0

    async def start(self) -> None:
        """Connect to the workers (on the running event loop)."""
        for i, sock in enumerate(self.sockets):
            reader, writer = await asyncio.open_connection(sock=sock, limit=_LIMIT)
            self.writers.append(writer)
            self.readers.append(asyncio.ensure_future(self._read(i, reader)))

    def submit(self, data: bytes) -> asyncio.Future:
        """Send work to the next worker in turn; the future of its answer (raises WorkerStopped, or what the
        work raised in the worker)."""
        i = self.next
        self.next = (i + 1) % len(self.sockets)
        future = asyncio.get_running_loop().create_future()
        if self.stopped[i] is not None:
            future.set_exception(self.stopped[i])
            return future
        self.waiting[i].append(future)
        # never waits for the worker to read: how much is sent ahead is the caller's to bound
        self.writers[i].write(_HEAD.pack(b"W", len(data)) + data)
        return future

    async def _read(self, i: int, reader: asyncio.StreamReader) -> None:
        waiting = self.waiting[i]
        try:
            while True:
                kind, size = _HEAD.unpack(await reader.readexactly(_HEAD.size))
                data = await reader.readexactly(size)
                future = waiting.popleft()
                if future.done():  # cancelled meanwhile
                    continue
                if kind == b"R":
                    future.set_result(data)
                    continue
                try:
                    error = pickle.loads(data)  # noqa: S301 - from this run's own worker
                except Exception as e:  # noqa: BLE001 - an exception that cannot be rebuilt here: its text
                    error = RuntimeError(f"the work failed in worker {i + 1}, with an error that cannot be "
                                         f"shown here ({type(e).__name__})")
                future.set_exception(error)
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, struct.error) as e:
            stopped = WorkerStopped(f"worker {i + 1} stopped"
                                    + ("" if isinstance(e, asyncio.IncompleteReadError) else f": {e}"))
            self.stopped[i] = stopped
            while waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_exception(stopped)

    async def aclose(self) -> None:
        """Close the parent's side: the workers exit once they read its end."""
        for writer in self.writers:
            writer.close()
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        for waiting in self.waiting:
            for future in waiting:
                future.cancel()
            waiting.clear()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the workers to exit (after `aclose`, or when the loop never ran); kill those that do not."""
        for sock in self.sockets:
            sock.close()
        for process in self.processes:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join()


def _serve(sock: socket.socket, others: list[int], work: Callable[[bytes], bytes]) -> None:
    """A worker's life: answer each piece of work in turn until the parent closes its side."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for fd in others:  # the other workers' sockets, copied by the fork: their ends must close with their owners
        try:
            os.close(fd)
        except OSError:
            pass
    # what the worker holds from the parent (the translator, the target) is left out of garbage collection,
    # which would otherwise walk it again and again as chunks come and go
    gc.freeze()
    incoming = sock.makefile("rb")
    while True:
        head = incoming.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return  # the parent closed its side
        _, size = _HEAD.unpack(head)
        data = incoming.read(size)
        if len(data) < size:
            return
        try:
            kind, out = b"R", work(data)
        except Exception as e:  # noqa: BLE001 - raised where the parent awaits the answer
            try:
                out = pickle.dumps(e)
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled is sent as its text
                out = pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))
            kind = b"E"
        try:
            sock.sendall(_HEAD.pack(kind, len(out)) + out)
        except OSError:
            return  # the parent is gone
