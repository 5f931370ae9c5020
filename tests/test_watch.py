"""Watching a running target: forecasts from the ladder and the target's own checkpoints.

Synthetic ladders with known truth (tests/synthetic.py: runs off the laws by a loss and an
accuracy offset each, targets with a mid-schedule learning rate and a final anneal that the
ladder's runs do not have) check that forecasts converge to the truth and that 90 % intervals
hold their level; fraction 0 must be ``predict``'s numbers; a log that ends early updates
``predict`` by itself; bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthetic import write_watch_ladder
from taskladder import cli
from taskladder.errors import ConfigError, DataError
from taskladder.io.spec import load_spec
from taskladder.ladder import load_ladder
from taskladder.predict import predict_ladder
from taskladder.schedules import Schedule
from taskladder.watch import check_fractions, watch

#: Watched targets at 2x and 4x the ladder's largest N (the OLMo 7B is 5.4x its ladder's 1.3B).
TARGETS = (2_400_000_000, 4_800_000_000)
FRACTIONS = (0.1, 0.25, 0.5, 0.75)


@pytest.fixture(scope="module")
def synthetic_forecasts(tmp_path_factory) -> pd.DataFrame:
    """Forecasts of 2 targets on each of 24 synthetic ladders (one task, 200 resamples), with the truth."""
    frames = []
    for seed in range(24):
        spec, truths = write_watch_ladder(tmp_path_factory.mktemp(f"watch{seed}"), seed=seed, targets=TARGETS)
        frame = watch(load_ladder(spec), (0.0, *FRACTIONS), n_bootstrap=200, seed=seed, levels=(0.9,)).forecasts
        truth = {t["target"]: t for t in truths}
        frame["acc_true"] = frame["target"].map(lambda name: truth[name]["acc"])
        frame["loss_true"] = frame["target"].map(lambda name: truth[name]["loss"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_synthetic_forecasts_converge_to_the_truth(synthetic_forecasts):
    f = synthetic_forecasts
    error = (f["acc_pred"] - f["acc_true"]).abs().groupby(f["fraction"]).mean()
    loss_error = np.log(f["task_loss_pred"] / f["loss_true"]).abs().groupby(f["fraction"]).mean()
    # the ladder alone misses by about 2 points here; the run's own checkpoints close in on the truth
    assert error[0.75] < error[0.25] < error[0.0]
    assert error[0.5] < 0.5 * error[0.0]
    assert error[0.75] < 0.005
    assert loss_error[0.75] < loss_error[0.1] < loss_error[0.0]
    assert loss_error[0.75] < 0.006
    # the forecast uses only the checkpoints seen by then
    seen = f[f["fraction"] > 0]
    assert (seen["tokens_seen"] <= seen["fraction"] * seen["planned_tokens"] * (1 + 1e-9)).all()
    assert (seen["n_checkpoints"] > 0).all() and seen["status"].str.startswith("updated with").all()


def test_synthetic_90_percent_intervals_hold_their_level(synthetic_forecasts):
    f = synthetic_forecasts[synthetic_forecasts["fraction"] > 0]
    inside = (f["acc_actual"] >= f["acc_lo"]) & (f["acc_actual"] <= f["acc_hi"])
    assert len(f) == 24 * len(TARGETS) * len(FRACTIONS)
    assert 0.85 <= inside.mean() <= 0.95, inside.groupby(f["fraction"]).mean()
    # and no fraction far off its level
    assert inside.groupby(f["fraction"]).mean().min() >= 0.75


def test_the_anneal_is_modelled_and_named(tmp_path):
    """A declared final anneal enters through the learning-rate term and the verdict names it; without the
    declaration the forecast misses the anneal's drop of the loss."""
    errors = {}
    for declare in (True, False):
        folder = tmp_path / str(declare)
        spec, truths = write_watch_ladder(folder, seed=3, targets=TARGETS, declare_schedule=declare)
        result = watch(load_ladder(spec), (0.5, 0.75), n_bootstrap=100, seed=3)
        f = result.forecasts
        truth = {t["target"]: t["loss"] for t in truths}
        errors[declare] = np.log(f["task_loss_pred"] / f["target"].map(truth)).to_numpy()
        if declare:
            assert f["reliability_reason"].str.contains("anneal").all()
            assert (f["lr_source"] == "logged; end declared").all()
        else:
            assert not f["reliability_reason"].str.contains("anneal").any()
            assert any("schedule's end is not declared" in note for note in result.notes)
    # the anneal lowers the final loss by 2 % (c = 0.2, LR from 10 % to 0 of the peak)
    assert np.mean(np.abs(errors[True])) < 0.5 * np.mean(np.abs(errors[False]))
    assert np.mean(errors[False]) > 0.01


