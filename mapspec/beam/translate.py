"""Reading NDJSON with each line's origin, and translating events, as Beam transforms.

Each element ends as `mapspec run`'s lines do: translated (its requests go on), skipped (blank, or nothing to
send), or a dead letter with the reason (not an event, rejected by the mapping, failed in translation), in the
records `mapspec run` writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from .. import jsonio
from ..compiler import Compiled, compile_source, load_module, read_mapping
from ..delivery.reader import Source as _FileSource
from ..delivery.reader import _blocks
from ..errors import Rejected
from ..targets import Target

NAMESPACE = "mapspec"
DEAD_LETTERS = "dead_letters"
MAX_LINE_BYTES = 1 << 20

log = logging.getLogger("mapspec.beam")


def counter(name: str):
    """One of the account's counts (`mapspec.delivery.Account.COUNTS`), as a Beam metric."""
    return Metrics.counter(NAMESPACE, name)


# ------------------------------------------------------------------ reading


class _OpenedFile(_FileSource):
    """A file a Beam runner matched, read by mapspec's reader (`delivery.reader`), compressed or not."""

    def __init__(self, readable: fileio.ReadableFile):
        super().__init__(0, readable.metadata.path, readable.metadata.path)
        self.readable = readable

    def open(self):
        return self.readable.open()


class _ReadLines(beam.DoFn):
    def __init__(self, max_line_bytes: int):
        self.max_line_bytes = max_line_bytes

    def process(self, readable: fileio.ReadableFile) -> Iterator[tuple]:
        source = _OpenedFile(readable)
        number = 0
        try:
            for block in _blocks(source, self.max_line_bytes):
                for line in block:
                    number = line.number
                    yield source.name, number, line.data, line.size
        except Exception as e:  # noqa: BLE001 - whatever the file system or decompressor raises
            # a corrupt or truncated archive: what it held up to here goes on, the rest is one dead letter (a
            # replay of a thousand archives does not stop for one), and the job exits 1
            yield source.name, number + 1, None, f"the rest of {source.name} cannot be read: {type(e).__name__}: {e}"


class ReadNDJSON(beam.PTransform):
    """The lines of the files that match some patterns (local paths, gs://, s3://: whatever file systems the
    workers have), each as `(input, line number, bytes, size)`; bytes is None for a line longer than
    `max_line_bytes`, which is never held whole, and for the rest of a file that cannot be read (a corrupt or
    truncated archive), where size is the reason: `Translate` dead-letters both. `.gz` and the other compressions Beam knows are read by their
    extension. Each file is read by one worker (a compressed file cannot be split anyway), and its lines are
    spread over every worker for what follows. A pattern that matches no file stops the pipeline."""

    def __init__(self, *patterns: str, max_line_bytes: int = MAX_LINE_BYTES, reshuffle: bool = True):
        super().__init__()
        if not patterns:
            raise ValueError("ReadNDJSON needs at least one file pattern")
        self.patterns, self.max_line_bytes, self.reshuffle = list(patterns), max_line_bytes, reshuffle

    def expand(self, pbegin):
        lines = (pbegin
                 | "Patterns" >> beam.Create(self.patterns)
                 | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
                 | "Open" >> fileio.ReadMatches()
                 | "Lines" >> beam.ParDo(_ReadLines(self.max_line_bytes)))
        return lines | "Spread" >> beam.Reshuffle() if self.reshuffle else lines


# ------------------------------------------------------------------ translating


def _compiled(mapping: str | Path, settings: Mapping[str, Any] | None) -> Compiled:
    """A mapping compiled here, once. Raises CompileError with the diagnostics."""
    return compile_source(read_mapping(mapping), settings or {}, standalone=False)


