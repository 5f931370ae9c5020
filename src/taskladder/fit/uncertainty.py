"""Prediction intervals: a bootstrap over runs, plus the noise a single checkpoint carries.

Sources of error and how each enters
------------------------------------
1. **Parameter uncertainty of both fits, and the target's own deviation from step 1.** Whole runs are resampled with replacement (checkpoints
   of one run are strongly correlated, so resampling checkpoints would understate the spread);
   each resample refits step 1 on its runs' points and step 2 on its runs' checkpoints, warm
   started from the full fit and solved for all resamples at once by the batched
   Levenberg-Marquardt of :mod:`.lm`. Each resample's task loss for the target is also multiplied by
   ``exp(ε)``, ``ε ~ N(0, s₁²)`` with ``s₁`` the step-1 residual scale (the target is one more run,
   off the law as much as the ladder's runs are) before step 2 maps it to accuracy. ``s₁`` is read
   at the runs nearest the target's tokens per parameter (:func:`_log_residual_sd_near`): runs
   trained briefly for their size can sit several times further off the law than the rest.
2. **Run-to-run scatter around the step-2 curve.** Runs of the same loss differ in accuracy
   (seed, recipe): the standard deviation across runs of each run's mean step-2 residual
   (over its last checkpoints), ``σ_run``.
3. **Checkpoint noise of the target's own metric.** The accuracy's checkpoint-to-checkpoint
   noise over the last checkpoints of the ladder's largest-compute run, ``σ_ckpt``, estimated from
   differences of neighbouring checkpoints so that a run still improving does not count as noise.

The predictive distribution is ``acc*_b + ε_b`` with ``acc*_b`` the bootstrap predictions and
``ε_b ~ N(0, σ_run² + σ_ckpt²)``; the interval is its central ``level`` quantile range. Laws
fitted straight from (N, D) or compute to accuracy have one point per run: the bootstrap refits
them on resampled runs and adds their residual scatter (:func:`accuracy_law_draws`).

Each step also gets an interval of its own: step 1's task loss from the same resamples, and step 2
alone at the target's measured task loss (its resampled curves plus ``σ_run`` and ``σ_ckpt``),
so that a miss can be traced to the step it comes from.
Assumptions: runs are exchangeable draws around the law (so the ladder's spread says something
about the target's), and the law's form holds out to the target. The second is what nested
backtests check, and :func:`interval_terms` adds what they measure; a recipe change between
ladder and target (as for the OLMo 7B/13B) enters only through its recipe-shift term.
"""

from __future__ import annotations

import warnings
import zlib
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io.validate import MIN_BOOTSTRAP  # defined with the flag checks, which need no numpy
from ..ladder import Ladder, RunData
from .laws import STEP1_BOUNDS, TRANSFER_BOUNDS, step1_inputs
from .lm import batched_lm
from .result import FitResult
from .selection import target_actual

__all__ = ["bootstrap_predictions", "accuracy_law_draws", "add_intervals", "check_interval_options", "noise_components",
           "checkpoint_noise", "interval_draws", "resample_counts", "step2_refits", "run_scatter",
           "largest_run_noise", "interval_terms", "recipe_shift_sd", "RECIPE_SHIFT_SD", "TERMS", "accuracy_floor",
           "CHANCE_FLOOR_FRACTION"]

_MAX_BOOTSTRAP_POINTS = 160

#: Recipe-shift SD of step 2 (accuracy), by what the step maps to accuracy: how far a run trained
#: with another recipe sits off the ladder's loss-to-accuracy curve. Sized on evidence that is not
#: any target: the RMS gap between the step-2 curves of the open_lm testbed's three pretraining
#: datasets, each curve fitted on one dataset and read at another's runs (``benchmarks/honesty.py
#: --recipe``). That testbed has no per-task loss, so the task-loss value is the same evidence read
#: through the C4 loss, an upper bound: a task's own loss absorbs part of a data shift. Each value
#: is the RMS over every task and dataset pair of the gap's excess over the curve's own run
#: scatter: a target's (task, recipe change) is one more draw from that population, so its
#: variance is the mean of theirs (measured: 1.81 points through the C4 loss, 1.79 for the direct
#: law; a median over tasks, 1.76 and 0.64, understated the tasks whose curves move most).
RECIPE_SHIFT_SD = {"c4": 0.018, "task_loss": 0.018, "accuracy": 0.018}


def _bounds(fit: FitResult, default_lower: Sequence[float], default_upper: Sequence[float]):
    fixed = fit.extra.get("fixed", {}) if fit.extra else {}
    free = np.array([name not in fixed for name in fit.form.params])
    return np.asarray(default_lower, float), np.asarray(default_upper, float), free


def target_normal(seed: int, salt: int, task: str, targets: Sequence[RunData], n: int, scale) -> np.ndarray:
    """Normal draws ``(n, T)`` with SD ``scale``, column ``j`` from a stream of its own keyed by
    ``(seed, salt, task, target j)``: a target's interval does not depend on which other targets
    are predicted with it, nor on their order."""
    columns = [np.random.default_rng([seed, salt, zlib.crc32(task.encode()), zlib.crc32(t.name.encode())])
               .standard_normal(n) for t in targets]
    return np.asarray(scale, float) * (np.column_stack(columns) if columns else np.zeros((n, 0)))