def test_a_declared_schedule_stands_in_for_a_missing_lr_column(tmp_path):
    spec, truths = write_watch_ladder(tmp_path, seed=5, targets=TARGETS, target_lr_column=False)
    f = watch(load_ladder(spec), (0.25, 0.5), n_bootstrap=100, seed=5).forecasts
    assert (f["lr_source"] == "declared").all()
    truth = {t["target"]: t["loss"] for t in truths}
    assert np.abs(np.log(f["task_loss_pred"] / f["target"].map(truth))).max() < 0.02


def test_fraction_zero_is_predict(tmp_path):
    spec, _ = write_watch_ladder(tmp_path, seed=1, targets=TARGETS)
    ladder = load_ladder(spec)
    forecasts = watch(ladder, (0.0, 0.5), n_bootstrap=150, seed=7).forecasts
    predicted = predict_ladder(ladder, intervals=True, reliability=True, n_bootstrap=150, seed=7,
                               update=False).predictions
    zero = forecasts[forecasts["fraction"] == 0.0].set_index(["target", "task"])
    predicted = predicted.set_index(["target", "task"]).loc[zero.index]
    for column in ("task_loss_pred", "acc_pred", "acc_lo", "acc_hi", "acc_lo_50", "acc_hi_90", "reliability"):
        assert (zero[column] == predicted[column]).all(), column
    assert (zero["n_checkpoints"] == 0).all() and (zero["status"] == "the ladder alone").all()
    half = forecasts[forecasts["fraction"] == 0.5].set_index(["target", "task"])
    assert (half["ladder_acc_pred"] == predicted["acc_pred"]).all()


def _truncate(spec, target: str, fraction: float) -> None:
    """Cut a target's log at ``fraction`` of its planned tokens (a run still training)."""
    path = spec.parent / "runs" / f"{target}.csv"
    frame = pd.read_csv(path)
    planned = float(next(r.tokens for r in load_spec(spec).runs if r.name == target))
    frame[frame["throughput/total_tokens"] <= fraction * planned].to_csv(path, index=False)


def test_predict_updates_a_target_whose_log_ends_early(tmp_path):
    spec, _ = write_watch_ladder(tmp_path, seed=2, targets=TARGETS)
    before = predict_ladder(load_ladder(spec), intervals=True, reliability=True, n_bootstrap=100).predictions
    _truncate(spec, "target-1", 0.3)
    ladder = load_ladder(spec)
    result = predict_ladder(ladder, intervals=True, reliability=True, n_bootstrap=100)
    after = result.predictions.set_index("target")
    # the complete target is untouched; the running one is its watch forecast, and says so
    complete = before.set_index("target").loc["target-0"]
    for column in ("acc_pred", "acc_lo", "acc_hi", "acc_actual", "task_loss_pred"):
        assert after.loc["target-0", column] == complete[column], column
    live = after.loc["target-1"]
    watched = watch(ladder, (1.0,), targets=[ladder.runs["target-1"]], n_bootstrap=100).forecasts.iloc[0]
    assert live["acc_pred"] == watched["acc_pred"] and live["acc_hi"] == watched["acc_hi"]
    assert np.isnan(live["acc_actual"]) and np.isnan(live["abs_error"])
    seen = int(watched["n_checkpoints"])
    note = next(n for n in result.notes if n.startswith("target-1"))
    assert f"updated with {seen} checkpoints" in note and " of 1.92T tokens" in note
    assert "updated with" in live["step1_status"]


