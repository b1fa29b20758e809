"""`mapspec diff`: structural and behavioural reports, exit codes like diff(1), and git revisions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT
from tests.test_cli import mapspec

BRAZE = (ROOT / "mappings" / "segment-braze.yaml").read_text()


def edited(tmp_path: Path, name: str = "edited.yaml") -> Path:
    """The default mapping with a reviewer-sized change: gender no longer normalised, one new field."""
    text = BRAZE.replace("gender: $gender_codes[lower(traits.gender)]", "gender: traits.gender")
    text = text.replace("            image_url: traits.avatar\n",
                        "            image_url: traits.avatar else traits.photoUrl\n")
    assert text != BRAZE
    path = tmp_path / name
    path.write_text(text)
    return path


def test_structural_and_behavioural_report(tmp_path, snapshot):
    proc = mapspec("diff", "segment-braze", str(edited(tmp_path)), "--events", str(CORPUS), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = proc.stdout.decode().replace(str(tmp_path), "TMP").replace(str(ROOT), "ROOT")
    assert "~ rule `identify`: /users/track attributes[0].gender" in report
    assert "/users/track attributes[].gender: changed in 7, added in 2 events" in report
    assert report == snapshot


def test_json_format(tmp_path):
    proc = mapspec("diff", "segment-braze", str(edited(tmp_path)), "--events", str(CORPUS), "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["equivalent"] is False and doc["behaviour"]["events"] == 71
    gender = doc["behaviour"]["fields"]["/users/track attributes[].gender"]
    assert gender["changed"]["events"] == 7 and gender["added"]["events"] == 2  # raw "F" stays "F"
    assert gender["added"]["examples"][0] == {"line": 16, "messageId": "identify-gender-nonbinary",
                                              "label": "identify", "old": None, "new": "nonbinary",
                                              "old_present": False, "new_present": True}
    assert gender["changed"]["more"] == 7 - 3 and gender["added"]["more"] == 0
    assert {c["what"] for c in doc["structure"]} >= {"rule `identify`: /users/track attributes[0].gender"}


def test_equivalent_mappings_exit_0(tmp_path):
    # a refactor: the same behaviour written differently
    text = BRAZE.replace('properties: properties without $reserved_properties else {}',
                         'properties: (properties without $reserved_properties) else {}')
    path = tmp_path / "refactor.yaml"
    path.write_text(text)
    proc = mapspec("diff", "segment-braze", str(path), "--events", str(CORPUS))
    assert proc.returncode == 0, proc.stdout.decode()
    assert "no difference" in proc.stdout.decode()
    assert mapspec("diff", "segment-braze", "segment-braze").returncode == 0


def test_settings_change_behaviour(tmp_path):
    settings = tmp_path / "s.json"
    settings.write_text('{"track_all_pages": true}')
    proc = mapspec("diff", "segment-braze", "segment-braze", "--events", str(CORPUS), "--new-settings", str(settings))
    assert proc.returncode == 1
    assert "newly sent: 6 events" in proc.stdout.decode()


@pytest.mark.parametrize("args", [["segment-braze", "nope"], ["segment-braze", "HEAD~99:nothing.yaml"],
                                  ["segment-braze", "segment-braze", "--settings", "missing.json"]])
def test_errors_exit_2(args, tmp_path):
    proc = mapspec("diff", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr.decode()


def test_git_revisions(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "m.yaml").write_text(BRAZE)
    git("add", "m.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    edited(tmp_path, "m.yaml")
    proc = mapspec("diff", "HEAD:m.yaml", "m.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert out.startswith("--- HEAD:m.yaml\n+++ m.yaml\n")
    assert "attributes[0].gender" in out


def test_a_revision_never_becomes_a_git_option(tmp_path):
    """`git show --output=FILE` writes FILE: a revision from the command line must never be read as an option."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    written = tmp_path / "written"
    for spec in (f"--output={written}:y", f"-o{written}:y", "--help:m.yaml"):
        proc = mapspec("diff", "--", spec, "segment-braze", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "is not a git revision" in proc.stderr.decode()
        assert not written.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git"]


def test_a_file_at_a_revision_that_is_not_utf8_is_an_error_at_its_position(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "m.yaml").write_bytes(BRAZE.encode().replace(b"name: segment-braze", b"name: caf\xe9", 1))
    git("add", "m.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    proc = mapspec("diff", "HEAD:m.yaml", "segment-braze", cwd=tmp_path)
    assert proc.returncode == 2
    assert "HEAD:m.yaml:10:10: error: the file is not UTF-8 text: byte 0xe9 (invalid continuation byte)" in proc.stderr.decode()


def test_a_changed_condition_of_a_for_item_is_a_change(tmp_path):
    """`if:` of a `for` item was left out by every printer of the tree: the diff said 'no change'."""
    changed = tmp_path / "changed.yaml"
    changed.write_text(BRAZE.replace("if: is_object($product)", "if: is_object($product) and exists($product.id)"))
    assert changed.read_text() != BRAZE
    proc = mapspec("diff", "segment-braze", str(changed))
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "purchases[] (if)" in out and "+ is_object($product) and exists($product.id)" in out


def test_examples_are_counted_and_named_by_message_id(tmp_path):
    proc = mapspec("diff", "segment-braze", str(edited(tmp_path)), "--events", str(CORPUS), "--examples", "1")
    out = proc.stdout.decode()
    gender = out[out.index("/users/track attributes[].gender"):]
    gender = gender[:gender.index("\n  /") if "\n  /" in gender else len(gender)]
    assert 'line 1, messageId "identify-basic", identify: "F" -> "female"' in gender
    assert "and 6 more changed" in gender and "and 1 more added" in gender
    none = mapspec("diff", "segment-braze", str(edited(tmp_path)), "--events", str(CORPUS), "--examples", "0")
    assert "line 1," not in none.stdout.decode() and "more" not in none.stdout.decode()
    bad = mapspec("diff", "segment-braze", "segment-braze", "--events", str(CORPUS), "--examples", "-1")
    assert bad.returncode == 2 and bad.stderr.decode().startswith("usage: mapspec diff")


def test_one_event_and_one_unreadable_line_are_said_in_the_singular(tmp_path):
    from tests.conftest import inproc

    events = tmp_path / "e.ndjson"
    events.write_text('not json\n{"type": "identify", "userId": "u1"}\n')
    out = inproc("diff", "segment-braze", "segment-braze", "--events", str(events)).stdout.decode()
    assert "behaviour on 1 event (" in out and "(1 line is not a JSON object and was left out)" in out, out
