"""The command line in a subprocess: user errors are one line on stderr and exit status 2.

Each bad input is a small change to a good synthetic ladder; the good ladder itself must predict
and print the JSON contract. Every case is a real ``python -m taskladder.cli`` process; they are
started together (a process spends most of its second importing pandas and scipy), and each test
checks one of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.tasks import get_task

HELLASWAG = get_task("hellaswag")
BPB, ACC = HELLASWAG.columns("bpb")[0], HELLASWAG.columns("accuracy")[0]
CONTRACT_KEYS = {"target", "task", "n_params", "tokens", "task_loss_pred", "task_loss_actual", "acc_pred",
                 "acc_actual", "abs_error"}

HELP_CODE = """
import sys, contextlib, io
from taskladder import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    for argv in (["--help"], ["predict", "--help"]):
        try:
            cli.main(argv)
        except SystemExit as exc:
            assert exc.code == 0, exc.code
assert "COMMAND" in out.getvalue() and "taskladder predict specs/olmo-paper.toml" in out.getvalue()
print("torch" in sys.modules, "matplotlib" in sys.modules)
"""


# --- how to break a good ladder ------------------------------------------------------------------

def _edit_csv(spec: Path, run: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = spec.parent / "runs" / f"{run}.csv"
    edit(pd.read_csv(path)).to_csv(path, index=False)


def _set_cell(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


def _keep_train_runs(spec: Path, count: int) -> None:
    blocks = spec.read_text().split("[[run]]")
    spec.write_text("[[run]]".join(blocks[:1 + count] + blocks[-1:]))  # header, runs, target


def _write_spec(text: str) -> Callable[[Path], Path]:
    def prepare(case_dir: Path) -> Path:
        path = case_dir / "bad.toml"
        path.write_text(text)
        return path
    return prepare


@dataclass(frozen=True)
class Case:
    """One CLI call: ``prepare(case_dir)`` returns the spec to pass (after breaking a copy of the
    good ladder if ``broken`` is given); ``fragments`` must all appear in the one stderr line."""

    args: tuple[str, ...] = ("--tasks", "hellaswag")
    broken: Callable[[Path], None] | None = None
    prepare: Callable[[Path], Path] | None = None
    fragments: tuple[str, ...] = ()


ERROR_CASES: dict[str, Case] = {
    "missing spec file": Case(prepare=lambda d: d / "nope.toml", fragments=("nope.toml: spec file not found",)),
    "spec syntax error": Case(prepare=_write_spec('[[run]]\nfile = "a.csv\n'),
                              fragments=("bad.toml: TOML syntax error", "line 2")),
    "unknown size label": Case(prepare=_write_spec('[[run]]\nfile = "a.csv"\nsize = "42M"\n'),
                               fragments=("bad.toml", "unknown size '42M'")),
    "missing csv": Case(broken=lambda s: (s.parent / "runs" / "300M-2xC.csv").unlink(),
                        fragments=("300M-2xC.csv: file not found",)),
    "missing column": Case(broken=lambda s: _edit_csv(s, "600M-5xC", lambda f: f.drop(columns=[ACC])),
                           fragments=("600M-5xC.csv: no column", ACC, "task hellaswag")),
    "non-numeric value": Case(broken=lambda s: _edit_csv(s, "150M-1xC", _set_cell(BPB, 2, "n/a?")),
                              fragments=("150M-1xC.csv: column", BPB, "row 4 holds 'n/a?'")),
    "nan value": Case(broken=lambda s: _edit_csv(s, "1200M-10xC", _set_cell(ACC, 6, np.nan)),
                      fragments=("1200M-10xC.csv: column", ACC, "row 8 is empty or not a finite number")),
    "accuracy in percent": Case(broken=lambda s: _edit_csv(s, "600M-2xC", _set_cell(ACC, 3, 61.5)),
                                fragments=("600M-2xC.csv: column", ACC, "row 5 holds 61.5",
                                           "expected a fraction in [0, 1]", "in percent? divide by 100")),
    "zero loss": Case(broken=lambda s: _edit_csv(s, "300M-5xC", _set_cell(BPB, 7, 0.0)),
                      fragments=("300M-5xC.csv: column", BPB, "row 9 holds 0", "expected a positive loss")),
    "too few train runs for the law": Case(args=("--tasks", "hellaswag", "--variant", "two-step"),
                                           broken=lambda s: _keep_train_runs(s, 4),
                                           fragments=("--variant two-step cannot run on task hellaswag",
                                                      "4 train run(s), needs 5", "laws that would run on this data: "
                                                      "two-step-flops, direct-compute")),
    "unknown task": Case(args=("--tasks", "lambada"), fragments=("unknown task 'lambada'", "hellaswag")),
    "target without D": Case(args=("--tasks", "hellaswag", "--target", "7B:6887575552"),
                             fragments=("--target '7B:6887575552': expected NAME:N:D",)),
    "target with bad N": Case(args=("--tasks", "hellaswag", "--target", "x:lots:5T"),
                              fragments=("N must be a parameter count or a known size label",)),
    "target name taken": Case(args=("--tasks", "hellaswag", "--target", "target-7B:7B:4T"),
                              fragments=("'target-7B' is already used",)),
    "too few resamples": Case(args=("--tasks", "hellaswag", "--bootstrap", "3"),
                              fragments=("--bootstrap must be between 10 and 100,000", "got 3")),
    "a folder as run file": Case(broken=lambda s: (s.parent / "runs" / "300M-2xC.csv").unlink()
                                 or (s.parent / "runs" / "300M-2xC.csv").mkdir(),
                                 fragments=("300M-2xC.csv: is a folder, expected a run's CSV file",)),
    "output folder cannot be made": Case(args=("--tasks", "hellaswag", "-o", "/dev/null/out"),
                                         fragments=("/dev/null/out: Not a directory",)),
    "bad method": Case(args=("--method", "fast"), fragments=("invalid choice: 'fast'",)),
    "no task columns, no --tasks": Case(args=(), broken=lambda s: _edit_csv(s, "600M-5xC", lambda f: f.drop(columns=[ACC])),
                                        fragments=("600M-5xC.csv", "no task has its accuracy column", "nearest: hellaswag", ACC,
                                                   "taskladder tasks")),
    "bad moving average": Case(args=("--tasks", "hellaswag", "--moving-avg", "0"),
                               fragments=("--moving-avg must be at least 1", "got 0")),
}

GOOD_CASES: dict[str, tuple[str, ...]] = {
    "json": ("--tasks", "hellaswag", "--json"),
    "json without data": ("--tasks", "hellaswag", "--json", "--only-cli-targets", "--target", "big:13B:5T"),
    "text": ("--tasks", "hellaswag"),
    "json, default tasks": ("--json", "--no-intervals"),
}


def _command(spec: Path, args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "taskladder.cli", "predict", str(spec), *args]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every case's finished process, by case name (all started at once)."""
    root = tmp_path_factory.mktemp("cli")
    good = write_synthetic_ladder(root / "good", n_checkpoints=8, noise=0.002)
    commands: dict[str, list[str]] = {name: _command(good, args) for name, args in GOOD_CASES.items()}
    commands["help"] = [sys.executable, "-c", HELP_CODE]
    for i, (name, case) in enumerate(ERROR_CASES.items()):
        case_dir = root / f"case{i}"
        spec = good
        if case.broken is not None:
            shutil.copytree(good.parent, case_dir)
            spec = case_dir / good.name
            case.broken(spec)
        elif case.prepare is not None:
            case_dir.mkdir()
            spec = case.prepare(case_dir)
        commands[name] = _command(spec, case.args)
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # a stray warning would break "one line"

    def run(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(run, command) for name, command in commands.items()}
        return {name: future.result() for name, future in futures.items()}


