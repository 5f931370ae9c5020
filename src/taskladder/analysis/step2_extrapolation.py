"""Step 2 extrapolated within the ladder: does the loss-to-accuracy curve hold below the losses it saw?

A target's task loss usually lies below every loss of the ladder, so step 2 extrapolates. The
held-out-rung backtest (:mod:`taskladder.fit.backtest`) tests the chain; this tests step 2 alone,
over a chosen distance in task loss: step 2 is refitted on the checkpoints whose task loss is at
least ``distance`` above the ladder's lowest, and predicts every run whose last point lies below
that cut, at the run's own measured task loss, with the interval the bootstrap gives step 2 alone
(refits on resampled runs, plus run-to-run scatter and checkpoint noise, as for a target's
``acc_from_actual_loss_lo/hi``). Choosing ``distance`` as how far the target's *predicted* loss lies
below the ladder's lowest makes step 2 extrapolate as far as it must for the target.

If the errors here are small and the intervals hold the held-out runs, but a target sits far off
the ladder's curve at its measured loss, its loss-to-accuracy map differs from the ladder's (as
happens when the target's recipe differs), which no fit on the ladder can foresee.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, TaskLadderError
from ..fit.laws import fit_step2
from ..fit.selection import Points
from ..fit.uncertainty import check_interval_options, largest_run_noise, resample_counts, run_scatter, step2_refits
from ..ladder import Ladder

__all__ = ["step2_extrapolation_backtest", "step2_extrapolation_by_task", "summarize_step2_extrapolation"]

COLUMNS = ["task", "run", "task_loss", "cut", "acc_actual", "acc_pred", "acc_lo", "acc_hi", "error", "inside",
           "step2_status"]


def _subset(points: Points, keep: np.ndarray) -> Points:
    return Points(runs=points.runs, codes=points.codes[keep], columns={k: v[keep] for k, v in points.columns.items()})


def step2_extrapolation_backtest(law, ladder: Ladder, distance: float, *, level: float = 0.9,
                                 n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Refit step 2 above a loss cut and predict the runs that end below it.

    Parameters
    ----------
    law
        A fitted law with a step 2 (two-step or loss-to-loss): its ``step2_points_`` are the
        ladder's checkpoints (task loss ``x``, accuracy ``y``, both trailing means).
    ladder
        The ladder the law was fitted on (for the checkpoint noise of its largest run).
    distance
        How far above the lowest checkpoint loss the cut lies, in the task loss's units (> 0).
    level, n_bootstrap, seed
        The interval's level, resamples of the runs, and the random seed.

    Returns
    -------
    pandas.DataFrame
        One row per held-out run (``COLUMNS``): its last point's task loss and accuracy (the
        same trailing means a target's actual uses), the refitted curve's prediction there, the
        interval and whether it holds the actual; ``error = acc_actual − acc_pred``.

    Notes
    -----
    ``cut = min x + distance``; the refit uses the points with ``x ≥ cut``; a run is held out
    when its last point has ``x < cut``. The draws are
    ``g(x; θ_b) − g(x; θ₀) + g(x; θ̂) + ε``, ``ε ~ N(0, σ_run² + σ_ckpt²)``, with ``θ_b`` the
    refits on resampled runs and ``σ_run`` measured around the refitted curve.
    """
    check_interval_options((level,), n_bootstrap)
    if not np.isfinite(distance) or distance <= 0:
        raise ConfigError(f"step-2 extrapolation distance must be a positive task loss, got {distance}: "
                          "a target inside the ladder's loss range needs no extrapolation")
    if not hasattr(law, "step2_points_"):
        raise ConfigError(f"{type(law).__name__} has no step 2 (task loss → accuracy) to backtest")
    points: Points = law.step2_points_
    x, y = points["x"], points["y"]
    cut = float(x.min() + distance)
    kept = x >= cut
    last = points.last_of_each_run()
    held = last[x[last] < cut]
    n_params = len(law.step2_.params) - len((law.step2_.extra or {}).get("fixed", {}))
    if not len(held):
        raise DataError(f"task {law.task.name}: no run ends below the cut at task loss {cut:.4g}; "
                        "give a smaller distance")
    if np.unique(points.codes[kept]).size < 2 or kept.sum() <= n_params:
        raise DataError(f"task {law.task.name}: too few checkpoints above the cut at task loss {cut:.4g} "
                        f"({int(kept.sum())} from {np.unique(points.codes[kept]).size} run(s)) to refit step 2; "
                        "give a smaller distance")
    above = _subset(points, kept)
    refit = fit_step2(above, task=law.task, form=law.step2_.form.name)  # the default fit, whatever the law's mode
    rng = np.random.default_rng(seed)
    counts = resample_counts(rng, len(points.runs), n_bootstrap)
    params = step2_refits(refit, above, counts).params
    X = x[held].reshape(-1, 1)
    with np.errstate(all="ignore"):
        curves = refit.form.function(X, params.T[:, :, None])  # (B + 1, held)
        point = refit.predict(X)
        sigma = np.hypot(run_scatter(refit, above), largest_run_noise(law, ladder))
        draws = curves[1:] - curves[0] + point + rng.normal(0.0, sigma, size=curves[1:].shape)
        lo, hi = np.nanquantile(np.clip(draws, 0.0, 1.0), [(1 - level) / 2, (1 + level) / 2], axis=0)
    usable = bool(refit.converged and np.all(np.isfinite(point)))
    if not usable:
        point = lo = hi = np.full(len(held), np.nan)
    actual = y[held]
    # No interval, no verdict: a refit that did not converge leaves ``inside`` missing, not False.
    inside = pd.array([bool(a >= l and a <= h) if usable else pd.NA for a, l, h in zip(actual, lo, hi)],
                      dtype="boolean")
    return pd.DataFrame({"task": law.task.name, "run": [points.runs[c] for c in points.codes[held]],
                         "task_loss": x[held], "cut": cut, "acc_actual": actual, "acc_pred": point,
                         "acc_lo": lo, "acc_hi": hi, "error": actual - point,
                         "inside": inside, "step2_status": refit.status},
                        columns=COLUMNS)