def target_student_t(seed: int, salt: int, task: str, targets: Sequence[RunData], n: int, scale,
                     dof: float) -> np.ndarray:
    """Student-t draws ``(n, T)`` with ``dof`` degrees of freedom and scale ``scale``, per target as
    :func:`target_normal`: the predictive distribution of a miss whose SD was estimated from
    ``dof`` observations, wider in the tails than a normal when they are few."""
    columns = []
    for t in targets:
        rng = np.random.default_rng([seed, salt, zlib.crc32(task.encode()), zlib.crc32(t.name.encode())])
        columns.append(rng.standard_normal(n) / np.sqrt(rng.chisquare(dof, n) / dof))
    return np.asarray(scale, float) * (np.column_stack(columns) if columns else np.zeros((n, 0)))


def resample_counts(rng: np.random.Generator, R: int, n_bootstrap: int) -> np.ndarray:
    """Multiplicities ``(B + 1, R)`` of the runs in each resample; row 0 is the unweighted fit."""
    counts = rng.multinomial(R, np.full(R, 1.0 / R), size=n_bootstrap).astype(float)
    return np.vstack([np.ones(R), counts])


def _refit_power_law(fit: FitResult, X: np.ndarray, y: np.ndarray, weights: np.ndarray, *, max_iter: int = 30,
                     bounds: tuple | None = None):
    """Weighted refits of a step-1-like power law (log residuals), warm-started at ``fit``, within
    ``bounds`` (default: the step-1 bounds of its form)."""
    lo, up, free = _bounds(fit, *(bounds or STEP1_BOUNDS[fit.form.name]))
    return batched_lm(fit.form, X, y, np.tile(fit.params, (len(weights), 1)), lower=lo, upper=up, free=free,
                      weights=weights, residual="log", max_iter=max_iter)


def _through_c4(law) -> bool:
    """Whether the law reaches the task loss through the C4 loss (a fitted loss-to-loss law)."""
    from .laws import LossToLossLaw

    return isinstance(law, LossToLossLaw) and law.uses_c4_


def _step1_points(law):
    """The points of the law's step-1 fit: the C4 loss for a loss-to-loss law (per run, or per checkpoint)."""
    return law.general_points_ if _through_c4(law) else law.step1_points_


def _step1_resamples(law, ladder: Ladder, counts: np.ndarray, n_bootstrap: int, seed: int):
    """Bootstrap refits of the law's step 1 (the C4 step 1 is shared by every task's law)."""
    s1, step1 = _step1_points(law), law.step1_
    # Each point weighted by its run's multiplicity (one point per run, or a run's checkpoints,
    # thinned to at most 160 for speed as in step 2).
    stride = max(1, int(np.ceil(len(s1) / _MAX_BOOTSTRAP_POINTS)))
    X1, y1, w1 = s1.matrix(*step1.form.inputs)[::stride], s1["y"][::stride], counts[:, s1.codes[::stride]]

    def refit():
        return step1, _refit_power_law(step1, X1, y1, w1)

    if _through_c4(law) or law.feature == "c4":
        # The C4 step 1 is one fit shared by every task (see ``laws``); so are its resamples.
        shared, fit = ladder.memoize(("bootstrap step1", step1.form.name, law.mode, law.selection.step1_window,
                                      n_bootstrap, seed), refit)
        if shared is step1:  # else the law was fitted on another ladder: nothing to share
            return fit
    return refit()[1]


