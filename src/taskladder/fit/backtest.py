"""Backtests on the ladder itself: hold out the largest rung, fit on the rest, predict it.

This is how methods and settings are compared without touching the real targets:

``largest_size``      fit on every run of the smaller sizes, predict each run of the largest;
``largest_multiple``  fit on every run with a smaller token multiple, predict each run of the
                      largest multiple;
``two_largest_sizes``, ``two_largest_multiples``  the same with the top two rungs held out: an
                      extrapolation twice as far (used to measure how the error grows with
                      distance, :mod:`.extrapolation`);
``largest_compute``   fit on every run with less than half the largest run's compute ``N D``,
                      predict the others: the top budget of an isoFLOP sweep, whose sizes and
                      token multiples are not a grid;
``far_compute``       fit on every run with at most a twentieth of the largest run's compute,
                      predict the others: up to 1.3 decades of compute beyond the fitted runs, as
                      far as a target trained with 20 times the ladder's top budget.

Each held-out run's actual values are its own (last-``moving_avg`` averaged) task loss and
accuracy, exactly as for a target.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, TaskLadderError
from ..ladder import Ladder, RunData
from ..tasks import Task
from .laws import FailedLaw
from .selection import Selection

__all__ = ["HOLDOUTS", "ALL_HOLDOUTS", "holdout_split", "backtest", "summarize_backtest", "no_fit_succeeded"]

HOLDOUTS = ("largest_size", "largest_multiple")
#: Every holdout :func:`holdout_split` knows (the default backtest runs :data:`HOLDOUTS`).
ALL_HOLDOUTS = (*HOLDOUTS, "two_largest_sizes", "two_largest_multiples", "largest_compute", "far_compute")


def holdout_split(ladder: Ladder, holdout: str) -> tuple[list[str], list[RunData]]:
    """Names of the runs to fit on and the held-out runs to predict."""
    runs = ladder.train_runs
    if holdout not in ALL_HOLDOUTS:
        raise ConfigError(f"unknown holdout {holdout!r}; use one of {', '.join(ALL_HOLDOUTS)}")
    rungs = 2 if holdout.startswith("two_") else 1
    if holdout in ("largest_compute", "far_compute"):
        top = max(r.n_params * r.final_tokens for r in runs)
        held = [r for r in runs if r.n_params * r.final_tokens > top / (2 if holdout == "largest_compute" else 20)]
    elif holdout.endswith(("size", "sizes")):
        top = sorted({r.n_params for r in runs})[-rungs:]
        held = [r for r in runs if r.n_params in top]
    else:
        top = sorted({r.token_multiple for r in runs})[-rungs:]
        held = [r for r in runs if r.token_multiple in top]
    kept = [r.name for r in runs if r not in held]
    if not kept:
        raise DataError(f"holdout {holdout!r} leaves no run to fit on (every train run is in the held-out rung)")
    return kept, held


def backtest(ladder: Ladder, tasks: Sequence[Task], *, variants: Sequence[str] = ("two-step",),
             modes: Sequence[str] = ("default",), holdouts: Sequence[str] = HOLDOUTS,
             selection: Selection | None = None, intervals: bool = False, level: float = 0.9,
             n_bootstrap: int = 200, seed: int = 0, progress: bool = False,
             interval_terms: bool = True) -> pd.DataFrame:
    """Predictions of every held-out run, for every holdout × variant × mode × task.

    ``progress`` shows a bar on stderr over the ``holdouts × variants × modes × tasks`` fits.

    Returns
    -------
    pandas.DataFrame
        The prediction columns of :data:`~taskladder.fit.laws.PREDICTION_COLUMNS` plus
        ``holdout, variant, method, status`` (``ok`` or why the holdout or fit failed) and, with
        ``intervals=True``, ``acc_lo, acc_hi, level`` (and the 50 % interval ``acc_lo_50,
        acc_hi_50``), each fold's interval terms measured on the fold's own runs
        (``interval_terms=False``: the bootstrap alone).
    """
    from ..predict import drop_impossible, fit_law, paper_selection
    from ..progress import progress as progress_bar
    from .choice import check_variant
    from .uncertainty import add_intervals, check_interval_options

    if intervals:
        check_interval_options((level,), n_bootstrap)  # a bad option fails once, not in every fit

    frames = []
    splits: dict[str, tuple[Ladder, list[RunData]] | DataError] = {}
    for holdout in holdouts:
        try:
            kept, held = holdout_split(ladder, holdout)
            splits[holdout] = (ladder.subset(kept), held)
        except DataError as exc:
            splits[holdout] = exc
    fits = [(h, v, m, t) for h in holdouts for v in variants for m in modes for t in tasks]
    for holdout, variant, mode, task in progress_bar(fits, total=len(fits), desc="backtest fits", enabled=progress):
        split = splits[holdout]
        if isinstance(split, DataError):
            frames.append(pd.DataFrame([{"holdout": holdout, "variant": variant, "method": mode, "task": task.name,
                                         "status": f"failed: {split}"}]))
            continue
        sub, held = split
        try:
            check_variant(sub, task, variant)
            law = fit_law(variant, task, sub, mode=mode, selection=selection or paper_selection(variant))
            pred = drop_impossible(law.predict(held))
            if intervals and not isinstance(law, FailedLaw):
                pred = add_intervals(law, sub, held, pred, levels=tuple(sorted({0.5, level})),
                                     n_bootstrap=n_bootstrap, seed=seed, extrapolation=interval_terms)
            pred["status"] = [_row_status(law, row) for _, row in pred.iterrows()]
        except TaskLadderError as exc:
            pred = pd.DataFrame([{"target": r.name, "task": task.name, "status": f"failed: {exc}"} for r in held])
        pred.insert(0, "holdout", holdout)
        pred.insert(1, "variant", variant)
        pred.insert(2, "method", mode)
        frames.append(pred)
    return pd.concat(frames, ignore_index=True)


def _row_status(law, row: pd.Series) -> str:
    """``ok``, or why a held-out run got no number (the fit's own status)."""
    if np.isfinite(row.get("acc_pred", np.nan)):
        return "ok"
    if isinstance(law, FailedLaw):
        return f"failed: {law.reason}"
    parts = [p for p in (row.get("step1_status"), row.get("step2_status")) if isinstance(p, str) and p]
    return "failed: no number (" + "; ".join(parts) + ")"


def no_fit_succeeded(table: pd.DataFrame) -> str | None:
    """The reason, when no held-out run of a backtest table got a number (``None`` otherwise)."""
    if table.empty or (table["status"] == "ok").any():
        return None
    reasons = table["status"].str.removeprefix("failed: ").value_counts()
    return f"no backtest fit succeeded (none of {len(table)} held-out predictions got a number); most common " \
           f"reason: {reasons.index[0]}"


def summarize_backtest(table: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error (points) and, when intervals exist, coverage per holdout/variant/method/task.

    A prediction that is missing (a fit that did not converge) counts in ``n_missing``, not in the
    error, and ``why_missing`` gives the most common reason.
    """
    keys = ["holdout", "variant", "method", "task"]
    rows = []
    for key, group in table.groupby(keys, sort=False):
        err = group["abs_error"].astype(float) if "abs_error" in group else pd.Series(dtype=float)
        row = dict(zip(keys, key))
        row["mae_points"] = 100 * float(err.mean()) if err.notna().any() else np.nan
        row["max_error_points"] = 100 * float(err.max()) if err.notna().any() else np.nan
        row["n_runs"] = len(group)
        row["n_missing"] = int(err.isna().sum())
        failed = group["status"][group["status"] != "ok"] if "status" in group else pd.Series(dtype=str)
        row["why_missing"] = failed.str.removeprefix("failed: ").value_counts().index[0] if len(failed) else ""
        if "acc_lo" in group:
            inside = (group["acc_actual"] >= group["acc_lo"]) & (group["acc_actual"] <= group["acc_hi"])
            row["coverage"] = float(inside[group["acc_lo"].notna()].mean()) if group["acc_lo"].notna().any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
