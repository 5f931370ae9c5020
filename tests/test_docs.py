"""The documentation cannot rot: every command it shows runs, and the outputs it shows are real.

* docs/user-guide.md: every ```bash block runs, in order, in one scratch folder laid out like the
  repository (``specs/``, ``tests/fixtures/``); a ```text block right after a ```bash block is
  that block's output, and each of its lines must appear in what the commands printed.
* docs/api-example.md: its ```python blocks run, in order, as one script in the same kind of folder.
* docs/cli.md equals ``python -m taskladder.report.cli_reference``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SHARED = REPO.parent / "shared" / "data" / "olmo-ladder"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text(encoding="utf-8"))]


def _workspace(tmp_path: Path) -> Path:
    """A folder laid out like the repository root: fixtures, and the paper spec pointing at ../shared."""
    ws = tmp_path / "repo"
    shutil.copytree(REPO / "tests" / "fixtures", ws / "tests" / "fixtures")
    (ws / "specs").mkdir(parents=True)
    spec = (REPO / "specs" / "olmo-paper.toml").read_text(encoding="utf-8")
    (ws / "specs" / "olmo-paper.toml").write_text(spec.replace("../../shared/data/olmo-ladder", str(SHARED)))
    return ws


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "OPENBLAS_NUM_THREADS": "1",
            "MPLBACKEND": "Agg"}


@pytest.mark.shared_data
def test_user_guide_commands_run_and_show_their_real_output(tmp_path, olmo_data):
    ws = _workspace(tmp_path)
    found = blocks(DOCS / "user-guide.md")
    commands = [i for i, (lang, _) in enumerate(found) if lang == "bash"]
    assert len(commands) >= 6
    for i in commands:
        script = found[i][1]
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=ws, env=_env(),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"docs/user-guide.md block {i}:\n{script}\n--- stderr:\n{proc.stderr[-2000:]}"
        if i + 1 < len(found) and found[i + 1][0] == "text":
            printed = {line.rstrip() for line in (proc.stdout + proc.stderr).splitlines()}
            shown = [line.rstrip() for line in found[i + 1][1].splitlines() if line.strip()]
            stale = [line for line in shown if line not in printed]
            assert not stale, (f"docs/user-guide.md block {i + 1} shows output the command no longer prints:\n"
                               + "\n".join(stale) + "\n--- it prints:\n" + proc.stdout + proc.stderr)
    assert (ws / "report.html").stat().st_size > 100_000


@pytest.mark.shared_data
def test_api_example_runs(tmp_path, olmo_data):
    ws = _workspace(tmp_path)
    code = "\n\n".join(text for lang, text in blocks(DOCS / "api-example.md") if lang == "python")
    assert "build_report" in code and "predict_ladder" in code
    proc = subprocess.run([sys.executable, "-c", code], cwd=ws, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (ws / "api-report.html").is_file()


def test_cli_reference_is_up_to_date():
    from taskladder.report.cli_reference import cli_reference

    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference(), ("docs/cli.md is out of date with the CLI; regenerate it with "
                                          "'python -m taskladder.report.cli_reference > docs/cli.md'")


def test_every_command_has_a_section_in_the_reference():
    from taskladder.cli import COMMANDS

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name, _, _ in COMMANDS:
        assert f"## `taskladder {name}`" in text


def test_links_between_docs_resolve():
    for name in ("user-guide.md", "api-example.md", "cli.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (DOCS / target).exists(), f"docs/{name} links to {target}, which does not exist"
