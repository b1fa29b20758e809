"""The account, the dead-letter file, the checkpoint, and the ledger that decides every line's fate.

Lines enter the ledger in input order and leave it in the same order, once decided. Leaving is when a
line counts in the account, when its dead letters are written, when it enters its input's prefix digest and
when the checkpoint may move past it: so the checkpoint, the account it records and the dead-letter file
always describe the same prefix of the input, and a resumed run goes on from exactly there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from .. import jsonio
from .common import Fatal, Secret
from .reader import Line, Position, PrefixDigest, Source

# a line's fates: delivered and skipped, or one of the ways to the dead-letter file
DELIVERED, SKIPPED = "delivered", "skipped"
INVALID, REJECTED, FAILED, REFUSED, EXPIRED = "invalid", "rejected", "failed", "refused", "expired"
DEAD = (INVALID, REJECTED, FAILED, REFUSED, EXPIRED)


@dataclass
class Account:
    """What became of the lines of a run (or, in `whole`, of a resumed job since it began)."""

    read: int = 0  # lines read and decided (a run that stops leaves some read but undecided: see Outcome)
    translated: int = 0
    delivered: int = 0
    skipped: int = 0
    blank: int = 0  # of the skipped: blank lines
    invalid: int = 0  # not an event: bad JSON, not an object, too long, a number JSON cannot carry
    rejected: int = 0  # the mapping refused the event
    failed: int = 0  # the translator failed on the event, or its output cannot be sent (too large, not JSON)
    refused: int = 0  # the API refused an object of the line
    expired: int = 0  # an object of the line ran out of retries
    unchanged: int = 0  # objects left out by --skip-unchanged
    requests: int = 0  # requests made (every attempt), or written in a dry run
    unanswered: int = 0  # of those: no answer (connection failed or dropped, timed out)
    retried: int = 0
    dry: bool = False  # a dry run: nothing sent

    COUNTS = ("read", "translated", "delivered", "skipped", "blank", "invalid", "rejected", "failed", "refused",
              "expired", "unchanged", "requests", "unanswered", "retried")

    @property
    def dead_lettered(self) -> int:
        return self.invalid + self.rejected + self.failed + self.refused + self.expired

    @property
    def decided(self) -> int:
        return self.delivered + self.skipped + self.dead_lettered

    def adds_up(self) -> bool:
        return self.read == self.decided

    def count(self, fate: str) -> None:
        setattr(self, fate, getattr(self, fate) + 1)

    def plus(self, other: Account) -> Account:
        out = Account(dry=self.dry)
        for name in self.COUNTS:
            setattr(out, name, getattr(self, name) + getattr(other, name))
        return out

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.COUNTS}

    @classmethod
    def from_counts(cls, data: Any) -> Account:
        out = cls()
        if not isinstance(data, dict):
            raise ValueError("no account")
        for name in cls.COUNTS:
            value = data.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"account.{name} is not a count")
            setattr(out, name, value)
        return out

    def text(self, service: str = "the API") -> str:
        """The account as `run` prints it; `service` is what the target calls the API (Braze)."""
        sent = f"would send {self.delivered}" if self.dry else f"delivered {self.delivered}"
        skipped = f"skipped {self.skipped}" + (f" ({self.blank} blank)" if self.blank else "")
        dead = (f"dead-lettered {self.dead_lettered} ({self.invalid} not events, {self.rejected} rejected, "
                f"{self.failed} untranslatable or unsendable, {self.refused} refused by {service}, {self.expired} out of "
                "retries)")
        n_requests = f"{self.requests} request" + ("" if self.requests == 1 else "s")
        if self.dry:
            requests = f"{n_requests} written, nothing sent"
        else:
            requests = (f"{n_requests} ({self.requests - self.unanswered} answered, {self.unanswered} "
                        f"without an answer), {self.retried} retried")
        unchanged = f", {self.unchanged} unchanged objects left out" if self.unchanged else ""
        return f"read {self.read}, translated {self.translated}, {sent}, {skipped}, {dead}; {requests}{unchanged}"


class DeadLetters:
    """The dead-letter file (NDJSON); without one, the records go to stderr, so that nothing is lost.

    Every record is written through the run's Secret, so the key never reaches it."""

    def __init__(self, path: str | None, secret: Secret, keep: int | None = None):
        self.path, self.secret = path, secret
        if path:
            try:
                self.fh: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed by close()
                if keep is not None and self.fh.seek(0, os.SEEK_END) > keep:
                    # records past the checkpoint are for lines the resumed run decides again
                    self.fh.truncate(keep)
            except OSError as e:
                raise Fatal(f"cannot write the dead-letter file {path}: {e.strerror}") from None
        else:
            self.fh = sys.stderr
        self.dirty = False

    def write(self, line: Line, source: Source, record: dict) -> None:
        record = {"input": source.name, "line": line.number, **record}
        try:
            text = jsonio.dumps(record).decode("utf-8")
        except jsonio.Unencodable:  # what the event holds cannot be written back: its text can
            record.pop("event", None)
            record.pop("object", None)
            if line.data is not None:
                record["text"] = line.data.decode("utf-8", "replace").rstrip("\n")[:100_000]
            text = json.dumps(record, ensure_ascii=True, default=str)
        self.fh.write(self.secret.redact(text) + "\n")
        self.dirty = True

    def flush(self) -> int | None:
        """Hand what is written to the system; the file's size, when there is a file."""
        self.fh.flush()
        return os.fstat(self.fh.fileno()).st_size if self.path else None

    def fileno(self) -> int | None:
        return self.fh.fileno() if self.path else None

    def close(self) -> None:
        self.fh.flush()
        if self.path:
            os.fsync(self.fh.fileno())
            self.fh.close()


