"""mapspec on Apache Beam beside `mapspec run`: the same events, a dry run each, on one machine, whole processes;
and where the Beam job's time goes.

    pip install -e '.[beam]' orjson && python bench/beam.py [--events 100000] [--rounds 3]

Both read the same NDJSON file, translate it with the default mapping and write the batched requests (and the
dead letters) to files, and their requests are checked to hold the same objects. `python -m mapspec.beam` runs on
Beam's in-process runner (the FnApiRunner: one SDK worker in the process; `--direct_num_workers 2
--direct_running_mode multi_processing` is measured too). Where the time goes is a ladder of pipelines, each
timed alone in a fresh process: an empty pipeline (start-up: importing Beam, building and running a pipeline),
then reading the lines, spreading them (Reshuffle), translating, preparing objects (Batcher.prepare, keyed by
request key), grouping them (GroupByKey), and the whole dry run (batching, writing, the account per event);
each step's cost is what it adds to the one before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from delivery import SETTINGS, events_file  # noqa: E402

STEPS = ("start-up", "read", "spread", "translate", "prepare", "group", "batch and write")

_LADDER = r"""
import sys, time
start = time.perf_counter()
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from mapspec.beam.deliver import GROUP_SIZE, _PrepareFn, _settings, _options, BatchRequests
from mapspec.beam.translate import ReadNDJSON, Translate, DEAD_LETTERS
import json
step, path, settings_path, out = sys.argv[1:5]
settings = json.load(open(settings_path))
p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner", *sys.argv[5:]]))
if step == "start-up":
    last = p | beam.Create([1])
else:
    last = p | ReadNDJSON(path, reshuffle=step != "read")
    if step not in ("read", "spread"):
        last = last | Translate("segment-braze", settings)
    if step in ("prepare", "group"):
        prepared = last | beam.ParDo(_PrepareFn(_settings(None, None, 1, None, None, _options(
            None, None, 8, None, 300.0, 30.0, 1.0)), True, GROUP_SIZE, False)).with_outputs(
            DEAD_LETTERS, "once", "once owners", main="objects")
        last = prepared.objects
        if step == "group":
            last = last | beam.GroupByKey()
    if step == "batch and write":
        last = last | BatchRequests() | beam.io.WriteToText(out)
last | beam.combiners.Count.Globally() | beam.Map(lambda n: None)
p.run().wait_until_finish()
print(time.perf_counter() - start)
"""


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode not in (0, 1):  # 1: something was dead-lettered, as the mix has rejected events
        raise RuntimeError(f"{cmd[:4]} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return time.perf_counter() - start


def _objects(paths: list[str]) -> Counter:
    from mapspec.delivery import Options
    from mapspec.delivery.batching import Batcher
    from mapspec.targets import bundled

    batcher = Batcher(Options(), bundled("braze"))
    out: Counter = Counter()
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                p = batcher.prepare(json.loads(line))
                out.update((p.url, p.envelope, name, data) for name, _, data, _, _ in p.objects)
    return out


def compare(events: str, rounds: int, tmp: str) -> dict:
    """Whole-process seconds (median) of `mapspec run --dry-run` and `python -m mapspec.beam --dry-run` over the
    same file, with one and with two SDK workers; the ladder of the Beam job."""
    settings = os.path.join(tmp, "settings.json")
    Path(settings).write_text(json.dumps(SETTINGS))
    exe = str(Path(sys.executable).with_name("mapspec"))
    run_out = os.path.join(tmp, "run-requests.ndjson")
    run_cmd = ["sh", "-c", f"{exe} run --dry-run --settings {settings} --dead-letter {tmp}/run-dead.ndjson "
                           f"{events} > {run_out} 2>/dev/null"]

    def beam_cmd(out: str, *extra: str) -> list[str]:
        return [sys.executable, "-m", "mapspec.beam", "--settings", settings, "--input", events, "--dead-letter",
                os.path.join(tmp, "beam-dead.ndjson"), "--dry-run", "--output", os.path.join(tmp, out), *extra]

    two = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
    samples: dict[str, list[float]] = {"run": [], "beam": [], "beam, 2 workers": []}
    for _ in range(rounds):
        samples["run"].append(_timed(run_cmd))
        samples["beam"].append(_timed(beam_cmd("one")))
        samples["beam, 2 workers"].append(_timed(beam_cmd("two", *two)))
    ours = _objects([str(p) for p in Path(tmp).glob("one-*")])
    assert ours == _objects([run_out]) == _objects([str(p) for p in Path(tmp).glob("two-*")]), \
        "the Beam dry run's objects are not run's"
    ladder: dict[str, list[float]] = {step: [] for step in STEPS}
    for _ in range(rounds):
        for step in STEPS:
            ladder[step].append(_timed([sys.executable, "-c", _LADDER, step, events, settings,
                                        os.path.join(tmp, "ladder")]))
    medians = {k: statistics.median(v) for k, v in ladder.items()}
    costs, before = {}, 0.0
    for step in STEPS:
        costs[step] = max(0.0, medians[step] - before)
        before = max(before, medians[step])
    with open(events, "rb") as fh:
        n = sum(1 for _ in fh)
    return {"events": n, "objects": sum(ours.values()), **{k: statistics.median(v) for k, v in samples.items()},
            "ladder": costs}


def report(r: dict) -> str:
    n = r["events"]
    lines = [f"dry run, {n:,} events ({r['objects']:,} objects), whole processes, median: "
             f"mapspec run {r['run']:.2f} s ({n / r['run']:,.0f} events/s); "
             f"python -m mapspec.beam {r['beam']:.2f} s ({n / r['beam']:,.0f} events/s), with 2 SDK workers "
             f"{r['beam, 2 workers']:.2f} s ({n / r['beam, 2 workers']:,.0f} events/s); same objects",
             "  where the Beam job's time goes: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["ladder"].items())]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(report(compare(events_file(tmp, args.events), args.rounds, tmp)))


if __name__ == "__main__":
    main()