def _thinned(points, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every checkpoint's ``x, y`` and its run's weights, thinned to at most 160 points for speed."""
    stride = max(1, int(np.ceil(len(points) / _MAX_BOOTSTRAP_POINTS)))
    # The points' runs are step 1's (both are the ladder's train runs, in the same order).
    return points["x"][::stride], points["y"][::stride], counts[:, points.codes[::stride]]


def _step2_resamples(law, counts: np.ndarray):
    """Bootstrap refits of the law's step 2 (see :func:`step2_refits`)."""
    return step2_refits(law.step2_, law.step2_points_, counts)


def step2_refits(step2: FitResult, points, counts: np.ndarray):
    """Weighted refits of a step-2 fit, each checkpoint weighted by its run's multiplicity.

    ``counts`` is ``(B, R)``: each row a resample's multiplicity of the ``R`` runs of ``points``
    (row 0 all ones gives the solver's unweighted solution). Warm-started at ``step2``, with its
    bounds and fixed parameters; returns the batched solver's result.
    """
    x2, y2, w2 = _thinned(points, counts)
    if step2.form.name == "sigmoid":
        lower2, upper2 = [-1.0, 0.0, 0.0, 0.0], [0.0, np.inf, np.inf, 1.0]
    elif step2.form.name == "flat":
        lower2, upper2 = [0.0], [1.0]
    else:
        lower2, upper2 = [-10.0, 0.0, 0.0], [0.0, 10.0, 50.0]
    lo2, up2, free2 = _bounds(step2, lower2, upper2)
    return batched_lm(step2.form, x2.reshape(-1, 1), y2, np.tile(step2.params, (len(counts), 1)),
                      lower=lo2, upper=up2, free=free2, weights=w2, max_iter=25)


#: Fewest runs whose residuals set a target's step-1 residual scale (:func:`_log_residual_sd_near`);
#: a quarter of the runs when that is more.
MIN_NEAR_RUNS = 4


def _log_residual_sd_near(fit: FitResult, X: np.ndarray, y: np.ndarray, multiples: np.ndarray,
                          target_multiples: np.ndarray) -> np.ndarray:
    """Residual scale of a fit in log space at each target's token multiple ``M = D/N``: the RMS
    log residual of the ``k`` runs nearest in ``log M`` (ties included; ``k`` the larger of
    :data:`MIN_NEAR_RUNS` and a quarter of the runs), times ``√(n / (n − p))`` for the ``p``
    fitted parameters.

    How far a run sits off the law depends on how long it trained for its size: on the open_lm
    testbed the runs at 5 tokens per parameter sit 7-8 % above the C4 law and those at 10 or more
    within 2 % (``benchmarks/step1_fits.py``), so one residual scale for all would be several
    times too wide for the latter and too narrow for the former."""
    resid = np.log(fit.form.function(X, fit.params)) - np.log(y)
    n = len(resid)
    k = min(n, max(MIN_NEAR_RUNS, int(np.ceil(n / 4))))
    correction = n / max(n - len(fit.params), 1)
    gaps = np.abs(np.log10(np.asarray(multiples, float))[None, :] - np.log10(np.asarray(target_multiples, float))[:, None])
    kth = np.sort(gaps, axis=1)[:, k - 1:k]
    # (a target whose multiple is not known takes every run)
    near = (gaps <= kth + 1e-12) | ~np.isfinite(kth)
    return np.sqrt(correction * (near * resid**2).sum(axis=1) / near.sum(axis=1))


def _run_level_sd(fit: FitResult, points, last_n: int = 5) -> float:
    """SD across runs of each run's mean log residual over its last ``last_n`` points."""
    resid = np.log(fit.form.function(points["x"].reshape(-1, 1), fit.params)) - np.log(points["y"])
    per_run = np.array([resid[points.codes == i][-last_n:].mean() for i in np.unique(points.codes)])
    return float(np.std(per_run, ddof=1)) if len(per_run) > 1 else 0.0


def bootstrap_predictions(law, ladder: Ladder, targets: Sequence[RunData], *, n_bootstrap: int = 1000,
                          seed: int = 0, extra_log_sd=None) -> dict[str, np.ndarray]:
    """Chained accuracy and task loss of each target under ``n_bootstrap`` resamples of the runs.

    Returns ``{"acc": (B, T), "loss": (B, T), "converged": (B,)}``; the law must be a fitted
    two-step or loss-to-loss law. ``extra_log_sd`` (per target) adds the extrapolation term of
    :mod:`.extrapolation` to each draw's log task loss, before step 2; ``"acc_within"`` are the same
    draws without it. Replicates are centred on the law's own prediction
    (``pred + (b − b₀)`` with ``b₀`` the batched solver's unweighted solution), so thinning the
    checkpoints for speed moves no interval.

    Notes
    -----
    Two-step: ``L_b = L(N, D; θ₁ᵇ)`` then ``Acc_b = g(L_b e^ε; θ₂ᵇ)``, ``ε ~ N(0, s₁²)`` with ``s₁`` the
    step-1 residual scale near the target's token multiple (:func:`_log_residual_sd_near`).
    Loss-to-loss: ``G_b = L_C4(N, D; θ₁ᵇ) e^{ε₁}``, ``L_b = T(G_b; θₜᵇ) e^{εₜ}``,
    ``Acc_b = g(L_b; θ₂ᵇ)``, with ``εₜ`` the run-level scatter of the transfer map.
    """
    rng = np.random.default_rng(seed)
    step1, step2 = law.step1_, law.step2_
    s1 = _step1_points(law)
    R = len(s1.runs)
    counts = resample_counts(rng, R, n_bootstrap)
    fit1 = _step1_resamples(law, ladder, counts, n_bootstrap, seed)
    fit2 = _step2_resamples(law, counts)
    P1, P2 = fit1.params, fit2.params
    converged = fit1.converged & fit2.converged

    X1 = s1.matrix(*step1.form.inputs)
    if step1.form.name == "power_law_c":
        Xt = np.array([[t.flops_per_token * t.final_tokens] for t in targets], float)
    else:
        Xt = step1_inputs(step1, [t.n_params for t in targets], [t.final_tokens for t in targets])
    # The target is one more run: its own loss deviates from the law like the ladder's runs do
    # (step-1 residual scale at the runs' ends, in relative terms, read at the runs trained for
    # as many tokens per parameter), which moves it along the step-2 curve.
    ends = s1.last_of_each_run()
    loss_sd = _log_residual_sd_near(step1, X1[ends], s1["y"][ends], s1["tokens"][ends] / s1["n_params"][ends],
                                    np.array([t.final_tokens / t.n_params for t in targets], float))
    # Resampling R runs understates the spread of a k-parameter fit by about √((R − k)/R)
    # (the usual small-sample correction of the bootstrap); undo it.
    inflate = np.sqrt(R / max(R - len(step1.params), 1))
    with np.errstate(all="ignore"):
        loss = step1.form.function(Xt, P1.T[:, :, None])  # (B+1, T)
        loss[1:] = loss[0] + inflate * (loss[1:] - loss[0])
        loss[1:] *= np.exp(target_normal(seed, 1, law.task.name, targets, n_bootstrap, loss_sd))
        if _through_c4(law):
            # Through the transfer map, refitted on the same resamples; the target's task loss
            # also scatters around the map as the ladder's runs do.
            transfer = law.transfer_
            xt, yt, wt = _thinned(law.transfer_points_, counts)
            # The transfer map's exponent is negative: its refits keep the map's own bounds.
            Pt = _refit_power_law(transfer, xt.reshape(-1, 1), yt, wt, bounds=TRANSFER_BOUNDS).params
            converged = converged & np.all(np.isfinite(Pt), axis=1)
            general = loss
            loss = transfer.form.function(general[:, :, None], Pt.T[:, :, None, None])[..., 0]
            loss[1:] *= np.exp(target_normal(seed, 2, law.task.name, targets, n_bootstrap,
                                             _run_level_sd(transfer, law.transfer_points_)))
        within = loss.copy()
        if extra_log_sd is not None:
            # The law's form may not hold as far out as the target: the miss measured by nested
            # backtests, grown to the target's distance (see .extrapolation).
            sd, dof = extra_log_sd
            loss[1:] *= np.exp(target_student_t(seed, 6, law.task.name, targets, n_bootstrap, sd, dof))
        # A 3-D input is taken as the input column itself, so each resample gets its own losses.
        acc = step2.form.function(loss[:, :, None], P2.T[:, :, None, None])[..., 0]
        acc_within = step2.form.function(within[:, :, None], P2.T[:, :, None, None])[..., 0]
    loss_full = law.predict_task_loss(np.array([t.n_params for t in targets], float),
                                      np.array([t.final_tokens for t in targets], float),
                                      np.array([t.spec.flops_per_token or np.nan for t in targets], float))
    acc_full = law.predict_accuracy(loss_full)
    # Step 2 alone, at each target's measured task loss (NaN for a target without data).
    measured = np.array([np.nan if (v := target_actual(t, law.task, law.feature, law.selection.moving_avg)) is None
                         else v for t in targets], float)
    with np.errstate(all="ignore"):
        step2_only = step2.form.function(measured[None, :, None], P2.T[:, :, None, None])[..., 0]
        step2_full = law.predict_accuracy(measured)
    draws = {"acc": acc[1:] - acc[0] + acc_full, "acc_within": acc_within[1:] - acc_within[0] + acc_full,
             "acc_step2": step2_only[1:] - step2_only[0] + step2_full}
    alternative = (step2.extra or {}).get("alternative") if step2.form.name == "flat" else None
    if alternative is not None:
        # A flat step 2 (no steady rise across the ladder): every other resample reads the sigmoid
        # fitted beside it instead, centred on that sigmoid's own prediction, so the interval also
        # holds the rise the ladder cannot rule out (an equal mixture of the two).
        Pa = step2_refits(alternative, law.step2_points_, counts).params
        other = np.arange(1, n_bootstrap + 1) % 2 == 0
        with np.errstate(all="ignore"):
            for key, losses, at in (("acc", loss, loss_full), ("acc_within", within, loss_full),
                                    ("acc_step2", np.broadcast_to(measured, loss.shape), measured)):
                curve = alternative.form.function(losses[:, :, None], Pa.T[:, :, None, None])[..., 0]
                centred = curve[1:] - curve[0] + alternative.predict(np.asarray(at, float).reshape(-1, 1))
                draws[key] = np.where(other[:, None], centred, draws[key])
    return {**draws, "loss": loss[1:] - loss[0] + loss_full, "converged": converged[1:], "acc_point": acc_full}


def _resample_problem(law, n_bootstrap: int, seed: int):
    """``(X, y, P0, counts, lower, upper, free)``: the weighted refits of ``law``'s bootstrap, warm
    started at its fit, in the space and with the bounds the fit used."""
    rng = np.random.default_rng(seed)
    fit, points = law.fit_, law.step1_points_
    X = law.inputs(points["n_params"], points["tokens"], points["flops"])
    y = law.to_fitted(points["y"])
    lower, upper, free = _bounds(fit, *law.bounds())
    counts = resample_counts(rng, len(y), n_bootstrap)
    return X, y, np.tile(fit.params, (len(counts), 1)), counts, lower, upper, free


#: Iterations of each bootstrap refit of a law straight to accuracy (warm started at the fit).
_DRAW_ITERATIONS = 50


def accuracy_law_refits(laws: Sequence, *, n_bootstrap: int = 1000, seed: int = 0) -> list[np.ndarray | None]:
    """The bootstrap refits' parameters ``(B + 1, k)`` of each law straight to accuracy, as
    :func:`accuracy_law_draws` makes them alone, solved together: the laws of one form, bounds and
    inputs (every task's, on one ladder or fold) share one batched solve, and each refit is to
    the bit what it is alone (:func:`.lm.batched_lm`); what is shared is numpy's per-iteration
    overhead, which dominates the small solves of a fold's hundred resamples. ``None`` for a law
    whose refits raised (alone, they raise where they belong)."""
    out: list[np.ndarray | None] = [None] * len(laws)
    groups: dict[tuple, tuple] = {}
    for i, law in enumerate(laws):
        try:
            X, y, P0, counts, lower, upper, free = _resample_problem(law, n_bootstrap, seed)
        except Exception:  # noqa: BLE001 - its own draws raise it where it belongs
            continue
        key = (law.fit_.form.name, law.residual, X.shape, X.tobytes(), lower.tobytes(), upper.tobytes(),
               free.tobytes())
        # the inputs and bounds are the group's key: the first member's serve them all
        groups.setdefault(key, (law, X, lower, upper, free, []))[-1].append((i, y, P0, counts))
    for first, X, lower, upper, free, members in groups.values():
        try:
            with np.errstate(all="ignore"):
                refit = batched_lm(first.fit_.form, X, np.concatenate([np.tile(y, (len(P0), 1)) for _, y, P0, _ in members]),
                                   np.concatenate([P0 for *_, P0, _ in members]), lower=lower, upper=upper, free=free,
                                   weights=np.concatenate([c for *_, c in members]), residual=first.residual,
                                   max_iter=_DRAW_ITERATIONS)
        except Exception:  # noqa: BLE001 - left to each law's own draws
            continue
        edges = np.cumsum([0, *(len(P0) for _, _, P0, _ in members)])
        for (i, *_), a, b in zip(members, edges[:-1], edges[1:]):
            out[i] = refit.params[a:b]
    return out


def accuracy_law_draws(law, targets: Sequence[RunData], *, n_bootstrap: int = 1000,
                       seed: int = 0, extra_sd=None, recipe_sd=None,
                       refit_params: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Predictive draws ``(B, T)`` of a law fitted straight to accuracy (single-step, direct, compute).

    Such a law has one point per run, so resampling whole runs is resampling its points: each
    resample refits the law with the runs' multiplicities as weights (the batched solver, warm
    started at the fit, in the space and with the bounds the fit used). The target is one more
    run, off the law as much as the ladder's runs are, so each draw also gets the law's residual
    scatter. The ladder's points are final accuracies averaged like the target's actual, so that
    scatter already holds the run-to-run and the checkpoint noise. ``extra_sd`` (per target, in
    the fitted quantity) adds the extrapolation term of :mod:`.extrapolation`; ``recipe_sd`` (per
    target, accuracy) the recipe-shift term.

    Notes
    -----
    With ``f`` the fitted quantity (accuracy, or ``−ln Acc`` for the compute law) and ``k`` free
    parameters over ``R`` runs: ``f_b = f(x*; θ_b)``, spread by the small-sample factor
    ``√(R/(R−k))`` around the full fit, then ``f_b + ε`` (linear residuals) or ``f_b e^ε`` (log
    residuals) with ``ε ~ N(0, s²)``, ``s² = Σ r_i² / (R − k)`` the fit's residual scale.
    """
    fit = law.fit_
    X, y, P0, counts, lower, upper, free = _resample_problem(law, n_bootstrap, seed)
    R = len(y)
    if refit_params is None:
        refit_params = batched_lm(fit.form, X, y, P0, lower=lower, upper=upper, free=free, weights=counts,
                                  residual=law.residual, max_iter=_DRAW_ITERATIONS).params
    flops = np.array([np.nan if t.spec.flops_per_token is None else t.spec.flops_per_token * t.final_tokens
                      for t in targets], float)
    Xt = law.inputs(np.array([t.n_params for t in targets], float),
                     np.array([t.final_tokens for t in targets], float), flops)
    k = int(free.sum())
    with np.errstate(all="ignore"):
        value = fit.form.function(Xt, refit_params.T[:, :, None])  # (B+1, T)
        # Resampling R runs understates a k-parameter fit's spread by about √((R − k)/R), as in the
        # two-step bootstrap; undo it.
        value[1:] = value[0] + np.sqrt(R / max(R - k, 1)) * (value[1:] - value[0])
        fitted = fit.form.function(X, fit.params)
        log = law.residual == "log"
        resid = np.log(fitted) - np.log(y) if log else fitted - y
        scale = float(np.sqrt(np.sum(resid**2) / max(R - k, 1)))
        eps = target_normal(seed, 3, law.task.name, targets, value.shape[0] - 1, scale)
        noisy = value[1:] * np.exp(eps) if log else value[1:] + eps
        point = law.from_fitted(fit.form.function(Xt, fit.params))
        # centred on the law's own prediction, like the two-step draws
        within = law.from_fitted(value[1:]) - law.from_fitted(value[0]) + point
        params = within
        if extra_sd is not None:
            sd, dof = extra_sd
            shifted = value[1:] + target_student_t(seed, 6, law.task.name, targets, value.shape[0] - 1, sd, dof)
            params = law.from_fitted(shifted) - law.from_fitted(value[0]) + point
            noisy = noisy + (shifted - value[1:])
        acc = law.from_fitted(noisy) - law.from_fitted(value[0]) + point
        if recipe_sd is not None:
            acc = acc + target_normal(seed, 7, law.task.name, targets, acc.shape[0], recipe_sd)
    return {"acc": np.clip(acc, accuracy_floor(law.task), 1.0), "acc_params": params, "acc_within": within,
            "loss": None, "acc_step2": None, "member_acc": [params],
            "member_point": [point], "sigma_noise": np.nanstd(acc - params, axis=0),
            "method": f"bootstrap over runs ({n_bootstrap} resamples) + the law's run scatter"}


#: The lowest accuracy a draw may take, as a fraction of the task's chance level. A model can sit
#: well under chance (a yes/no task answered with the minority class), but not near zero: on every
#: run of the real suites accuracy stayed above 0.75 × chance (lowest: BoolQ on the open_lm
#: testbed, 0.755), so half of chance is a floor that no real run has come near, while an
#: interval's wide terms far beyond a small ladder no longer reach 0 on a four-choice task.
CHANCE_FLOOR_FRACTION = 0.5


def accuracy_floor(task) -> float:
    """The lowest accuracy a draw may take: :data:`CHANCE_FLOOR_FRACTION` of the task's chance level."""
    return CHANCE_FLOOR_FRACTION * max(0.0, float(task.chance))


def noise_components(law, ladder: Ladder, *, last_n: int = 10) -> tuple[float, float]:
    """``(σ_run, σ_ckpt)``: run-to-run scatter around the step-2 curve, and checkpoint noise."""
    sigma_run = run_scatter(law.step2_, law.step2_points_, last_n=last_n)
    return sigma_run, largest_run_noise(law, ladder, last_n=last_n)


def run_scatter(step2: FitResult, points, *, last_n: int = 10) -> float:
    """SD across runs of each run's mean step-2 residual over its last ``last_n`` points (``σ_run``)."""
    resid = points["y"] - step2.predict(points["x"].reshape(-1, 1))
    per_run = np.array([resid[points.codes == i][-last_n:].mean() for i in np.unique(points.codes)])
    return float(np.std(per_run, ddof=1)) if len(per_run) > 1 else 0.0


def largest_run_noise(law, ladder: Ladder, *, last_n: int = 10) -> float:
    """Checkpoint noise of the accuracy over the last ``last_n`` checkpoints of the law's largest-compute run."""
    runs = [r for r in ladder.train_runs if r.name in set(law.fitted_on_)]
    largest = max(runs, key=lambda r: r.n_params * r.final_tokens)
    return checkpoint_noise(largest.metric(law.task, "accuracy")[-last_n:])


def checkpoint_noise(values: np.ndarray) -> float:
    """Checkpoint-to-checkpoint noise of a metric, robust to a slow trend.

    Notes
    -----
    ``σ = sd(v_{i+1} − v_i) / √2``: differences of neighbours cancel a trend that moves slowly
    over the window, while independent noise of SD σ gives differences of SD σ√2.
    """
    values = np.asarray(values, float)
    if len(values) < 3:
        return 0.0
    return float(np.std(np.diff(values), ddof=1) / np.sqrt(2.0))


def interval_draws(law, ladder: Ladder, targets: Sequence[RunData], *, n_bootstrap: int = 1000,
                   seed: int = 0, terms: dict | None = None) -> dict[str, np.ndarray] | None:
    """Draws ``(B, T)`` from the predictive distribution of each target's accuracy.

    For an ensemble, each member contributes ``n_bootstrap`` draws of its own, so the pooled
    distribution also spans the members' disagreement. A loss-to-loss law's draws are its own;
    the two-step laws through task bpb and through C4 loss are bootstrapped too, only for the
    reliability verdict's comparison of the two (``member_acc``/``member_point``: bpb first, then
    C4). A law fitted straight to accuracy has draws of its own (:func:`accuracy_law_draws`).
    ``terms`` (:func:`interval_terms`) adds the extrapolation and recipe-shift terms.
    """
    from .laws import EnsembleLaw, LossToLossLaw, TwoStepLaw, AccuracyLaw

    extra = None if terms is None else (terms["extrapolation_sd"], terms["extrapolation"].dof)
    recipe = np.zeros(len(targets)) if terms is None else terms["recipe_sd"]
    if isinstance(law, AccuracyLaw):
        return accuracy_law_draws(law, targets, n_bootstrap=n_bootstrap, seed=seed, extra_sd=extra,
                                  recipe_sd=recipe)
    if isinstance(law, EnsembleLaw):
        members = law.members_
    elif isinstance(law, (TwoStepLaw, LossToLossLaw)):
        members = [law]
    else:
        raise TypeError(f"no intervals for a {type(law).__name__}")
    sigma_run, sigma_ckpt = noise_components(members[0], ladder)
    boots = [bootstrap_predictions(member, ladder, targets, n_bootstrap=n_bootstrap, seed=seed + 17 * i,
                                   extra_log_sd=extra) for i, member in enumerate(members)]
    compared = boots
    if _through_c4(law):
        # The reliability verdict compares the two-step laws through task bpb and through C4 loss
        # (the rule as fixed for the ensemble), whichever law predicts; same seeds as the ensemble's.
        c4_law = TwoStepLaw(task=law.task, feature="c4", mode=law.mode, selection=law.selection,
                            step1_form=law.step1_form).fit(ladder)
        compared = [bootstrap_predictions(two_step, ladder, targets, n_bootstrap=n_bootstrap, seed=seed + 17 * i)
                    for i, two_step in enumerate((law.companion_, c4_law))]
    accs = [boot["acc"] for boot in boots]
    member_acc = [boot["acc"] for boot in compared]
    member_point = [boot["acc_point"] for boot in compared]
    params = np.concatenate(accs, axis=0)
    # Pooling the members' draws gives a mixture centred on the ensemble mean whose spread also
    # holds the members' disagreement.
    # Each target: run scatter and checkpoint noise, and the recipe shift if it was trained otherwise.
    noise_sd = np.sqrt(sigma_run**2 + sigma_ckpt**2 + recipe**2)
    noise = target_normal(seed, 4, law.task.name, targets, params.shape[0], noise_sd)
    # Step 2 alone (the first member's, as ``acc_from_actual_loss``), with the same noise.
    step2 = boots[0]["acc_step2"]
    step2 = step2 + target_normal(seed, 5, law.task.name, targets, step2.shape[0], noise_sd)
    if terms is not None and terms["step2_extrapolation"] is not None:
        # Step 2's own form error beyond the ladder (see .extrapolation), in the chained draws and
        # in step 2's interval at the measured loss alike.
        sd, dof = terms["step2_sd"], terms["step2_extrapolation"].dof
        params = params + target_student_t(seed, 8, law.task.name, targets, params.shape[0], sd, dof)
        step2 = step2 + target_student_t(seed, 9, law.task.name, targets, step2.shape[0], sd, dof)
    floor = accuracy_floor(law.task)
    step2 = np.clip(step2, floor, 1.0)
    within = np.concatenate([boot["acc_within"] for boot in boots], axis=0)
    return {"acc": np.clip(params + noise, floor, 1.0), "acc_params": params, "acc_within": within,
            "loss": boots[0]["loss"],
            "acc_step2": step2,
            "member_acc": member_acc, "member_point": member_point, "sigma_noise": float(np.hypot(sigma_run, sigma_ckpt)),
            "sigma_run": sigma_run, "sigma_ckpt": sigma_ckpt,
            "method": f"bootstrap over runs ({n_bootstrap} resamples) + run scatter + checkpoint noise"}


def check_interval_options(levels: Sequence[float], n_bootstrap: int) -> None:
    """Raise :class:`ConfigError` unless every level is in (0, 1) and there are enough resamples."""
    for q in levels:
        if not 0.0 < q < 1.0:
            raise ConfigError(f"interval level must be between 0 and 1 (e.g. 0.9), got {q}")
    if n_bootstrap < MIN_BOOTSTRAP:
        raise ConfigError(f"bootstrap resamples (--bootstrap) must be at least {MIN_BOOTSTRAP}, got {n_bootstrap}: an "
                          "interval's ends are quantiles of the draws")


def recipe_shift_sd(law) -> float:
    """The recipe-shift SD (accuracy) of the law's step 2 (:data:`RECIPE_SHIFT_SD`, by what it maps to accuracy)."""
    from .laws import AccuracyLaw

    if isinstance(law, AccuracyLaw):
        return RECIPE_SHIFT_SD["accuracy"]
    feature = getattr(law, "feature", None) or (getattr(law, "features", None) or ("bpb",))[0]
    return RECIPE_SHIFT_SD["c4" if feature == "c4" else "task_loss"]


def interval_terms(law, ladder: Ladder, targets: Sequence[RunData]) -> dict:
    """The two terms a bootstrap over the ladder cannot see, per target.

    ``extrapolation``: the law's :class:`~taskladder.fit.extrapolation.Extrapolation` model from
    nested backtests on ``ladder``; ``distance``: each target's decades beyond the fitted runs;
    ``extrapolation_sd``: ``τ d`` (in the law's extrapolated quantity; drawn from a Student t with
    the model's degrees of freedom); ``recipe_sd``: the
    recipe-shift SD (accuracy) for targets whose spec says ``recipe = "different"``, else 0;
    ``step2_extrapolation`` and ``step2_sd`` (``τ₂ d``, accuracy): step 2's own form error beyond
    the ladder, for laws through a loss (``None`` for laws straight to accuracy).
    """
    from .extrapolation import box_of, calibrate_extrapolation, distance

    model = calibrate_extrapolation(law, ladder)
    fitted = [ladder.runs[name] for name in law.fitted_on_ if name in ladder.runs]
    dist = distance([t.n_params for t in targets], [t.final_tokens for t in targets], box_of(fitted))
    shift = recipe_shift_sd(law)
    recipe = np.array([shift if t.spec.recipe == "different" else 0.0 for t in targets], float)
    # A law through a loss also has step 2's own form error beyond the ladder.
    step2 = calibrate_extrapolation(law, ladder, step=2) if model.quantity == "log_loss" else None
    return {"extrapolation": model, "distance": dist, "extrapolation_sd": model.sd(dist), "recipe_sd": recipe,
            "step2_extrapolation": step2, "step2_sd": None if step2 is None else step2.sd(dist)}


#: Interval terms, in the order a verdict names the largest.
TERMS = ("parameters", "noise", "extrapolation", "recipe")


def without_intervals(predictions: pd.DataFrame, *, levels: Sequence[float] = (0.5, 0.9),
                      reason: str) -> pd.DataFrame:
    """The interval columns of :func:`add_intervals`, all missing, with ``reason`` as the
    ``interval_method``: for a law that gives no number, which has nothing to put an interval
    around (drawing one would only spend the time of a thousand refits of a fit that did not
    converge)."""
    out = predictions.copy()
    for q in sorted(levels):
        out[f"acc_lo_{round(100 * q)}"] = np.nan
        out[f"acc_hi_{round(100 * q)}"] = np.nan
    out["acc_lo"] = out["acc_hi"] = np.nan
    out["level"] = max(levels)
    for column in ("task_loss_lo", "task_loss_hi", "acc_from_actual_loss_lo", "acc_from_actual_loss_hi",
                   "acc_sd_params", "acc_sd_noise", "acc_sd_extrapolation", "acc_sd_recipe", "extrapolation_distance"):
        out[column] = np.nan
    out["interval_term"] = ""
    out["interval_method"] = reason
    return out


def add_intervals(law, ladder: Ladder, targets: Sequence[RunData], predictions: pd.DataFrame, *,
                  levels: Sequence[float] = (0.5, 0.9), n_bootstrap: int = 1000, seed: int = 0,
                  extrapolation: bool = True) -> pd.DataFrame:
    """Add interval columns to one law's predictions (rows in ``targets`` order).

    For each level ``q`` (e.g. 0.9): ``acc_lo_90, acc_hi_90``; the widest level also goes to
    ``acc_lo, acc_hi, level``. Also ``task_loss_lo, task_loss_hi`` (step 1 alone, widest level),
    ``acc_from_actual_loss_lo, acc_from_actual_loss_hi`` (step 2 alone at the target's measured
    task loss, with run scatter and checkpoint noise; missing without data or a step 2),
    ``acc_sd_params`` (bootstrap SD), ``acc_sd_noise`` (run scatter and checkpoint noise),
    ``acc_sd_extrapolation`` and ``acc_sd_recipe`` (the terms of :func:`interval_terms`, in
    accuracy), ``extrapolation_distance`` (decades beyond the fitted runs), ``interval_term`` (the
    largest of the four) and ``interval_method``. Laws straight to accuracy have no task loss: its
    interval is missing. ``extrapolation=False`` leaves out both terms (the bootstrap alone).
    """
    check_interval_options(levels, n_bootstrap)
    out = predictions.copy()
    terms = interval_terms(law, ladder, targets) if extrapolation else None
    draws = interval_draws(law, ladder, targets, n_bootstrap=n_bootstrap, seed=seed, terms=terms)
    widest = max(levels)
    ok = out["acc_pred"].notna().to_numpy()
    for q in sorted(levels):
        lo, hi = np.nanquantile(draws["acc"], [(1 - q) / 2, (1 + q) / 2], axis=0)
        out[f"acc_lo_{round(100 * q)}"] = np.where(ok, lo, np.nan)
        out[f"acc_hi_{round(100 * q)}"] = np.where(ok, hi, np.nan)
    out["acc_lo"] = out[f"acc_lo_{round(100 * widest)}"]
    out["acc_hi"] = out[f"acc_hi_{round(100 * widest)}"]
    out["level"] = widest
    bounds = [(1 - widest) / 2, (1 + widest) / 2]
    loss_lo = loss_hi = step2_lo = step2_hi = np.full(len(out), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: targets without data
        if draws["loss"] is not None:
            loss_lo, loss_hi = np.nanquantile(draws["loss"], bounds, axis=0)
        if draws["acc_step2"] is not None:
            step2_lo, step2_hi = np.nanquantile(draws["acc_step2"], bounds, axis=0)
    out["task_loss_lo"] = np.where(ok, loss_lo, np.nan)
    out["task_loss_hi"] = np.where(ok, loss_hi, np.nan)
    out["acc_from_actual_loss_lo"] = step2_lo
    out["acc_from_actual_loss_hi"] = step2_hi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        within_sd = np.nanstd(draws["acc_within"], axis=0)
        out["acc_sd_params"] = within_sd
        out["acc_sd_noise"] = draws["sigma_noise"]
        # What the extrapolation term adds to the spread, in accuracy (its draws go through step 2).
        out["acc_sd_extrapolation"] = np.sqrt(np.fmax(np.nanvar(draws["acc_params"], axis=0) - within_sd**2, 0.0))
    out["acc_sd_recipe"] = 0.0 if terms is None else terms["recipe_sd"]
    out["extrapolation_distance"] = np.nan if terms is None else terms["distance"]
    sds = out[["acc_sd_params", "acc_sd_noise", "acc_sd_extrapolation", "acc_sd_recipe"]].to_numpy(float)
    out["interval_term"] = [TERMS[int(np.nanargmax(row))] if np.isfinite(row).any() else "" for row in sds]
    if len(draws["member_acc"]) > 1:
        # Disagreement of the first two members' predictions in units of their combined bootstrap SD.
        a, b = draws["member_acc"][0], draws["member_acc"][1]
        gap = np.abs(np.asarray(draws["member_point"][0]) - np.asarray(draws["member_point"][1]))
        out["member_gap"] = gap
        out["member_gap_z"] = gap / np.sqrt(np.nanvar(a, axis=0) + np.nanvar(b, axis=0))
    step2_model = None if terms is None else terms["step2_extrapolation"]
    out["interval_method"] = draws["method"] + ("" if terms is None else
                                                "; " + terms["extrapolation"].describe()
                                                + ("" if step2_model is None else "; " + step2_model.describe())
                                                + "; recipe shift for targets with recipe = \"different\"")
    return out
