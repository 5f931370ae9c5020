"""Extrapolation error, measured on the ladder itself: how far off a law lands when it predicts
beyond the runs it was fitted on, as a function of how far beyond.

The bootstrap of :mod:`.uncertainty` says how well the ladder pins the law's parameters; it says
nothing about whether the law's *form* still holds an order of magnitude further out. Nested
backtests do: hold out the top rung (or the top two, by size or by token multiple, as long as
:data:`MIN_RUNGS` sizes and multiples remain; or the top compute budget, or every run above a
twentieth of the top compute), refit the same law on the rest, predict the
held-out runs, and record each miss ``r`` with its distance ``d`` from the runs the fit saw.

Distance
--------
``d = max(0, log10 N/N_max, log10 D/D_max, log10 ND/(ND)_max, log10 M/M_max, log10 M_min/M)``
with ``M = D/N`` the tokens per parameter and the extremes taken over the fitted runs: how many
decades beyond the ladder the run lies along its worst axis. Compute ``∝ N D`` counts as an axis,
so a target larger in both is further than in either; so does ``M``, so a small model trained
four times longer than any ladder run of its size is an extrapolation although neither its N nor
its D exceeds the ladder's. A held-out run inside (``d < MIN_DISTANCE``) measures interpolation,
which the bootstrap already covers, and is left out.

Error model
-----------
A held-out run's miss ``r`` (in the quantity the law extrapolates: the log of its intermediate
loss for laws through a loss, ``r = ln L̂ − ln L``, or the law's own fitted quantity for laws
straight to accuracy) has two parts: what the fold's own bootstrap expects (its parameters, and
the run's scatter around the law: SD ``s``, from :func:`~taskladder.fit.uncertainty.bootstrap_predictions`
on the fold) and what it does not, the form's error, which grows with distance:
``E[r²] = s² + (τ d)²``. The misses' summed excess over what the bootstrap expects,
``Σ (r² − s²)``, measures the second, but noisily: with the form exact it still scatters around 0
with SD ``√(2 Σ s⁴)`` (``r² / s²`` is then χ²₁). Only the excess beyond one such SD counts as form
error, so an exact law gets no term five times out of six instead of half the time:

.. math:: \\hat τ^2 = \\frac{\\max\\left(\\sum_i (r_i^2 - s_i^2) - \\sqrt{2 \\sum_i s_i^4},\\ 0\\right)}{\\sum_i d_i^2}

per task, from at least :data:`MIN_MISSES` misses. A ladder too small for that (no fold keeps
enough rungs) gets a conservative prior instead, ``τ₀`` (:data:`PRIOR_TAU`, per quantity): the
upper quartile of the raw miss rate ``√(Σ r² / Σ d²)`` (the whole miss, the bootstrap's share
included) over the tasks of the real suites' nested backtests (``benchmarks/honesty.py``: the OLMo
ladder, the open_lm testbed's three datasets, the micro-ladder), no target read.

Step 2 beyond the ladder
------------------------
For a law through a loss, the miss above is step 1's alone: the loss-to-accuracy map's own form
error, read at losses lower than the ladder reached, is another. The same nested backtests
measure it: each held-out run's step-2 miss at its *measured* task loss, ``r₂ = Acc − g(L)``
(``g`` the fold's step 2), against the SD ``s₂`` of the fold's step-2 interval there (its
bootstrap, run scatter and checkpoint noise), gives ``τ₂`` in accuracy per decade by the same
estimate, and the target's draws get ``τ₂ d t_ν`` in accuracy after step 2 (prior
:data:`PRIOR_TAU` ``["step2_accuracy"]``, measured the same way). Held out in those backtests,
step 2's own 90 % interval held fewer of the runs the further they lay (``benchmarks/honesty.py``,
by distance).

A target at distance ``d`` gets an extra draw ``τ d t_ν`` on that quantity
(:func:`~taskladder.fit.uncertainty.interval_draws`): a scale estimated from ``n`` misses makes the
predictive miss a Student t with ``ν = n`` degrees of freedom, not a normal (at 90 %, ×1.3 wider
for ν = 4), and the prior's t has ``ν =`` :data:`PRIOR_DOF`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, TaskLadderError
from ..ladder import Ladder, RunData

__all__ = ["NESTED_HOLDOUTS", "MIN_DISTANCE", "PRIOR_TAU", "MIN_MISSES", "PRIOR_DOF", "Extrapolation",
           "distance", "box_of", "calibrate_extrapolation", "estimate_tau", "extrapolation_misses",
           "usable_nested_holdouts", "prefit_heldout"]

#: The nested holdouts: the top rung, then the top two, by size and by token multiple; the top
#: compute budget (the runs within a factor 2 of the largest compute); and every run above a
#: twentieth of the largest compute, the misses as far out (up to 1.3 decades) as targets lie.
NESTED_HOLDOUTS = ("largest_size", "largest_multiple", "two_largest_sizes", "two_largest_multiples", "largest_compute",
                   "far_compute")
#: Held-out runs nearer than this (decades) to the fitted box measure interpolation: left out.
MIN_DISTANCE = 0.05
#: Prior ``τ₀`` per extrapolated quantity (per decade), for a ladder whose nested backtests cannot
#: be fitted: the upper quartile of the raw miss rate over the tasks of the real suites
#: (``benchmarks/honesty.py``: OLMo ladder, the open_lm testbed's three datasets, the
#: micro-ladder), rounded up to two decimals (measured when each was set: 0.080, 0.106, 0.230, and
#: 0.060 for step 2's own miss in accuracy; the benchmark prints today's).
PRIOR_TAU = {"log_loss": 0.08, "accuracy": 0.11, "neg_log_accuracy": 0.23, "step2_accuracy": 0.06}
#: Fewest nested-backtest misses that set ``τ`` by themselves (fewer: the prior).
MIN_MISSES = 4
#: Degrees of freedom of the prior's predictive t: heavy tails, finite variance.
PRIOR_DOF = 3.0


def box_of(runs: Sequence[RunData]) -> tuple[float, float, float, float, float]:
    """``(N_max, D_max, (ND)_max, M_max, M_min)`` of the runs a law was fitted on (``M = D/N``)."""
    n = np.array([float(r.n_params) for r in runs])
    d = np.array([float(r.final_tokens) for r in runs])
    return float(n.max()), float(d.max()), float((n * d).max()), float((d / n).max()), float((d / n).min())


def distance(n_params, tokens, box: tuple[float, float, float, float, float]) -> np.ndarray:
    """Decades beyond the fitted runs along the worst axis (see the module docstring); 0 inside."""
    n, d = np.asarray(n_params, float), np.asarray(tokens, float)
    n_max, d_max, c_max, m_max, m_min = box
    with np.errstate(all="ignore"):
        steps = np.stack([np.log10(n / n_max), np.log10(d / d_max), np.log10(n * d / c_max),
                          np.log10(d / n / m_max), np.log10(m_min * n / d), np.zeros_like(n)])
    return np.nanmax(steps, axis=0)


def extrapolated_quantity(law) -> str:
    """What the law extrapolates: ``log_loss`` (a law through a loss), ``accuracy`` or
    ``neg_log_accuracy`` (laws fitted straight to accuracy, in the space they are fitted in)."""
    from .laws import AccuracyLaw, ComputeAccuracyLaw

    if isinstance(law, ComputeAccuracyLaw):
        return "neg_log_accuracy"
    if isinstance(law, AccuracyLaw):
        return "accuracy"
    return "log_loss"


def _miss(law, pred: pd.DataFrame) -> np.ndarray:
    """Each held-out run's miss in the extrapolated quantity (NaN where either side is missing): in
    log task loss, or in the space a law straight to accuracy is fitted in (its ``to_fitted``)."""
    with np.errstate(all="ignore"):
        if extrapolated_quantity(law) == "log_loss":
            return np.log(pred["task_loss_pred"].astype(float)) - np.log(pred["task_loss_actual"].astype(float))
        return law.to_fitted(pred["acc_pred"].astype(float)) - law.to_fitted(pred["acc_actual"].astype(float))


def heldout_predictions(ladder: Ladder, holdout: str, law) -> pd.DataFrame | None:
    """Point predictions of a holdout's runs by the same law refitted on the rest (memoized on the
    ladder); ``None`` when the holdout or the fit is not possible on this ladder."""
    from ..predict import drop_impossible, fit_law
    from .backtest import holdout_split
    from .choice import check_variant
    from .laws import FailedLaw

    def compute():
        try:
            kept, held = holdout_split(ladder, holdout)
            sub = ladder.memoize(("holdout ladder", holdout), lambda: ladder.subset(kept))
            check_variant(sub, law.task, law.variant_)
            refit = sub.memoize(_refit_key(law), lambda: fit_law(law.variant_, law.task, sub, mode=law.mode,
                                                                  selection=law.selection))
            if isinstance(refit, FailedLaw):
                return None
            pred = drop_impossible(refit.predict(held))
        except TaskLadderError:  # DataError among them
            return None
        pred["distance"] = distance(pred["n_params"], pred["tokens"],
                                    box_of([sub.runs[name] for name in refit.fitted_on_]))
        # The fold's bootstrap only weighs misses; a fold without one (a refit that did not
        # converge predicts nothing) skips it (its 0 is never read).
        has_miss = bool(np.isfinite(_miss(refit, pred)).any())
        pred["expected_sd"], pred["expected_sd_step2"] = (_expected_sd(refit, sub, held) if has_miss else
                                                          (np.zeros(len(held)), np.zeros(len(held))))
        return pred

    key = ("heldout", holdout, law.variant_, law.mode, law.selection, law.task)
    return ladder.memoize(key, compute)


def _refit_key(law) -> tuple:
    """Where a fold's ladder keeps its refit of ``law`` (:func:`prefit_heldout` may have made it)."""
    return ("refit", law.variant_, law.mode, law.selection, law.task)


