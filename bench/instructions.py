"""Instructions per event, counted by valgrind's callgrind: the translation ratios where wall time is too
noisy (a shared machine; the counts do not depend on what else runs).

Each contender (the compiled default mapping, written out by `mapspec compile` as a standalone module: as
`run` and `translate` use it, sharing values with the event they own (`--share`), and as a library caller gets
it, copying them; and the hand-written translator) translates one event type's events in a fresh interpreter under callgrind;
the same run with no repetition after one warm-up pass is subtracted (so start-up and first-use costs,
such as a lazy import, are not counted). Hash seeds are fixed.

    python bench/instructions.py          # needs valgrind (apt-get install valgrind)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> bool:
    return shutil.which("valgrind") is not None


def _child(directory: str, contender: str, kind: str, repeat: int) -> None:
    """Runs under callgrind: load the events and the translator, translate once, then `repeat` times more."""
    events = json.loads(Path(directory, "events.json").read_text())[kind]
    if contender in ("compiled", "library"):
        sys.path.insert(0, directory)
        module = __import__("translator" if contender == "compiled" else "library")  # written by mapspec compile
        translate, Rejected = module.translate, module.Rejected
    else:
        sys.path.insert(0, str(HERE))
        import handwritten

        settings = json.loads(Path(directory, "settings.json").read_text())
        translate, Rejected = handwritten.make_translator(**settings), handwritten.Rejected
    for _ in range(1 + repeat):  # one pass to warm up (first-use imports, caches) in the baseline too
        for e in events:
            try:
                translate(e)
            except Rejected:
                pass


def _count(directory: str, contender: str, kind: str, repeat: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "child",
         directory, contender, kind, str(repeat)],
        capture_output=True, text=True, check=True,
        # the same work in every run: hash seeds fixed, modules compiled from source each time (no .pyc
        # written by one run and read by the next)
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"})
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        raise RuntimeError(f"callgrind said: {out.stderr[-500:]}")
    return int(m.group(1))


def whole_process(cmd: list[str]) -> int:
    """Instructions a whole command takes, start-up included (run once before, to write its .pyc files)."""
    subprocess.run(cmd, capture_output=True, check=True)
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *cmd],
                         capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        raise RuntimeError(f"callgrind said: {out.stderr[-500:]}")
    return int(m.group(1))


CONTENDERS = ("compiled", "library", "hand")


def per_event(groups: dict[str, list], settings: dict, repeat: int = 2) -> dict[str, dict[str, float]]:
    """{event type: {"compiled": instructions per event, "library": ..., "hand": ...}} for each non-empty
    group ("compiled" shares values with the event, as `run` and `translate` do; "library" copies them)."""
    exe = str(Path(sys.executable).with_name("mapspec"))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "events.json").write_text(json.dumps(groups))
        Path(tmp, "settings.json").write_text(json.dumps(settings))
        for name, share in (("translator", ["--share"]), ("library", [])):
            subprocess.run([exe, "compile", "segment-braze", "--settings", str(Path(tmp, "settings.json")), "-o",
                            str(Path(tmp, f"{name}.py")), *share], check=True, capture_output=True)
        out: dict[str, dict[str, float]] = {}
        for kind, events in groups.items():
            if events:
                out[kind] = {c: (_count(tmp, c, kind, repeat) - _count(tmp, c, kind, 0)) / (repeat * len(events))
                             for c in CONTENDERS}
        return out


def main() -> None:
    sys.path.insert(0, str(HERE))
    import run

    groups = run.groups_of(run.realistic_mix(3000))
    for kind, counts in per_event(groups, run.SETTINGS).items():
        print(f"{kind:<16} compiled {counts['compiled']:>9,.0f}  library {counts['library']:>9,.0f}  "
              f"hand {counts['hand']:>9,.0f}  ratio {counts['compiled'] / counts['hand']:.2f}  "
              f"library ratio {counts['library'] / counts['hand']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
