"""Delivery speed: objects/s that `mapspec run` delivers to a sink that answers at once (bench/sink.py, in its
own process), where the time goes, and the peak memory of `run --dry-run` over many events.

    pip install -e . orjson && python bench/delivery.py [--events 100000] [--rss 100000,1000000]

Where the time goes is measured as a ladder over the same events, each step timed on its own: reading the
lines, parsing them, translating them, encoding the batched bodies; "batch" is what `run --dry-run` takes
beyond those (merging objects into requests, the account, the checkpoint's bookkeeping), and "send" what a
real run to the sink takes beyond the dry run (HTTP, concurrency, the replies).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from events import write_ndjson  # noqa: E402

import mapspec  # noqa: E402
from mapspec.delivery import Job, Options, run  # noqa: E402
from mapspec.jsonio import dumps as json_dumps  # noqa: E402
from mapspec.jsonio import loads as json_loads  # noqa: E402

KEY = "bench-key"
SETTINGS = {"track_all_pages": True, "app_id": "bench-app"}
STAGES = ("read", "parse", "translate", "batch", "encode", "send")
WORKERS = max(1, (os.cpu_count() or 1) - 1)


class Sink:
    """bench/sink.py in a subprocess."""

    def __enter__(self) -> Sink:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "sink.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        requests, size, cpu = self.proc.stdout.readline().split() or ("0", "0", "0")
        self.requests, self.bytes, self.cpu = int(requests), int(size), float(cpu)
        self.proc.wait(timeout=30)


def events_file(directory: str, n: int, seed: int = 4) -> str:
    path = os.path.join(directory, f"events-{n}.ndjson")
    if not os.path.exists(path):
        with open(path, "wb") as fh:
            write_ndjson(fh, n, seed)
    return path


def _timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def throughput(path: str, rounds: int = 3, workers: int = 0) -> dict:
    """objects/s of `mapspec run` (with `--workers`) to the instant sink, and each stage's share of its time
    (medians; the stages as one process spends them)."""
    translate = mapspec.load("segment-braze", SETTINGS)
    with open(path, "rb") as fh:
        lines = fh.readlines()
    events = [json_loads(line) for line in lines]
    tmp = os.path.dirname(path)
    dry_out = os.path.join(tmp, "dry.ndjson")

    def dry() -> None:
        with open(dry_out, "wb") as fh:
            run(Job(translate, [path], None, Options(), out=fh, dead_letter=os.path.join(tmp, "dry-dead.ndjson")))

    dry()
    requests = [json.loads(line) for line in open(dry_out, "rb")]
    bodies = [r["body"] for r in requests]
    objects = sum(len(v) for b in bodies for v in b.values() if isinstance(v, list))

    def read() -> None:
        with open(path, "rb") as fh:
            for _ in fh:
                pass

    def parse() -> None:
        for line in lines:
            json_loads(line)

    def translate_all() -> None:
        for e in events:
            try:
                translate(e)
            except mapspec.Rejected:
                pass

    def encode() -> None:
        for b in bodies:
            json_dumps(b)

    samples: dict[str, list[float]] = {k: [] for k in ("read", "parse", "translate", "encode", "dry", "total",
                                                        "cpu")}
    account = None
    for _ in range(rounds):
        samples["read"].append(_timed(read))
        samples["parse"].append(_timed(parse))
        samples["translate"].append(_timed(translate_all))
        samples["encode"].append(_timed(encode))
        samples["dry"].append(_timed(dry))
        with Sink() as sink:
            dead = os.path.join(tmp, "dead.ndjson")
            start, cpu = time.perf_counter(), time.process_time()
            account = run(Job(translate, [path], KEY, Options(workers=workers), dead_letter=dead, endpoint=sink.url))
            samples["total"].append(time.perf_counter() - start)
            samples["cpu"].append(time.process_time() - cpu)
            os.unlink(dead)
    m = {k: statistics.median(v) for k, v in samples.items()}
    stages = {"read": m["read"], "parse": m["parse"], "translate": m["translate"],
              "batch": max(0.0, m["dry"] - m["read"] - m["parse"] - m["translate"] - m["encode"]),
              "encode": m["encode"], "send": max(0.0, m["total"] - m["dry"])}
    assert account is not None and account.adds_up() and account.refused == 0, account.text()
    return {"workers": workers, "cpu": m["cpu"], "events": len(lines), "objects": objects, "requests": len(requests),
            "seconds": m["total"],
            "objects_per_s": objects / m["total"], "events_per_s": len(lines) / m["total"],
            "dry_seconds": m["dry"], "stages": stages, "account": account.text(), "sink_requests": sink.requests}


_MEASURE = """
import os, subprocess, sys
gen = subprocess.Popen(sys.argv[1:4], stdout=subprocess.PIPE)
proc = subprocess.Popen(sys.argv[4:], stdin=gen.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
gen.stdout.close()
_, status, usage = os.wait4(proc.pid, 0)
gen.wait()
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss(n: int, directory: str) -> float:
    """Peak resident memory (MiB) of `mapspec run --dry-run -` over n events streamed to its stdin.

    A small interpreter starts it: a process forked from this one (which holds the benchmark's events)
    would count this one's memory as its own peak."""
    exe = str(Path(sys.executable).with_name("mapspec"))
    settings = os.path.join(directory, "settings.json")
    Path(settings).write_text(json.dumps(SETTINGS))
    out = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, str(HERE / "events.py"), str(n),
                          exe, "run", "--dry-run", "--settings", settings, "-"],
                         capture_output=True, text=True, check=True).stdout.split()
    code, kib = int(out[0]), int(out[1])
    if code not in (0, 1):  # 1: something was dead-lettered, as the mix has rejected events
        raise RuntimeError(f"mapspec run --dry-run exited {code}")
    return kib / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=WORKERS, help="--workers of the second run (default: a core "
                    "for each but one, which the sending process has)")
    ap.add_argument("--rss", default="100000,1000000", help="event counts for the peak-memory runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for workers in sorted({0, args.workers}):
            print(report_throughput(throughput(events_file(tmp, args.events), args.rounds, workers)))
        for n in (int(x) for x in args.rss.split(",") if x):
            print(f"peak RSS of run --dry-run over {n:,} events: {peak_rss(n, tmp):.0f} MiB")


def report_throughput(r: dict) -> str:
    total = sum(r["stages"].values())
    how = "one process" if not r["workers"] else f"--workers {r['workers']}"
    lines = [f"mapspec run ({how}) to an instant sink: {r['objects_per_s']:,.0f} objects/s, {r['events_per_s']:,.0f} "
             f"events/s ({r['events']:,} events, {r['objects']:,} objects, {r['requests']:,} requests, "
             f"{r['seconds']:.2f} s; the sending process's CPU {r['cpu']:.2f} s; dry run {r['dry_seconds']:.2f} s)",
             "  where the time goes: " + ", ".join(
                 f"{k} {v:.2f} s ({v / total:.0%})" for k, v in r["stages"].items())]
    if r["workers"]:  # the ladder is one process's; here the workers take read to encode off this process
        lines = lines[:1]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