def prefit_heldout(ladder: Ladder, laws: Sequence, holdouts: Sequence[str]) -> None:
    """Fit the nested-backtest refits of ``laws`` for ``holdouts`` ahead of :func:`heldout_predictions`,
    every law's at once (:func:`taskladder.predict.fit_laws`), where it finds them.

    The same refits, by the same procedure on each fold's runs alone (nothing of the full-ladder
    fit enters them): only the laws fitted straight to accuracy, whose many-start fits share one
    batched solve per form and fold size; the other laws are refitted when asked for, as before.
    A fold or law that cannot be refitted (a holdout the ladder cannot make, data the law lacks)
    is left to :func:`heldout_predictions`, which says so.
    """
    from ..predict import fit_laws
    from .backtest import holdout_split
    from .choice import check_variant
    from .laws import AccuracyLaw, _usable
    from .uncertainty import accuracy_law_refits

    requests, places = [], []
    for holdout in holdouts:
        try:
            kept = holdout_split(ladder, holdout)[0]
        except TaskLadderError:
            continue
        sub = ladder.memoize(("holdout ladder", holdout), lambda: ladder.subset(kept))
        for law in laws:
            if not isinstance(law, AccuracyLaw) or sub.memoized(_refit_key(law)):
                continue
            try:
                check_variant(sub, law.task, law.variant_)
            except TaskLadderError:
                continue
            requests.append((law.variant_, law.task, sub, law.mode, law.selection))
            places.append((sub, _refit_key(law)))
    folds: dict[int, tuple[Ladder, list]] = {}
    for (sub, key), refit in zip(places, fit_laws(requests)):
        sub.memoize(key, lambda refit=refit: refit)
        # (only refits that predict: a fold's bootstrap weighs the misses of those alone)
        if isinstance(refit, AccuracyLaw) and getattr(refit, "fit_", None) is not None and _usable(refit.fit_, refit.mode):
            folds.setdefault(id(sub), (sub, []))[1].append(refit)
    # Each fold's bootstrap (its expected miss), every task's refits in one batched solve.
    for sub, refits in folds.values():
        for refit, params in zip(refits, accuracy_law_refits(refits, n_bootstrap=FOLD_BOOTSTRAP)):
            sub.memoize(_fold_draws_key(refit), lambda params=params: params)