def test_fractions_are_checked():
    assert check_fractions([0.5, 0.1, 0.5]) == (0.1, 0.5)
    for bad in ([1.5], [-0.1], [float("nan")], []):
        with pytest.raises(ConfigError):
            check_fractions(bad)


def test_schedule_shapes_and_anneal():
    planned = 1000.0
    cosine = Schedule(warmup_tokens=100.0, final_lr_fraction=0.1)
    assert cosine.lr_fraction(np.array([0.0, 50.0, 100.0, 1000.0]), planned) == pytest.approx([0.0, 0.5, 1.0, 0.1])
    assert cosine.lr_fraction(np.array([550.0]), planned)[0] == pytest.approx(0.55)
    linear = Schedule(shape="linear", final_lr_fraction=0.0)
    assert linear.lr_fraction(np.array([250.0]), planned)[0] == pytest.approx(0.75)
    anneal = Schedule(shape="constant", anneal_tokens=200.0, anneal_lr_fraction=0.0)
    assert anneal.lr_fraction(np.array([700.0, 800.0, 900.0, 1000.0]), planned) == pytest.approx([1, 1, 0.5, 0])
    # a decay planned beyond the run's end (a 5T cosine stopped at 4T), then an anneal
    stopped = Schedule(decay_tokens=1250.0, anneal_tokens=100.0)
    level = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 900.0 / 1250.0))
    assert stopped.lr_fraction(np.array([900.0, 950.0]), planned) == pytest.approx([level, level / 2])
    with pytest.raises(ConfigError):
        Schedule(shape="step")
    with pytest.raises(ConfigError):
        Schedule(final_lr_fraction=1.5)


def test_spec_schedule_table_is_checked(tmp_path):
    spec, _ = write_watch_ladder(tmp_path, seed=0, targets=TARGETS[:1])
    text = spec.read_text()
    assert load_spec(spec).targets[0].schedule.has_anneal
    for bad, words in (('shape = "cosine", warmup = 5', "unknown key(s) 'warmup'"),
                       ('shape = "cosine", anneal_tokens = "2T"', "must be less than the run's tokens"),
                       ('shape = "triangle"', "schedule shape must be one of")):
        broken = tmp_path / "broken.toml"
        broken.write_text(text.replace(text[text.index("schedule = {"):text.index("}", text.index("schedule = {")) + 1],
                                       "schedule = { " + bad + " }"))
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
            load_spec(broken)


# --- the command line --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_spec(tmp_path_factory):
    spec, _ = write_watch_ladder(tmp_path_factory.mktemp("cli"), seed=4, targets=TARGETS[:1])
    return spec


def _run(argv, capsys) -> tuple[int, str, str]:
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_json_schema(cli_spec, capsys, tmp_path):
    status, out, err = _run(["watch", str(cli_spec), "--fractions", "0,0.5", "--bootstrap", "50", "--json",
                             "-o", str(tmp_path / "out")], capsys)
    assert status == 0, err
    forecasts = json.loads(out)["forecasts"]
    assert len(forecasts) == 2
    keys = {"target", "task", "fraction", "tokens_seen", "n_checkpoints", "task_loss_pred", "acc_pred", "acc_lo",
            "acc_hi", "acc_actual", "abs_error", "reliability", "reliability_reason", "status"}
    assert keys <= set(forecasts[0]), keys - set(forecasts[0])
    assert [f["fraction"] for f in forecasts] == [0.0, 0.5]
    assert forecasts[1]["n_checkpoints"] > 0 and forecasts[0]["n_checkpoints"] == 0
    folder = tmp_path / "out"
    assert (folder / "forecasts.csv").is_file() and (folder / "forecasts.json").is_file()
    assert (folder / "figures" / "watch_hellaswag.png").is_file()
    plotted = pd.read_csv(folder / "figures" / "watch_hellaswag.csv")
    assert list(plotted["fraction"]) == [0.0, 0.5] and plotted["acc_actual"].notna().all()
    assert json.loads((folder / "config.json").read_text())["fractions"] == [0.0, 0.5]