# ------------------------------------------------------------------ checkpoint


FORMAT = 2
#: a checkpoint holds a few lines per input: anything much larger is not one
MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024

_POSITION_KEYS = ("name", "identity", "line", "offset", "sha256")
_CHECKPOINT_KEYS = ("mapspec_checkpoint", "inputs", "account", "dead_letter", "max_line_bytes")


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _keys(obj: dict, keys: tuple[str, ...], where: str) -> None:
    """ValueError unless `obj` has exactly `keys`."""
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ValueError(f"{where} has no {', '.join(missing)}")
    extra = [k for k in obj if k not in keys]
    if extra:
        raise ValueError(f"{where} has {', '.join(map(repr, extra[:3]))}, which a checkpoint does not hold")


def parse_checkpoint(state: Any) -> Saved:
    """What a checkpoint holds, its whole structure checked (exactly what `Checkpoint.state` writes); ValueError
    saying what is wrong for anything else: a checkpoint is trusted only when every part of it is one."""
    if type(state) is not dict or state.get("mapspec_checkpoint") != FORMAT \
            or type(state.get("mapspec_checkpoint")) is not int:
        raise ValueError("not a checkpoint of this version")
    _keys(state, _CHECKPOINT_KEYS, "it")
    inputs = state["inputs"]
    if type(inputs) is not list:
        raise ValueError("inputs is not a list of positions")
    positions = []
    for n, i in enumerate(inputs):
        where = f"inputs[{n}]"
        if type(i) is not dict:
            raise ValueError(f"{where} is {jsonio.kind(i)}, not a position")
        _keys(i, _POSITION_KEYS, where)
        if not (type(i["name"]) is str and type(i["identity"]) is str and _count(i["line"])
                and _count(i["offset"]) and type(i["sha256"]) is str):
            raise ValueError(f"{where} is not a name, identity, line, offset and sha256")
        positions.append(Position(i["line"], i["offset"], i["sha256"]))
    account = state["account"]
    if type(account) is not dict:
        raise ValueError(f"account is {jsonio.kind(account)}, not an object of counts")
    _keys(account, Account.COUNTS, "account")
    for name in Account.COUNTS:
        if not _count(account[name]):
            raise ValueError(f"account.{name} is not a count")
    dead = state["dead_letter"]
    if dead is not None:
        if type(dead) is not dict:
            raise ValueError(f"dead_letter is {jsonio.kind(dead)}, not a path and a size")
        _keys(dead, ("path", "size"), "dead_letter")
        if type(dead["path"]) is not str or not (dead["size"] is None or _count(dead["size"])):
            raise ValueError("dead_letter is not a path and a size")
    limit = state["max_line_bytes"]
    if not _count(limit) or limit < 1:
        raise ValueError("max_line_bytes is not a number of bytes")
    return Saved(inputs, Account.from_counts(account), dead["path"] if dead else None,
                 dead["size"] if dead else None, limit, positions=positions)