def _fold_draws_key(law) -> tuple:
    """Where a fold's ladder keeps the bootstrap refits of its refit of ``law`` (:func:`prefit_heldout`)."""
    return ("fold draws", *_refit_key(law))


#: Fewest distinct sizes and token multiples a fold must keep: a power law with an asymptote needs
#: three values along an axis to pin its exponent; a fold with two extrapolates worse than the
#: whole ladder ever would (its misses measure the missing rungs, not the form).
MIN_RUNGS = 3
#: Resamples of each fold's bootstrap (only its SD is used).
FOLD_BOOTSTRAP = 100


def _expected_sd(law, ladder: Ladder, held: Sequence[RunData]) -> tuple[np.ndarray, np.ndarray]:
    """SD of each held-out run's prediction that the fold's own bootstrap gives (parameters and run
    scatter): in the extrapolated quantity, and of step 2 alone at the run's measured task loss
    with the run scatter and checkpoint noise (what :func:`~taskladder.fit.uncertainty.interval_draws`
    puts in step 2's interval; zeros for a law straight to accuracy). 0 where it cannot be drawn
    (the miss then counts whole, which errs on the wide side)."""
    from .uncertainty import accuracy_law_draws, bootstrap_predictions, noise_components

    zeros = np.zeros(len(held))
    try:
        with np.errstate(all="ignore"):
            step2_sd = zeros
            if extrapolated_quantity(law) == "log_loss":
                member = getattr(law, "primary_", law)
                boot = bootstrap_predictions(member, ladder, held, n_bootstrap=FOLD_BOOTSTRAP)
                draws = np.log(boot["loss"])
                sigma_run, sigma_ckpt = noise_components(member, ladder)
                step2 = np.where(np.isfinite(boot["acc_step2"]), boot["acc_step2"], np.nan)
                step2_sd = np.sqrt(np.nanvar(step2, axis=0) + sigma_run**2 + sigma_ckpt**2)
            else:
                key = _fold_draws_key(law)
                params = ladder.memoize(key, lambda: None) if ladder.memoized(key) else None
                draws = law.to_fitted(accuracy_law_draws(law, held, n_bootstrap=FOLD_BOOTSTRAP,
                                                         refit_params=params)["acc"])
            sd = np.nanstd(np.where(np.isfinite(draws), draws, np.nan), axis=0)
    except (TaskLadderError, np.linalg.LinAlgError, ValueError, TypeError, KeyError):
        return zeros, zeros
    return np.nan_to_num(sd, nan=0.0), np.nan_to_num(step2_sd, nan=0.0)


