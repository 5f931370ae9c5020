"""Prediction intervals are calibrated on synthetic ladders with known truth and realistic noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskladder.analysis.reliability import ReliabilityRules, assess_reliability, ladder_signal
from taskladder.fit.forms import power_law_nd
from taskladder.fit.lm import batched_lm
from taskladder.io.spec import LadderSpec, RunSpec
from taskladder.ladder import Ladder, RunData
from taskladder.predict import make_law, predict_ladder
from taskladder.tasks import C4_LOSS_COLUMN, get_task

TASK = get_task("hellaswag")
BPB, ACC = TASK.columns("bpb")[0], TASK.columns("accuracy")[0]
SIZES = (150e6, 300e6, 600e6, 1.2e9)
MULTIPLES = (1, 2, 5, 10)


def loss_truth(n, d):
    return 300 / n**0.3 + 400 / d**0.3 + 0.5


def acc_truth(loss):
    return -0.75 / (1 + np.exp(-4 * (loss - 1.3))) + 1.0


def _run(name, n, d_final, role, rng, *, n_ckpt=20, sd_run_loss=0.01, sd_ckpt_loss=0.003, sd_run_acc=0.01,
         sd_ckpt_acc=0.005, flat_acc=None):
    """One run: a run-level offset (seed) and checkpoint noise on both the loss and the accuracy."""
    tokens = np.linspace(d_final / n_ckpt, d_final, n_ckpt)
    loss = loss_truth(n, tokens) * (1 + rng.normal(0, sd_run_loss)) * (1 + rng.normal(0, sd_ckpt_loss, n_ckpt))
    base = acc_truth(loss) if flat_acc is None else np.full(n_ckpt, flat_acc)
    acc = base + rng.normal(0, sd_run_acc) + rng.normal(0, sd_ckpt_acc, n_ckpt)
    frame = pd.DataFrame({"_step": np.arange(1, n_ckpt + 1), "throughput/total_tokens": tokens, BPB: loss, ACC: acc})
    return RunData(RunSpec(name=name, role=role, file=Path(f"{name}.csv"), n_params=int(n)), frame, tokens)


def synthetic_ladder(seed: int, **noise) -> Ladder:
    rng = np.random.default_rng(seed)
    runs = [_run(f"{n:.0e}-{k}x", n, k * 20 * n, "train", rng, **noise) for n in SIZES for k in MULTIPLES]
    runs.append(_run("target", 7e9, 30 * 20 * 7e9, "target", rng, n_ckpt=5, **noise))
    return Ladder(LadderSpec(runs=tuple(r.spec for r in runs)), runs)


def test_nominal_intervals_cover_the_actual_at_their_rate():
    """Over 200 seeded ladders, 90 % intervals hold the target's actual 85–95 % of the time; so do the
    step-2 intervals at the target's measured loss (measured: 88.5 %). The law's form is exact here,
    so the bootstrap alone is calibrated; the extrapolation term's prior (which no ladder can rule
    out from a handful of nested backtests) widens the intervals a little: 94 % and 61 % measured."""
    hits90, hits50, step2 = [], [], []
    for seed in range(200):
        ladder = synthetic_ladder(seed)
        p = predict_ladder(ladder, tasks=[TASK], variant="two-step", intervals=True, n_bootstrap=200,
                           seed=seed).predictions.iloc[0]
        hits90.append(p["acc_lo_90"] <= p["acc_actual"] <= p["acc_hi_90"])
        hits50.append(p["acc_lo_50"] <= p["acc_actual"] <= p["acc_hi_50"])
        step2.append(p["acc_from_actual_loss_lo"] <= p["acc_actual"] <= p["acc_from_actual_loss_hi"])
    assert 0.85 <= np.mean(hits90) <= 0.95
    assert 0.40 <= np.mean(hits50) <= 0.65
    assert 0.85 <= np.mean(step2) <= 0.95


def c4_truth(n, d):
    return 200 / n**0.3 + 300 / d**0.3 + 1.8


def transfer_truth(c4):
    return 0.2 * c4**2 + 0.2


def _transfer_run(name, n, d_final, role, rng, *, n_ckpt=20):
    """A run whose task loss follows its C4 loss through a power map, each with its own noise."""
    tokens = np.linspace(d_final / n_ckpt, d_final, n_ckpt)
    c4 = c4_truth(n, tokens) * (1 + rng.normal(0, 0.005)) * (1 + rng.normal(0, 0.002, n_ckpt))
    bpb = transfer_truth(c4) * (1 + rng.normal(0, 0.01)) * (1 + rng.normal(0, 0.003, n_ckpt))
    acc = acc_truth(bpb) + rng.normal(0, 0.01) + rng.normal(0, 0.005, n_ckpt)
    frame = pd.DataFrame({"_step": np.arange(1, n_ckpt + 1), "throughput/total_tokens": tokens,
                          C4_LOSS_COLUMN: c4, BPB: bpb, ACC: acc})
    return RunData(RunSpec(name=name, role=role, file=Path(f"{name}.csv"), n_params=int(n)), frame, tokens)


def transfer_ladder(seed: int) -> Ladder:
    rng = np.random.default_rng(seed)
    runs = [_transfer_run(f"{n:.0e}-{k}x", n, k * 20 * n, "train", rng) for n in SIZES for k in MULTIPLES]
    runs.append(_transfer_run("target", 7e9, 30 * 20 * 7e9, "target", rng, n_ckpt=5))
    return Ladder(LadderSpec(runs=tuple(r.spec for r in runs)), runs)


def test_loss_to_loss_intervals_cover_the_actual_at_their_rate():
    """The default law's 90 % intervals, on 200 ladders whose task loss follows the C4 loss through a
    power map: 85–95 % hold the target's actual (the 50 % ones are conservative: 60–70 %)."""
    hits90, hits50, step2 = [], [], []
    for seed in range(200):
        p = predict_ladder(transfer_ladder(seed), tasks=[TASK], variant="loss-to-loss", intervals=True,
                           n_bootstrap=200, seed=seed).predictions.iloc[0]
        hits90.append(p["acc_lo_90"] <= p["acc_actual"] <= p["acc_hi_90"])
        hits50.append(p["acc_lo_50"] <= p["acc_actual"] <= p["acc_hi_50"])
        step2.append(p["acc_from_actual_loss_lo"] <= p["acc_actual"] <= p["acc_from_actual_loss_hi"])
    assert 0.85 <= np.mean(hits90) <= 0.95
    assert 0.50 <= np.mean(hits50) <= 0.70
    assert 0.85 <= np.mean(step2) <= 0.95  # measured: 93 %


