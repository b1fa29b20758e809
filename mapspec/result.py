"""What one event gives, told apart: sent, skipped (and why), rejected (and why).

A translator is a plain function, kept fast for `mapspec run`: `translate(event)` returns the list of requests,
raises `Rejected`, and for an event it skips returns an empty list of the class `Skipped`, whose `reason`
says why. `Result` reads that into one value (`translate.result(event)`, or `result_of(translate, event)`):

    >>> import mapspec
    >>> translate = mapspec.load("segment-braze")
    >>> translate.result({"type": "alias", "userId": "u1", "previousId": "a1"})
    Result(requests=[], skipped='alias calls are not sent to Braze, as in Segment cloud mode', rejected=None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Rejected


@dataclass(frozen=True)
class Result:
    #: the requests the event causes (with `match: all`, also beside a rejection)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: why the event is skipped: nothing sent, nothing rejected
    skipped: str | None = None
    #: why the event is rejected
    rejected: str | None = None

    @property
    def sent(self) -> bool:
        """Whether the event sends anything."""
        return bool(self.requests)

    @property
    def outcome(self) -> str:
        """`sent`, `skipped` or `rejected` (with `match: all`, an event may be sent and rejected: `rejected`)."""
        return "rejected" if self.rejected is not None else "skipped" if self.skipped is not None else "sent"

    def as_json(self) -> dict[str, Any]:
        """As `mapspec translate` writes it: `{"requests": [...]}`, with `"skipped": {"reason": ...}` or
        `"rejected": {"message": ...}` beside it (a rejection with no requests has no `requests`)."""
        out: dict[str, Any] = {}
        if self.requests or self.rejected is None:
            out["requests"] = self.requests
        if self.skipped is not None:
            out["skipped"] = {"reason": self.skipped}
        if self.rejected is not None:
            out["rejected"] = {"message": self.rejected}
        return out


def result_of(translate: Callable[[dict], list], event: dict) -> Result:
    """Run a translator on one event and tell what it gave apart."""
    try:
        requests = translate(event)
    except Rejected as e:
        return Result(list(e.requests), None, str(e))
    if requests:
        return Result(requests)
    # a standalone module has its own `Skipped`; one written by an older mapspec, a plain empty list
    reason = getattr(requests, "reason", None)
    return Result([], reason if isinstance(reason, str) else "nothing to send")
