"""`mapspec run`: translate a stream of Segment events and deliver it to Braze, with nothing lost.

    input lines (reader) ──▶ translate ──▶ objects, each with the input line it came from
                 └─ blank: skipped; not an event / rejected / translator failed ──▶ dead-letter file
    objects ──▶ batches (Braze's counts per request, and its 4 MB body, from the target) ──▶ sender
    sender: bounded in flight, an exact rate window, Retry-After and X-RateLimit-Reset, retries with backoff
            and jitter up to a deadline; objects Braze refuses ──▶ dead-letter file
    ledger: decides every line's fate in one place; lines leave it in input order, and only then count in
            the account, reach the dead-letter file, and move the checkpoint (after the dead-letter file is
            on disk), so a crashed run resumes where it was and loses nothing.
    checkpoint: per input its position and the digest of the lines before it, so a resume refuses other
            input; beside it, how far requests went, so a resume says what it may send twice.

Every input line ends in exactly one of: delivered, skipped (nothing to send), or dead-lettered (not
an event, rejected by the mapping, untranslatable or unsendable, refused by Braze, out of retries); the account
at the end adds up to the lines read.
"""

from __future__ import annotations

from .common import Fatal, Options
from .job import Job, Outcome, execute, run
from .ledger import Account

__all__ = ["Account", "Fatal", "Job", "Options", "Outcome", "execute", "run"]