@dataclass
class Saved:
    """What a checkpoint holds."""

    inputs: list[dict]  # per input: name, stdin or not, its Position
    account: Account  # the whole job, for the lines before the positions
    dead_letter_path: str | None  # absolute
    dead_letter_size: int | None  # its size when the checkpoint was written
    max_line_bytes: int
    positions: list[Position] = field(default_factory=list)


class Checkpoint:
    """Where each input is consumed up to, with every line before it delivered, skipped or dead-lettered;
    read once when the run starts, written atomically (after the dead-letter file is on disk).

    Beside it, `<checkpoint>.sent` records the furthest line for which a request was started (written before
    the request, without waiting for the disk): after a kill, the resumed run knows which of the lines it sends
    again were perhaps sent already, and says how many objects that is."""

    def __init__(self, path: str | None, sources: list[Source], max_line_bytes: int, write: bool = True):
        self.path, self.sources, self.write = path, sources, write
        self.saved: Saved | None = self._load(max_line_bytes) if path and os.path.exists(path) else None
        self.sent_through = self._load_sent() if self.saved is not None else None
        if path and write and self.saved is None and os.path.exists(f"{path}.sent"):
            os.remove(f"{path}.sent")  # left by a job whose checkpoint was removed: it belongs to nothing now
        self.sent_fd: int | None = None
        # how far requests went, never lowered: a resumed run that gets less far keeps the earlier run's mark
        self.sent_mark: tuple[int, int] = self.sent_through or (-1, 0)

    # reading

    def _load(self, max_line_bytes: int) -> Saved:
        path = self.path
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_CHECKPOINT_BYTES + 1)
            if len(data) > MAX_CHECKPOINT_BYTES:
                raise ValueError(f"larger than {MAX_CHECKPOINT_BYTES:,} bytes")
            saved = parse_checkpoint(jsonio.loads(data))
        except OSError as e:
            raise Fatal(f"cannot read the checkpoint {path}: {e.strerror}") from None
        except ValueError as e:  # BadJSON too: read with jsonio's rule, so its depth is bounded
            raise Fatal(f"{path} is not a mapspec run checkpoint ({e}): remove it to start the job again, "
                        "or give the checkpoint this job wrote") from None
        given = [s.name for s in self.sources]
        were = [i["name"] for i in saved.inputs]
        if [s.identity for s in self.sources] != [i["identity"] for i in saved.inputs]:
            raise Fatal(f"the checkpoint {path} is for the inputs {', '.join(map(repr, were))}, not "
                        f"{', '.join(map(repr, given))}: give the same inputs in the same order to resume, or "
                        "remove the checkpoint to start again")
        if saved.max_line_bytes != max_line_bytes:
            raise Fatal(f"the checkpoint {path} was written with --max-line-bytes {saved.max_line_bytes}: resume "
                        "with the same limit")
        return saved

    def _load_sent(self) -> tuple[int, int] | None:
        try:
            with open(f"{self.path}.sent", "rb") as fh:
                a, b = fh.read(64).split()[:2]  # it holds one line of 41 bytes: no more is read
            return int(a), int(b)
        except (OSError, ValueError):
            return None

    def position(self, index: int) -> Position | None:
        return self.saved.positions[index] if self.saved is not None else None

    # writing

    def note_sent(self, line: Line) -> None:
        """Before a request for `line` (and lines before it) is started: remember how far requests went."""
        mark = (line.input, line.number)
        if not self.write or not self.path or mark <= self.sent_mark:
            return
        self.sent_mark = mark
        if self.sent_fd is None:
            self.sent_fd = os.open(f"{self.path}.sent", os.O_WRONLY | os.O_CREAT, 0o644)
        os.pwrite(self.sent_fd, f"{mark[0]} {mark[1]}".ljust(40).encode("ascii") + b"\n", 0)

    def state(self, positions: list[Position], account: Account, dead_letter: str | None,
              dead_letter_size: int | None, max_line_bytes: int) -> bytes:
        inputs = [{"name": s.name, "identity": s.identity, "line": p.line, "offset": p.offset, "sha256": p.sha256}
                  for s, p in zip(self.sources, positions, strict=True)]
        dead = {"path": os.path.abspath(dead_letter), "size": dead_letter_size} if dead_letter else None
        return json.dumps({"mapspec_checkpoint": FORMAT, "inputs": inputs, "account": account.counts(),
                           "dead_letter": dead, "max_line_bytes": max_line_bytes}, indent=1).encode("utf-8")

    def save(self, state: bytes, dead_letter_fd: int | None) -> None:
        """Write a state atomically, after the dead letters it counts are on disk (may run on a thread)."""
        if dead_letter_fd is not None:
            os.fsync(dead_letter_fd)
        tmp = f"{self.path}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(state)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self.sent_fd is not None:
            os.close(self.sent_fd)
            self.sent_fd = None


