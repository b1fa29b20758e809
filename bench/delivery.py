"""Delivery speed: objects/s that `mapspec run` delivers to a sink that answers at once (bench/sink.py, in its
own process), where the time goes, and the peak memory of `run --dry-run` over many events.

    pip install -e . orjson && python bench/delivery.py [--events 100000] [--rss 100000,1000000]

Where one process's time goes is measured in CPU seconds (the machine's other jobs change wall-clock time,
much less CPU time), as a ladder over the same events, each step alone as the run does it: reading the lines
(the run's reader), parsing them, translating them, encoding (the requests cut into the objects that batches
merge, each encoded once); "batch" is what `run --dry-run` takes beyond those (merging objects into requests,
the ledger, the account, the dead letters), and "send" what a real run to the sink takes beyond the dry run
(HTTP, concurrency, the answers). Every run also reports the CPU time of each process it takes: the sending
process (per request and per object), the `--workers` processes, and the sink, which shares the same cores;
their sum over the cores is the least time the run can take here.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import resource
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
from mapspec.delivery.job import Run  # noqa: E402
from mapspec.delivery.reader import Source  # noqa: E402
from mapspec.delivery.reader import lines as reader_lines  # noqa: E402
from mapspec.jsonio import loads as json_loads  # noqa: E402

KEY = "bench-key"
SETTINGS = {"track_all_pages": True, "app_id": "bench-app"}
WORKERS = max(1, (os.cpu_count() or 1) - 1)
WORKER_COUNTS = sorted({WORKERS, os.cpu_count() or 1})  # --workers of the runs besides one process


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


def _cpu(fn) -> float:
    gc.collect()
    start = time.process_time()
    fn()
    return time.process_time() - start


def throughput(path: str, rounds: int = 3, workers: int = 0) -> dict:
    """objects/s of `mapspec run` (with `--workers`) to the instant sink, the CPU time of each process it takes
    (the sending process, the workers, the sink), and for one process the CPU time of each stage (medians)."""
    translate = mapspec.load("segment-braze", SETTINGS)
    tmp = os.path.dirname(path)
    dry_out = os.path.join(tmp, "dry.ndjson")

    def dry() -> None:
        with open(dry_out, "wb") as fh:
            run(Job(translate, [path], None, Options(), out=fh, dead_letter=os.path.join(tmp, "dry-dead.ndjson")))

    dry()
    with open(dry_out, "rb") as fh:
        bodies = [json.loads(line)["body"] for line in fh]
    objects = sum(len(v) for b in bodies for v in b.values() if isinstance(v, list))
    del bodies

    if not workers:  # the ladder: one process's stages, each alone, as the run does them
        with open(path, "rb") as fh:
            lines = fh.readlines()
        events = [json_loads(line) for line in lines]
        cutter = Run(Job(translate, [path], None, Options(), out=io.BytesIO()))  # how the run cuts requests
        requests = []
        for e in events:
            try:
                requests += translate(e)
            except mapspec.Rejected as rejected:
                requests += rejected.requests
        source = Source(0, path, path)

        def read() -> None:
            for _ in reader_lines(source, Options().max_line_bytes):
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
            prepare, url = cutter.batcher.prepare, cutter.url
            for r in requests:
                prepare(r, url(r))

    samples: dict[str, list[float]] = {k: [] for k in ("read", "parse", "translate", "encode", "dry_cpu", "total",
                                                        "cpu", "workers_cpu", "sink_cpu")}
    account = None
    sink_requests = 0
    for _ in range(rounds):
        if not workers:
            samples["read"].append(_cpu(read))
            samples["parse"].append(_cpu(parse))
            samples["translate"].append(_cpu(translate_all))
            samples["encode"].append(_cpu(encode))
            samples["dry_cpu"].append(_cpu(dry))
        with Sink() as sink:
            dead = os.path.join(tmp, "dead.ndjson")
            gc.collect()
            children = _children_cpu()
            start, cpu = time.perf_counter(), time.process_time()
            account = run(Job(translate, [path], KEY, Options(workers=workers), dead_letter=dead, endpoint=sink.url))
            samples["total"].append(time.perf_counter() - start)
            samples["cpu"].append(time.process_time() - cpu)
            samples["workers_cpu"].append(_children_cpu() - children)  # the workers are waited for at the end
            os.unlink(dead)
        samples["sink_cpu"].append(sink.cpu)
        sink_requests = sink.requests
    m = {k: statistics.median(v) if v else 0.0 for k, v in samples.items()}
    stages = {}
    if not workers:
        stages = {"read": m["read"], "parse": m["parse"], "translate": m["translate"], "encode": m["encode"],
                  "batch": max(0.0, m["dry_cpu"] - m["read"] - m["parse"] - m["translate"] - m["encode"]),
                  "send": max(0.0, m["cpu"] - m["dry_cpu"])}
    assert account is not None and account.adds_up() and account.refused == 0, account.text()
    assert sink_requests == account.requests, (sink_requests, account.text())
    return {"workers": workers, "cpu": m["cpu"], "workers_cpu": m["workers_cpu"], "sink_cpu": m["sink_cpu"],
            "dry_cpu": m["dry_cpu"], "events": account.read, "objects": objects, "requests": account.requests,
            "seconds": m["total"], "objects_per_s": objects / m["total"], "events_per_s": account.read / m["total"],
            "stages": stages, "account": account.text(), "sink_requests": sink_requests}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    ap.add_argument("--workers", default=",".join(map(str, WORKER_COUNTS)),
                    help="--workers of the runs besides one process, comma-separated (default: a worker for each "
                         "core but one, which the sending process has; and one for each core)")
    ap.add_argument("--rss", default="100000,1000000", help="event counts for the peak-memory runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = throughput(events_file(tmp, args.events), args.rounds)
        print(report_throughput(one))
        for workers in sorted({int(w) for w in args.workers.split(",") if w} - {0}):
            print(report_throughput(throughput(events_file(tmp, args.events), args.rounds, workers), one["stages"]))
        for n in (int(x) for x in args.rss.split(",") if x):
            print(f"peak RSS of run --dry-run over {n:,} events: {peak_rss(n, tmp):.0f} MiB")


def report_throughput(r: dict, ladder: dict | None = None) -> str:
    """What a run measured, as the benchmark prints it; `ladder`: the stages of one process (for a run with
    workers, to say which of them the workers took)."""
    how = "one process" if not r["workers"] else f"--workers {r['workers']}"
    cores = os.cpu_count() or 1
    lines = [f"mapspec run ({how}) to an instant sink: {r['objects_per_s']:,.0f} objects/s, {r['events_per_s']:,.0f} "
             f"events/s ({r['events']:,} events, {r['objects']:,} objects, {r['requests']:,} requests, "
             f"{r['seconds']:.2f} s)"]
    sending = "this process" if not r["workers"] else "the sending process"
    cpu = (f"  CPU: {sending} {r['cpu']:.2f} s ({r['cpu'] / r['requests'] * 1e3:.2f} ms per request, "
           f"{r['cpu'] / r['objects'] * 1e6:.1f} us per object)")
    if r["workers"]:
        cpu += f", the workers {r['workers_cpu']:.2f} s"
    total = r["cpu"] + r["workers_cpu"] + r["sink_cpu"]
    floor = total / cores if r["workers"] else r["cpu"]  # one process runs on one core, whatever the others do
    cpu += (f", the sink {r['sink_cpu']:.2f} s: {total:.2f} s in all, so at least {floor:.2f} s on {cores} "
            f"core{'s' * (cores != 1)} ({r['objects'] / floor:,.0f} objects/s at most)")
    lines.append(cpu)
    if not r["workers"]:
        stages = r["stages"]
        lines.append("  where the CPU goes: " + ", ".join(
            f"{k} {v:.2f} s ({v / r['cpu']:.0%})" for k, v in stages.items())
            + f"; send is {stages['send'] / r['requests'] * 1e3:.2f} ms per request")
    elif ladder:
        taken = ladder["parse"] + ladder["translate"] + ladder["encode"]
        lines.append(f"  the workers parse, translate and encode ({taken:.2f} s in one process) and pass chunks to and "
                     f"from the sending process ({max(0.0, r['workers_cpu'] - taken):.2f} s more); the sending "
                     f"process reads, batches and sends (one process's read, batch and send: "
                     f"{ladder['read'] + ladder['batch'] + ladder['send']:.2f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
