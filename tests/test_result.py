"""The Python API tells sent, skipped (with the reason) and rejected (with the message) apart, and keeps
`translate(event) -> list` as it is."""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys

import pytest

import mapspec
from tests.conftest import compile_text
from tests.test_cli import mapspec as cli
from tests.test_explain import MATCH_ALL


def test_a_skip_is_an_empty_list_that_says_why():
    translate = mapspec.load("segment-braze")
    out = translate({"type": "alias", "userId": "u1", "previousId": "a1"})
    assert out == [] and isinstance(out, list) and isinstance(out, mapspec.Skipped)
    assert out.reason == "alias calls are not sent to Braze, as in Segment cloud mode"
    page = translate({"type": "page", "userId": "u1", "name": "Home"})
    assert page == [] and "the `when` of every request is false" in page.reason
    assert json.dumps(out) == "[]"


def test_result_tells_the_outcomes_apart():
    translate = mapspec.load("segment-braze")
    sent = translate.result({"type": "track", "userId": "u1", "event": "E", "timestamp": "2024-01-01T00:00:00Z"})
    assert sent.outcome == "sent" and sent.sent and sent.skipped is None and sent.rejected is None
    skipped = translate.result({"type": "alias", "userId": "u1"})
    assert skipped.outcome == "skipped" and not skipped.sent and skipped.skipped.startswith("alias calls")
    rejected = translate.result({"type": "identify"})
    assert rejected.outcome == "rejected" and rejected.rejected.startswith("userId or braze_id is required")
    assert rejected.as_json() == {"rejected": {"message": rejected.rejected}}
    assert skipped.as_json() == {"requests": [], "skipped": {"reason": skipped.skipped}}


def test_match_all_sends_and_rejects_and_skips():
    translate = compile_text(MATCH_ALL)
    both = mapspec.result_of(translate, {"type": "track", "userId": "u", "event": "Order Completed",
                                         "timestamp": "t"})
    assert both.sent and both.rejected == "Order Completed needs products" and both.outcome == "rejected"
    assert set(both.as_json()) == {"requests", "rejected"}
    page = translate({"type": "page"})
    assert page == [] and page.reason == "not subscribed"
    assert translate({"type": "identify"}).reason == "no rule sends anything for this event"


def test_a_standalone_module_has_its_own_skipped(tmp_path):
    path = tmp_path / "t.py"
    proc = cli("compile", "segment-braze", "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import t; "
            "out = t.translate({'type': 'alias', 'userId': 'u'}); print(json.dumps([out, out.reason]))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert json.loads(run.stdout) == [[], "alias calls are not sent to Braze, as in Segment cloud mode"]
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("t")
        assert mapspec.result_of(module.translate, {"type": "alias", "userId": "u"}).skipped.startswith("alias calls")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("t", None)


def test_translate_prints_why_an_event_is_skipped():
    events = '{"type":"alias","userId":"u1"}\n{"type":"identify"}\n'
    out = [json.loads(line) for line in cli("translate", stdin=events).stdout.decode().splitlines()]
    assert out[0] == {"requests": [], "skipped": {"reason": "alias calls are not sent to Braze, as in Segment "
                                                            "cloud mode"}}
    assert set(out[1]) == {"rejected"}


@pytest.mark.parametrize("module", ["mapspec", "mapspec.result"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted and not result.failed