def test_intervals_shrink_with_less_noise_and_contain_the_prediction():
    noisy = predict_ladder(synthetic_ladder(1), tasks=[TASK], variant="two-step", intervals=True,
                           n_bootstrap=200).predictions.iloc[0]
    quiet = predict_ladder(synthetic_ladder(1, sd_run_loss=0.001, sd_ckpt_loss=0.0005, sd_run_acc=0.001,
                                            sd_ckpt_acc=0.001), tasks=[TASK], variant="two-step", intervals=True,
                           n_bootstrap=200).predictions.iloc[0]
    for p in (noisy, quiet):
        assert p["acc_lo_90"] < p["acc_lo_50"] <= p["acc_pred"] <= p["acc_hi_50"] < p["acc_hi_90"]
        assert p["task_loss_lo"] <= p["task_loss_pred"] <= p["task_loss_hi"]
    assert quiet["acc_hi"] - quiet["acc_lo"] < 0.3 * (noisy["acc_hi"] - noisy["acc_lo"])


def direct_truth(n, d):
    return 0.9 - 30 / n**0.25 - 40 / d**0.25


def compute_truth(n, d):
    return np.exp(-(50 / (6 * n * d) ** 0.1 + 0.2))


def _accuracy_run(name, n, d_final, role, rng, truth, *, n_ckpt=20):
    """A run whose accuracy follows ``truth(N, D)`` plus a run offset (seed) and checkpoint noise."""
    tokens = np.linspace(d_final / n_ckpt, d_final, n_ckpt)
    acc = truth(n, tokens) + rng.normal(0, 0.01) + rng.normal(0, 0.005, n_ckpt)
    frame = pd.DataFrame({"_step": np.arange(1, n_ckpt + 1), "throughput/total_tokens": tokens,
                          BPB: np.ones(n_ckpt), ACC: acc})
    return RunData(RunSpec(name=name, role=role, file=Path(f"{name}.csv"), n_params=int(n), flops_per_token=6 * n),
                   frame, tokens)