# ------------------------------------------------------------------ the ledger


class Ledger:
    """Every line from the moment it is read until it is decided, and the one place that decides it."""

    SAVE_EVERY = 0.2  # seconds, at most, between checkpoints while lines are decided

    def __init__(self, sources: list[Source], account: Account, dead: DeadLetters, checkpoint: Checkpoint,
                 max_line_bytes: int, save_lines: int, dead_letter_path: str | None = None):
        self.sources, self.account, self.dead, self.checkpoint = sources, account, dead, checkpoint
        self.max_line_bytes, self.dead_letter_path = max_line_bytes, dead_letter_path
        self.lines: deque[Line] = deque()
        saved = checkpoint.saved
        self.before = saved.account if saved is not None else Account()
        self.start = [checkpoint.position(s.index) or Position() for s in sources]
        self.positions = [Position(p.line, p.offset, p.sha256) for p in self.start]
        # on a resume, the reader feeds the prefix it reads again into these before any later line arrives
        self.digests = [PrefixDigest(p.sha256 if p.line else None) for p in self.positions]
        self.sent_before = checkpoint.sent_through  # the previous run's mark, on a resume
        self.save_lines = save_lines
        self.taken = 0  # lines read so far (the account counts them once decided)
        self.unsaved = 0
        self.last_save = time.monotonic()
        self.saving: threading.Thread | None = None
        self.save_error: BaseException | None = None

    # lines in

    def enter(self, line: Line) -> None:
        self.taken += 1
        self.lines.append(line)

    def dead_letter(self, line: Line, reason: str, **extra: Any) -> None:
        """A record for the dead-letter file, written when the line leaves the ledger."""
        record = {"reason": reason, **extra}
        if line.letters is None:
            line.letters = [record]
        else:
            line.letters.append(record)

    def object_done(self, line: Line, problem: tuple[str, str, Any] | None = None) -> None:
        """One object of a line is delivered, or not: (fate, reason, object)."""
        line.waiting -= 1
        if problem is not None:
            fate, reason, obj = problem
            self.dead_letter(line, reason, object=obj)
            if line.fate != REFUSED:  # refused by Braze outweighs out of retries
                line.fate = fate
        if line.waiting == 0:
            self.decide(line)

    def delivered(self, items: list) -> list:
        """Objects delivered (each told once: those already told are left out); the ones this told.
        `object_done` for each, written out for a request's worth of objects at a time."""
        out = []
        decide = self.decide
        for item in items:
            if item.done:
                continue
            item.done = True
            out.append(item)
            line = item.owner
            line.waiting -= 1
            if line.waiting == 0:
                decide(line)
        return out

    def decide(self, line: Line, fate: str | None = None) -> None:
        """The one place a line's fate is decided: given (not an event, rejected, failed, blank), or from what
        became of its objects once none is on its way."""
        if fate is not None:
            line.fate = fate
        elif line.objects == 0:
            line.fate = SKIPPED
        elif line.fate is None:
            line.fate = DELIVERED
        line.event = None if not line.letters else line.event
        if self.lines and self.lines[0] is line:
            self.advance()

    # lines out, in order

    def advance(self) -> None:
        lines, positions, digests = self.lines, self.positions, self.digests
        counts = self.account.__dict__  # (the account's counts, as attributes: one lookup each)
        moved = 0
        while lines:
            line = lines[0]
            if line.fate is None or line.waiting > 0:
                break
            lines.popleft()
            counts[line.fate] += 1
            if line.note is not None:  # "translated" or "blank"
                counts[line.note] += 1
            if line.letters:
                event = line.event
                if event is None and line.fate != INVALID and line.data is not None:
                    event = _event(line.data)  # translated in a worker process, which kept it (--workers)
                for record in line.letters:
                    if event is not None and "event" not in record:
                        record["event"] = event
                    self.dead.write(line, self.sources[line.input], record)
            digests[line.input].add(line)
            p = positions[line.input]
            p.line, p.offset = line.number, line.end
            moved += 1
        if moved:
            counts["read"] += moved
            self.unsaved += moved
            if self.unsaved >= self.save_lines or time.monotonic() - self.last_save >= self.SAVE_EVERY:
                self.save(wait=False)

    @property
    def head(self) -> Line | None:
        return self.lines[0] if self.lines else None

    def whole(self) -> Account:
        return self.before.plus(self.account)

    # checkpoint

    def save(self, wait: bool) -> None:
        """Write the checkpoint for the lines decided so far; on a thread unless `wait` (the last one)."""
        cp = self.checkpoint
        if not cp.path or not cp.write:
            return
        if self.save_error is not None:
            raise Fatal(f"cannot write the checkpoint {cp.path}: {self.save_error}")
        if self.saving is not None:
            if not wait and self.saving.is_alive():
                return  # the next decided lines will save again
            self.saving.join()
            self.saving = None
            if self.save_error is not None:
                raise Fatal(f"cannot write the checkpoint {cp.path}: {self.save_error}")
        for p, d in zip(self.positions, self.digests, strict=True):
            p.sha256 = d.hexdigest()
        size = self.dead.flush()
        state = cp.state(self.positions, self.whole(), self.dead_letter_path, size, self.max_line_bytes)
        fd = self.dead.fileno() if self.dead.dirty else None
        self.dead.dirty = False
        self.unsaved, self.last_save = 0, time.monotonic()
        if wait:
            cp.save(state, fd)
            return

        def work() -> None:
            try:
                cp.save(state, fd)
            except OSError as e:
                self.save_error = e

        self.saving = threading.Thread(target=work, name="mapspec-checkpoint", daemon=True)
        self.saving.start()


def _event(data: bytes) -> Any:
    try:
        return jsonio.loads(data)
    except jsonio.BadJSON:  # (not for a line that was translated)
        return None
