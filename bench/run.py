"""Every speed figure of mapspec, each beside its target, in one run:

- translation, per event type and overall: the compiled default mapping against a careful hand-written
  translator of the same spec (bench/handwritten.py), checked event by event to give the same output, on a
  mix with the invalid values real streams carry; and against glom, an interpretive library;
- `mapspec translate` end to end against a hand-written orjson NDJSON loop (bench/ndjson_loop.py), whose
  output must be byte for byte the same;
- compiling the default mapping in a fresh process (whole-process time, median of several runs);
- `mapspec run` against a sink that answers at once: objects/s and where the time goes (bench/delivery.py);
- peak RSS of `mapspec run --dry-run` over 100,000 and 1,000,000 events.

    pip install -e . glom orjson && python bench/run.py [--quick] [--markdown]

Ratios are measured in one process, the contenders in alternating order, paired round by round: the
machines here are shared and noisy, and a ratio of two timings taken side by side holds where a single
timing does not. Each ratio is the median over rounds, with the spread of the rounds beside it.
"""

from __future__ import annotations

import argparse
import gc
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

import delivery  # noqa: E402
import glom_reference  # noqa: E402
import handwritten  # noqa: E402
import instructions  # noqa: E402
from events import event_mix, realistic_mix  # noqa: E402

import mapspec  # noqa: E402
from mapspec import optimize  # noqa: E402
from mapspec.compiler import compile_source, load_compiled, read_mapping  # noqa: E402

SETTINGS = {"track_all_pages": True, "app_id": "bench-app"}
TYPES = ("identify", "track", "Order Completed", "page", "screen", "group", "alias", "delete", "rejected",
         "unknown type")
KNOWN = frozenset(("identify", "track", "page", "screen", "group", "alias", "delete"))


def outcome(translate, event, rejected):
    try:
        out = translate(event)
    except rejected as x:
        return ("rejected", str(x))
    return out if out else ("skipped", getattr(out, "reason", None))


def check_identical(events, compiled, hand) -> None:
    """Event by event, the compiled translator and the hand-written one give the same output, key order too."""
    for i, e in enumerate(events):
        a = json.dumps(outcome(compiled, e, mapspec.Rejected))
        b = json.dumps(outcome(hand, e, handwritten.Rejected))
        if a != b:
            raise SystemExit(f"event {i} differs:\n  event:        {json.dumps(e)}\n  compiled:     {a}\n"
                             f"  hand-written: {b}")


def category(event: dict, hand) -> str:
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in KNOWN:
        return "unknown type"
    if outcome(hand, event, handwritten.Rejected)[:1] == ("rejected",):
        return "rejected"
    if kind == "track" and str(event.get("event")).lower() in handwritten.ORDER:
        return "Order Completed"
    return kind


def groups_of(events: list) -> dict[str, list]:
    """The events by type ("rejected": those the mapping rejects, whatever their type), with "overall" first."""
    hand = handwritten.make_translator(**SETTINGS)
    groups: dict[str, list] = {"overall": list(events)} | {t: [] for t in TYPES}
    for e in events:
        groups[category(e, hand)].append(e)
    return groups


def seconds(translate, events, rejected, repeat: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(repeat):
            for e in events:
                try:
                    translate(e)
                except rejected:
                    pass
        return time.perf_counter() - start
    finally:
        gc.enable()


def paired(contenders: dict, events: list, rounds: int, target_s: float = 0.02) -> dict[str, list[float]]:
    """Seconds per event of each contender, per round; the order rotates each round."""
    names = list(contenders)
    first = contenders[names[0]]
    once = seconds(first[0], events, first[1], 1) or 1e-6
    repeat = max(1, int(target_s / once))
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            translate, rejected = contenders[name]
            out[name].append(seconds(translate, events, rejected, repeat) / (repeat * len(events)))
    return out


def spread(ratios: list[float]) -> str:
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), 0, max(ratios)]
    return f"{q[0]:.2f}-{q[2]:.2f}"


