"""`mapspec test`: the examples every bundled mapping carries, and how a failure reads."""

from __future__ import annotations

import pytest

from mapspec.compiler import bundled_names, read_mapping
from mapspec.source import SourceFile
from mapspec.testing import run_examples
from tests.conftest import ROOT
from tests.test_cli import mapspec


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_examples_pass_and_cover_every_rule(name):
    report = run_examples(read_mapping(name))
    assert not report.errors
    assert report.outcomes and not report.failed, [o.problem for o in report.failed]
    assert report.uncovered == []


MAPPING = """
name: inline
base_url: '"http://x"'
rules:
  - name: track
    when: type == "track"
    send:
      endpoint: /users/track
      body:
        events:
          - {external_id: userId, name: event, time: '"t"'}
  - name: other
    reject: '"only track"'
examples:
  - name: track
    event: {type: track, userId: u, event: E}
    rule: track
    requests:
      - url: http://x/users/track
        body: {events: [{external_id: u, name: E, time: t}]}
  - name: wrong
    event: {type: track, userId: u, event: E}
    requests: []
  - name: wrong rule
    event: {type: page}
    rule: track
    rejected: only
  - name: rejected
    event: {type: page}
    rejected: only track
"""


def test_examples_inside_a_mapping(tmp_path):
    report = run_examples(SourceFile("inline.yaml", MAPPING))
    assert [o.ok for o in report.outcomes] == [True, False, False, True]
    assert "+" in report.failed[0].problem and '"name": "E"' in report.failed[0].problem
    assert report.failed[1].problem == "rule `other` decided, not `track`"


def test_cli_exit_codes(tmp_path):
    path = tmp_path / "inline.yaml"
    path.write_text(MAPPING)
    proc = mapspec("test", str(path))
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert f"{path}:" in out and "FAIL wrong" in out and "2 passed, 2 failed" in out
    assert mapspec("test").returncode == 0


def test_malformed_examples_are_reported(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.split("examples:")[0])
    (tmp_path / "m.test.yaml").write_text("- name: x\n  evnt: {}\n  requests: []\n")
    proc = mapspec("test", str(path))
    assert proc.returncode == 2  # the examples cannot be run: like a broken test file, not a failing test
    assert "m.test.yaml:1:3: an example needs an `event`" in proc.stderr.decode()


def test_a_file_that_is_not_a_mapping_is_not_zero_tests_passed(tmp_path):
    empty = tmp_path / "list.yaml"
    empty.write_text("[]\n")
    proc = mapspec("test", str(empty))
    assert proc.returncode == 2, proc.stdout
    assert "a mapping file must be a YAML mapping" in proc.stderr.decode()
    assert "0 passed, 0 failed" not in proc.stdout.decode()
    alone = mapspec("test", "mappings/segment-braze.test.yaml", cwd=ROOT)
    assert alone.returncode == 2
    assert "is a file of examples: name the mapping it tests (mappings/segment-braze.yaml)" in alone.stderr.decode()


@pytest.mark.parametrize("value, where", [("2024-05-01T12:00:00Z", "m.test.yaml:2:46: a YAML timestamp"),
                                          ("!!binary aGVsbG8=", "m.test.yaml:2:46: YAML binary data"),
                                          ("{1: a}", "m.test.yaml:2:47: a key must be text")])
def test_an_example_that_is_not_json_is_reported_at_its_position(tmp_path, value, where):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.split("examples:")[0])
    (tmp_path / "m.test.yaml").write_text(
        f"- name: x\n  event: {{type: track, userId: u, timestamp: {value}}}\n  requests: []\n")
    proc = mapspec("test", str(path))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err, err
    assert where in err, err


SKIPS = """
name: skips
base_url: '"http://x"'
rules:
  - name: aliases
    when: type == "alias"
    skip: '"aliases are not sent: {previousId}"'
  - name: pages
    when: type == "page"
    send:
      endpoint: /users/track
      when: exists(name)
      body: {events: [{external_id: userId, name: name, time: '"t"'}]}
  - name: other
    reject: '"unsupported type"'
examples:
  - name: skipped with its reason
    event: {type: alias, previousId: a1}
    skipped: 'not sent: a1'
  - name: skip, as a rule writes it
    event: {type: alias, previousId: a1}
    skip: true
  - name: a request whose when is false is a skip too
    event: {type: page}
    skipped: the `when` of every request is false
  - name: reject, as a rule writes it
    event: {type: group}
    reject: unsupported
  - name: wrong reason
    event: {type: alias, previousId: a1}
    skipped: something else
  - name: sent, not skipped
    event: {type: page, userId: u, name: Home}
    skipped: true
  - name: rejected, not skipped
    event: {type: group}
    skipped: true
  - name: skipped, not rejected
    event: {type: alias}
    rejected: true
"""


def test_examples_expect_skips_with_their_reason_and_rejections_with_their_message():
    report = run_examples(SourceFile("skips.yaml", SKIPS))
    assert not report.errors
    assert [o.ok for o in report.outcomes] == [True, True, True, True, False, False, False, False]
    problems = [o.problem for o in report.failed]
    assert problems[0] == "skipped with 'aliases are not sent: a1', which does not contain 'something else'"
    assert problems[1].startswith("expected a skip, got 1 request:")
    assert problems[2] == "expected a skip, got rejected with 'unsupported type'"
    # a reason that is missing (no previousId) falls back on the rule's name
    assert problems[3] == "expected a rejection, got skipped (\"skipped by rule 'aliases'\")"


@pytest.mark.parametrize("body, message", [
    ("  skipped: true\n  requests: []\n", "an example expects `requests`, `rejected` (or both, with `match: all`) "
                                          "or `skipped`"),
    ("  skip: true\n  skipped: true\n", "give `skipped` or `skip`, not both"),
    ("  name: x\n", "an example expects"),
])
def test_examples_with_contradictory_expectations_are_reported(tmp_path, body, message):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.split("examples:")[0])
    (tmp_path / "m.test.yaml").write_text("- event: {type: track}\n" + body)
    proc = mapspec("test", str(path))
    assert proc.returncode == 2 and message in proc.stderr.decode(), proc.stderr


@pytest.mark.parametrize("text,where,message", [
    ("- name: one\n  event: {type: identify, userId: u1}\n  requests: 7\n", "3:13",
     "`requests` must be a list of requests"),
    ("- name: one\n  event: {type: identify, userId: u1}\n  requests: []\n  requests: 7\n", "4:3",
     "`requests` appears twice"),
    ("- name: one\n  event: {type: identify, userId: u1, userId: u2}\n  requests: []\n", "2:39",
     "`userId` appears twice"),
    ("- name: one\n  event: {type: identify, userId: u1}\n  skipped: true\n  reqests: []\n", "4:3",
     "unknown key(s) reqests"),
    ("- name: one\n  evnt: {type: identify}\n", "1:3", "an example needs an `event`"),
    ("- name: one\n  event: {type: identify, userId: u1}\n  skip: 3\n", "3:9", "`skipped` must be true"),
])
def test_a_broken_example_file_is_an_error_at_its_line_and_column(tmp_path, text, where, message):
    from tests.conftest import inproc

    (tmp_path / "m.yaml").write_text((ROOT / "mappings" / "segment-braze.yaml").read_text())
    (tmp_path / "m.test.yaml").write_text(text)
    proc = inproc("test", str(tmp_path / "m.yaml"))
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 2 and f"m.test.yaml:{where}: {message}" in out, out
