"""Backtests on the ladder itself: holdout splits, held-out predictions, the summary's arithmetic,
failures reported per fit, progress on stderr and the command line."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.cli import main
from taskladder.fit.backtest import backtest, holdout_split, summarize_backtest
from taskladder.ladder import load_ladder
from taskladder.tasks import get_task

HELLASWAG = get_task("hellaswag")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return write_synthetic_ladder(tmp_path_factory.mktemp("bt"), noise=0.0)


@pytest.fixture(scope="module")
def ladder(spec):
    return load_ladder(spec)


def test_holdouts_leave_out_the_largest_size_or_the_largest_multiple(ladder):
    kept, held = holdout_split(ladder, "largest_size")
    assert sorted(r.name for r in held) == ["1200M-10xC", "1200M-1xC", "1200M-2xC", "1200M-5xC"]
    assert len(kept) == 12 and not any(name.startswith("1200M") for name in kept)
    kept, held = holdout_split(ladder, "largest_multiple")
    assert sorted(r.name for r in held) == ["1200M-10xC", "150M-10xC", "300M-10xC", "600M-10xC"]
    assert len(kept) == 12 and not any(name.endswith("10xC") for name in kept)


def test_compute_holdouts_keep_the_runs_below_a_half_or_a_twentieth_of_the_top_compute(ladder):
    # N D = 20 M N² here: the top is 1200M-10xC; a twentieth of it keeps M N² <= 7.2e17.
    _, held = holdout_split(ladder, "largest_compute")
    assert [r.name for r in held] == ["1200M-10xC"]
    kept, held = holdout_split(ladder, "far_compute")
    assert sorted(kept) == sorted(["150M-1xC", "150M-2xC", "150M-5xC", "150M-10xC", "300M-1xC", "300M-2xC",
                                   "300M-5xC", "600M-1xC", "600M-2xC"])
    assert sorted(r.name for r in held) == ["1200M-10xC", "1200M-1xC", "1200M-2xC", "1200M-5xC", "300M-10xC",
                                            "600M-10xC", "600M-5xC"]


def test_exact_ladder_backtests_to_almost_no_error_with_intervals(ladder):
    table = backtest(ladder, [HELLASWAG], variants=("two-step",), intervals=True, n_bootstrap=50)
    assert (table["status"] == "ok").all() and len(table) == 8  # 4 held-out runs × 2 holdouts
    # exact data: only the moving averages' bias separates prediction and actual
    assert table["abs_error"].max() < 0.003
    assert {"acc_lo", "acc_hi", "level"} <= set(table.columns) and (table["level"] == 0.9).all()


def test_summary_arithmetic_on_a_hand_made_table():
    table = pd.DataFrame({
        "holdout": ["largest_size"] * 4, "variant": ["two-step"] * 4, "method": ["default"] * 4,
        "task": ["piqa"] * 4, "abs_error": [0.01, 0.03, np.nan, 0.02],
        "acc_actual": [0.50, 0.60, 0.70, 0.80], "acc_lo": [0.45, 0.61, np.nan, 0.70], "acc_hi": [0.55, 0.70, np.nan, 0.85]})
    (row,) = summarize_backtest(table).to_dict("records")
    assert row["mae_points"] == pytest.approx(2.0)          # mean of 1, 3, 2 points; the missing one left out
    assert row["max_error_points"] == pytest.approx(3.0)
    assert row["n_runs"] == 4 and row["n_missing"] == 1
    assert row["coverage"] == pytest.approx(2 / 3)          # 0.50 and 0.80 inside, 0.60 below 0.61


def test_a_law_that_cannot_fit_is_reported_and_the_others_still_come_out(ladder):
    # the synthetic runs log no soft_log, which the TaskCE law needs
    table = backtest(ladder, [HELLASWAG], variants=("two-step", "two-step-taskce"), holdouts=("largest_size",))
    failed = table[table["variant"] == "two-step-taskce"]
    assert failed["status"].str.startswith("failed: ").all() and "no soft_log" in failed["status"].iloc[0]
    assert (table.loc[table["variant"] == "two-step", "status"] == "ok").all()


def test_progress_goes_to_stderr_with_or_without_tqdm(ladder, capsys, monkeypatch):
    backtest(ladder, [HELLASWAG], variants=("two-step",), holdouts=("largest_size",), progress=True)
    assert "backtest fits" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as on an install without tqdm
    backtest(ladder, [HELLASWAG], variants=("two-step",), holdouts=("largest_size",), progress=True)
    assert re.search(r"backtest fits: 1/1 \(\d+ s\)$", capsys.readouterr().err.rstrip())


def test_cli_prints_the_summary_and_writes_three_tables(spec, tmp_path, capsys):
    code = main(["backtest", str(spec), "--variants", "two-step", "--tasks", "hellaswag", "--bootstrap", "30",
                 "--format", "csv", "-o", str(tmp_path / "out")])
    assert code == 0
    summary = pd.read_csv(tmp_path / "out" / "backtest_summary.csv")
    assert list(summary["variant"]) == ["two-step"] and summary["mae_points"].iloc[0] < 0.3
    assert capsys.readouterr().out.startswith("variant,method,mae_points")
    for name in ("backtest_predictions.csv", "backtest_by_task.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_cli_unknown_variant_is_one_line_and_exit_2(spec, capsys):
    assert main(["backtest", str(spec), "--variants", "two-step,magic"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown variant(s) magic" in err and "two-step" in err


@pytest.mark.parametrize("args, fragment", [(("--level", "1.5"), "interval level must be between 0 and 1"),
                                            (("--bootstrap", "3"), "--bootstrap must be between 10 and 100,000 (bootstrap resamples), got 3")])
def test_cli_bad_interval_options_fail_once_not_in_every_fit(spec, capsys, args, fragment):
    assert main(["backtest", str(spec), "--variants", "two-step", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err


def test_cli_step2_alone_extrapolates_as_far_as_the_targets_need(spec, tmp_path, capsys):
    """`--holdouts '' --step2`: only the step-2 check; on a noiseless ladder whose accuracy is one
    sigmoid of the loss, the refit above the cut predicts the runs below it exactly."""
    code = main(["backtest", str(spec), "--holdouts", "", "--step2", "--tasks", "hellaswag", "--bootstrap", "30",
                 "-o", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("step 2 alone") and "hellaswag" in out
    held = pd.read_csv(tmp_path / "out" / "backtest_step2.csv")
    assert len(held) >= 2 and (held["status"] == "ok").all()
    assert (held["task_loss"] < held["cut"]).all() and held["error"].abs().max() < 1e-3
    by_task = pd.read_csv(tmp_path / "out" / "backtest_step2_by_task.csv")
    assert by_task["n_runs"].iloc[0] == len(held) and by_task["distance"].iloc[0] > 0
    assert not (tmp_path / "out" / "backtest_summary.csv").exists()


def test_cli_step2_distance_overrides_the_targets(spec, capsys):
    code = main(["backtest", str(spec), "--holdouts", "", "--step2-distance", "0.05", "--tasks", "hellaswag",
                 "--bootstrap", "30", "--format", "csv"])
    assert code == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table["distance"].iloc[0] == pytest.approx(0.05) and table["status"].iloc[0] == "ok"


@pytest.mark.parametrize("args, fragment", [(("--holdouts", ""), "nothing to backtest"),
                                            (("--holdouts", "", "--step2-distance", "-1"), "must be a positive task loss")])
def test_cli_step2_bad_options_are_one_line(spec, capsys, args, fragment):
    assert main(["backtest", str(spec), "--variants", "two-step", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err


def test_step2_check_without_targets_asks_for_a_distance(ladder):
    from taskladder.analysis.step2_extrapolation import step2_extrapolation_by_task
    from taskladder.errors import ConfigError
    from taskladder.ladder import Ladder

    no_targets = Ladder(ladder.spec, ladder.train_runs)
    with pytest.raises(ConfigError, match="list targets in the spec"):
        step2_extrapolation_by_task(no_targets, [HELLASWAG])
    table = step2_extrapolation_by_task(no_targets, [HELLASWAG], distance=0.05, n_bootstrap=30)
    assert (table["status"] == "ok").all()
