"""Which checkpoints enter each step (method.md §2.2–§2.4).

Step 1 uses one point per train run: the run's final D and the feature averaged over its last
``moving_avg`` checkpoints. Step 2 uses every checkpoint of every train run after dropping the
first ``ceil(skip_fraction · n)`` and smoothing feature and accuracy with a trailing moving
average. A target's "actual" value is the last element of the same moving average over its
checkpoints (for the 13B target, the mean of its last five rows).

A run with fewer checkpoints than these need (a ladder evaluated once per run) uses what it has:
its step-1 point averages all its checkpoints, and step 2 always keeps its last one.
:func:`selection_note` says when that happened.

The fits read the points as numpy columns (:class:`Points`); :meth:`Points.frame` gives the same
points as a tidy table for figures and reports, built only when asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..ladder import Ladder, RunData
from ..tasks import Task

__all__ = ["Selection", "Points", "rank_correlation", "trailing_mean", "step1_points", "step2_points", "step1_arrays", "step2_arrays",
           "step1_checkpoint_arrays", "target_actual", "selection_note"]


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


def _smoothed(ladder: Ladder, run: RunData, task: Task, metric: str, start: int, window: int) -> np.ndarray:
    """Trailing mean of a run's metric from checkpoint ``start`` on, computed once per ladder (the
    same accuracy enters the step 2 of several features; the C4 loss is the same for every task)."""
    task_key = None if metric == "c4" else (task.name, task.split)
    return ladder.memoize(("smoothed", run.name, task_key, metric, start, window),
                          lambda: trailing_mean(run.metric(task, metric)[start:], window))


def _check_rows(run: RunData, needed: int, what: str) -> None:
    if run.n_checkpoints < needed:
        raise DataError(f"{run.spec.file}: run {run.name!r} has {run.n_checkpoints} checkpoint(s) but {what} "
                        f"needs at least {needed}")


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation of ``x`` and ``y`` (NaN with fewer than four values or a constant one)."""
    if len(x) < 4:
        return float("nan")
    rank = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731 - ties are rare in real data
    rx, ry = rank(np.asarray(x)), rank(np.asarray(y))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass(frozen=True, eq=False)
class Points:
    """Points of one fit as numpy columns.

    Attributes
    ----------
    runs
        Names of the train runs, in ladder order.
    codes
        For each point, the index of its run in ``runs``.
    columns
        Named columns of equal length (``n_params``, ``tokens``, ``y``, ...).

    ``points["y"]`` is a column; :meth:`frame` is the tidy table with a categorical ``run`` column.
    """

    runs: tuple[str, ...]
    codes: np.ndarray
    columns: dict[str, np.ndarray]
    _frame: list = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def last_of_each_run(self) -> np.ndarray:
        """Index of each run's last point, in run order (every index, when there is one point per run)."""
        return np.array([np.flatnonzero(self.codes == i)[-1] for i in np.unique(self.codes)], dtype=int)

    def rank_correlation(self, x: str = "x", y: str = "y") -> float:
        """:func:`rank_correlation` of the runs' last ``x`` and ``y``. For step 2's points, near −1
        when accuracy rises steadily as the loss falls."""
        last = self.last_of_each_run()
        return rank_correlation(self.columns[x][last], self.columns[y][last])

    def matrix(self, *names: str) -> np.ndarray:
        """The named columns side by side, shape ``(n, len(names))``."""
        return np.column_stack([self.columns[n] for n in names])

    def frame(self) -> pd.DataFrame:
        """The points as a table: ``run`` (categorical) then the columns (built once, then cached)."""
        if not self._frame:
            run = pd.Categorical.from_codes(self.codes, categories=list(self.runs))
            self._frame.append(pd.DataFrame({"run": run, **self.columns}))
        return self._frame[0]


def step1_arrays(ladder: Ladder, task: Task | None, feature: str, selection: Selection) -> Points:
    """One point per train run: columns ``n_params, tokens, flops, y``.

    ``y`` is the mean of ``feature`` over the run's last ``step1_window`` checkpoints and
    ``tokens`` the last checkpoint's D (or the spec's ``tokens``).
    """
    window = selection.step1_window
    runs = ladder.train_runs
    n_params, tokens, flops, values = (np.empty(len(runs)) for _ in range(4))
    for i, run in enumerate(runs):
        _check_rows(run, 1, "a step-1 point")
        per_token = run.spec.flops_per_token
        n_params[i] = float(run.n_params)
        tokens[i] = run.final_tokens
        flops[i] = np.nan if per_token is None else per_token * run.final_tokens
        values[i] = np.mean(run.metric(task, feature)[-min(window, run.n_checkpoints):])
    return Points(runs=tuple(r.name for r in runs), codes=np.arange(len(runs)),
                  columns={"n_params": n_params, "tokens": tokens, "flops": flops, "y": values})