def usable_nested_holdouts(ladder: Ladder, holdouts: Sequence[str] = NESTED_HOLDOUTS) -> list[str]:
    """The ``holdouts`` whose fold keeps :data:`MIN_RUNGS` sizes and token multiples on ``ladder``."""
    from .backtest import holdout_split

    usable = []
    for holdout in holdouts:
        try:
            kept = set(holdout_split(ladder, holdout)[0])
        except DataError:
            continue
        runs = [r for r in ladder.train_runs if r.name in kept]
        if min(len({r.n_params for r in runs}), len({r.token_multiple for r in runs})) >= MIN_RUNGS:
            usable.append(holdout)
    return usable


def extrapolation_misses(law, ladder: Ladder, holdouts: Sequence[str] = NESTED_HOLDOUTS, *,
                         step: int = 1) -> pd.DataFrame:
    """The nested backtests' misses: one row per held-out run beyond its fold's box, with
    ``holdout, target, distance, miss`` and ``expected_sd`` (what the fold's own bootstrap expects
    of the miss). ``step=1``: the miss in :func:`extrapolated_quantity`; ``step=2`` (laws through
    a loss): step 2's own miss in accuracy at the run's measured task loss, ``Acc − g(L)``, and
    the SD of step 2's interval there."""
    frames = []
    for holdout in usable_nested_holdouts(ladder, holdouts):
        pred = heldout_predictions(ladder, holdout, law)
        if pred is None or pred.empty:
            continue
        if step == 2:
            miss = pred["acc_actual"].astype(float) - pred["acc_from_actual_loss"].astype(float)
            expected = pred["expected_sd_step2"]
        else:
            miss, expected = _miss(law, pred), pred["expected_sd"]
        frame = pd.DataFrame({"holdout": holdout, "target": pred["target"], "distance": pred["distance"],
                              "miss": miss, "expected_sd": expected})
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["holdout", "target", "distance", "miss", "expected_sd"])
    table = pd.concat(frames, ignore_index=True)
    # A run held out by two holdouts counts once per distance it was predicted from.
    usable = table["distance"].ge(MIN_DISTANCE) & np.isfinite(table["miss"].astype(float))
    return table[usable].reset_index(drop=True)


