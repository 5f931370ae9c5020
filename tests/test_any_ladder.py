"""Any real ladder works with defaults: declared tasks, one evaluation per run, laws chosen by what
the data has, step 2 kept between chance and 1, and every failure a status or one clear error."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.cli import main
from taskladder.errors import ConfigError, DataError
from taskladder.fit.choice import choose_variant, law_gaps
from taskladder.io.spec import load_spec
from taskladder.io.tidy import read_tidy_csv, write_ladder
from taskladder.ladder import load_ladder
from taskladder.predict import VARIANTS, predict_ladder
from taskladder.tasks import get_task

HELLASWAG = get_task("hellaswag")
GADRE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mlfoundations-scaling" / "exp_data"


def _declare(spec: Path, text: str) -> Path:
    """Add ``[[task]]`` tables to a spec, after its top-level keys."""
    head, sep, runs = spec.read_text().partition("[[run]]")
    spec.write_text(head + text + "\n" + sep + runs)
    return spec


# -- declared tasks -------------------------------------------------------------------------------

def test_a_declared_task_on_the_builtin_columns_predicts_exactly_what_the_builtin_task_does(tmp_path):
    spec = write_synthetic_ladder(tmp_path, noise=0.002, seed=1)
    acc, bpb = HELLASWAG.columns("accuracy")[0], HELLASWAG.columns("bpb")[0]
    _declare(spec, f'[[task]]\nname = "mine"\naccuracy = "{acc}"\nloss = "{bpb}"\nloss_unit = "nats"\nchance = 0.25\n')
    ladder = load_ladder(spec)
    assert [t.name for t in ladder.default_tasks()] == ["hellaswag", "mine"]
    pred = predict_ladder(ladder, variant="two-step").predictions.set_index("task")
    assert pred.loc["mine", "acc_pred"] == pytest.approx(pred.loc["hellaswag", "acc_pred"], rel=1e-12)
    assert pred.loc["mine", "task_loss_pred"] == pytest.approx(pred.loc["hellaswag", "task_loss_pred"], rel=1e-12)
    assert pred.loc["mine", "loss_unit"] == "nats" and pred.loc["hellaswag", "loss_unit"] == "bpb"


def test_a_mean_of_tasks_averages_their_metrics(tmp_path):
    spec = write_synthetic_ladder(tmp_path, noise=0.01, seed=2, tasks=("hellaswag", "arc_easy"))
    _declare(spec, '[[task]]\nname = "avg2"\naverage_of = ["hellaswag", "arc_easy"]\n')
    ladder = load_ladder(spec)
    avg = ladder.resolve_tasks(["avg2"])[0]
    assert avg.chance == pytest.approx(0.25) and avg.has_metric("bpb")
    run = ladder.train_runs[0]
    for metric in ("accuracy", "bpb"):
        expected = (run.metric(HELLASWAG, metric) + run.metric(get_task("arc_easy"), metric)) / 2
        np.testing.assert_allclose(run.metric(avg, metric), expected)


@pytest.mark.parametrize("table, fragment", [
    ('name = "hellaswag"\naccuracy = "x"', "is built in"),
    ('name = "t"', "needs an accuracy column"),
    ('name = "t"\naccuracy = "x"\nloss_unit = "bits"', "loss_unit must be one of bpb, nats"),
    ('name = "t"\naccuracy = "x"\nchance = 25', "in percent? divide by 100"),
    ('name = "t"\naverage_of = ["t"]', "goes round in a circle"),
    ('name = "t"\naverage_of = ["nope"]', "unknown task 'nope'"),
    ('name = "t"\naccuracy = "x"\ncolour = "red"', "unknown key(s) 'colour'"),
])
def test_malformed_task_tables_are_one_clear_error(tmp_path, table, fragment):
    spec = _declare(write_synthetic_ladder(tmp_path), "[[task]]\n" + table + "\n")
    with pytest.raises(ConfigError, match=None) as info:
        load_spec(spec)
    assert fragment in str(info.value) and str(spec) in str(info.value)


def _tidy_rows(runs: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(runs):
        n, d = 1e8 * (1 + i % 3), 2e9 * (1 + i // 3)
        loss = 2.0 + 300 / n ** 0.3 + 300 / d ** 0.3
        rows += [{"run": f"r{i}", "N": int(n), "D": d, "step": 1000, "task": "qa", "metric": "accuracy",
                  "value": 0.9 - 0.1 * loss, "chance": 0.25, "unit": ""},
                 {"run": f"r{i}", "N": int(n), "D": d, "step": 1000, "task": "qa", "metric": "task_loss",
                  "value": loss, "chance": 0.25, "unit": "nats"},
                 {"run": f"r{i}", "N": int(n), "D": d, "step": 1000, "task": "gen", "metric": "accuracy",
                  "value": 0.02 * (5 - loss), "chance": "", "unit": ""}]
    return pd.DataFrame(rows)


def test_tidy_import_declares_the_tasks_it_does_not_know(tmp_path):
    path = tmp_path / "tidy.csv"
    _tidy_rows().to_csv(path, index=False)
    spec = load_spec(write_ladder(read_tidy_csv(path), tmp_path / "out"))
    tasks = spec.declared_tasks
    assert set(tasks) == {"qa", "gen"}
    assert (tasks["qa"].loss_unit, tasks["qa"].chance, tasks["qa"].has_metric("bpb")) == ("nats", 0.25, True)
    assert (tasks["gen"].chance, tasks["gen"].has_metric("bpb")) == (0.0, False)


@pytest.mark.parametrize("edit, fragment", [
    (lambda f: f.assign(unit=""), "is not a task-loss unit"),
    (lambda f: f.assign(chance=np.where(f["task"] == "qa", 25, f["chance"])), "in percent? divide by 100"),
    (lambda f: f.assign(metric=np.where(f["metric"] == "task_loss", "soft", f["metric"])), "is not a metric of task 'qa'"),
    (lambda f: f.assign(task=np.where(f["task"] == "gen", "bad\x01name", f["task"])), "control characters"),
])
def test_tidy_errors_for_declared_tasks_name_row_and_column(tmp_path, edit, fragment):
    path = tmp_path / "tidy.csv"
    edit(_tidy_rows()).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        read_tidy_csv(path)
    assert fragment in str(info.value) and str(path) in str(info.value) and "row " in str(info.value)


# -- one evaluation per run, and the law the data supports -----------------------------------------

@pytest.fixture(scope="module")
def one_eval_spec(tmp_path_factory):
    return write_synthetic_ladder(tmp_path_factory.mktemp("one"), noise=0.003, seed=4, n_checkpoints=1,
                                  target_checkpoints=1)


def test_a_one_evaluation_ladder_predicts_with_defaults_and_says_the_selection_shrank(one_eval_spec, capsys):
    assert main(["predict", str(one_eval_spec), "--json", "--bootstrap", "50"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)["predictions"]
    assert rows and all(np.isfinite(r["acc_pred"]) and r["acc_lo"] <= r["acc_pred"] <= r["acc_hi"] for r in rows)
    assert err.count("note: selection:") == 1 and "fewer than 5 checkpoints (fewest: 1)" in err
    # the synthetic ladder has task and C4 losses: the first law of the order runs, with no fallback note
    assert {r["variant"] for r in rows} == {"loss-to-loss"} and "note: law:" not in err


def test_a_one_evaluation_ladder_backtests_and_reports(one_eval_spec, tmp_path, capsys):
    assert main(["backtest", str(one_eval_spec), "--variants", "two-step", "--bootstrap", "20", "--no-progress"]) == 0
    assert "two-step" in capsys.readouterr().out
    report = tmp_path / "report.html"
    assert main(["report", str(one_eval_spec), "-o", str(report), "--bootstrap", "20"]) == 0
    assert report.stat().st_size > 10_000


def test_a_variant_the_data_cannot_run_names_the_column_and_the_laws_that_would(one_eval_spec, capsys):
    assert main(["predict", str(one_eval_spec), "--variant", "two-step-taskce", "--no-intervals"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--variant two-step-taskce cannot run on task hellaswag: no soft_log" in err
    assert "eval/downstream_soft_log/hellaswag_val_rc_5shot_soft_log" in err
    assert "laws that would run on this data: loss-to-loss, ensemble, two-step" in err


def test_the_default_order_falls_back_step_by_step(tmp_path):
    spec = write_synthetic_ladder(tmp_path, noise=0.002)
    ladder = load_ladder(spec)
    assert choose_variant(ladder, HELLASWAG) == ("loss-to-loss", []) and not law_gaps(ladder, HELLASWAG, "two-step")
    acc = HELLASWAG.columns("accuracy")[0]
    _declare(spec, f'[[task]]\nname = "acc_only"\naccuracy = "{acc}"\nchance = 0.25\n')
    ladder = load_ladder(spec)
    variant, skipped = choose_variant(ladder, ladder.resolve_tasks(["acc_only"])[0])
    # no task loss: the C4 law, after the two that need a task loss
    assert variant == "two-step-c4" and [v for v, _ in skipped] == ["loss-to-loss", "two-step"]
    assert all("task acc_only declares no task loss" == gap for _, gap in skipped)
    for path in (tmp_path / "runs").glob("*.csv"):  # and without a C4 loss: a law fitted to accuracy alone
        pd.read_csv(path).drop(columns=["eval/c4_en-validation/CrossEntropyLoss"]).to_csv(path, index=False)
    ladder = load_ladder(spec)
    variant, skipped = choose_variant(ladder, ladder.resolve_tasks(["acc_only"])[0])
    assert variant == "direct-compute" and [v for v, _ in skipped][:3] == ["loss-to-loss", "two-step", "two-step-c4"]


def test_flops_per_token_default_to_6n_with_a_note(tmp_path, capsys):
    spec = write_synthetic_ladder(tmp_path, noise=0.002)
    assert main(["predict", str(spec), "--variant", "direct-compute", "--no-intervals"]) == 0
    assert "note: FLOPs per token: 6 N for" in capsys.readouterr().err


# -- step 2 between chance and 1 -------------------------------------------------------------------

def test_a_ladder_at_chance_is_unreliable_and_its_interval_includes_chance(tmp_path):
    flat = {"a": -0.02, "x0": 1.3, "k": 4.0, "b": 0.27}  # accuracy within 2 points of chance (25 %)
    ladder = load_ladder(write_synthetic_ladder(tmp_path, sigmoid=flat, noise=0.004, seed=5))
    pred = predict_ladder(ladder, intervals=True, reliability=True, n_bootstrap=50).predictions
    assert (pred["reliability"] == "unreliable").all()
    assert pred["reliability_reason"].str.contains("ladder at chance").all()
    assert ((pred["acc_lo"] <= 0.25) & (pred["acc_hi"] >= 0.25)).all()


def test_no_interval_reaches_far_below_chance(tmp_path):
    """Far beyond a small ladder the interval terms are wide, yet no draw goes under half of
    chance: a model does not score near zero on a four-choice task."""
    from taskladder.fit.uncertainty import CHANCE_FLOOR_FRACTION

    flat = {"a": -0.02, "x0": 1.3, "k": 4.0, "b": 0.27}
    far = {"name": "far", "n_params": 70_000_000_000, "tokens": 1e14}
    ladder = load_ladder(write_synthetic_ladder(tmp_path, sigmoid=flat, noise=0.01, seed=5, target=far,
                                                sizes=(300_000_000, 600_000_000, 1_200_000_000), multiples=(1, 3, 10)))
    pred = predict_ladder(ladder, variant="two-step", intervals=True, n_bootstrap=100).predictions.iloc[0]
    floor = CHANCE_FLOOR_FRACTION * 0.25
    assert pred["acc_lo"] == pytest.approx(floor) and pred["acc_lo"] <= 0.25 <= pred["acc_hi"]
    assert pred["acc_from_actual_loss_lo"] >= floor - 1e-12


def test_step2_never_predicts_above_one_or_far_below_chance(tmp_path):
    steep = {"a": -0.5, "x0": 1.1, "k": 40.0, "b": 1.0}  # a curve that jumps at the ladder's edge
    ladder = load_ladder(write_synthetic_ladder(tmp_path, sigmoid=steep, tasks=("piqa",)))
    pred = predict_ladder(ladder, variant="two-step", intervals=True, reliability=True, n_bootstrap=50).predictions
    law = predict_ladder(ladder, variant="two-step").laws["piqa"]
    floor = law.step2_.named_params["a"] + law.step2_.named_params["b"]
    assert floor >= 0.5 - 0.05 - 1e-12
    assert ((pred["acc_pred"] <= 1.0) & (pred["acc_pred"] >= floor)).all()
    ceiling = pred["acc_pred"] > 0.995
    assert (pred.loc[ceiling, "reliability_reason"].str.contains("ceiling")).all()


# -- every law on degenerate ladders: a status or one clear error ---------------------------------

def _degenerate(tmp_path: Path, kind: str) -> Path:
    if kind == "two runs":
        return write_synthetic_ladder(tmp_path, sizes=(150_000_000,), multiples=(1, 2), n_checkpoints=3)
    spec = write_synthetic_ladder(tmp_path, n_checkpoints=3)
    for path in (tmp_path / "runs").glob("*.csv"):
        frame = pd.read_csv(path)
        acc, bpb = HELLASWAG.columns("accuracy")[0], HELLASWAG.columns("bpb")[0]
        if kind == "constant accuracy":
            frame[acc] = 0.4
        else:  # singular: every run has the same loss and accuracy (nothing varies with N or D)
            frame[acc], frame[bpb] = 0.4, 1.0
        frame.to_csv(path, index=False)
    return spec


@pytest.mark.parametrize("kind", ["two runs", "constant accuracy", "singular"])
def test_every_law_on_degenerate_ladders_ends_in_a_status_or_a_clear_error(tmp_path, kind):
    spec = _degenerate(tmp_path, kind)
    for method in ("default", "paper"):
        for variant in [None, *VARIANTS]:
            command = [sys.executable, "-m", "taskladder.cli", "predict", str(spec), "--json", "--method", method,
                       "--tasks", "hellaswag", "--bootstrap", "20"] + ([] if variant is None else ["--variant", variant])
            proc = subprocess.run(command, capture_output=True, text=True)
            where = (kind, method, variant, proc.stderr[-500:])
            assert "Traceback" not in proc.stderr, where
            assert proc.returncode in (0, 2), where
            if proc.returncode == 2:
                assert len([l for l in proc.stderr.splitlines() if "error:" in l]) == 1, where
                continue
            for row in json.loads(proc.stdout)["predictions"]:
                acc = row["acc_pred"]
                assert acc is None or 0.0 <= acc <= 1.0, where
                if acc is None:
                    assert row["step1_status"] or row["step2_status"], where


def test_a_backtest_in_which_no_fit_succeeded_exits_2_with_the_reason(tmp_path, capsys):
    spec = _degenerate(tmp_path, "two runs")
    assert main(["backtest", str(spec), "--variants", "two-step", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no backtest fit succeeded" in err


# -- the open_lm testbed (Gadre et al. 2024) ------------------------------------------------------

@pytest.mark.shared_data
def test_each_gadre_dataset_imports_and_predicts_every_target_and_task_with_defaults(tmp_path):
    from taskladder.io.open_lm import write_open_lm_ladder

    if not GADRE.is_dir():
        pytest.fail(f"the open_lm testbed is not at {GADRE} (CI lays ../shared beside the checkout)")
    tasks = "mmlu,hellaswag,arc_challenge,arc_easy,piqa,csqa,socialiqa,openbookqa,boolq,winogrande,avg17"
    for dataset in ("rpj", "c4_original", "rw_original"):
        spec = write_open_lm_ladder(GADRE, tmp_path / dataset, dataset=dataset, split="small")
        proc = subprocess.run([sys.executable, "-m", "taskladder.cli", "predict", str(spec), "--json", "--tasks", tasks,
                               "--bootstrap", "50"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(proc.stdout)["predictions"]
        assert len(rows) == 3 * 11
        for row in rows:
            assert row["acc_pred"] is not None and row["acc_lo"] <= row["acc_pred"] <= row["acc_hi"], (dataset, row)
            assert row["variant"] == "two-step-c4" and row["loss_unit"] == "C4 nats"
        assert "law: two-step-c4 for every task (11)" in proc.stderr


def test_tasks_lists_the_tasks_a_spec_declares_with_their_unit(tmp_path, capsys):
    spec = write_synthetic_ladder(tmp_path)
    _declare(spec, '[[task]]\nname = "mine"\naccuracy = "a"\nloss = "l"\nloss_unit = "nats"\nchance = 0.2\n')
    assert main(["tasks", "--spec", str(spec), "--format", "csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("task")
    assert rows.loc["mine", "loss_unit"] == "nats" and rows.loc["mine", "bpb_column"] == "l"
    assert rows.loc["mine", "chance"] == pytest.approx(0.2) and rows.loc["hellaswag", "loss_unit"] == "bpb"
