"""'taskladder download' fetches the ladder CSVs (here from a file:// mirror of the shared data)."""

from __future__ import annotations

import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "taskladder.cli", "download", *args], capture_output=True, text=True)


def test_download_from_a_mirror_then_paper_spec_loads(olmo_data, tmp_path):
    from taskladder.analysis.paper import paper_spec
    from taskladder.ladder import load_ladder

    proc = _run(str(tmp_path / "data"), "--base-url", (olmo_data / "ladder-runs").as_uri())
    assert proc.returncode == 0, proc.stderr
    copied = sorted(p.name for p in (tmp_path / "data" / "ladder-runs").glob("*.csv"))
    assert copied == sorted(p.name for p in (olmo_data / "ladder-runs").glob("*.csv"))
    assert not list((tmp_path / "data" / "ladder-runs").glob(".*.tmp"))
    assert len(load_ladder(paper_spec(tmp_path / "data")).train_runs) == 16
    again = _run(str(tmp_path / "data"), "--base-url", (olmo_data / "ladder-runs").as_uri())
    assert again.returncode == 0 and "already there" in again.stderr


def test_unreachable_source_is_one_line_and_exit_2(tmp_path):
    proc = _run(str(tmp_path / "data"), "--base-url", (tmp_path / "nowhere").as_uri())
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot download" in lines[0] and "Traceback" not in proc.stderr
