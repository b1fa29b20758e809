"""The hand-written end-to-end reference for `mapspec translate`: NDJSON events in, one JSON line out per
event, with orjson and the hand-written translator, as a programmer would write the loop.

    python bench/ndjson_loop.py EVENTS.ndjson [SETTINGS.json] > out.ndjson

It writes what `mapspec translate` writes for the same events (the benchmark compares the bytes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handwritten import Rejected, make_translator  # noqa: E402


def main() -> None:
    settings = orjson.loads(Path(sys.argv[2]).read_bytes()) if len(sys.argv) > 2 else {}
    translate = make_translator(**settings)
    loads, dumps, newline = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    write = sys.stdout.buffer.write
    with open(sys.argv[1], "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                event = loads(line)
            except orjson.JSONDecodeError as e:
                write(dumps({"error": {"line": number, "message": f"invalid JSON: {e}"}}, option=newline))
                continue
            try:
                requests = translate(event)
                out = {"requests": requests}
                if not requests:
                    out["skipped"] = {"reason": getattr(requests, "reason", "nothing to send")}
            except Rejected as e:
                out = {"rejected": {"message": str(e)}}
            write(dumps(out, option=newline))


if __name__ == "__main__":
    main()