@dataclass(frozen=True)
class Extrapolation:
    """A law's extrapolation error model for one task: ``ε ~ N(0, (τ d)²)`` in ``quantity``.

    ``n_misses`` nested-backtest misses entered the estimate (under :data:`MIN_MISSES`: the prior
    alone);
    ``tau_observed`` is their own estimate (the module's ``τ̂``), ``tau_raw`` the whole misses' ``√(Σ r² / Σ d²)``
    (NaN without any).
    """

    quantity: str
    tau: float
    n_misses: int
    tau_observed: float
    max_distance: float
    tau_raw: float = np.nan

    @property
    def dof(self) -> float:
        """Degrees of freedom of the predictive t: the misses, or the prior's."""
        return float(self.n_misses) if self.n_misses >= MIN_MISSES else PRIOR_DOF

    def sd(self, distances) -> np.ndarray:
        """The term's SD at each distance (decades beyond the box)."""
        return self.tau * np.asarray(distances, float)

    def describe(self) -> str:
        seen = (f"{self.n_misses} nested-backtest misses up to {self.max_distance:.2f} decades out"
                if self.n_misses >= MIN_MISSES else
                f"prior alone: {self.n_misses} nested-backtest misses, {MIN_MISSES} needed")
        if self.quantity == "step2_accuracy":
            return f"step-2 extrapolation {self.tau:.3g} accuracy per decade ({seen})"
        return f"extrapolation {self.tau:.3g} {self.quantity.replace('_', ' ')} per decade ({seen})"


def estimate_tau(miss, expected_sd, dist) -> float:
    """The form's error per decade from misses ``r`` at distances ``d`` whose bootstrap SDs are
    ``s``: the module's ``τ̂`` (NaN without misses)."""
    r, s2, d = np.asarray(miss, float), np.asarray(expected_sd, float) ** 2, np.asarray(dist, float)
    if not len(r):
        return np.nan
    excess = max(float(np.sum(r**2 - s2) - np.sqrt(2.0 * np.sum(s2**2))), 0.0)
    return float(np.sqrt(excess / np.sum(d**2)))


def calibrate_extrapolation(law, ladder: Ladder, holdouts: Sequence[str] = NESTED_HOLDOUTS, *,
                            step: int = 1) -> Extrapolation:
    """The extrapolation error model of a fitted law (``law.variant_`` set by
    :func:`taskladder.predict.fit_law`), from nested backtests on ``ladder`` (the one it was
    fitted on). See the module docstring for the estimate. ``step=2``: step 2's own form error
    in accuracy (``step2_accuracy``; laws through a loss only)."""
    quantity = "step2_accuracy" if step == 2 else extrapolated_quantity(law)
    misses = extrapolation_misses(law, ladder, holdouts, step=step)
    r, d = misses["miss"].to_numpy(float), misses["distance"].to_numpy(float)
    observed = estimate_tau(r, misses["expected_sd"].to_numpy(float), d)
    tau = observed if len(r) >= MIN_MISSES else PRIOR_TAU[quantity]
    raw = float(np.sqrt(np.sum(r**2) / np.sum(d**2))) if len(r) else np.nan
    return Extrapolation(quantity=quantity, tau=tau, n_misses=len(r), tau_observed=observed,
                         max_distance=float(d.max()) if len(d) else 0.0, tau_raw=raw)
