"""Fit a ladder and predict its targets, for every requested task: the library's main entry point.

Example
-------
>>> from taskladder import load_ladder, predict_ladder        # doctest: +SKIP
>>> result = predict_ladder(load_ladder("specs/olmo-paper.toml"), mode="paper")
>>> result.predictions[["target", "task", "acc_pred", "acc_actual"]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError
from .fit.laws import (PREDICTION_COLUMNS, ComputeAccuracyLaw, DirectLaw, EnsembleLaw, LossToLossLaw, SingleStepLaw,
                       TwoStepLaw)
from .fit.selection import Selection
from .ladder import Ladder, RunData
from .tasks import Task, get_tasks
from .variants import default_variant

__all__ = ["VARIANTS", "make_law", "paper_selection", "predict_ladder", "PredictionResult"]

#: Named prediction variants: (law class, keyword options).
VARIANTS: dict[str, tuple[type, dict]] = {
    "ensemble": (EnsembleLaw, {"features": ("bpb", "c4")}),
    "two-step": (TwoStepLaw, {"feature": "bpb"}),
    "two-step-c4": (TwoStepLaw, {"feature": "c4"}),
    "two-step-taskce": (TwoStepLaw, {"feature": "taskce"}),
    "two-step-flops": (TwoStepLaw, {"feature": "bpb", "step1_form": "flops"}),
    "single-step": (SingleStepLaw, {}),
    "direct": (DirectLaw, {}),
    "direct-compute": (ComputeAccuracyLaw, {}),
    "loss-to-loss": (LossToLossLaw, {}),
    "two-step-lr": (TwoStepLaw, {"feature": "bpb", "step1_form": "nd_lr"}),
    "loss-to-loss-lr": (LossToLossLaw, {"step1_form": "nd_lr"}),
}



def paper_selection(variant: str) -> Selection:
    """The reference's data selection for a variant (method.md §2): TaskCE uses the final
    checkpoint only and skips the first half of each run in step 2; the others average the last
    five checkpoints and skip the first 10 %."""
    if VARIANTS.get(variant, (None, {}))[1].get("feature") == "taskce":
        return Selection(moving_avg=1, skip_fraction=0.5)
    return Selection(moving_avg=5, skip_fraction=0.1)


def make_law(variant: str, task: Task, *, mode: str = "default", selection: Selection = Selection()):
    """Build an unfitted law of a named variant for one task."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    cls, options = VARIANTS[variant]
    return cls(task=task, mode=mode, selection=selection, **options)


@dataclass
class PredictionResult:
    """Predictions of every target for every task, and the fitted laws behind them."""

    predictions: pd.DataFrame
    laws: dict[str, object] = field(default_factory=dict)
    variant: str = "two-step"
    mode: str = "default"
    selection: Selection = Selection()


def predict_ladder(ladder: Ladder, *, tasks: str | Sequence[str] | Sequence[Task] | None = None,
                   variant: str | None = None, mode: str = "default", selection: Selection | None = None,
                   targets: Sequence[RunData] | None = None, intervals: bool = False,
                   levels: Sequence[float] = (0.5, 0.9), n_bootstrap: int = 1000, seed: int = 0,
                   reliability: bool = False) -> PredictionResult:
    """Fit one law per task on the ladder's train runs and predict every target.

    Parameters
    ----------
    tasks
        Task names (a list or a comma-separated string; ``"all"``) or tasks; default: the paper's
        eight that the ladder has data for (:meth:`Ladder.default_tasks`).
    variant
        A name of :data:`VARIANTS`; default: ``"two-step"`` in paper mode, else ``"loss-to-loss"``
        (:func:`~taskladder.variants.default_variant`).
    selection
        Data selection; default: the variant's paper preset (:func:`paper_selection`).
    intervals
        Add prediction intervals at ``levels`` (bootstrap over runs with ``n_bootstrap``
        resamples, seeded by ``seed``; see :mod:`taskladder.fit.uncertainty`).
    reliability
        Add ``reliability`` and ``reliability_reason`` (see :mod:`taskladder.analysis.reliability`),
        which needs a backtest of the same law on the ladder.

    Returns
    -------
    PredictionResult
        ``predictions`` has one row per (target, task) with :data:`PREDICTION_COLUMNS` plus
        ``method`` and ``variant``; a fit that did not converge leaves its prediction missing
        (``NaN``) in default mode, with the reason in ``step1_status``/``step2_status``.
    """
    variant = variant or default_variant(mode)
    selection = selection or paper_selection(variant)
    if tasks is None:
        resolved = ladder.default_tasks()
    elif isinstance(tasks, str):
        resolved = get_tasks(tasks)
    else:
        resolved = [t if isinstance(t, Task) else get_tasks([t])[0] for t in tasks]
    targets = list(ladder.targets if targets is None else targets)
    if intervals:
        from .fit.uncertainty import check_interval_options

        check_interval_options(levels, n_bootstrap)  # before any fit
    laws = {task.name: make_law(variant, task, mode=mode, selection=selection).fit(ladder) for task in resolved}
    backtest_errors: dict[str, float] = {}
    if reliability and targets:
        from .fit.backtest import backtest, summarize_backtest

        summary = summarize_backtest(backtest(ladder, resolved, variants=[variant], modes=[mode], selection=selection))
        backtest_errors = (summary.groupby("task")["mae_points"].max() / 100).to_dict()
    frames = []
    for task in resolved:
        law = laws[task.name]
        pred = law.predict(targets)
        if intervals and targets:
            from .fit.uncertainty import add_intervals

            pred = add_intervals(law, ladder, targets, pred, levels=levels, n_bootstrap=n_bootstrap, seed=seed)
        if reliability and targets:
            from .analysis.reliability import assess_reliability, ladder_signal

            signal = ladder_signal(getattr(law, "primary_", law), ladder)
            verdicts = [assess_reliability(row, signal, backtest_errors.get(task.name)) for _, row in pred.iterrows()]
            pred["reliability"] = [v for v, _ in verdicts]
            pred["reliability_reason"] = [r for _, r in verdicts]
            pred["backtest_error"] = backtest_errors.get(task.name, np.nan)
        frames.append(pred)
    predictions = (pd.concat(frames, ignore_index=True) if frames and targets
                   else pd.DataFrame(columns=PREDICTION_COLUMNS))
    predictions.insert(2, "variant", variant)
    predictions.insert(3, "method", mode)
    return PredictionResult(predictions=predictions, laws=laws, variant=variant, mode=mode, selection=selection)
