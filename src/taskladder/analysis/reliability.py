"""A reliability verdict for each prediction, from what the ladder itself shows.

Nothing here looks at the targets' actual values. The verdict is one of:

``unreliable``
    the target lies outside the ladder (fewer parameters or tokens than its smallest run, or more
    than ``max_extrapolation`` times its largest), or the law does not even extrapolate within the ladder (held-out-rung backtest error above
    ``max_backtest_error``), or its members disagree at the target beyond their own parameter
    uncertainty (``member_gap_z`` above ``max_member_gap_z``: two intermediate features that both
    fit the ladder give different answers, so the extrapolation is not pinned down), or the
    90 % interval reaches more than ``max_interval_reach`` from the prediction (5 points: the
    interval itself then allows a miss above 5 points, so "reliable" would promise more than the
    interval does), or the ladder sits at chance (its best run
    within ``near_chance`` of it: the curve above chance is not seen, and :func:`include_chance`
    widens the interval to chance), or the ladder's accuracies span less than
    ``min_signal_to_scatter`` times the runs' scatter around the law (a curve drawn through
    scatter: its slope, and so its extrapolation, is not pinned down; this needs no checkpoint
    noise, so it also holds on ladders evaluated once per run), or accuracy does not rise steadily
    as the loss falls across the runs (rank correlation of the runs' final loss and accuracy above
    ``max_loss_rank_correlation``: a loss-to-accuracy map the ladder does not show), or the prediction sits at a bound of its curve (within
    ``at_bound`` of accuracy 1 or of the curve's floor: the curve saturates there, and the
    number says more about the form than about the data), or a fit is degenerate (a minimum along
    which the data do not identify its parameters);
``noisy``
    the task shows little signal on this ladder: accuracy moves less across the ladder than
    ``min_signal_to_noise`` times its checkpoint-to-checkpoint noise;
``reliable``
    none of the above.

The thresholds are fixed in advance (not tuned on any target) and are stored with each verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..fit.laws import NO_TREND_RANK_CORRELATION
from ..fit.uncertainty import largest_run_noise
from ..ladder import Ladder

__all__ = ["ReliabilityRules", "ladder_signal", "assess_reliability", "include_chance", "curve_bounds",
           "outside_ladder"]


@dataclass(frozen=True, kw_only=True)
class ReliabilityRules:
    """Thresholds of the verdict (accuracy as fractions)."""

    max_backtest_error: float = 0.03
    max_member_gap_z: float = 2.0
    max_interval_reach: float = 0.05
    min_signal_to_noise: float = 10.0
    min_signal_to_scatter: float = 3.0
    max_loss_rank_correlation: float = NO_TREND_RANK_CORRELATION  # the one that makes step 2 flat
    near_chance: float = 0.03
    at_bound: float = 0.005
    max_extrapolation: float = 100.0
    last_n: int = 10


def ladder_signal(law, ladder: Ladder, rules: ReliabilityRules = ReliabilityRules()) -> dict:
    """Signal and noise of the task on the ladder's train runs.

    ``signal`` is the range of the runs' final accuracies (mean of the last ``moving_avg``
    checkpoints); ``noise`` the accuracy SD over the last ``last_n`` checkpoints of the run with
    the most compute (``NaN`` when that run has fewer than three checkpoints: a ladder evaluated
    once per run cannot show it); ``snr = signal / noise``; ``max_above_chance`` the best run's
    margin over chance.
    """
    task = law.task
    window = law.selection.moving_avg
    runs = [r for r in ladder.train_runs if r.name in set(law.fitted_on_)]
    finals = np.array([np.mean(r.metric(task, "accuracy")[-window:]) for r in runs])
    largest = max(runs, key=lambda r: r.n_params * r.final_tokens)
    noise = largest_run_noise(law, ladder, last_n=rules.last_n) if largest.n_checkpoints >= 3 else np.nan
    signal = float(finals.max() - finals.min())
    snr = np.nan if not np.isfinite(noise) else (signal / noise if noise > 0 else np.inf)
    scatter = run_scatter_of(law)
    return {"loss_rank_correlation": loss_rank_correlation(law),"signal": signal, "noise": noise, "snr": snr, "max_above_chance": float(finals.max() - task.chance),
            "scatter": scatter,
            "n_range": (min(r.n_params for r in runs), max(r.n_params for r in runs)),
            "d_range": (min(r.final_tokens for r in runs), max(r.final_tokens for r in runs))}


def loss_rank_correlation(law) -> float:
    """Spearman correlation of the runs' last intermediate loss and accuracy (step 2's points; NaN
    for a law straight to accuracy or with fewer than four runs). Near −1 when accuracy rises
    steadily as the loss falls."""
    points = getattr(law, "step2_points_", None)
    if points is None:
        return np.nan
    return points.rank_correlation()


def run_scatter_of(law) -> float:
    """SD across the ladder's runs of their accuracy's offset from the law (NaN if not known): the
    step-2 run scatter of a law through a loss, the residual scale of a law straight to accuracy."""
    from ..fit.laws import AccuracyLaw
    from ..fit.uncertainty import run_scatter

    if isinstance(law, AccuracyLaw):
        points = law.step1_points_
        fitted = law.from_fitted(law.fit_.form.function(law.inputs(points["n_params"], points["tokens"],
                                                                    points["flops"]), law.fit_.params))
        resid = fitted - points["y"]
        return float(np.sqrt(np.mean(resid**2))) if len(resid) > 1 else np.nan
    step2, points = getattr(law, "step2_", None), getattr(law, "step2_points_", None)
    if step2 is None or points is None:
        return np.nan
    return run_scatter(step2, points)


def outside_ladder(n_params: float, tokens: float, signal: dict,
                   rules: ReliabilityRules = ReliabilityRules()) -> str | None:
    """Why a target lies too far outside the ladder to extrapolate to (``None`` if it does not):
    fewer parameters or tokens than the ladder's smallest run, or more than ``max_extrapolation``
    times its largest."""
    for value, (low, high), what in ((n_params, signal.get("n_range"), "parameters"),
                                     (tokens, signal.get("d_range"), "tokens")):
        if low is None or not np.isfinite(value):
            continue
        if value < low:
            return f"target has fewer {what} ({value:.3g}) than the ladder's smallest run ({low:.3g})"
        if value > rules.max_extrapolation * high:
            return (f"target's {what} ({value:.3g}) lie {value / high:.0f}x beyond the ladder's largest run "
                    f"({high:.3g}); more than {rules.max_extrapolation:.0f}x is not extrapolated with confidence")
    return None


def curve_bounds(law) -> tuple[float, float] | None:
    """The accuracies a law's step-2 sigmoid tends to at either end (floor, ceiling), or ``None``."""
    fit = getattr(law, "step2_", None)
    if fit is None or getattr(fit.form, "name", "") != "sigmoid":
        return None
    params = fit.named_params
    return float(params["a"] + params["b"]), float(params["b"])