def step1_checkpoint_arrays(ladder: Ladder, task: Task | None, feature: str, selection: Selection) -> Points:
    """Every checkpoint of every train run after the first ``skip_fraction`` (as step 2 skips them):
    columns ``n_params, tokens, flops, lr_excess, y``.

    ``y`` is the checkpoint's own ``feature`` (not averaged) and ``lr_excess`` how far its learning
    rate lies above the run's final one, as a fraction of the peak (0 at the run's end).
    """
    parts: dict[str, list] = {"n_params": [], "tokens": [], "flops": [], "lr_excess": [], "y": []}
    codes: list[np.ndarray] = []
    runs = ladder.train_runs
    for i, run in enumerate(runs):
        values = run.metric(task, feature)
        n = len(values)
        start = min(n - 1, math.ceil(selection.skip_fraction * n))
        lr = run.lr_fraction
        per_token = run.spec.flops_per_token
        tokens = run.tokens[start:]
        codes.append(np.full(n - start, i))
        parts["n_params"].append(np.full(n - start, float(run.n_params)))
        parts["tokens"].append(tokens)
        parts["flops"].append(tokens * (np.nan if per_token is None else per_token))
        parts["lr_excess"].append(lr[start:] - lr[-1])
        parts["y"].append(values[start:])
    return Points(runs=tuple(r.name for r in runs), codes=np.concatenate(codes) if codes else np.zeros(0, int),
                  columns={name: np.concatenate(v) if v else np.zeros(0) for name, v in parts.items()})


def step2_arrays(ladder: Ladder, task: Task, feature: str, selection: Selection,
                 target_metric: str = "accuracy") -> Points:
    """All selected checkpoints of all train runs: columns ``n_params, step, tokens, x, y``."""
    parts: dict[str, list] = {"n_params": [], "step": [], "tokens": [], "x": [], "y": []}
    codes: list[np.ndarray] = []
    runs = ladder.train_runs
    for i, run in enumerate(runs):
        n = len(run.metric(task, feature))
        run.metric(task, target_metric)  # a missing accuracy column fails here, naming the run's file
        if n == 0:
            raise DataError(f"{run.spec.file}: run {run.name!r} has no checkpoint")
        # The skip never removes a run's last checkpoint: a run evaluated once still counts.
        start = min(n - 1, math.ceil(selection.skip_fraction * n))
        xs = _smoothed(ladder, run, task, feature, start, selection.moving_avg)
        ys = _smoothed(ladder, run, task, target_metric, start, selection.moving_avg)
        steps, tokens = run.steps[start:], run.tokens[start:]
        if selection.last_n is not None:
            keep = slice(-selection.last_n, None)
            xs, ys, steps, tokens = xs[keep], ys[keep], steps[keep], tokens[keep]
        codes.append(np.full(len(xs), i))
        parts["n_params"].append(np.full(len(xs), float(run.n_params)))
        for name, values in (("step", steps), ("tokens", tokens), ("x", xs), ("y", ys)):
            parts[name].append(values)
    return Points(runs=tuple(r.name for r in runs), codes=np.concatenate(codes) if codes else np.zeros(0, int),
                  columns={name: np.concatenate(values) if values else np.zeros(0) for name, values in parts.items()})


def step1_points(ladder: Ladder, task: Task | None, feature: str, selection: Selection) -> pd.DataFrame:
    """:func:`step1_arrays` as a table: ``run, n_params, tokens, flops, y``."""
    return step1_arrays(ladder, task, feature, selection).frame()


def step2_points(ladder: Ladder, task: Task, feature: str, selection: Selection,
                 target_metric: str = "accuracy") -> pd.DataFrame:
    """:func:`step2_arrays` as a table: ``run, n_params, step, tokens, x, y``."""
    return step2_arrays(ladder, task, feature, selection, target_metric).frame()


def selection_note(ladder: Ladder, selection: Selection) -> str | None:
    """One sentence when some train runs have fewer checkpoints than the selection asks for
    (``None`` otherwise): the selection shrank to what each of them has."""
    window = max(selection.step1_window, selection.moving_avg)
    counts = ladder.checkpoint_counts()
    short = {name: n for name, n in counts.items() if n < window}
    if not short:
        return None
    fewest = min(short.values())
    runs = f"all {len(counts)} train runs" if len(short) == len(counts) else f"{len(short)} of {len(counts)} train runs"
    return (f"{runs} have fewer than {window} checkpoints (fewest: {fewest}): each averages the checkpoints it has "
            f"for step 1 and its actual, and step 2 keeps at least its last checkpoint")


def target_actual(run: RunData, task: Task | None, metric: str, window: int) -> float | None:
    """The target's observed value: the last element of a trailing mean (mean of the last rows)."""
    if not run.has_data:
        return None
    values = run.metric(task, metric)
    return float(np.mean(values[-window:]))