def translation(n: int, rounds: int, counted: int) -> tuple[list[tuple], dict]:
    """Per event type: (name, share, compiled s/event, hand s/event, median time ratio, spread, instruction
    ratio or None, the library translator's time ratio, its instruction ratio or None); and the glom
    comparison. "compiled" is the translator `run` and `translate` use (it shares values with the events they
    own); "library" is `mapspec.load`'s default, which copies what passes from the event into the requests."""
    events = realistic_mix(n)
    compiled = mapspec.load("segment-braze", SETTINGS, share=True)
    library = mapspec.load("segment-braze", SETTINGS)
    hand = handwritten.make_translator(**SETTINGS)
    check_identical(events, compiled, hand)
    check_identical(events, library, hand)
    groups = groups_of(events)
    contenders = {"compiled": (compiled, mapspec.Rejected), "library": (library, mapspec.Rejected),
                  "hand": (hand, handwritten.Rejected)}
    counts = instructions.per_event(groups_of(events[:counted]), SETTINGS) if counted else {}
    rows = []
    for name, part in groups.items():
        times = paired(contenders, part, rounds)
        ratios = [c / h for c, h in zip(times["compiled"], times["hand"], strict=True)]
        copying = [c / h for c, h in zip(times["library"], times["hand"], strict=True)]
        count = counts.get(name)
        rows.append((name, len(part) / len(events), statistics.median(times["compiled"]),
                     statistics.median(times["hand"]), statistics.median(ratios), spread(ratios),
                     count["compiled"] / count["hand"] if count else None, statistics.median(copying),
                     count["library"] / count["hand"] if count else None))
    # glom on the mix of valid events it was written for, checked against the hand-written translator
    valid = event_mix(max(2000, n // 10))
    ref = glom_reference.make_translator(app_id=SETTINGS["app_id"], track_all_pages=True)
    for e in valid:
        assert outcome(ref, e, handwritten.Rejected) == outcome(hand, e, handwritten.Rejected), e
    times = paired({"compiled": (compiled, mapspec.Rejected), "glom": (ref, handwritten.Rejected)}, valid,
                   max(3, rounds // 2))
    glom = statistics.median(g / c for c, g in zip(times["compiled"], times["glom"], strict=True))
    return rows, {"glom": glom, "valid_events": len(valid)}


def passes_table(n: int, rounds: int) -> list[tuple[str, float]]:
    """events/s of the compiled mapping as the optimizer passes are switched on one by one."""
    events = realistic_mix(n)
    source = read_mapping("segment-braze")
    steps = [
        ("`inline_settings` only", (optimize.inline_settings,)),
        ("+ `fold_constants`", (optimize.inline_settings, optimize.fold_constants)),
        ("+ `inline_lets`", (optimize.inline_settings, optimize.fold_constants, optimize.inline_lets,
                             optimize.fold_constants)),
        ("+ `inline_objects`", (optimize.inline_settings, optimize.fold_constants, optimize.inline_lets,
                                optimize.inline_objects, optimize.fold_constants)),
        ("+ `prune_dead` (all)", optimize.RULES),
    ]
    contenders = {label: (load_compiled(compile_source(source, SETTINGS, standalone=False, passes=passes)),
                          mapspec.Rejected) for label, passes in steps}
    times = paired(contenders, events, rounds)
    return [(label, 1 / statistics.median(times[label])) for label, _ in steps]


def wall(cmd: list[str], runs: int, **kw) -> list[float]:
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, **kw)
        values.append(time.perf_counter() - start)
    return values


def end_to_end(n: int, runs: int, tmp: str) -> dict:
    """`mapspec translate` against the hand-written orjson loop, whole processes, alternating; same bytes out."""
    path = os.path.join(tmp, "translate.ndjson")
    with open(path, "w") as fh:
        for e in realistic_mix(n, seed=11):
            fh.write(json.dumps(e) + "\n")
    settings = os.path.join(tmp, "settings.json")
    Path(settings).write_text(json.dumps(SETTINGS))
    exe = str(Path(sys.executable).with_name("mapspec"))
    ours = [exe, "translate", "--settings", settings, path]
    theirs = [sys.executable, str(HERE / "ndjson_loop.py"), path, settings]
    a = subprocess.run(ours, capture_output=True, check=True).stdout
    b = subprocess.run(theirs, capture_output=True, check=True).stdout
    if a != b:
        raise SystemExit("mapspec translate and the hand-written loop wrote different output")
    mapspec_s, loop_s = [], []
    for _ in range(runs):
        mapspec_s += wall(ours, 1, stdout=subprocess.DEVNULL)
        loop_s += wall(theirs, 1, stdout=subprocess.DEVNULL)
    start_s = wall([exe, "translate", "--settings", settings, os.devnull], runs, stdout=subprocess.DEVNULL)
    ratios = [lp / m for m, lp in zip(mapspec_s, loop_s, strict=True)]
    return {"events": n, "mapspec": statistics.median(mapspec_s), "loop": statistics.median(loop_s),
            "ratio": statistics.median(ratios), "spread": spread(ratios), "start": statistics.median(start_s)}


def compile_times(runs: int, tmp: str) -> dict:
    exe = str(Path(sys.executable).with_name("mapspec"))
    settings = os.path.join(tmp, "settings.json")
    Path(settings).write_text(json.dumps(SETTINGS))
    null = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    wall([exe, "compile", "segment-braze"], 1, **null)  # warm the file cache
    compile_s = wall([exe, "compile", "segment-braze", "--settings", settings, "-o", os.devnull], runs, **null)
    load_s = wall([sys.executable, "-c", "import mapspec; mapspec.load('segment-braze')"], runs, **null)
    python_s = wall([sys.executable, "-c", "pass"], runs, **null)
    help_s = wall([exe, "--help"], runs, **null)
    out = {"compile": statistics.median(compile_s), "load": statistics.median(load_s), "fastest": min(compile_s),
           "python": statistics.median(python_s), "help": statistics.median(help_s), "instructions": None}
    if instructions.available():  # what the machine's load does not change
        out["instructions"] = instructions.whole_process([exe, "compile", "segment-braze", "--settings", settings,
                                                          "-o", os.devnull])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=30_000, help="events in the translation mix")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--translate-events", type=int, default=100_000)
    ap.add_argument("--run-events", type=int, default=100_000)
    ap.add_argument("--rss", default="100000,1000000", help="event counts for the peak-memory runs")
    ap.add_argument("--quick", action="store_true", help="smaller runs (10,000 events, no 1,000,000-event RSS)")
    ap.add_argument("--passes", action="store_true", help="also what each optimizer pass buys")
    ap.add_argument("--counted", type=int, default=3000,
                    help="events whose instructions callgrind counts (0: none; needs valgrind)")
    args = ap.parse_args()
    # an installed mapspec runs from byte-compiled files (pip writes them): so do the processes timed here,
    # whatever this shell says (the first run of each writes them)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.quick:
        args.events, args.rounds, args.translate_events, args.run_events, args.rss = 10_000, 5, 30_000, 30_000, \
            "100000"

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}, load average {os.getloadavg()[0]:.1f}")
    figures: list[tuple[str, str, str, bool]] = []

    counted = args.counted if instructions.available() else 0
    rows, extra = translation(args.events, args.rounds, counted)
    print(f"\ntranslation: {args.events:,} events of bench/events.py's realistic mix, compiled (mapspec.load) and "
          f"hand-written, {args.rounds} paired rounds; every event checked to give the same output; "
          + (f"instructions counted by callgrind on the first {counted:,}" if counted else
             "no instruction counts (valgrind is not installed)")
          + "; compiled: as `run` and `translate` use it (it shares values with the events they own); library: "
            "`mapspec.load`'s default (it copies them)\n")
    print(f"  {'event type':<16} {'share':>6} {'compiled':>10} {'hand':>10} {'time ratio':>11} {'rounds':>10} "
          f"{'instr. ratio':>12} {'library: time':>14} {'instr.':>7}")
    for name, share, c, h, ratio, sp, ir, lib, lib_ir in rows:
        irs = f"{ir:.2f}" if ir is not None else "-"
        libs = f"{lib_ir:.2f}" if lib_ir is not None else "-"
        print(f"  {name:<16} {share:>6.1%} {c * 1e6:>8.2f}us {h * 1e6:>8.2f}us {ratio:>11.2f} {sp:>10} {irs:>12} "
              f"{lib:>14.2f} {libs:>7}")
        figures.append((f"translate: {name}, compiled / hand-written (time; instructions)", "<= 1.0",
                        f"{ratio:.2f}; {irs}", ratio <= 1.0 and (ir is None or ir <= 1.0)))
    overall = rows[0]
    figures.append(("translate: overall, the library's translator (`mapspec.load`, copies what it passes on) / "
                    "hand-written (time; instructions)", "reported", f"{overall[7]:.2f}; "
                    + (f"{overall[8]:.2f}" if overall[8] is not None else "-"), True))
    print(f"\n  compiled speed / glom speed ({extra['valid_events']:,} valid events): {extra['glom']:.1f}x")
    figures.append(("translate: compiled speed / glom (interpretive)", ">= 20x", f"{extra['glom']:.1f}x",
                    extra["glom"] >= 20))

    if args.passes:
        print("\noptimizer passes (compiled default mapping, the same mix):")
        table = passes_table(args.events, args.rounds)
        for label, v in table:
            print(f"  {label:<26} {v:>12,.0f} events/s   {v / table[0][1]:.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        e2e = end_to_end(args.translate_events, 5, tmp)
        print(f"\nmapspec translate, {e2e['events']:,} NDJSON events end to end (orjson): {e2e['mapspec']:.2f} s, "
              f"{e2e['events'] / e2e['mapspec']:,.0f} events/s (start-up {e2e['start'] * 1000:.0f} ms); "
              f"hand-written orjson loop {e2e['loop']:.2f} s, {e2e['events'] / e2e['loop']:,.0f} events/s; "
              f"same bytes out")
        print(f"  mapspec translate speed / loop speed: {e2e['ratio']:.2f} (rounds {e2e['spread']})")
        figures.append((f"`mapspec translate` speed / hand-written orjson loop ({e2e['events']:,} events, "
                        "whole process)", ">= 0.8", f"{e2e['ratio']:.2f}", e2e["ratio"] >= 0.8))

        ct = compile_times(7, tmp)
        ir = ct["instructions"]
        print(f"\ncompile of the default mapping in a fresh process, whole process, median of 7: "
              f"mapspec compile {ct['compile'] * 1000:.0f} ms (fastest {ct['fastest'] * 1000:.0f} ms"
              + (f"; {ir / 1e9:.2f} billion instructions" if ir else "") + "), "
              f"python -c 'mapspec.load(...)' {ct['load'] * 1000:.0f} ms; mapspec --help {ct['help'] * 1000:.0f} ms; "
              f"python -c pass {ct['python'] * 1000:.0f} ms")
        figures.append(("`mapspec compile segment-braze`, fresh process (median; fastest"
                        + ("; instructions)" if ir else ")"), "< 200 ms",
                        f"{ct['compile'] * 1000:.0f} ms; {ct['fastest'] * 1000:.0f} ms"
                        + (f"; {ir / 1e9:.2f}e9" if ir else ""), ct["compile"] < 0.2))
        figures.append(("`mapspec.load(\"segment-braze\")`, fresh process", "< 200 ms", f"{ct['load'] * 1000:.0f} ms",
                        ct["load"] < 0.2))

        path = delivery.events_file(tmp, args.run_events)
        runs = [delivery.throughput(path, 3, workers) for workers in (0, *delivery.WORKER_COUNTS)]
        print("\n" + "\n".join(delivery.report_throughput(r, runs[0]["stages"]) for r in runs))
        figures.append((f"`mapspec run` to an instant sink, objects/s ({runs[0]['events']:,} events, {os.cpu_count()} "
                        "cores): one process; " + "; ".join(f"`--workers {r['workers']}`" for r in runs[1:]),
                        ">= 75,000", "; ".join(f"{r['objects_per_s']:,.0f}" for r in runs),
                        max(r["objects_per_s"] for r in runs) >= 75_000))
        rss = {}
        for n in (int(x) for x in args.rss.split(",") if x):
            rss[n] = delivery.peak_rss(n, tmp)
            print(f"peak RSS of mapspec run --dry-run over {n:,} events: {rss[n]:.0f} MiB")
            figures.append((f"peak RSS of `run --dry-run`, {n:,} events", "constant", f"{rss[n]:.0f} MiB",
                            rss[n] <= 1.25 * min(rss.values())))

    print("\n| figure | target | measured | |\n| --- | --- | ---: | --- |")
    for name, target, value, ok in figures:
        verdict = "" if target == "reported" else "met" if ok else "**not met**"
        print(f"| {name} | {target} | {value} | {verdict} |")


if __name__ == "__main__":
    main()