def accuracy_ladder(seed: int, truth) -> Ladder:
    rng = np.random.default_rng(seed)
    runs = [_accuracy_run(f"{n:.0e}-{k}x", n, k * 20 * n, "train", rng, truth) for n in SIZES for k in MULTIPLES]
    # the target is one more run like the ladder's (its actual averages its last checkpoints the same way)
    runs.append(_accuracy_run("target", 7e9, 30 * 20 * 7e9, "target", rng, truth))
    return Ladder(LadderSpec(runs=tuple(r.spec for r in runs)), runs)


@pytest.mark.parametrize("variant, truth", [("direct", direct_truth), ("direct-compute", compute_truth)])
def test_laws_straight_to_accuracy_have_calibrated_intervals(variant, truth):
    """Laws without a task loss bootstrap their one point per run: on 200 ladders that follow the law,
    nominal 90 % intervals hold the actual 85–95 % of the time and 50 % ones 40–60 % (measured:
    93.5 % and 54 % for the direct law, 88.5 % and 51 % for the compute law; 400 ladders: 94.5 % and
    56 %, 90.5 % and 51.5 %)."""
    hits90, hits50 = [], []
    for seed in range(200):
        p = predict_ladder(accuracy_ladder(seed, truth), tasks=[TASK], variant=variant, intervals=True,
                           n_bootstrap=200, seed=seed).predictions.iloc[0]
        assert p["interval_method"].startswith("bootstrap over runs")
        assert p["acc_lo_90"] < p["acc_lo_50"] < p["acc_hi_50"] < p["acc_hi_90"]
        assert p["acc_lo_90"] <= p["acc_pred"] <= p["acc_hi_90"]
        hits90.append(p["acc_lo_90"] <= p["acc_actual"] <= p["acc_hi_90"])
        hits50.append(p["acc_lo_50"] <= p["acc_actual"] <= p["acc_hi_50"])
    assert 0.85 <= np.mean(hits90) <= 0.95
    assert 0.40 <= np.mean(hits50) <= 0.60


def test_batched_solver_matches_weighted_fit():
    """Weights of 0/2 on runs equal fitting the corresponding subset with duplicates."""
    rng = np.random.default_rng(0)
    n = np.repeat(SIZES, 4)
    d = np.array([k * 20 * s for s in SIZES for k in MULTIPLES])
    y = loss_truth(n, d) * (1 + rng.normal(0, 0.01, len(n)))
    X = np.column_stack([n, d])
    truth = np.array([np.log(300), np.log(400), 0.3, 0.3, 0.5])
    weights = np.ones((2, len(n)))
    weights[1, :4] = 0.0
    weights[1, 4:8] = 2.0
    lower = np.array([-np.inf, -np.inf, 0, 0, 0.0])
    upper = np.array([np.inf, np.inf, 5, 5, np.inf])
    solved = batched_lm(power_law_nd, X, y, np.tile(truth, (2, 1)), lower=lower, upper=upper, weights=weights,
                        residual="log", max_iter=200)
    assert solved.converged.all()
    P = solved.params
    from scipy.optimize import least_squares

    for b in range(2):
        sw = np.sqrt(weights[b])
        ref = least_squares(lambda p: sw * (np.log(power_law_nd(X, p)) - np.log(y)), truth,
                            bounds=(lower, upper), xtol=1e-14, ftol=1e-14, gtol=1e-14)
        cost = np.sum((sw * (np.log(power_law_nd(X, P[b])) - np.log(y))) ** 2)
        assert cost == pytest.approx(2 * ref.cost, rel=1e-5)


def test_reliability_verdicts():
    rules = ReliabilityRules()
    ladder = synthetic_ladder(3)
    law = make_law("two-step", TASK).fit(ladder)
    row = pd.Series({"acc_pred": 0.7, "acc_lo": 0.65, "acc_hi": 0.75})
    signal = ladder_signal(law, ladder, rules)
    assert signal["snr"] > rules.min_signal_to_noise
    assert assess_reliability(row, signal, 0.01, rules)[0] == "reliable"
    verdict, reason = assess_reliability(row, signal, 0.08, rules)
    assert verdict == "unreliable" and "backtest error 8.0" in reason
    gap = pd.Series({"acc_pred": 0.7, "acc_lo": 0.6, "acc_hi": 0.8, "member_gap": 0.06, "member_gap_z": 3.0})
    assert assess_reliability(gap, signal, 0.01, rules)[0] == "unreliable"
    flat = synthetic_ladder(3, flat_acc=0.26)
    flat_law = make_law("two-step", TASK).fit(flat)
    flat_signal = ladder_signal(flat_law, flat, rules)
    verdict, reason = assess_reliability(row, flat_signal, 0.01, rules)
    assert verdict == "unreliable" and "ladder at chance" in reason


