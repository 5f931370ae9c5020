"""The command line in a subprocess: user errors are one line on stderr and exit status 2.

Each bad input is a small change to a good synthetic ladder; the good ladder itself must predict
and print the JSON contract.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.tasks import get_task

HELLASWAG = get_task("hellaswag")
CONTRACT_KEYS = {"target", "task", "n_params", "tokens", "task_loss_pred", "task_loss_actual", "acc_pred",
                 "acc_actual", "abs_error"}


def _taskladder(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # a stray warning would break "one line"
    return subprocess.run([sys.executable, "-m", "taskladder.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=env)


def _assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert proc.stdout == "", proc.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def good_ladder(tmp_path_factory) -> Path:
    """A good ladder (16 runs × 8 checkpoints and a target); tests copy it before breaking it."""
    return write_synthetic_ladder(tmp_path_factory.mktemp("good"), n_checkpoints=8, noise=0.002)


@pytest.fixture()
def ladder_copy(good_ladder, tmp_path) -> Path:
    shutil.copytree(good_ladder.parent, tmp_path / "ladder")
    return tmp_path / "ladder" / good_ladder.name


def _edit_csv(spec: Path, run: str, edit) -> Path:
    path = spec.parent / "runs" / f"{run}.csv"
    frame = pd.read_csv(path)
    edit(frame).to_csv(path, index=False)
    return path


# --- good runs -----------------------------------------------------------------------------------

def test_good_run_json_contract(good_ladder):
    proc = _taskladder("predict", good_ladder, "--tasks", "hellaswag", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    document = json.loads(proc.stdout)
    (row,) = document["predictions"]
    assert CONTRACT_KEYS <= set(row)
    assert row["target"] == "target-7B" and row["task"] == "hellaswag" and row["n_params"] == 7_000_000_000
    for key in ("acc_pred", "acc_actual"):
        assert 0.0 <= row[key] <= 1.0
    assert row["abs_error"] == pytest.approx(abs(row["acc_pred"] - row["acc_actual"]), abs=1e-12)
    assert row["abs_error"] < 0.01
    assert row["step1_status"] == "converged" and row["step2_status"] == "converged"


def test_target_without_data_has_null_actuals(good_ladder):
    proc = _taskladder("predict", good_ladder, "--tasks", "hellaswag", "--json", "--only-cli-targets",
                       "--target", "big:13B:5T")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["predictions"]
    assert row["target"] == "big" and row["n_params"] == 13202396160 and row["tokens"] == 5e12
    assert row["acc_actual"] is None and row["task_loss_actual"] is None and row["abs_error"] is None
    assert 0.0 <= row["acc_pred"] <= 1.0


def test_text_output_lists_error(good_ladder):
    proc = _taskladder("predict", good_ladder, "--tasks", "hellaswag")
    assert proc.returncode == 0, proc.stderr
    assert "target-7B" in proc.stdout and "mean absolute error" in proc.stdout


def test_help_does_not_import_torch_or_matplotlib():
    code = ("import sys, contextlib, io\n"
            "from taskladder import cli\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    for argv in (['--help'], ['predict', '--help']):\n"
            "        try:\n"
            "            cli.main(argv)\n"
            "        except SystemExit as exc:\n"
            "            assert exc.code == 0, exc.code\n"
            "assert 'COMMAND' in out.getvalue() and 'taskladder predict specs/olmo-paper.toml' in out.getvalue()\n"
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


# --- user errors ---------------------------------------------------------------------------------

def test_missing_spec_file(tmp_path):
    _assert_user_error(_taskladder("predict", tmp_path / "nope.toml"), "nope.toml: spec file not found")


def test_spec_syntax_error(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[[run]]\nfile = "a.csv\n')
    _assert_user_error(_taskladder("predict", spec), "bad.toml: TOML syntax error", "line 2")


def test_unknown_size_label(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[[run]]\nfile = "a.csv"\nsize = "42M"\n')
    _assert_user_error(_taskladder("predict", spec), "unknown size '42M'", "bad.toml")


def test_missing_csv(ladder_copy):
    (ladder_copy.parent / "runs" / "300M-2xC.csv").unlink()
    _assert_user_error(_taskladder("predict", ladder_copy, "--tasks", "hellaswag"), "300M-2xC.csv: file not found")


def test_missing_column(ladder_copy):
    column = HELLASWAG.columns("accuracy")[0]
    _edit_csv(ladder_copy, "600M-5xC", lambda f: f.drop(columns=[column]))
    _assert_user_error(_taskladder("predict", ladder_copy, "--tasks", "hellaswag"),
                       "600M-5xC.csv: no column", column, "task hellaswag")


def test_non_numeric_value(ladder_copy):
    column = HELLASWAG.columns("bpb")[0]

    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[2, column] = "n/a?"
        return frame

    _edit_csv(ladder_copy, "150M-1xC", edit)
    _assert_user_error(_taskladder("predict", ladder_copy, "--tasks", "hellaswag"),
                       "150M-1xC.csv: column", column, "row 4 holds 'n/a?'")


def test_nan_value(ladder_copy):
    column = HELLASWAG.columns("accuracy")[0]

    def edit(frame):
        frame.loc[6, column] = np.nan
        return frame

    _edit_csv(ladder_copy, "1200M-10xC", edit)
    _assert_user_error(_taskladder("predict", ladder_copy, "--tasks", "hellaswag"),
                       "1200M-10xC.csv: column", "row 8 is empty or not a finite number")


def test_too_few_checkpoints_for_moving_average(ladder_copy):
    _edit_csv(ladder_copy, "300M-1xC", lambda f: f.tail(2))
    _assert_user_error(_taskladder("predict", ladder_copy, "--tasks", "hellaswag"),
                       "run '300M-1xC' has 2 checkpoint(s)", "at least 5")


def test_too_few_train_runs(ladder_copy):
    text = ladder_copy.read_text()
    blocks = text.split("[[run]]")
    # Keep the header, 4 of the 16 train runs and the target.
    ladder_copy.write_text("[[run]]".join(blocks[:5] + blocks[-1:]))
    _assert_user_error(_taskladder("predict", ladder_copy, "--tasks", "hellaswag"),
                       "4 train run(s)", "5 parameters")


def test_unknown_task(good_ladder):
    _assert_user_error(_taskladder("predict", good_ladder, "--tasks", "lambada"),
                       "unknown task 'lambada'", "hellaswag")


@pytest.mark.parametrize("target, fragment", [
    ("7B:6887575552", "expected NAME:N:D"),
    ("x:lots:5T", "N must be a parameter count or a known size label"),
    ("x:13B:soon", "cannot read 'soon' as a count"),
    ("target-7B:7B:4T", "'target-7B' is already used"),
])
def test_bad_target(good_ladder, target, fragment):
    _assert_user_error(_taskladder("predict", good_ladder, "--tasks", "hellaswag", "--target", target), fragment)


def test_bad_option_values(good_ladder):
    _assert_user_error(_taskladder("predict", good_ladder, "--method", "fast"), "invalid choice: 'fast'")
    _assert_user_error(_taskladder("predict", good_ladder, "--tasks", "hellaswag", "--moving-avg", "0"),
                       "moving_avg must be at least 1")
