"""The account, the dead-letter file, the checkpoint, and the lines on their way."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .common import Fatal
from .reader import Line


@dataclass
class Account:
    read: int = 0
    translated: int = 0
    skipped: int = 0
    delivered: int = 0
    rejected: int = 0
    invalid: int = 0
    refused: int = 0  # lines with an object Braze refused or that ran out of retries
    unchanged: int = 0  # objects left out by --skip-unchanged
    requests: int = 0
    retried: int = 0

    @property
    def dead_lettered(self) -> int:
        return self.invalid + self.rejected + self.refused

    def adds_up(self) -> bool:
        return self.read == self.delivered + self.skipped + self.dead_lettered

    def text(self) -> str:
        return (f"read {self.read}, translated {self.translated}, delivered {self.delivered}, skipped {self.skipped}, "
                f"rejected {self.rejected}, dead-lettered {self.dead_lettered} "
                f"({self.invalid} not events, {self.rejected} rejected, {self.refused} refused by Braze); "
                f"{self.requests} requests, {self.retried} retried"
                + (f", {self.unchanged} unchanged objects left out" if self.unchanged else ""))


@dataclass
class Pending:
    """An input line whose objects are on their way."""

    line: Line
    event: Any
    objects: int = 0
    failed: list[dict] = field(default_factory=list)
    read_done: bool = False


class DeadLetters:
    """The dead-letter file (NDJSON); without one, the records go to stderr, so that nothing is lost."""

    def __init__(self, path: str | None):
        self.path = path
        self.fh = open(path, "a", encoding="utf-8") if path else sys.stderr
        self.dirty = False

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.dirty = True

    def sync(self) -> None:
        if self.dirty:
            self.fh.flush()
            if self.path:
                os.fsync(self.fh.fileno())
            self.dirty = False

    def close(self) -> None:
        self.sync()
        if self.path:
            self.fh.close()


class Checkpoint:
    """The input position up to which every line is delivered or dead-lettered, written atomically."""

    def __init__(self, path: str | None, inputs: list[str]):
        self.path = path
        self.inputs = inputs
        self.done: dict[str, Any] = {}
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                state = json.load(fh)
            if state.get("inputs") != inputs:
                raise Fatal(f"checkpoint {path} is for other inputs ({', '.join(state.get('inputs', []))}); "
                            "remove it to start again")
            self.done = state.get("done", {})

    def save(self, account: Account) -> None:
        if not self.path:
            return
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"inputs": self.inputs, "done": self.done, "account": account.__dict__}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class Tracker:
    """Lines in input order; the checkpoint moves past a line once it and all before it are resolved."""

    def __init__(self, account: Account, dead: DeadLetters, checkpoint: Checkpoint):
        self.account, self.dead, self.checkpoint = account, dead, checkpoint
        self.lines: dict[tuple[str, int], Pending] = {}
        self.order: list[tuple[str, int]] = []
        self.head = 0
        self.last_save = 0.0

    def open(self, line: Line, event: Any) -> Pending:
        p = Pending(line, event)
        key = (line.source, line.number)
        self.lines[key] = p
        self.order.append(key)
        return p

    def dead_letter(self, p: Pending, reason: str, **extra: Any) -> None:
        record = {"input": p.line.source, "line": p.line.number, "reason": reason, **extra}
        if p.event is not None:
            record["event"] = p.event
        self.dead.write(record)

    def object_done(self, p: Pending, failure: dict | None = None) -> None:
        p.objects -= 1
        if failure is not None:
            p.failed.append(failure)
        self.settle(p)

    def settle(self, p: Pending) -> None:
        if not p.read_done or p.objects > 0:
            return
        key = (p.line.source, p.line.number)
        if self.lines.get(key) is not p:
            return
        if p.failed:
            for failure in p.failed:
                self.dead_letter(p, failure["reason"], object=failure.get("object"))
            self.account.refused += 1
        else:
            self.account.delivered += 1
        p.event = None  # resolved: nothing of it stays in memory but its place in line
        p.objects = -1
        self.advance()

    def advance(self, force: bool = False) -> None:
        moved = None
        while self.head < len(self.order):
            p = self.lines[self.order[self.head]]
            if p.objects != -1:
                break
            moved = p.line
            del self.lines[self.order[self.head]]
            self.head += 1
        if self.head > 4096:
            del self.order[: self.head]
            self.head = 0
        if moved is not None:
            self.checkpoint.done[moved.source] = {"line": moved.number, "offset": moved.end}
        now = time.monotonic()
        if (moved is not None or force) and (force or now - self.last_save > 0.2):
            self.dead.sync()  # what the checkpoint passes over must be on disk first
            self.checkpoint.save(self.account)
            self.last_save = now
