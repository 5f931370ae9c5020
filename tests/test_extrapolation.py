"""The interval terms a bootstrap cannot see: extrapolation error measured by nested backtests, and
the recipe shift of a target trained otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from synthetic import SIGMOID, STEP1, TARGET, sigmoid_acc, step1_loss, write_synthetic_ladder
from taskladder.errors import ConfigError
from taskladder.fit.extrapolation import (PRIOR_TAU, Extrapolation, box_of, calibrate_extrapolation, distance,
                                          estimate_tau, extrapolation_misses, usable_nested_holdouts)
from taskladder.io.spec import load_spec, parse_target
from taskladder.ladder import load_ladder
from taskladder.predict import fit_law, predict_ladder


def ladder_with(tmp_path, **options):
    return load_ladder(write_synthetic_ladder(tmp_path, noise=0.005, **options))


def test_distance_is_decades_beyond_the_ladder_along_its_worst_axis():
    # N up to 1e9, D up to 2e11, ND up to 1e9 * 2e10 = 2e19 ... from three runs.
    box = (1e9, 2e11, 2e20, 200.0, 20.0)
    assert distance([1e9], [2e10], box)[0] == 0.0                       # inside
    assert distance([1e10], [2e11], box)[0] == pytest.approx(1.0)       # 10x N (and 10x ND)
    assert distance([1e9], [2e12], box)[0] == pytest.approx(1.0)        # 10x D and 10x tokens per parameter
    assert distance([1e8], [2e11], box)[0] == pytest.approx(np.log10(2000 / 200))  # small model trained long
    assert distance([1e9], [2e9], box)[0] == pytest.approx(np.log10(20 / 2))       # fewer tokens per parameter


def test_box_of_the_fitted_runs(tmp_path):
    ladder = ladder_with(tmp_path)
    n_max, d_max, c_max, m_max, m_min = box_of(ladder.train_runs)
    assert n_max == max(r.n_params for r in ladder.train_runs)
    assert m_max / m_min == pytest.approx(10, rel=0.01)  # multiples 1 to 10


def test_the_error_per_decade_is_what_the_misses_hold_beyond_the_bootstrap():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.1, 1.2, 4000)
    s = rng.uniform(0.005, 0.02, 4000)
    exact = rng.normal(0.0, s)                       # the form holds: misses are the bootstrap's own
    drifting = rng.normal(0.0, np.hypot(s, 0.03 * d))  # and a form error of 0.03 per decade
    assert estimate_tau(exact, s, d) == 0.0
    assert estimate_tau(drifting, s, d) == pytest.approx(0.03, rel=0.1)
    assert np.isnan(estimate_tau([], [], []))
    # Few exact misses: the one-SD deduction keeps noise from passing for form error most of the time.
    zero = [estimate_tau(rng.normal(0, 0.01, 8), np.full(8, 0.01), np.full(8, 0.3)) == 0.0 for _ in range(400)]
    assert 0.75 <= np.mean(zero) <= 0.92


def test_nested_backtests_on_a_ladder(tmp_path):
    # Five sizes and multiples, so that folds holding out two rungs keep three.
    grid = dict(sizes=(75_000_000, 150_000_000, 300_000_000, 600_000_000, 1_200_000_000), multiples=(1, 2, 5, 10, 20))
    ladder = ladder_with(tmp_path, seed=3, **grid)
    law = fit_law("two-step", ladder.resolve_tasks(["hellaswag"])[0], ladder)
    misses = extrapolation_misses(law, ladder)
    assert set(misses["holdout"]) == {"largest_size", "largest_multiple", "two_largest_sizes", "two_largest_multiples",
                                      "largest_compute", "far_compute"}
    assert len(misses) >= 30 and misses["distance"].max() > 1.0 and misses["distance"].min() >= 0.05
    assert (misses["expected_sd"] > 0).all()
    model = calibrate_extrapolation(law, ladder)
    assert model.n_misses == len(misses) and model.quantity == "log_loss" and model.dof == len(misses)
    assert model.tau == model.tau_observed < 0.01  # the form is exact


def test_folds_that_leave_two_rungs_are_not_used(tmp_path):
    ladder = ladder_with(tmp_path, seed=3)  # four sizes, four multiples
    law = fit_law("two-step", ladder.resolve_tasks(["hellaswag"])[0], ladder)
    used = {"largest_size", "largest_multiple", "largest_compute", "far_compute"}
    assert set(extrapolation_misses(law, ladder)["holdout"]) == used
    assert set(usable_nested_holdouts(ladder)) == used  # the two-rung folds keep only two sizes


def test_a_ladder_too_small_to_check_itself_gets_the_prior_and_the_verdict_names_it(tmp_path):
    """Three sizes by three multiples: every fold leaves two rungs, so no nested backtest is used and
    the conservative prior sets the extrapolation term, which then sets the interval."""
    truth = {**STEP1, "drift": 0.05}
    ladder = ladder_with(tmp_path, seed=1, step1=truth, sizes=(300_000_000, 600_000_000, 1_200_000_000),
                         multiples=(1, 3, 10))
    pred = predict_ladder(ladder, variant="two-step", intervals=True, reliability=True,
                          n_bootstrap=200).predictions.iloc[0]
    alone = predict_ladder(ladder, variant="two-step", intervals=True, n_bootstrap=200,
                           interval_terms=False).predictions.iloc[0]
    loss = float(step1_loss(TARGET["n_params"], pred["tokens"], truth))
    assert pred["task_loss_lo"] <= loss <= pred["task_loss_hi"]
    assert pred["task_loss_hi"] - pred["task_loss_lo"] > 2 * (alone["task_loss_hi"] - alone["task_loss_lo"])
    assert pred["extrapolation_distance"] == pytest.approx(np.log10((7000 / 1200) ** 2 * 30 / 10), abs=0.01)  # along ND
    assert pred["interval_term"] == "extrapolation" and pred["acc_sd_extrapolation"] > 0
    assert "interval set mostly by extrapolation" in pred["reliability_reason"]
    assert f"extrapolation {PRIOR_TAU['log_loss']:.3g} log loss per decade (prior alone" in pred["interval_method"]
    assert pred["acc_pred"] == alone["acc_pred"]


def test_a_target_inside_the_ladder_gets_no_extrapolation_term(tmp_path):
    spec = load_spec(write_synthetic_ladder(tmp_path, noise=0.005, seed=2))
    inside = spec.with_targets([parse_target("inside:6e8:1.2e10")], replace=True)
    pred = predict_ladder(load_ladder(inside), variant="two-step", intervals=True, n_bootstrap=100).predictions
    assert pred["extrapolation_distance"].iloc[0] == 0.0
    assert pred["acc_sd_extrapolation"].iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_without_nested_backtests_the_prior_alone_sets_the_term(tmp_path):
    # One size: no holdout leaves a ladder the law can be fitted on.
    ladder = ladder_with(tmp_path, sizes=(300_000_000, 600_000_000, 1_200_000_000), multiples=(1, 5, 10), seed=4)
    law = fit_law("direct", ladder.resolve_tasks(["hellaswag"])[0], ladder)
    model = calibrate_extrapolation(law, ladder)
    if model.n_misses == 0:
        assert model.tau == pytest.approx(PRIOR_TAU["accuracy"])
        assert "prior alone" in model.describe()
    else:  # the folds that could be fitted rule, pulled toward the prior
        assert np.isfinite(model.tau_observed) and model.tau > 0


def test_few_misses_give_wider_tails():
    few = Extrapolation(quantity="log_loss", tau=0.02, n_misses=2, tau_observed=0.02, max_distance=0.3)
    many = Extrapolation(quantity="log_loss", tau=0.02, n_misses=40, tau_observed=0.02, max_distance=0.3)
    assert few.dof < many.dof
    from taskladder.fit.uncertainty import target_student_t

    class Target:  # draws are keyed by the target's name
        name = "t"

    draws = {m.dof: target_student_t(0, 6, "x", [Target()], 20000, 1.0, m.dof)[:, 0] for m in (few, many)}
    q_few, q_many = (np.quantile(np.abs(draws[d]), 0.9) for d in (few.dof, many.dof))
    assert q_few > 1.15 * q_many and q_many == pytest.approx(1.645, abs=0.06)


def test_a_target_trained_otherwise_gets_the_recipe_term(tmp_path):
    spec = load_spec(write_synthetic_ladder(tmp_path, noise=0.005, seed=5))
    same = predict_ladder(load_ladder(spec), variant="two-step", intervals=True, n_bootstrap=200).predictions
    text = (tmp_path / "synthetic.toml").read_text().replace('role = "target"', 'role = "target"\nrecipe = "different"')
    (tmp_path / "other.toml").write_text(text)
    other = predict_ladder(load_ladder(tmp_path / "other.toml"), variant="two-step", intervals=True,
                           n_bootstrap=200).predictions
    assert same["acc_sd_recipe"].iloc[0] == 0.0 and other["acc_sd_recipe"].iloc[0] > 0
    assert (other["acc_hi"] - other["acc_lo"]).iloc[0] > (same["acc_hi"] - same["acc_lo"]).iloc[0]
    assert other["acc_pred"].iloc[0] == same["acc_pred"].iloc[0]


def test_a_recipe_that_is_neither_same_nor_different_is_refused(tmp_path):
    spec_path = write_synthetic_ladder(tmp_path)
    text = spec_path.read_text().replace('role = "target"', 'role = "target"\nrecipe = "new"')
    spec_path.write_text(text)
    with pytest.raises(ConfigError, match="recipe must be one of 'same', 'different'"):
        load_spec(spec_path)


@pytest.mark.parametrize("variant", ["single-step", "direct", "direct-compute"])
def test_refits_made_together_are_the_refits_made_alone(tmp_path, variant):
    """prefit_heldout fits every task's folds in shared solves; each refit, and so each held-out
    prediction and miss, is the one heldout_predictions makes alone, to the bit."""
    from taskladder.fit.extrapolation import heldout_predictions, prefit_heldout, usable_nested_holdouts
    from taskladder.predict import fit_laws

    path = write_synthetic_ladder(tmp_path, noise=0.005, seed=4, tasks=("hellaswag", "arc_easy", "piqa"),
                                  flops_per_token=True)
    alone, together = load_ladder(path), load_ladder(path)
    tasks = alone.resolve_tasks(["hellaswag", "arc_easy", "piqa"])
    holdouts = usable_nested_holdouts(alone)
    assert holdouts
    laws_alone = [fit_law(variant, task, alone) for task in tasks]
    laws_together = fit_laws([(variant, task, together, "default", law.selection)
                              for task, law in zip(tasks, laws_alone)])
    for a, b in zip(laws_alone, laws_together):
        assert np.array_equal(a.fit_.params, b.fit_.params) and a.fit_.status == b.fit_.status
    prefit_heldout(together, laws_together, holdouts)
    for a, b in zip(laws_alone, laws_together):
        for holdout in holdouts:
            expected, got = heldout_predictions(alone, holdout, a), heldout_predictions(together, holdout, b)
            assert (expected is None) == (got is None)
            if expected is not None:
                assert expected.equals(got)


def test_a_law_whose_fit_breaks_down_fails_alike_alone_and_together(tmp_path, monkeypatch):
    """A fit whose linear algebra breaks down makes a FailedLaw saying so, in fit_laws as in fit_law."""
    import taskladder.fit.optimize as optimize
    from taskladder.fit.laws import FailedLaw
    from taskladder.predict import fit_laws

    def breaks(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(optimize, "_best_fit", breaks)
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.005, tasks=("hellaswag", "piqa")))
    tasks = ladder.resolve_tasks(["hellaswag", "piqa"])
    alone = [fit_law("single-step", task, ladder) for task in tasks]
    together = fit_laws([("single-step", task, ladder, "default", law.selection) for task, law in zip(tasks, alone)])
    for a, b in zip(alone, together):
        assert isinstance(a, FailedLaw) and isinstance(b, FailedLaw)
        assert a.reason == b.reason == "singular or degenerate data (SVD did not converge)"
        assert b.variant_ == "single-step"


GRID = dict(sizes=(75_000_000, 150_000_000, 300_000_000, 600_000_000, 1_200_000_000), multiples=(1, 2, 5, 10, 20))


def test_step_two_misses_are_read_at_the_measured_loss(tmp_path):
    from taskladder.fit.extrapolation import heldout_predictions

    ladder = ladder_with(tmp_path, seed=3, **GRID)
    law = fit_law("two-step", ladder.resolve_tasks(["hellaswag"])[0], ladder)
    misses = extrapolation_misses(law, ladder, step=2)
    assert len(misses) >= 30 and (misses["expected_sd"] > 0).all()
    fold = heldout_predictions(ladder, "largest_size", law)
    own = misses[misses["holdout"] == "largest_size"].set_index("target")["miss"]
    expected = (fold["acc_actual"] - fold["acc_from_actual_loss"]).set_axis(fold["target"])
    assert np.allclose(own.to_numpy(), expected[own.index].to_numpy())
    model = calibrate_extrapolation(law, ladder, step=2)
    assert model.quantity == "step2_accuracy" and model.n_misses == len(misses)
    assert model.tau < 0.01  # the sigmoid is the truth: (almost) no form error
    assert model.describe().startswith("step-2 extrapolation")


def test_a_step_two_that_bends_beyond_the_ladder_widens_the_interval_enough(tmp_path):
    """The truth rises above the sigmoid below a loss the ladder barely reaches: step 1 is exact,
    so only step 2's own nested misses can see it, and the target's interval must hold the truth."""
    bent = {**SIGMOID, "lift": 0.1, "below": 1.5}
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.005, seed=3, sigmoid=bent, **GRID))
    law = fit_law("two-step", ladder.resolve_tasks(["hellaswag"])[0], ladder)
    assert calibrate_extrapolation(law, ladder, step=2).tau > 0.01
    options = dict(variant="two-step", intervals=True, n_bootstrap=200)
    pred = predict_ladder(ladder, **options).predictions.iloc[0]
    alone = predict_ladder(ladder, interval_terms=False, **options).predictions.iloc[0]
    truth = float(sigmoid_acc(step1_loss(TARGET["n_params"], pred["tokens"]), bent))
    assert not alone["acc_lo"] <= truth <= alone["acc_hi"]  # the bootstrap alone misses it
    assert pred["acc_lo"] <= truth <= pred["acc_hi"]
    assert pred["acc_sd_extrapolation"] > 0.02 and "step-2 extrapolation" in pred["interval_method"]
    # Step 2's own interval at the measured loss carries the term too.
    assert (pred["acc_from_actual_loss_hi"] - pred["acc_from_actual_loss_lo"]
            > 2 * (alone["acc_from_actual_loss_hi"] - alone["acc_from_actual_loss_lo"]))
    assert pred["acc_pred"] == alone["acc_pred"]


def test_a_law_straight_to_accuracy_has_no_step_two_term(tmp_path):
    from taskladder.fit.uncertainty import interval_terms

    ladder = ladder_with(tmp_path, seed=3)
    law = fit_law("direct", ladder.resolve_tasks(["hellaswag"])[0], ladder)
    terms = interval_terms(law, ladder, ladder.targets)
    assert terms["step2_extrapolation"] is None and terms["step2_sd"] is None