# --- user errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_user_error_is_one_line_and_exit_2(results, name):
    proc = results[name]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert proc.stdout == "", proc.stdout
    assert lines[0].startswith("taskladder"), lines[0]
    for fragment in ERROR_CASES[name].fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- good runs -----------------------------------------------------------------------------------

def test_good_run_json_contract(results):
    proc = results["json"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    (row,) = json.loads(proc.stdout)["predictions"]
    assert CONTRACT_KEYS <= set(row)
    assert row["target"] == "target-7B" and row["task"] == "hellaswag" and row["n_params"] == 7_000_000_000
    for key in ("acc_pred", "acc_actual"):
        assert 0.0 <= row[key] <= 1.0
    assert row["abs_error"] == pytest.approx(abs(row["acc_pred"] - row["acc_actual"]), abs=1e-12)
    assert row["abs_error"] < 0.01
    # The default law is loss-to-loss (C4 law, transfer map, step 2): every fit converged.
    assert row["variant"] == "loss-to-loss"
    assert row["step1_status"] == "C4: converged; transfer: converged"
    assert row["step2_status"] == "converged"
    assert row["acc_lo"] <= row["acc_pred"] <= row["acc_hi"] and row["level"] == 0.9
    assert row["reliability"] in ("reliable", "noisy", "unreliable")


def test_without_tasks_the_paper_tasks_the_ladder_has_are_predicted(results):
    """The synthetic ladder has columns for hellaswag only, of the paper's eight: no --tasks needed."""
    proc = results["json, default tasks"]
    assert proc.returncode == 0, proc.stderr
    assert [row["task"] for row in json.loads(proc.stdout)["predictions"]] == ["hellaswag"]


def test_target_without_data_has_null_actuals(results):
    proc = results["json without data"]
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["predictions"]
    assert row["target"] == "big" and row["n_params"] == 13202396160 and row["tokens"] == 5e12
    assert row["acc_actual"] is None and row["task_loss_actual"] is None and row["abs_error"] is None
    assert 0.0 <= row["acc_pred"] <= 1.0


def test_text_output_reports_error(results):
    proc = results["text"]
    assert proc.returncode == 0, proc.stderr
    assert "target-7B" in proc.stdout and "mean absolute error" in proc.stdout


def test_help_does_not_import_torch_or_matplotlib(results):
    proc = results["help"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_default_prediction_with_intervals_never_imports_scipy_or_torch(olmo_data):
    """The default fits are pure numpy, so `predict` skips SciPy's 0.25 s import; paper mode needs it."""
    code = ("import sys\nfrom taskladder.analysis.paper import paper_spec\nfrom taskladder.ladder import load_ladder\n"
            "from taskladder.predict import predict_ladder\n"
            f"ladder = load_ladder(paper_spec({str(olmo_data)!r}))\n"
            "result = predict_ladder(ladder, tasks=['hellaswag', 'csqa'], intervals=True, n_bootstrap=20, reliability=True)\n"
            "assert result.predictions['acc_pred'].notna().all()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'torch', 'matplotlib'}))\n"
            "predict_ladder(ladder, tasks=['hellaswag'], mode='paper')\n"
            "print('scipy' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["[]", "True"]


@pytest.mark.parametrize("variant", ["loss-to-loss", "ensemble", "single-step", "direct", "direct-compute"])
def test_every_task_of_the_real_ladder_predicts_without_a_warning(olmo_data, variant):
    """Stray numpy warnings (a trial step off a form's domain) must not reach the terminal."""
    import warnings

    from taskladder.analysis.paper import paper_spec
    from taskladder.ladder import load_ladder
    from taskladder.predict import predict_ladder

    ladder = load_ladder(paper_spec(olmo_data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = predict_ladder(ladder, tasks="all", variant=variant, intervals=True, n_bootstrap=50,
                                reliability=True)
    assert len(result.predictions) == 2 * len(result.laws)
