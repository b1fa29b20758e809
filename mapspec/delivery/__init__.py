"""`mapspec run`: translate a stream of Segment events and deliver it to Braze, with nothing lost.

    input lines ──▶ translate ──▶ objects, each with the input line it came from
                 └─ not JSON / rejected ──▶ dead-letter file
    objects ──▶ batches (75 attributes + 75 events + 75 purchases; 50 ids per delete) ──▶ sender
    sender: bounded in flight, token-bucket rate limit, retries with backoff and jitter up to a deadline;
            objects Braze refuses ──▶ dead-letter file
    checkpoint: the input position up to which every line is delivered or dead-lettered (the dead-letter
            file is fsynced before the checkpoint moves), so a crashed run resumes and loses nothing.

Every input line ends in exactly one of: delivered, skipped (nothing to send), or dead-lettered (not
JSON, rejected by the mapping, or refused by Braze); the account at the end adds up to the lines read.
"""

from __future__ import annotations

from .common import Fatal, Options
from .job import Job, run
from .ledger import Account

__all__ = ["Account", "Fatal", "Job", "Options", "run"]