def test_a_reliable_verdict_needs_a_90_percent_interval_within_5_points():
    # An interval that reaches more than 5 points from the prediction allows a miss above 5 points:
    # such a prediction is not called reliable, whichever side reaches out and at whatever level the
    # row's own interval was asked for (the 90 % one decides when the row has it).
    rules = ReliabilityRules()
    ladder = synthetic_ladder(3)
    law = make_law("two-step", TASK).fit(ladder)
    signal = ladder_signal(law, ladder, rules)
    within = pd.Series({"acc_pred": 0.70, "acc_lo": 0.655, "acc_hi": 0.745})
    assert assess_reliability(within, signal, 0.01, rules)[0] == "reliable"
    lopsided = pd.Series({"acc_pred": 0.70, "acc_lo": 0.69, "acc_hi": 0.76})
    verdict, reason = assess_reliability(lopsided, signal, 0.01, rules)
    assert verdict == "unreliable" and "interval reaches 6.0 pts from the prediction" in reason
    at_50 = pd.Series({"acc_pred": 0.70, "acc_lo": 0.68, "acc_hi": 0.72, "acc_lo_90": 0.62, "acc_hi_90": 0.74})
    assert "interval reaches 8.0 pts" in assess_reliability(at_50, signal, 0.01, rules)[1]


