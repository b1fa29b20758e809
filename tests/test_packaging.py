"""The wheel carries grammar/ and mappings/: installed outside the checkout, `mapspec translate` works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_works_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    [wheel] = dist.glob("mapspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mapspec/_grammar/mapspec.lark" in names
    assert "mapspec/_grammar/mapspec.lark.json" in names  # the prebuilt parse tables
    assert "mapspec/_mappings/segment-braze.yaml" in names
    assert "mapspec/_mappings/examples/segment-events.ndjson" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run(
        [sys.executable, "-c", "import mapspec, sys; print(mapspec.__file__); "
         "from mapspec.cli import main; sys.argv[0] = 'mapspec'; sys.exit(main(['translate']))"],
        input='{"type":"identify","userId":"u1"}\n', capture_output=True, text=True, cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    where, out = proc.stdout.splitlines()
    assert where.startswith(str(target))
    assert json.loads(out)["requests"][0]["body"]["attributes"][0]["external_id"] == "u1"
    # a pip-installed user finds the bundled files, and starts from a copy
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "import sys; from mapspec.cli import main; "
                               "sys.argv[0] = 'mapspec'; sys.exit(main(sys.argv[1:]))", *args],
                              capture_output=True, text=True, cwd=elsewhere, env=env)

    listed = cli("mappings")
    assert listed.returncode == 0, listed.stderr
    path = Path(next(line for line in listed.stdout.splitlines() if line.startswith("segment-braze ")).split()[1])
    assert path.is_file() and str(path).startswith(str(target)), listed.stdout
    checked = cli("check", "segment-braze")
    assert checked.stderr.splitlines()[-1].startswith(f"{path}: ok"), checked.stderr
    copied = cli("mappings", "--copy", "segment-braze", "mine.yaml")
    assert copied.returncode == 0, copied.stderr
    tested = cli("test", "mine.yaml")
    assert tested.returncode == 0 and "mine.yaml: " in tested.stdout and " 0 failed" in tested.stdout, tested.stdout