@pytest.mark.parametrize("args, words", [
    (["--fractions", "0.5,1.5"], "--fractions: fraction of the planned tokens must be in [0, 1]"),
    (["--fractions", "half"], "--fractions: 'half' is not a number"),
    (["--tasks", "no_such_task"], "no_such_task"),
    (["--target", "nobody"], "--target 'nobody': no such target"),
])
def test_cli_bad_input_is_one_line(cli_spec, capsys, args, words):
    status, out, err = _run(["watch", str(cli_spec), "--bootstrap", "20", *args], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("taskladder watch: error:") and words in err, err
    assert "Traceback" not in err and out == ""


def test_cli_target_without_history_is_one_line(cli_spec, capsys, tmp_path):
    text = cli_spec.read_text().replace('file = "runs/target-0.csv"\n', "")
    spec = cli_spec.parent / "no-history.toml"
    spec.write_text(text)
    status, out, err = _run(["watch", str(spec), "--bootstrap", "20"], capsys)
    assert status == 2 and err.count("\n") == 1, err
    assert "no target with a history file to watch" in err
    with pytest.raises(DataError, match="has no history file"):
        ladder = load_ladder(spec)
        watch(ladder, (0.5,), targets=ladder.targets)


def test_report_shows_running_targets(tmp_path):
    from taskladder.report.html import build_report

    spec, _ = write_watch_ladder(tmp_path, seed=6, targets=TARGETS)
    complete = build_report(spec, n_bootstrap=50, backtest=False)
    assert 'id="running"' not in complete
    _truncate(spec, "target-0", 0.4)
    running = build_report(spec, n_bootstrap=50, backtest=False)
    section = running[running.index('id="running"'):]
    assert "Running targets" in running and "forecast of HellaSwag against tokens seen" in section
    assert section.count("data:image/png") >= 1


@pytest.mark.shared_data
def test_olmo_largest_run_replayed(olmo_data):
    """specs/olmo-watch.toml replays the OLMo ladder's 1.3B-10xC with the runs finished before it: half-way
    through, the forecast is closer to the final accuracies than the ladder alone (a regression check on
    real data; docs/backtests.md has the four largest runs and the 1.3B size held out)."""
    from conftest import REPO_ROOT

    f = watch(load_ladder(REPO_ROOT / "specs" / "olmo-watch.toml"), (0.0, 0.5), n_bootstrap=200).forecasts
    assert len(f) == 16 and (f["target"] == "1.3B-10xC").all()
    by = f.groupby("fraction")
    assert by["abs_error"].mean()[0.5] < by["abs_error"].mean()[0.0]
    half = f[f["fraction"] == 0.5]
    assert ((half["acc_actual"] >= half["acc_lo"]) & (half["acc_actual"] <= half["acc_hi"])).sum() >= 6
    assert (half["n_checkpoints"] == 81).all() and half["lr_source"].eq("logged").all()


def test_a_law_without_task_loss_is_not_updated_and_says_so(cli_spec):
    f = watch(load_ladder(cli_spec), (0.0, 0.5), variant="direct", n_bootstrap=50).forecasts
    assert f["status"].iloc[1] == "not updated: the DirectLaw has no task loss and step 2 to update"
    assert f["acc_pred"].iloc[1] == f["acc_pred"].iloc[0] and f["acc_actual"].notna().all()
