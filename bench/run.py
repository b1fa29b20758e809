"""Translation speed: the compiled default mapping against a careful hand-written translator and an
interpretive reference (glom), in one process, in alternating rounds; plus compile time, start-up time and
end-to-end `mapspec translate` throughput. Ratios are what to read: machines here are shared and noisy.

    pip install -e . glom orjson && python bench/run.py [--events 50000] [--rounds 7]

glom and orjson are for the benchmark only (orjson is used by `mapspec translate` when it is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import glom_reference  # noqa: E402
import handwritten  # noqa: E402
from events import event_mix  # noqa: E402

import mapspec  # noqa: E402
from mapspec import optimize  # noqa: E402
from mapspec.compiler import compile_source, load_compiled, read_mapping  # noqa: E402

SETTINGS = {"track_all_pages": True, "app_id": "bench-app"}


def outputs(translate, events, rejected):
    out = []
    for e in events:
        try:
            out.append(translate(e))
        except rejected as x:
            out.append(("rejected", str(x)))
    return out


def timed(translate, events, rejected) -> float:
    start = time.perf_counter()
    for e in events:
        try:
            translate(e)
        except rejected:
            pass
    return time.perf_counter() - start


def contest(contenders: dict, events: list, rounds: int) -> dict[str, float]:
    """Median events/s per contender; the order rotates each round so no one always runs first."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            translate, rejected, share = contenders[name]
            part = events[: max(1, int(len(events) * share))]
            samples[name].append(len(part) / timed(translate, part, rejected))
    return {name: statistics.median(v) for name, v in samples.items()}


def passes_table(events: list, rounds: int) -> list[tuple[str, float]]:
    """events/s of the compiled mapping as the optimizer passes are switched on one by one."""
    source = read_mapping("segment-braze")
    steps = [
        ("inline_settings only", (optimize.inline_settings,)),
        ("+ fold_constants", (optimize.inline_settings, optimize.fold_constants)),
        ("+ inline_lets", (optimize.inline_settings, optimize.fold_constants, optimize.inline_lets,
                           optimize.fold_constants)),
        ("+ inline_objects", (optimize.inline_settings, optimize.fold_constants, optimize.inline_lets,
                              optimize.inline_objects, optimize.fold_constants)),
        ("+ prune_dead (all)", optimize.RULES),
    ]
    contenders = {label: (load_compiled(compile_source(source, SETTINGS, standalone=False, passes=passes)),
                          mapspec.Rejected, 1.0) for label, passes in steps}
    speeds = contest(contenders, events, rounds)
    return [(label, speeds[label]) for label, _ in steps]


def fresh(code: str, runs: int = 5) -> float:
    """Median seconds of a snippet in a fresh interpreter, as it reports them."""
    values = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        values.append(float(out.stdout.strip()))
    return statistics.median(values)


def wall(cmd: list[str], runs: int = 5, stdin: str | None = None) -> float:
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, input=stdin, text=True)
        values.append(time.perf_counter() - start)
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--translate-events", type=int, default=100_000)
    args = ap.parse_args()

    events = event_mix(args.events)
    compiled = mapspec.load("segment-braze", SETTINGS)
    hand = handwritten.make_translator(app_id=SETTINGS["app_id"], track_all_pages=True)
    ref = glom_reference.make_translator(app_id=SETTINGS["app_id"], track_all_pages=True)
    check = events[:5000]
    assert outputs(compiled, check, mapspec.Rejected) == outputs(hand, check, handwritten.Rejected), \
        "the hand-written translator must give identical output"
    assert outputs(ref, check, handwritten.Rejected) == outputs(hand, check, handwritten.Rejected), \
        "the glom reference must give identical output"

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"{len(events)} events (track 45%, identify 20%, page 15%, group 8%, Order Completed 12%), "
          f"{args.rounds} alternating rounds, median events/s\n")
    speeds = contest({"compiled (mapspec.load)": (compiled, mapspec.Rejected, 1.0),
                      "hand-written": (hand, handwritten.Rejected, 1.0),
                      "glom (interpretive)": (ref, handwritten.Rejected, 0.1)}, events, args.rounds)
    for name, v in speeds.items():
        print(f"  {name:<26} {v:>12,.0f} events/s")
    c, h, g = speeds["compiled (mapspec.load)"], speeds["hand-written"], speeds["glom (interpretive)"]
    print(f"\n  compiled time / hand-written time: {h / c:.2f}   (target <= 1.0)")
    print(f"  compiled speed / glom speed:       {c / g:.1f}x  (target >= 20x)")

    print("\noptimizer passes (compiled default mapping, same events):")
    table = passes_table(events, args.rounds)
    base = table[0][1]
    for label, v in table:
        print(f"  {label:<24} {v:>12,.0f} events/s   {v / base:.2f}x")

    compile_s = fresh("import time, mapspec; from mapspec.compiler import compile_source, read_mapping; "
                      "t = time.perf_counter(); compile_source(read_mapping('segment-braze'), "
                      "{'track_all_pages': True}); print(time.perf_counter() - t)")
    import_s = fresh("import time; t = time.perf_counter(); import mapspec.compiler; print(time.perf_counter() - t)")
    print(f"\ncompile of the default mapping in a fresh process: {compile_s * 1000:.0f} ms (target < 200 ms); "
          f"importing the compiler first: {import_s * 1000:.0f} ms")
    exe = str(Path(sys.executable).with_name("mapspec"))
    python_s = wall([sys.executable, "-c", "pass"])
    help_s = wall([exe, "--help"])
    print(f"mapspec --help: {help_s * 1000:.0f} ms (target < 150 ms); python -c pass: {python_s * 1000:.0f} ms")

    try:
        import orjson  # noqa: F401
        codec = "orjson"
    except ImportError:
        codec = "json (install orjson for faster parsing and serialising)"
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as fh:
        for e in event_mix(args.translate_events, seed=11):
            fh.write(json.dumps(e) + "\n")
        path = fh.name
    try:
        settings = Path(path).with_suffix(".json")
        settings.write_text(json.dumps(SETTINGS))
        seconds = wall([exe, "translate", "--settings", str(settings), path], runs=3)
        empty = wall([exe, "translate", "--settings", str(settings), "/dev/null"], runs=3)
    finally:
        os.unlink(path)
    print(f"mapspec translate, {args.translate_events:,} NDJSON events end to end with {codec}: "
          f"{seconds:.2f} s, {args.translate_events / seconds:,.0f} events/s "
          f"({args.translate_events / (seconds - empty):,.0f} events/s after a {empty * 1000:.0f} ms start)")


if __name__ == "__main__":
    main()