def include_chance(pred: pd.DataFrame, chance: float, rows: np.ndarray) -> pd.DataFrame:
    """Widen the intervals of the flagged rows so that each includes ``chance``."""
    pred = pred.copy()
    for column in [c for c in pred.columns if c == "acc_lo" or c.startswith("acc_lo_")]:
        pred.loc[rows, column] = np.fmin(pred.loc[rows, column].astype(float), chance)
    for column in [c for c in pred.columns if c == "acc_hi" or c.startswith("acc_hi_")]:
        pred.loc[rows, column] = np.fmax(pred.loc[rows, column].astype(float), chance)
    return pred


def assess_reliability(row: pd.Series, signal: dict, backtest_error: float | None,
                       rules: ReliabilityRules = ReliabilityRules(),
                       bounds: tuple[float, float] | None = None) -> tuple[str, str]:
    """The verdict and its reason for one prediction row (with interval columns if present);
    ``bounds`` are the step-2 curve's floor and ceiling (:func:`curve_bounds`)."""
    problems, noise = [], []
    far = outside_ladder(float(row.get("n_params", np.nan)), float(row.get("tokens", np.nan)), signal, rules)
    if far:
        problems.append(far)
    statuses = " ".join(str(row.get(k) or "") for k in ("step1_status", "step2_status"))
    if "degenerate" in statuses:
        problems.append("a fit's parameters are not identified by the data (degenerate)")
    if signal["max_above_chance"] < rules.near_chance:
        problems.append(f"ladder at chance (best run {100 * signal['max_above_chance']:+.1f} pts from it)")
    elif signal.get("scatter", 0) > 0 and signal["signal"] < rules.min_signal_to_scatter * signal["scatter"]:
        problems.append(f"ladder spans {100 * signal['signal']:.1f} pts, under {rules.min_signal_to_scatter:g}x the "
                        f"runs' scatter around the law ({100 * signal['scatter']:.1f} pts)")
    elif signal.get("loss_rank_correlation", np.nan) > rules.max_loss_rank_correlation:
        problems.append(f"accuracy does not rise steadily as the loss falls across the runs (rank correlation "
                        f"{signal['loss_rank_correlation']:+.2f})")
    acc = row.get("acc_pred", np.nan)
    if bounds is not None and acc is not None and np.isfinite(acc):
        floor, ceiling = bounds
        if acc > ceiling - rules.at_bound:
            problems.append(f"prediction at the curve's ceiling ({100 * ceiling:.1f} %)")
        elif acc < floor + rules.at_bound and signal["max_above_chance"] >= rules.near_chance:
            problems.append(f"prediction at the curve's floor ({100 * floor:.1f} %)")
    if backtest_error is not None and np.isfinite(backtest_error) and backtest_error > rules.max_backtest_error:
        problems.append(f"held-out-rung backtest error {100 * backtest_error:.1f} pts > {100 * rules.max_backtest_error:.0f}")
    gap_z = row.get("member_gap_z", np.nan)
    if gap_z is not None and np.isfinite(gap_z) and gap_z > rules.max_member_gap_z:
        problems.append(f"bpb and C4 laws disagree by {100 * row['member_gap']:.1f} pts ({gap_z:.1f} SD)")
    # The 90 % interval when the row has it (whatever level the user asked for), else the row's own.
    lo, hi = (row.get(f"acc_{side}_90", row.get(f"acc_{side}", np.nan)) for side in ("lo", "hi"))
    reach = max(hi - acc, acc - lo) if acc is not None else np.nan
    if np.isfinite(reach) and reach > rules.max_interval_reach + 1e-9:  # 1e-9: exactly 5 points is within
        problems.append(f"interval reaches {100 * reach:.1f} pts from the prediction "
                        f"(over {100 * rules.max_interval_reach:.0f})")
    if not np.isfinite(row.get("acc_pred", np.nan)):
        problems.append("no converged fit")
    if np.isfinite(signal["snr"]) and signal["snr"] < rules.min_signal_to_noise:
        noise.append(f"ladder signal only {signal['snr']:.1f}x checkpoint noise")
    term = _interval_term(row)
    if problems:
        return "unreliable", "; ".join(problems + noise + term)
    if noise:
        return "noisy", "; ".join(noise + term)
    bt = "" if backtest_error is None or not np.isfinite(backtest_error) else \
        f"backtest error {100 * backtest_error:.1f} pts, "
    if not np.isfinite(signal["snr"]):
        return "reliable", "; ".join([f"{bt}ladder spans {100 * signal['signal']:.1f} pts (checkpoint noise not "
                                      "measured: too few checkpoints per run)"] + term)
    return "reliable", "; ".join([f"{bt}signal {signal['snr']:.0f}x noise"] + term)


def _interval_term(row: pd.Series) -> list[str]:
    """Which of the interval's terms sets its width (:func:`~taskladder.fit.uncertainty.add_intervals`),
    as a phrase for the verdict's reason (none without intervals)."""
    term = row.get("interval_term")
    if not isinstance(term, str) or not term:
        return []
    sds = {t: float(row.get(f"acc_sd_{'params' if t == 'parameters' else t}", np.nan))
           for t in ("parameters", "noise", "extrapolation", "recipe")}
    total = np.sqrt(sum(v**2 for v in sds.values() if np.isfinite(v)))
    if not total > 0:
        return []
    return [f"interval set mostly by {term} ({100 * sds[term]:.1f} of {100 * total:.1f} pts SD)"]


def rules_dict(rules: ReliabilityRules = ReliabilityRules()) -> dict:
    """The thresholds as a plain dict (for resolved configs)."""
    return asdict(rules)
