"""The worker processes of `run --workers` (mapspec/delivery/workers.py): answers in order, a failure raised
where the answer is awaited, a worker that dies stops what waited for it, and workers that outlive nothing."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from mapspec.delivery.workers import Workers, WorkerStopped

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="--workers forks")


class _Odd(Exception):
    def __init__(self, a, b):  # (pickled with one argument: cannot be rebuilt from it)
        super().__init__(f"{a} {b}")


def _work(data: bytes) -> bytes:
    if data == b"raise":
        raise ValueError("the work failed on this")
    if data == b"odd":
        raise _Odd(1, 2)
    if data == b"die":
        os._exit(9)  # as kill -9 would: no exception, no goodbye
    if data == b"slow":
        time.sleep(0.2)
    return data.upper() + f" by {os.getpid()}".encode()


def _answers(workers: Workers, items: list[bytes]) -> list:
    async def go():
        await workers.start()
        futures = [workers.submit(item) for item in items]
        out = []
        for future in futures:
            try:
                out.append(await future)
            except Exception as e:  # noqa: BLE001 - what the test looks at
                out.append(e)
        await workers.aclose()
        return out

    try:
        return asyncio.run(go())
    finally:
        workers.join()


def test_answers_come_back_in_order_from_every_worker():
    workers = Workers(3, _work)
    items = [b"slow" if i % 4 == 0 else f"item {i}".encode() + b"x" * (i * 50_000) for i in range(12)]
    out = _answers(workers, items)
    assert [o.split(b" by ")[0] for o in out] == [i.upper() for i in items]
    assert len({o.split(b" by ")[1] for o in out}) == 3  # each worker had its share
    assert all(not p.is_alive() for p in workers.processes)


def test_what_the_work_raises_is_raised_where_its_answer_is_awaited():
    out = _answers(Workers(1, _work), [b"a", b"raise", b"b"])
    assert out[0].startswith(b"A") and out[2].startswith(b"B")
    assert isinstance(out[1], ValueError) and str(out[1]) == "the work failed on this"


def test_an_error_that_cannot_be_rebuilt_in_the_parent_is_still_raised_there():
    out = _answers(Workers(1, _work), [b"odd", b"a"])
    assert isinstance(out[0], RuntimeError) and "the work failed in worker 1" in str(out[0])
    assert out[1].startswith(b"A")


def test_a_system_that_refuses_another_process_leaves_none_behind(monkeypatch):
    import multiprocessing

    started = []
    real = multiprocessing.get_context("fork").Process.start

    def start(self):
        if started:
            raise OSError(11, "Resource temporarily unavailable")
        real(self)
        started.append(self)

    monkeypatch.setattr(multiprocessing.get_context("fork").Process, "start", start)
    with pytest.raises(OSError):
        Workers(3, _work)
    assert len(started) == 1 and not started[0].is_alive()


def test_a_worker_that_dies_stops_what_waited_for_it_and_no_more():
    out = _answers(Workers(2, _work), [b"die", b"b", b"x", b"c", b"y", b"d"])
    # worker 1 had die, x, y (what it answered before it died may be lost with it: the run stops then);
    # worker 2 b, c, d, which go on
    assert all(isinstance(out[i], WorkerStopped) for i in (0, 2, 4)), out
    assert [out[i].split(b" by ")[0] for i in (1, 3, 5)] == [b"B", b"C", b"D"]


def test_workers_exit_when_the_parent_closes_its_side_without_ever_starting():
    workers = Workers(2, _work)
    workers.join(timeout=5)
    assert all(not p.is_alive() for p in workers.processes)
