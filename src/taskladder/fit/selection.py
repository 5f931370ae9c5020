"""Which checkpoints enter each step (method.md §2.2–§2.4).

Step 1 uses one point per train run: the run's final D and the feature averaged over its last
``moving_avg`` checkpoints. Step 2 uses every checkpoint of every train run after dropping the
first ``ceil(skip_fraction · n)`` and smoothing feature and accuracy with a trailing moving
average. A target's "actual" value is the last element of the same moving average over its
checkpoints (for the 13B target, the mean of its last five rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..ladder import Ladder, RunData
from ..tasks import Task

__all__ = ["Selection", "trailing_mean", "step1_points", "step2_points", "target_actual"]


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Data-selection knobs.

    Parameters
    ----------
    moving_avg
        Window of the trailing moving average (step 2) and number of final checkpoints averaged
        for each run's step-1 point.
    skip_fraction
        Fraction of each train run's earliest checkpoints left out of step 2
        (``ceil(skip_fraction · n)`` rows; ``1.0`` keeps only the last row).
    last_n
        Keep only each train run's last ``last_n`` step-2 points (``None``: all).
    step1_moving_avg
        Separate window for step 1 (``None``: ``moving_avg``).
    """

    moving_avg: int = 5
    skip_fraction: float = 0.1
    last_n: int | None = None
    step1_moving_avg: int | None = None

    def __post_init__(self) -> None:
        if self.moving_avg < 1:
            raise ConfigError(f"moving_avg must be at least 1, got {self.moving_avg}")
        if not 0.0 <= self.skip_fraction <= 1.0:
            raise ConfigError(f"skip_fraction must be in [0, 1], got {self.skip_fraction}")
        if self.last_n is not None and self.last_n < 1:
            raise ConfigError(f"last_n must be at least 1 (or unset), got {self.last_n}")
        if self.step1_moving_avg is not None and self.step1_moving_avg < 1:
            raise ConfigError(f"step1_moving_avg must be at least 1, got {self.step1_moving_avg}")

    @property
    def step1_window(self) -> int:
        return self.step1_moving_avg or self.moving_avg


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average; the first ``window − 1`` elements average a partial window.

    Notes
    -----
    ``out[i] = mean(values[max(0, i − w + 1) : i + 1])``.
    """
    values = np.asarray(values, dtype=float)
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(0, idx - window)
    return (csum[idx] - csum[start]) / (idx - start)


def _check_rows(run: RunData, needed: int, what: str) -> None:
    if run.n_checkpoints < needed:
        raise DataError(f"{run.spec.file}: run {run.name!r} has {run.n_checkpoints} checkpoint(s) but {what} "
                        f"needs at least {needed}")


def step1_points(ladder: Ladder, task: Task | None, feature: str, selection: Selection) -> pd.DataFrame:
    """One point per train run: ``run, n_params, tokens, flops, y``.

    ``y`` is the mean of ``feature`` over the run's last ``step1_window`` checkpoints and
    ``tokens`` the last checkpoint's D (or the spec's ``tokens``).
    """
    window = selection.step1_window
    names, n_params, tokens, flops, values = [], [], [], [], []
    for run in ladder.train_runs:
        _check_rows(run, window, f"a step-1 average over the last {window} checkpoints")
        per_token = run.spec.flops_per_token
        names.append(run.name)
        n_params.append(float(run.n_params))
        tokens.append(run.final_tokens)
        flops.append(np.nan if per_token is None else per_token * run.final_tokens)
        values.append(float(np.mean(run.metric(task, feature)[-window:])))
    return pd.DataFrame({"run": pd.Categorical(names, categories=names), "n_params": n_params,
                         "tokens": tokens, "flops": flops, "y": values})


def step2_points(ladder: Ladder, task: Task, feature: str, selection: Selection,
                 target_metric: str = "accuracy") -> pd.DataFrame:
    """All selected checkpoints of all train runs: ``run, n_params, step, tokens, x, y``."""
    parts: dict[str, list] = {"run": [], "n_params": [], "step": [], "tokens": [], "x": [], "y": []}
    names: list[str] = []
    for run in ladder.train_runs:
        x = run.metric(task, feature)
        y = run.metric(task, target_metric)
        n = len(x)
        start = n - 1 if selection.skip_fraction >= 1.0 else math.ceil(selection.skip_fraction * n)
        if start >= n:
            raise DataError(f"{run.spec.file}: run {run.name!r} has no checkpoint left after skipping "
                            f"{selection.skip_fraction:.0%} of {n}")
        xs = trailing_mean(x[start:], selection.moving_avg)
        ys = trailing_mean(y[start:], selection.moving_avg)
        steps, tokens = run.steps[start:], run.tokens[start:]
        if selection.last_n is not None:
            keep = slice(-selection.last_n, None)
            xs, ys, steps, tokens = xs[keep], ys[keep], steps[keep], tokens[keep]
        parts["run"].append(np.full(len(xs), len(names)))
        names.append(run.name)
        parts["n_params"].append(np.full(len(xs), float(run.n_params)))
        for name, values in (("step", steps), ("tokens", tokens), ("x", xs), ("y", ys)):
            parts[name].append(values)
    columns = {name: np.concatenate(values) for name, values in parts.items()}
    columns["run"] = pd.Categorical.from_codes(columns["run"], categories=names)
    return pd.DataFrame(columns)


def target_actual(run: RunData, task: Task | None, metric: str, window: int) -> float | None:
    """The target's observed value: the last element of a trailing mean (mean of the last rows)."""
    if not run.has_data:
        return None
    values = run.metric(task, metric)
    return float(np.mean(values[-window:]))