def step2_extrapolation_by_task(ladder: Ladder, tasks=None, *, result=None, distance: float | None = None,
                                level: float = 0.9, n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """:func:`step2_extrapolation_backtest` for each task's law.

    The laws are those of ``result`` (a :class:`~taskladder.predict.PredictionResult` on this
    ladder), or else the default law fitted on the ladder for ``tasks``. ``distance`` defaults, per
    task, to how far the furthest target's predicted task loss lies below the ladder's lowest
    checkpoint loss (the ladder's spec must then list targets). Returns the held-out runs of every
    task plus ``distance`` and ``status`` (``ok``, or why a task has no check — e.g. a law without
    a step 2 — in a row of its own).
    """
    from ..predict import predict_ladder

    check_interval_options((level,), n_bootstrap)
    if distance is None and not ladder.targets:
        raise ConfigError("the step-2 extrapolation check needs the distance in task loss to extrapolate over: "
                          "list targets in the spec (their predicted loss sets it) or give the distance")
    if result is None:
        result = predict_ladder(ladder, tasks=tasks, targets=ladder.targets)
    frames = []
    for task_name, law in result.laws.items():
        task_distance = np.nan if distance is None else float(distance)
        try:
            if not hasattr(law, "step2_points_"):
                raise ConfigError(f"the {type(law).__name__} has no step 2 (task loss → accuracy) of its own")
            if distance is None:
                predicted = result.predictions.loc[result.predictions["task"] == task_name, "task_loss_pred"]
                if predicted.notna().any():
                    task_distance = float(law.step2_points_["x"].min() - predicted.min())
            if not np.isfinite(task_distance):
                raise DataError("no converged prediction of the targets' task loss to set the distance")
            if task_distance <= 0:
                raise DataError("the targets' predicted task loss lies inside the ladder's range: step 2 "
                                "does not extrapolate")
            frame = step2_extrapolation_backtest(law, ladder, task_distance, level=level, n_bootstrap=n_bootstrap,
                                                 seed=seed)
            frame["status"] = ["ok" if np.isfinite(pred) else f"step 2 refit above the cut: {status}"
                               for pred, status in zip(frame["acc_pred"], frame["step2_status"])]
        except TaskLadderError as exc:
            frame = pd.DataFrame([{"task": task_name, "status": str(exc)}], columns=COLUMNS + ["status"])
        frame.insert(1, "distance", task_distance)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def summarize_step2_extrapolation(table: pd.DataFrame) -> pd.DataFrame:
    """Per task: the distance, held-out runs, mean and largest error (points) and coverage."""
    rows = []
    for task, group in table.groupby("task", sort=False):
        ok = group[group["status"] == "ok"]
        error = 100 * ok["error"].astype(float)
        status = "ok" if len(ok) else group["status"].iloc[0]
        rows.append({"task": task, "distance": float(group["distance"].iloc[0]), "n_runs": len(ok),
                     "mean_error_points": float(error.mean()) if len(ok) else np.nan,
                     "max_error_points": float(error.iloc[int(np.argmax(np.abs(error.to_numpy())))]) if len(ok) else np.nan,
                     "coverage": float(ok["inside"].astype(bool).mean()) if len(ok) else np.nan,
                     "status": status})
    return pd.DataFrame(rows)
