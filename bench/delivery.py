"""Delivery speed: events/s that `mapspec run` delivers to the local Braze emulator with faults off, beside
the emulator's own maximum (the same requests, pre-built, posted as fast as they can be).

    pip install -e . && python bench/delivery.py [--events 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from events import event_mix  # noqa: E402

import mapspec  # noqa: E402
from mapspec.delivery import Job, Options, run  # noqa: E402
from mapspec.delivery.emulator import Emulator  # noqa: E402

KEY = "bench-key"


async def flood(url: str, bodies: list[bytes], in_flight: int) -> float:
    """Seconds to post every body with `in_flight` at once: the emulator's ceiling."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=in_flight * 2)) as client:
        queue = list(bodies)
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

        async def worker():
            while queue:
                body = queue.pop()
                await client.post(url + "/users/track", content=body, headers=headers)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--in-flight", type=int, default=8)
    args = ap.parse_args()
    events = event_mix(args.events, seed=4)
    translate = mapspec.load("segment-braze", {"track_all_pages": True})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.ndjson")
        with open(path, "w") as fh:
            for e in events:
                fh.write(json.dumps(e) + "\n")
        out = os.path.join(tmp, "batches.ndjson")
        with open(out, "wb") as fh:
            run(Job(translate, [path], None, Options(), out=fh, dead_letter=os.path.join(tmp, "dry-dead.ndjson")))
        bodies = [json.dumps(json.loads(line)["body"]).encode() for line in open(out)]
        with Emulator(api_key=KEY, rate=(10**9, 1.0)) as emu:
            ceiling = asyncio.run(flood(emu.url, bodies, args.in_flight))
        with Emulator(api_key=KEY, rate=(10**9, 1.0)) as emu:
            start = time.perf_counter()
            account = run(Job(translate, [path], KEY, Options(in_flight=args.in_flight),
                              dead_letter=os.path.join(tmp, "dead.ndjson"), endpoint=emu.url))
            seconds = time.perf_counter() - start
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.events:,} events -> {len(bodies)} requests, {args.in_flight} in flight, emulator on loopback")
    print(f"  mapspec run:        {args.events / seconds:>10,.0f} events/s  ({seconds:.2f} s; {account.text()})")
    print(f"  emulator ceiling:   {args.events / ceiling:>10,.0f} events/s  ({ceiling:.2f} s posting the same "
          "requests pre-built)")
    print(f"  run / ceiling:      {ceiling / seconds:.2f}")


if __name__ == "__main__":
    main()
