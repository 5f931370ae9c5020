"""The fitting core on synthetic ladders with known truth (see ``tests/synthetic.py``).

Truth: ``L = 300/N^0.3 + 400/D^0.3 + 0.5`` along every run's tokens and
``Acc = −0.75 σ(4 (L − 1.3)) + 1``; 4 sizes (1.5e8–1.2e9) × 4 multiples (1, 2, 5, 10 × 20 N), 20
checkpoints each, and a 7e9-parameter target at 4.2e12 tokens.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from synthetic import SIGMOID, STEP1, TARGET, sigmoid_acc, step1_loss, write_synthetic_ladder
from taskladder.errors import ConfigError, DataError, NotFittedError
from taskladder.fit.forms import sigmoid
from taskladder.fit.laws import DirectLaw, SingleStepLaw, TwoStepLaw
from taskladder.fit.optimize import fit_least_squares
from taskladder.fit.selection import Selection, step1_points, step2_points, trailing_mean
from taskladder.ladder import load_ladder
from taskladder.predict import predict_ladder
from taskladder.tasks import get_task

HELLASWAG = get_task("hellaswag")
TRUE_STEP1 = np.array([math.log(STEP1["A"]), math.log(STEP1["B"]), STEP1["alpha"], STEP1["beta"], STEP1["E"]])
TRUE_SIGMOID = np.array([SIGMOID["a"], SIGMOID["x0"], SIGMOID["k"], SIGMOID["b"]])


@pytest.fixture(scope="module")
def exact_ladder(tmp_path_factory):
    return load_ladder(write_synthetic_ladder(tmp_path_factory.mktemp("exact"), flops_per_token=True))


def _true_target_accuracy(tokens: float) -> float:
    return float(sigmoid_acc(step1_loss(TARGET["n_params"], tokens)))


# --- recovery of known parameters ----------------------------------------------------------------

def test_default_mode_recovers_exact_parameters(exact_ladder):
    # With one checkpoint per step-1 point and no smoothing, the data lie exactly on both curves:
    # the fits must return the truth to optimizer precision.
    law = TwoStepLaw(task=HELLASWAG, selection=Selection(moving_avg=1)).fit(exact_ladder)
    assert law.step1_.converged and law.step1_.status == "converged"
    assert law.step2_.converged and law.step2_.status == "converged"
    np.testing.assert_allclose(law.step1_.params, TRUE_STEP1, rtol=1e-6)
    np.testing.assert_allclose(law.step2_.params, TRUE_SIGMOID, rtol=1e-6)
    assert law.step2_.params[3] == 1.0  # fixed, not fitted
    assert law.step2_.extra["fixed"] == {"b": 1.0}

    row = law.predict(exact_ladder.targets).iloc[0]
    truth_loss = float(step1_loss(TARGET["n_params"], row["tokens"]))
    assert row["task_loss_pred"] == pytest.approx(truth_loss, rel=1e-6)
    assert row["acc_pred"] == pytest.approx(_true_target_accuracy(row["tokens"]), rel=1e-6)
    # The target file lies on the truth too, so the "actual" agrees with the prediction.
    assert row["abs_error"] < 1e-6


def test_default_selection_only_rescales_b(exact_ladder):
    # Step 1 averages the last 5 of 20 evenly spaced checkpoints, at tokens c·D with
    # c = 16/20 … 20/20 in every run; the mean of B/(cD)^β is B·mean(c^−β)/D^β, so α, β, E are
    # unchanged and b = ln B + ln mean(c^−β) (up to rounding of steps).
    law = TwoStepLaw(task=HELLASWAG).fit(exact_ladder)
    assert law.step1_.converged and law.step2_.converged
    fitted = law.step1_.named_params
    for name, truth in (("alpha", STEP1["alpha"]), ("beta", STEP1["beta"]), ("E", STEP1["E"])):
        assert fitted[name] == pytest.approx(truth, rel=2e-4), name
    c = np.arange(16, 21) / 20
    expected_b = math.log(STEP1["B"]) + math.log(np.mean(c ** -STEP1["beta"]))
    assert fitted["b"] == pytest.approx(expected_b, abs=1e-3)
    assert fitted["a"] == pytest.approx(math.log(STEP1["A"]), abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_mode_recovers_parameters_under_noise(tmp_path, seed):
    # 0.2 % log-normal noise on every checkpoint's loss and ±0.1 point on accuracy. The
    # tolerances are the largest errors over 30 seeds with some headroom: 16 step-1 points pin
    # the exponents to about ±0.02 and E to about ±0.05; thousands of step-2 points pin the
    # sigmoid much more tightly (k is biased low by noise in L, errors-in-variables).
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.002, seed=seed))
    law = TwoStepLaw(task=HELLASWAG).fit(ladder)
    assert law.step1_.converged and law.step2_.converged
    p = law.step1_.named_params
    assert p["alpha"] == pytest.approx(STEP1["alpha"], abs=0.025)
    assert p["beta"] == pytest.approx(STEP1["beta"], abs=0.025)
    assert p["E"] == pytest.approx(STEP1["E"], abs=0.06)
    # The reported standard errors are honest for step 1 (one independent point per run).
    se = np.sqrt(np.diag(law.step1_.covariance))
    assert np.all(np.abs(law.step1_.params[2:] - TRUE_STEP1[2:]) < 4 * se[2:])

    q = law.step2_.named_params
    assert q["a"] == pytest.approx(SIGMOID["a"], abs=0.002)
    assert q["x0"] == pytest.approx(SIGMOID["x0"], abs=0.002)
    assert q["k"] == pytest.approx(SIGMOID["k"], abs=0.03)

    row = law.predict(ladder.targets).iloc[0]
    assert row["acc_pred"] == pytest.approx(_true_target_accuracy(row["tokens"]), abs=0.006)
    assert row["task_loss_pred"] == pytest.approx(step1_loss(TARGET["n_params"], row["tokens"]), rel=0.015)
    assert row["step1_status"] == "converged" and row["step2_status"] == "converged"


def test_every_default_fit_converges_across_tasks_and_features(tmp_path):
    # every task shares the synthetic sigmoid, whose floor (25 %) is chance only for four-choice tasks:
    # a two-choice task (PIQA, chance 50 %) cannot sit at 25 %, and step 2 keeps its floor near chance
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.002, seed=3, tasks=("hellaswag", "mmlu", "arc_easy")))
    for variant in ("two-step", "two-step-c4"):
        result = predict_ladder(ladder, tasks="hellaswag,mmlu,arc_easy", variant=variant)
        for law in result.laws.values():
            assert law.step1_.converged, (variant, law.task.name, law.step1_.status)
            assert law.step2_.converged, (variant, law.task.name, law.step2_.status)
        assert result.predictions["acc_pred"].notna().all()
        assert list(result.predictions["task"]) == ["hellaswag", "mmlu", "arc_easy"]
        assert (result.predictions["method"] == "default").all()
        assert (result.predictions["variant"] == variant).all()


def test_paper_mode_runs_and_flags_status(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.002, seed=0))
    law = TwoStepLaw(task=HELLASWAG, mode="paper").fit(ladder)
    assert law.step1_.optimizer == "huber-log L-BFGS-B"
    assert law.step2_.optimizer == "curve_fit TRF"
    # The ideal point (0, 1) pulls the upper asymptote onto its bound, and the status says so.
    assert law.step2_.at_bounds == ("b",)
    row = law.predict(ladder.targets).iloc[0]
    assert row["step1_status"].startswith(law.step1_.status)
    assert row["step2_status"] == f"{law.step2_.status}; at bound: b"
    assert law.step2_.n_points == len(law.step2_data_) + 1  # the ideal point
    assert np.isfinite(row["acc_pred"])
    assert row["acc_pred"] == pytest.approx(_true_target_accuracy(row["tokens"]), abs=0.01)
    assert law.step1_.named_params["alpha"] == pytest.approx(STEP1["alpha"], abs=0.025)


def test_paper_mode_keeps_unconverged_fits_default_mode_drops_them(exact_ladder):
    fitted = TwoStepLaw(task=HELLASWAG).fit(exact_ladder)
    failed = dataclasses.replace(fitted.step1_, converged=False, status="max iterations")
    for mode, expect_number in (("default", False), ("paper", True)):
        law = TwoStepLaw(task=HELLASWAG, mode=mode).fit(exact_ladder)
        law.step1_ = failed
        row = law.predict(exact_ladder.targets).iloc[0]
        assert np.isfinite(row["acc_pred"]) == expect_number, mode
        assert np.isfinite(row["task_loss_pred"]) == expect_number, mode
        assert row["step1_status"] == "max iterations"
        # Step 2 still maps the target's observed loss to accuracy.
        assert np.isfinite(row["acc_from_actual_loss"])


# --- data errors ---------------------------------------------------------------------------------

def test_too_few_train_runs_for_step1(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, sizes=(300_000_000,), multiples=(1, 2, 5, 10)))
    with pytest.raises(DataError, match=r"4 train run\(s\).*power_law_nd has 5 parameters"):
        TwoStepLaw(task=HELLASWAG).fit(ladder)
    with pytest.raises(DataError, match=r"4 train run\(s\)"):
        DirectLaw(task=HELLASWAG).fit(ladder)
    with pytest.raises(DataError, match=r"4 train run\(s\).*single_step has 7"):
        SingleStepLaw(task=HELLASWAG).fit(ladder)


def test_five_train_runs_are_enough(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, sizes=(300_000_000,), multiples=(1, 2, 3, 5, 10),
                                                n_checkpoints=8))
    law = TwoStepLaw(task=HELLASWAG).fit(ladder)
    assert law.step1_.n_points == 5


def test_compute_form_takes_6n_flops_per_token_when_none_is_given(tmp_path):
    # the synthetic spec gives runs by n_params only: FLOPs per token default to 6 N
    ladder = load_ladder(write_synthetic_ladder(tmp_path))
    assert all(r.spec.flops_source == "6N" and r.spec.flops_per_token == 6.0 * r.n_params for r in ladder.train_runs)
    law = TwoStepLaw(task=HELLASWAG, step1_form="flops").fit(ladder)
    run = ladder.train_runs[0]
    assert law.step1_points_["flops"][0] == pytest.approx(6.0 * run.n_params * run.final_tokens)


def test_bad_options():
    with pytest.raises(ConfigError, match="unknown method 'fast'"):
        TwoStepLaw(task=HELLASWAG, mode="fast")
    with pytest.raises(ConfigError, match="unknown intermediate feature 'ppl'"):
        TwoStepLaw(task=HELLASWAG, feature="ppl")
    with pytest.raises(ConfigError, match="moving_avg"):
        Selection(moving_avg=0)
    with pytest.raises(ConfigError, match="skip_fraction"):
        Selection(skip_fraction=1.5)


# --- other laws ----------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["single-step", "direct", "two-step-flops", "two-step-c4", "loss-to-loss",
                                     "direct-compute", "ensemble"])
def test_other_variants_give_finite_predictions(exact_ladder, variant):
    result = predict_ladder(exact_ladder, tasks=["hellaswag"], variant=variant)
    row = result.predictions.iloc[0]
    assert np.isfinite(row["acc_pred"]) and 0.0 <= row["acc_pred"] <= 1.0
    assert row["acc_actual"] == pytest.approx(_true_target_accuracy(row["tokens"]), abs=1e-4)
    if variant in ("two-step-c4", "ensemble", "loss-to-loss"):
        # The C4 column holds the same truth, so these are as exact as the bpb law.
        assert row["acc_pred"] == pytest.approx(row["acc_actual"], abs=0.002)


def test_loss_to_loss_recovers_the_identity_map(exact_ladder):
    """With C4 loss equal to the task loss, the transfer map is L_task = 1 · L_C4^1 + 0."""
    from taskladder.fit.laws import LossToLossLaw
    from taskladder.tasks import get_task

    law = LossToLossLaw(task=get_task("hellaswag")).fit(exact_ladder)
    a, alpha, e = law.transfer_.params
    assert law.transfer_.converged
    assert np.exp(a) == pytest.approx(1.0, abs=1e-3) and alpha == pytest.approx(-1.0, abs=1e-3)
    assert e == pytest.approx(0.0, abs=1e-3)


def test_flops_form_fits_compute(exact_ladder):
    law = TwoStepLaw(task=HELLASWAG, step1_form="flops").fit(exact_ladder)
    assert law.step1_.form.name == "power_law_c"
    data = law.step1_data_
    np.testing.assert_allclose(data["flops"], 6 * data["n_params"] * data["tokens"])
    assert law.step1_.converged
    with pytest.raises(DataError, match="FLOPs per token of the target"):
        law.predict_task_loss(TARGET["n_params"], TARGET["tokens"])


def test_laws_raise_not_fitted_before_fit():
    for law in (TwoStepLaw(task=HELLASWAG), SingleStepLaw(task=HELLASWAG), DirectLaw(task=HELLASWAG)):
        with pytest.raises(NotFittedError, match="not fitted"):
            law.predict([])
    with pytest.raises(NotFittedError):
        TwoStepLaw(task=HELLASWAG).predict_task_loss(1e9, 1e11)
    with pytest.raises(NotFittedError):
        TwoStepLaw(task=HELLASWAG).predict_accuracy(1.0)


def test_options_are_stored_as_given():
    selection = Selection(moving_avg=3)
    law = TwoStepLaw(task=HELLASWAG, feature="c4", mode="paper", selection=selection)
    assert (law.task, law.feature, law.mode, law.selection, law.step2_form) == (HELLASWAG, "c4", "paper",
                                                                                 selection, None)
    assert not hasattr(law, "step1_")


# --- fitting routine -----------------------------------------------------------------------------

def test_fit_least_squares_keeps_fixed_parameter():
    rng = np.random.default_rng(0)
    x = np.linspace(0.5, 2.0, 60).reshape(-1, 1)
    truth = np.array([-0.6, 1.2, 5.0, 0.9])  # upper asymptote 0.9, not 1
    y = sigmoid(x, truth) + 0.002 * rng.standard_normal(60)
    bounds = ([-1.0, 0.0, 0.0, 0.0], [0.0, np.inf, np.inf, 1.0])
    fixed = fit_least_squares(sigmoid, x, y, [np.array([-0.5, 1.0, 3.0, 0.5])], bounds, fixed={"b": 1.0})
    assert fixed.params[3] == 1.0
    assert fixed.extra["fixed"] == {"b": 1.0}
    assert "b" not in fixed.at_bounds
    assert np.all(fixed.covariance[3] == 0.0) and np.all(fixed.covariance[:, 3] == 0.0)
    assert np.all(np.diag(fixed.covariance)[:3] > 0)
    free = fit_least_squares(sigmoid, x, y, [np.array([-0.5, 1.0, 3.0, 0.5])], bounds)
    np.testing.assert_allclose(free.params, truth, rtol=0.02, atol=0.005)
    assert free.loss < fixed.loss  # fixing the wrong asymptote must cost something
    with pytest.raises(ValueError, match="unknown parameter"):
        fit_least_squares(sigmoid, x, y, [truth], bounds, fixed={"c": 1.0})


# --- data selection ------------------------------------------------------------------------------

def test_trailing_mean_by_hand():
    np.testing.assert_allclose(trailing_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(trailing_mean(np.array([1.0, 2.0, 3.0, 4.0]), 3), [1.0, 1.5, 2.0, 3.0])
    np.testing.assert_allclose(trailing_mean(np.array([3.0, 1.0]), 1), [3.0, 1.0])
    np.testing.assert_allclose(trailing_mean(np.array([3.0, 1.0]), 10), [3.0, 2.0])


def _hand_smoothed(values: np.ndarray, window: int) -> np.ndarray:
    return np.array([np.mean(values[max(0, i - window + 1): i + 1]) for i in range(len(values))])


def test_step2_points_skip_and_smooth_per_run(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.01, n_checkpoints=7))
    selection = Selection(moving_avg=2, skip_fraction=0.5)
    points = step2_points(ladder, HELLASWAG, "bpb", selection)
    assert len(points) == 16 * 3  # ceil(0.5 · 7) = 4 of 7 rows skipped in each run
    for run in ladder.train_runs:
        part = points[points["run"] == run.name]
        x = run.metric(HELLASWAG, "bpb")[4:]
        y = run.metric(HELLASWAG, "accuracy")[4:]
        # The smoothing restarts in each run: its first point is that run's own value.
        np.testing.assert_allclose(part["x"], _hand_smoothed(x, 2))
        np.testing.assert_allclose(part["y"], _hand_smoothed(y, 2))
        np.testing.assert_allclose(part["tokens"], run.tokens[4:])
        np.testing.assert_allclose(part["step"], run.steps[4:])
        assert (part["n_params"] == run.n_params).all()

    default = step2_points(ladder, HELLASWAG, "bpb", Selection())
    assert len(default) == 16 * 6  # ceil(0.1 · 7) = 1 row skipped
    last_two = step2_points(ladder, HELLASWAG, "bpb", Selection(last_n=2))
    assert len(last_two) == 16 * 2
    pd.testing.assert_frame_equal(last_two.reset_index(drop=True),
                                  default.groupby("run", sort=False).tail(2).reset_index(drop=True))
    only_last = step2_points(ladder, HELLASWAG, "bpb", Selection(skip_fraction=1.0))
    assert len(only_last) == 16


def test_step1_points_average_last_checkpoints(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.01, n_checkpoints=7, flops_per_token=True))
    points = step1_points(ladder, HELLASWAG, "bpb", Selection(moving_avg=3))
    assert len(points) == 16
    for run, (_, row) in zip(ladder.train_runs, points.iterrows()):
        assert row["run"] == run.name
        assert row["y"] == pytest.approx(np.mean(run.metric(HELLASWAG, "bpb")[-3:]))
        assert row["tokens"] == run.tokens[-1]
        assert row["flops"] == pytest.approx(6 * run.n_params * run.tokens[-1])
    separate = step1_points(ladder, HELLASWAG, "bpb", Selection(moving_avg=3, step1_moving_avg=1))
    np.testing.assert_allclose(separate["y"], [r.metric(HELLASWAG, "bpb")[-1] for r in ladder.train_runs])


def test_single_step_recovers_exact_parameters_and_its_data_starts_land_near_them(exact_ladder):
    """The single-step truth is in its family: Acc = s σ(k·(A/N^α + B/D^β + E − x0)) + q."""
    from taskladder.fit.forms import single_step
    from taskladder.fit.starts import single_step_starts

    truth = np.array([math.log(SIGMOID["k"] * STEP1["A"]), math.log(SIGMOID["k"] * STEP1["B"]), STEP1["alpha"],
                      STEP1["beta"], SIGMOID["k"] * (STEP1["E"] - SIGMOID["x0"]), SIGMOID["a"], SIGMOID["b"]])
    law = SingleStepLaw(task=HELLASWAG).fit(exact_ladder)
    assert law.fit_.converged
    # all but ln B exact; ln B absorbs the step-1 window's average, as in the two-step law
    np.testing.assert_allclose(np.delete(law.fit_.params, 1), np.delete(truth, 1), atol=2e-3)
    assert law.fit_.params[1] == pytest.approx(truth[1], abs=0.03)
    points = law.step1_points_
    X = np.column_stack([points["n_params"], points["tokens"]])
    starts = single_step_starts(points["n_params"], points["tokens"], points["y"], floor=HELLASWAG.chance)
    assert starts
    # read off the data, the best start is already within a few points of every accuracy
    worst = min(np.max(np.abs(single_step.function(X, start) - points["y"])) for start in starts)
    assert worst < 0.05


def test_a_converged_plateau_does_not_beat_a_much_better_unfinished_start():
    from taskladder.fit.optimize import best_start

    converged = np.array([True, False, True])
    # the unconverged start costs less than half the best converged one: the fit is unfinished
    assert best_start(np.array([1.0, 0.3, 2.0]), converged) == 1
    # about as good: the converged optimum stands
    assert best_start(np.array([1.0, 0.6, 2.0]), converged) == 0
    assert best_start(np.array([np.inf, 0.6, np.nan]), converged) == 1


def test_single_step_reports_an_unfinished_fit_instead_of_a_plateau():
    """On a noisy ladder whose single-step optimum runs off to β → 0, E → −∞ (seed 8 of the interval
    ladders), a saturated-sigmoid plateau used to be reported as converged (predicting 44 % where the
    truth is 87 %); now the fit says it did not converge and gives no number."""
    from test_intervals import TASK, synthetic_ladder

    row = predict_ladder(synthetic_ladder(8), tasks=[TASK], variant="single-step").predictions.iloc[0]
    assert row["step1_status"].startswith("max iterations")
    assert np.isnan(row["acc_pred"])


@pytest.mark.parametrize("robust", [False, True])
def test_shared_exponent_form_recovers_exact_parameters(exact_ladder, robust):
    # The synthetic truth has α = β = 0.3, so the one-exponent law L = A/N^α + B/D^α + E
    # (the default C4 law) must return it exactly, by least squares and by the Huber fit alike.
    from taskladder.fit.laws import fit_step1

    points = step1_points(exact_ladder, HELLASWAG, "bpb", Selection(moving_avg=1))
    fit = fit_step1(points, form="nd_shared", robust=robust)
    assert fit.converged and fit.form.name == "power_law_nd_shared"
    truth = [math.log(STEP1["A"]), math.log(STEP1["B"]), STEP1["alpha"], STEP1["E"]]
    np.testing.assert_allclose(fit.params, truth, rtol=1e-5)
    assert "/ D^0.3000" in fit.form.describe(fit.params)


def test_the_c4_law_keeps_two_exponents_and_is_robust_in_default_mode(tmp_path):
    # Far out (benchmarks/step1_fits.py) the shared exponent extrapolated worse: the default C4
    # law is the two-exponent Huber fit, the paper's its early-stopped one.
    from taskladder.fit.laws import _fit_step1_of

    ladder = load_ladder(write_synthetic_ladder(tmp_path, flops_per_token=True))
    if not ladder.has_metric(None, "c4"):
        pytest.skip("the synthetic ladder has no C4 loss")
    _, default = _fit_step1_of(ladder, HELLASWAG, "c4", Selection(), "nd", "default")
    _, paper = _fit_step1_of(ladder, HELLASWAG, "c4", Selection(), "nd", "paper")
    assert default.form.name == "power_law_nd" and paper.form.name == "power_law_nd"
    assert default.optimizer.startswith("Huber (iteratively reweighted")


def _step2_points(loss: np.ndarray, acc: np.ndarray):
    """One point per run, as a ladder evaluated once per run gives step 2."""
    from taskladder.fit.selection import Points

    return Points(runs=tuple(f"r{i}" for i in range(len(loss))), codes=np.arange(len(loss)),
                  columns={"x": np.asarray(loss, float), "y": np.asarray(acc, float)})


def test_step2_is_flat_where_accuracy_does_not_rise_as_the_loss_falls():
    """A ladder whose accuracy only scatters around one level gets that level, not a sigmoid that
    puts its knee just past the last run and predicts a rise the data never showed."""
    from taskladder.fit.laws import NO_TREND_RANK_CORRELATION, fit_step2

    rng = np.random.default_rng(0)
    loss = np.linspace(3.6, 2.7, 12)
    level = 0.49 + rng.normal(0, 0.006, len(loss))
    points = _step2_points(loss, level)
    assert points.rank_correlation() > NO_TREND_RANK_CORRELATION
    fit = fit_step2(points, task=get_task("socialiqa"))
    assert fit.form.name == "flat" and fit.converged
    assert "flat: accuracy does not rise steadily" in fit.status
    assert fit.predict(np.array([[2.0]]))[0] == pytest.approx(level.mean(), abs=1e-6)
    # the paper's method fits its sigmoid whatever the data show
    assert fit_step2(points, task=get_task("socialiqa"), mode="paper").form.name == "sigmoid"


def test_step2_stays_a_sigmoid_where_accuracy_rises_as_the_loss_falls():
    from taskladder.fit.laws import fit_step2

    rng = np.random.default_rng(1)
    loss = np.linspace(1.8, 1.0, 12)  # where the true curve rises
    acc = sigmoid_acc(loss) + rng.normal(0, 0.004, len(loss))
    points = _step2_points(loss, acc)
    assert points.rank_correlation() < -0.9
    fit = fit_step2(points, task=get_task("hellaswag"))
    assert fit.form.name == "sigmoid" and "flat" not in fit.status
    # fewer than four runs cannot show a trend either way: the sigmoid is fitted
    assert np.isnan(_step2_points(loss[:3], acc[:3]).rank_correlation())


def test_a_ladder_without_a_trend_predicts_its_level_with_an_interval_and_an_unreliable_verdict(tmp_path):
    """Through predict: the flat step 2's prediction is the runs' level, inside its interval, and
    the verdict says why it is not to be trusted."""

    rng = np.random.default_rng(3)
    sizes, multiples = (150e6, 300e6, 600e6, 1.2e9), (1, 2, 5)
    task = get_task("hellaswag")
    bpb, acc_col = task.columns("bpb")[0], task.columns("accuracy")[0]
    runs = []
    for n in sizes:
        for k in multiples:
            tokens = np.linspace(20 * k * n / 10, 20 * k * n, 10)
            frame = pd.DataFrame({"_step": np.arange(1, 11), "throughput/total_tokens": tokens,
                                  bpb: step1_loss(n, tokens) / 2.0,
                                  acc_col: 0.45 + rng.normal(0, 0.004) + rng.normal(0, 0.003, 10)})
            name = f"{n:.0e}-{k}x"
            frame.to_csv(tmp_path / f"{name}.csv", index=False)
            runs.append(f'[[run]]\nname = "{name}"\nfile = "{name}.csv"\nn_params = {int(n)}\n')
    spec = tmp_path / "ladder.toml"
    tokens = np.linspace(4e11, 4e12, 5)
    frame = pd.DataFrame({"_step": np.arange(1, 6), "throughput/total_tokens": tokens,
                          bpb: step1_loss(7e9, tokens) / 2.0, acc_col: 0.45 + rng.normal(0, 0.003, 5)})
    frame.to_csv(tmp_path / "target.csv", index=False)
    runs.append('[[run]]\nname = "target"\nfile = "target.csv"\nn_params = 7000000000\nrole = "target"\n')
    spec.write_text("\n".join(runs))
    result = predict_ladder(load_ladder(spec), tasks=[task], variant="two-step", intervals=True, reliability=True,
                            n_bootstrap=100)
    row = result.predictions.iloc[0]
    assert result.laws["hellaswag"].step2_.form.name == "flat"
    assert "flat" in row["step2_status"]
    assert abs(row["acc_pred"] - 0.45) < 0.01
    assert row["acc_lo_90"] <= row["acc_pred"] <= row["acc_hi_90"]
    assert row["reliability"] == "unreliable" and "does not rise steadily" in row["reliability_reason"]


def test_huber_fit_ignores_one_run_off_the_law_and_minimises_its_objective():
    # A noiseless (N, D) grid from a known law, one run's loss 8 % too high: least squares bends
    # towards that run; the Huber fit (nearly least absolute deviations in log space) returns the
    # truth, and no nearby point has a lower Huber objective.
    from scipy.optimize import minimize

    from taskladder.fit.forms import power_law_nd
    from taskladder.fit.laws import STEP1_BOUNDS, _grid_first
    from taskladder.fit.optimize import fit_huber_irls

    truth = np.array([math.log(400.0), math.log(900.0), 0.3, 0.28, 1.7])
    n, d = np.meshgrid([2e7, 6e7, 2e8, 6e8, 2e9], [1, 2, 5, 10])
    X = np.column_stack([n.ravel(), (20 * n * d).ravel()])
    y = power_law_nd.function(X, truth)
    y[7] *= 1.08
    start = _grid_first(power_law_nd, X, y, [truth * 0.9], STEP1_BOUNDS["power_law_nd"], residual="log")
    fit = fit_huber_irls(power_law_nd, X, y, start, STEP1_BOUNDS["power_law_nd"])
    assert fit.converged and fit.optimizer.startswith("Huber (iteratively reweighted")
    # The outlier still pulls with a constant force δ, balanced by tiny residuals elsewhere.
    huber_error = np.max(np.abs(fit.params - truth) / np.abs(truth))
    assert huber_error < 5e-3 and huber_error < np.max(np.abs(start.params - truth) / np.abs(truth)) / 5

    def objective(p):
        u = np.log(power_law_nd.function(X, p)) - np.log(y)
        return np.sum(np.where(np.abs(u) < 1e-3, 0.5 * u * u, 1e-3 * (np.abs(u) - 0.5e-3)))

    polished = minimize(objective, fit.params, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14})
    assert fit.loss <= polished.fun * (1 + 1e-6) + 1e-15
    assert fit.loss == pytest.approx(objective(fit.params))
