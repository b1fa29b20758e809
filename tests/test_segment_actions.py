"""Segment's Braze (Actions) and Braze Cohorts destinations: the 177 recorded cases of Segment's own tests
(../shared/conformance/segment-actions) through the shared runner, which imports each case's subscription
with `mapspec import segment-actions` and runs its events with `translate` and `run --dry-run`."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import shared_folder

ROOT = Path(__file__).resolve().parent.parent
SHARED = shared_folder()
SUITE = SHARED / "conformance" / "segment-actions" if SHARED else None

#: cases mapspec deliberately answers differently, each with the reason (the README lists them too)
KNOWN = {
    # Braze's answer decides these: `translate` cannot know it; `mapspec run` dead-letters what Braze refuses,
    # with Braze's message
    "braze__identifyUser2__index__should-handle-2xx-responses-with-errors-array-try-block":
        "Braze answers 201 with errors[]: run dead-letters the event with Braze's message",
    "braze__identifyUser2__index__should-handle-4xx-responses-with-message-field-catch-block":
        "Braze answers 400: run dead-letters the event with Braze's message",
    "braze__triggerCampaign__index__handles-braze-api-errors-and-surfaces-error-message-as-apierror":
        "Braze answers 404 for an unknown campaign: run stops, as for any 404",
    "braze__triggerCanvas__index__handles-braze-api-errors-and-surfaces-error-message-as-apierror":
        "Braze answers 404 for an unknown canvas: run stops, as for any 404",
    "braze__upsertCatalogItem__index__single-event-should-throw-error-in-case-of-failures-with-upsert-syncmode":
        "Braze refuses the item's fields: run dead-letters it with Braze's message",
    # Segment sends the top-level prioritization of a broadcast; Braze's API takes it only on recipients
    "braze__triggerCampaign__snapshot__with-audience-object":
        "prioritization is sent only on recipients, where Braze's API takes it",
    "braze__triggerCanvas__snapshot__with-audience-object":
        "prioritization is sent only on recipients, where Braze's API takes it",
    # Segment's batch refuses purchases past Braze's 75 per request (and retries them in another batch);
    # run sends them in the next request
    "braze__destination__multistatus__trackPurchase__should-reject-a-single-payload-with-76-products":
        "an event's 76 purchases go in two requests, where Segment's batch refuses the event",
    "braze__destination__multistatus__trackPurchase__should-reject-payloads-that-exceed-the-75-product-limit":
        "purchases past 75 in a batch go in the next request, where Segment refuses them to retry them later",
    "braze__destination__multistatus__trackPurchase__should-reject-remaining-payloads-after-hitting-limit":
        "purchases past 75 in a batch go in the next request, where Segment refuses them to retry them later",
    # a catalog item twice in one batch: Segment refuses the second; run sends it in the next request
    "braze__upsertCatalogItem__index__should-skip-events-with-duplicate-item-id-with-upsert-syncmode":
        "the second write of an item goes in the next request, where Segment's batch refuses it",
}

#: cases recorded by Segment's tests with the action's defaults laid under a mapping of an action that requires
#: no field (updateUserProfile): an export's mapping is taken as complete unless it leaves out a required field
#: (as a mapping Segment's editor saves never does), so nothing tells these from a complete mapping; an export
#: says so with `"defaults": true`
RECORDED_OVER_DEFAULTS = [
    "braze__destination__braze__updateUserProfile__should-success-with-mapping-of-preset-and-identify-call",
    "braze__updateUserProfile2__index__should-succeed-with-a-valid-syncmode-of-update-and-mark-update-existing-only-as-true",
    "braze__updateUserProfile2__snapshot__it-should-work-with-a-single-batched-events",
    "braze__updateUserProfile2__snapshot__it-should-work-with-batched-events",
    "braze__updateUserProfile__snapshot__it-should-work-with-a-single-batched-events",
    "braze__updateUserProfile__snapshot__it-should-work-with-batched-events",
]
KNOWN.update({name: "needs `\"defaults\": true` in the runner's export" for name in RECORDED_OVER_DEFAULTS})


def _run(cases: list[Path], tmp: Path) -> str:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for case in cases:
        (tmp / case.name).symlink_to(case)
    cmd = f"{shlex.quote(sys.executable)} -m mapspec"
    proc = subprocess.run([sys.executable, str(SHARED / "conformance" / "run"), "--cmd", cmd, str(tmp)],
                          capture_output=True, text=True, cwd=ROOT)
    return proc.stdout


@pytest.mark.skipif(SUITE is None or not SUITE.is_dir(), reason="the shared conformance suites are not beside this checkout")
def test_segment_actions_cases_pass_the_conformance_runner(tmp_path):
    cases = sorted(SUITE.glob("*.json"))
    # the runner works through the cases one process at a time: a few runners share them out
    parts = max(1, min(4, os.cpu_count() or 1))
    chunks = [cases[i::parts] for i in range(parts)]
    with ThreadPoolExecutor(parts) as pool:
        outputs = list(pool.map(lambda ic: _run(ic[1], tmp_path / f"part{ic[0]}"), enumerate(chunks)))
    failed, passed = {}, 0
    for out in outputs:
        lines = out.strip().splitlines()
        assert lines and lines[-1].endswith("failed"), out
        passed += int(lines[-1].split()[0])
        for line in lines[:-1]:
            if line.startswith("FAIL "):
                name, _, why = line[5:].partition(": ")
                failed[Path(name).stem] = why
    unexpected = {k: v for k, v in failed.items() if k not in KNOWN}
    fixed = sorted(k for k in KNOWN if k not in failed)
    assert not unexpected and not fixed, (unexpected, fixed)
    assert passed == len(cases) - len(KNOWN)