def test_predict_json_carries_interval_and_reliability(tmp_path):
    import json
    import subprocess
    import sys

    spec = Path(__file__).resolve().parents[1] / "specs" / "olmo-paper.toml"
    out = subprocess.run([sys.executable, "-m", "taskladder.cli", "predict", str(spec), "--json", "--tasks", "piqa",
                          "--bootstrap", "50"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)["predictions"]
    assert len(rows) == 2
    for row in rows:
        assert {"acc_lo", "acc_hi", "level", "reliability"} <= set(row)
        assert row["acc_lo"] <= row["acc_pred"] <= row["acc_hi"] and row["level"] == 0.9
        assert row["reliability"] in ("reliable", "noisy", "unreliable")


def test_every_tasks_bootstrap_refits_solved_together_are_each_its_own():
    """The bootstrap refits of several tasks' laws straight to accuracy, solved in one batch, are
    to the bit those each law's draws make alone (what is shared is the solver's overhead)."""
    from taskladder.fit.uncertainty import accuracy_law_draws, accuracy_law_refits
    from taskladder.tasks import declared_task

    ladder = accuracy_ladder(3, direct_truth)
    # a second task on the same runs, with accuracies of its own
    for run in ladder.runs.values():
        run.frame["other_acc"] = 0.8 * run.frame[ACC] + 0.05
    other = declared_task("other_task", accuracy="other_acc", chance=0.25)
    laws = [make_law("direct", task).fit(ladder) for task in (TASK, other)]
    together = accuracy_law_refits(laws, n_bootstrap=50, seed=7)
    targets = [r for r in ladder.runs.values() if r.role == "target"]
    for law, params in zip(laws, together):
        assert params is not None and params.shape == (51, len(law.fit_.params))
        alone = accuracy_law_draws(law, targets, n_bootstrap=50, seed=7)["acc"]
        shared = accuracy_law_draws(law, targets, n_bootstrap=50, seed=7, refit_params=params)["acc"]
        np.testing.assert_array_equal(alone, shared)


def test_a_law_straight_to_accuracy_without_a_number_gets_no_interval(monkeypatch):
    """A law fitted straight to accuracy whose fit did not converge predicts nothing: its rows keep
    every interval column, all missing, and say why, instead of drawing a thousand refits of it."""
    from taskladder.fit import uncertainty
    from taskladder.fit.laws import SingleStepLaw

    def refuse(*args, **kwargs):
        raise AssertionError("no draws for a law that gives no number")

    def one_step(self, X, y):  # a fit stopped after one iteration cannot have converged
        return {**least_squares(self, X, y), "max_iter": 1}

    least_squares = SingleStepLaw._least_squares
    monkeypatch.setattr(SingleStepLaw, "_least_squares", one_step)
    monkeypatch.setattr(uncertainty, "accuracy_law_draws", refuse)
    pred = predict_ladder(accuracy_ladder(0, direct_truth), tasks=[TASK], variant="single-step", intervals=True,
                          reliability=True, n_bootstrap=50).predictions
    row = pred.iloc[0]
    assert np.isnan(row["acc_pred"]) and "max iterations" in row["step1_status"]
    for column in ("acc_lo_90", "acc_hi_90", "acc_lo_50", "acc_hi_50", "acc_lo", "acc_hi", "acc_sd_params"):
        assert np.isnan(row[column])
    assert row["interval_method"].startswith("none: the law gives no number")
    assert row["reliability"] == "unreliable" and "no converged fit" in row["reliability_reason"]


def test_step1_residual_scale_is_read_near_the_targets_token_multiple():
    """Known answer: runs at 5 tokens per parameter sit ±8 % off the law, the rest ±1 %; a target's
    scale is the RMS of the k = max(4, n/4) runs nearest its multiple (ties included), times
    √(n/(n − p))."""
    from types import SimpleNamespace

    from taskladder.fit.uncertainty import _log_residual_sd_near

    multiples = np.array([5, 5, 10, 10, 20, 20, 40, 40], float)
    resid = np.array([0.08, -0.08, 0.01, -0.01, 0.01, -0.01, 0.01, -0.01])
    fit = SimpleNamespace(params=np.zeros(2), form=SimpleNamespace(function=lambda X, params: np.exp(X[:, 0])))
    X = np.zeros((8, 1))
    y = np.exp(-resid)  # log f − log y = resid
    sd = _log_residual_sd_near(fit, X, y, multiples, np.array([5.0, 20.0, 1000.0, np.nan]))
    # 5: the four nearest are both 5s and both 10s; 20: both 20s and, tied, all four of 10 and 40;
    # an unknown multiple: every run.
    np.testing.assert_allclose(sd, [np.sqrt(8 / 6 * (2 * 0.08**2 + 2 * 0.01**2) / 4), np.sqrt(8 / 6 * 0.01**2),
                                    np.sqrt(8 / 6 * 0.01**2), np.sqrt(8 / 6 * (2 * 0.08**2 + 6 * 0.01**2) / 8)])


def _short_run_ladder(seed: int) -> Ladder:
    """A ladder whose runs at a quarter of 20 N tokens scatter 6 % around the loss law (the rest
    0.3 %), and two targets one rung beyond its largest size: one trained as briefly, one at
    10 × 20 N (each evaluated like the ladder's runs)."""
    rng = np.random.default_rng(seed)

    def run(name, n, multiple, role):
        return _run(name, n, multiple * 20 * n, role, rng, sd_run_loss=0.06 if multiple == 0.25 else 0.003)

    runs = [run(f"{n:.0e}-{k}x", n, k, "train") for n in SIZES for k in (0.25, *MULTIPLES)]
    runs += [run("short", 2.4e9, 0.25, "target"), run("long", 2.4e9, 10, "target")]
    return Ladder(LadderSpec(runs=tuple(r.spec for r in runs)), runs)


def test_a_target_trained_as_briefly_as_the_runs_that_scatter_most_gets_their_scatter():
    """On ladders whose shortest runs scatter 20 times more around the loss law than the rest, a
    target trained as briefly gets a wider task-loss interval than one trained long (one residual
    scale for all gave both about the same: median ratio 1.07), and the long one's stays calibrated."""
    short_hits, long_hits, ratios = [], [], []
    for seed in range(40):
        p = predict_ladder(_short_run_ladder(seed), tasks=[TASK], variant="two-step", intervals=True,
                           n_bootstrap=200, seed=seed, interval_terms=False).predictions.set_index("target")
        half = np.log(p["task_loss_hi"] / p["task_loss_lo"]) / 2
        ratios.append(half["short"] / half["long"])
        inside = (p["task_loss_lo"] <= p["task_loss_actual"]) & (p["task_loss_actual"] <= p["task_loss_hi"])
        short_hits.append(inside["short"])
        long_hits.append(inside["long"])
    assert np.median(ratios) > 1.3  # measured: 1.59
    assert np.mean(short_hits) >= 0.7  # measured: 78 % (one scale for all: 70 %)
    assert np.mean(long_hits) >= 0.9