class _TranslateFn(beam.DoFn):
    """The translator is loaded once per instance (`setup`), from the text of its generated module."""

    def __init__(self, module: tuple[str, tuple[str, ...], str], max_line_bytes: int):
        self.module, self.max_line_bytes = module, max_line_bytes
        self.translate: Any = None
        self.counts = {name: counter(name) for name in
                       ("read", "translated", "skipped", "blank", "invalid", "rejected", "failed")}

    def setup(self) -> None:
        self.translate = load_module(*self.module)

    def process(self, element: Any) -> Iterator[Any]:
        counts = self.counts
        counts["read"].inc()
        origin: dict[str, Any] = {}
        data: Any = None
        if type(element) is tuple and len(element) == 4:  # (input, line, bytes, size) from ReadNDJSON
            origin = {"input": element[0], "line": element[1]}
            data = element[2]
            if data is None:
                yield self._dead(origin, "invalid", element[3] if isinstance(element[3], str) else
                                 f"line longer than {self.max_line_bytes} bytes ({element[3]} bytes)")
                return
        elif isinstance(element, (bytes, str)):
            data = element
        if data is not None:
            if len(data) > self.max_line_bytes and (isinstance(data, bytes)
                                                    or len(data.encode("utf-8", "replace")) > self.max_line_bytes):
                size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
                yield self._dead(origin, "invalid", f"line longer than {self.max_line_bytes} bytes ({size} bytes)")
                return
            try:
                event = jsonio.loads(data)
            except jsonio.BadJSON as e:
                if not data.strip():
                    counts["blank"].inc()
                    counts["skipped"].inc()
                    return
                yield self._dead(origin, "invalid", str(e), text=_text(data))
                return
            if type(event) is not dict:
                yield self._dead(origin, "invalid", f"an event must be a JSON object, not {jsonio.kind(event)}",
                                 text=_text(data))
                return
        else:
            event = element
            if type(event) is not dict:
                yield self._dead(origin, "invalid", f"an event must be a JSON object, not {jsonio.kind(event)}")
                return
        rejected = None
        try:
            requests = self.translate(event)
        except Rejected as e:
            if not e.requests:
                yield self._dead(origin, "rejected", f"rejected: {e}", event=event)
                return
            rejected = f"rejected: {e}"  # a rule rejected it, others send: the requests go, the event is dead-lettered
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, {**origin, "reason": rejected, "event": event})
            requests = e.requests
        except Exception as e:  # noqa: BLE001 - the last line of defence: a broken event must not stop the stream
            log.debug("the translator failed on %s", origin or "an event", exc_info=True)
            yield self._dead(origin, "failed", f"the translator failed on this event: {type(e).__name__}: {e}",
                             event=event)
            return
        counts["translated"].inc()
        if not isinstance(requests, list):  # a skip is a list too (`Skipped`, which says why)
            yield self._dead(origin, "failed", f"cannot be sent: the translator returned {jsonio.kind(requests)}, not a "
                                               "list of requests", event=event)
            return
        if not requests:
            counts["skipped"].inc()
            return
        out = {"requests": requests, **origin, "event": event}
        if rejected is not None:
            out["rejected"] = rejected
        yield out

    def _dead(self, origin: dict, fate: str, reason: str, **extra: Any) -> beam.pvalue.TaggedOutput:
        self.counts[fate].inc()
        return beam.pvalue.TaggedOutput(DEAD_LETTERS, {**origin, "reason": reason, **extra})


def _text(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text.rstrip("\r\n")[:2000]


class Translate(beam.PTransform):
    """Events in, their requests out: `events | Translate("segment-braze", settings)`.

    An element is an event (a dict), an NDJSON line (str or bytes), or a line from `ReadNDJSON` (which names its
    input and line number in dead letters). The mapping is compiled here, once: a mapping with errors raises
    `mapspec.CompileError` with its diagnostics before the pipeline runs; each worker loads the compiled module
    once (`setup`), never per element.

    Each event that sends something gives one element: `{"requests": [...], "input": ..., "line": ...,
    "event": {...}}` (`input` and `line` when known; `rejected` too when a reject rule held beside rules that
    send, with `match: all`). `DeliverToBraze` takes these, and puts the event in the dead letters of its
    objects, as `mapspec run` does. Events that give nothing are counted as skipped.

    `.target` is what the mapping sends to (its `target:`): `DeliverToBraze(target=translate.target)` for a
    mapping that names a target of its own.

    `.with_dead_letters()` (or `with_dead_letters=True`) makes the result a pair `(requests, dead_letters)`;
    dead letters are the records `mapspec run --dead-letter` writes: `{"input", "line", "reason", "event"}`, or
    `"text"` in place of the event for a line that is not one. Without it, they are logged as warnings, so that
    nothing is lost silently."""

    def __init__(self, mapping: str | Path, settings: Mapping[str, Any] | None = None, *,
                 with_dead_letters: bool = False, max_line_bytes: int = MAX_LINE_BYTES):
        super().__init__()
        compiled = _compiled(mapping, settings)
        # what a worker needs to load the translator: the text of its module, not a pickled function
        self.module = (compiled.module.source, tuple(compiled.module.helpers), compiled.source.path)
        #: what the requests go to (the mapping's `target:`), for DeliverToBraze(target=...)
        self.target: Target | None = compiled.target
        #: the endpoints (`METHOD /path`) the mapping can send to
        self.endpoints: list[str] = compiled.endpoints
        self.dead_letters, self.max_line_bytes = with_dead_letters, max_line_bytes

    def with_dead_letters(self) -> Translate:
        self.dead_letters = True
        return self

    def expand(self, events):
        out = events | "Translate" >> beam.ParDo(_TranslateFn(self.module, self.max_line_bytes)).with_outputs(
            DEAD_LETTERS, main="requests")
        if self.dead_letters:
            return out.requests, out[DEAD_LETTERS]
        _ = out[DEAD_LETTERS] | "Log dead letters" >> beam.Map(log_dead_letter)
        return out.requests


def log_dead_letter(record: dict) -> None:
    log.warning("dead letter: %s", dead_letter_text(record))


def dead_letter_text(record: dict) -> str:
    """A dead-letter record as one line of NDJSON (what cannot be written exactly is written as text)."""
    try:
        return jsonio.dumps(record).decode("utf-8")
    except jsonio.Unencodable:
        import json

        return json.dumps(record, ensure_ascii=True, default=str)
