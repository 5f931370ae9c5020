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

import pandas as pd

from .errors import ConfigError
from .fit.laws import PREDICTION_COLUMNS, DirectLaw, SingleStepLaw, TwoStepLaw
from .fit.selection import Selection
from .ladder import Ladder, RunData
from .tasks import Task, get_tasks

__all__ = ["VARIANTS", "make_law", "paper_selection", "predict_ladder", "PredictionResult"]

#: Named prediction variants: (law class, keyword options).
VARIANTS: dict[str, tuple[type, dict]] = {
    "two-step": (TwoStepLaw, {"feature": "bpb"}),
    "two-step-c4": (TwoStepLaw, {"feature": "c4"}),
    "two-step-taskce": (TwoStepLaw, {"feature": "taskce"}),
    "two-step-flops": (TwoStepLaw, {"feature": "bpb", "step1_form": "flops"}),
    "single-step": (SingleStepLaw, {}),
    "direct": (DirectLaw, {}),
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
                   variant: str = "two-step", mode: str = "default", selection: Selection = Selection(),
                   targets: Sequence[RunData] | None = None) -> PredictionResult:
    """Fit one law per task on the ladder's train runs and predict every target.

    Returns
    -------
    PredictionResult
        ``predictions`` has one row per (target, task) with :data:`PREDICTION_COLUMNS` plus
        ``method`` and ``variant``; a fit that did not converge leaves its prediction missing
        (``NaN``) in default mode, with the reason in ``step1_status``/``step2_status``.
    """
    if tasks is None or isinstance(tasks, str):
        resolved = get_tasks(tasks)
    else:
        resolved = [t if isinstance(t, Task) else get_tasks([t])[0] for t in tasks]
    targets = list(ladder.targets if targets is None else targets)
    laws = {}
    frames = []
    for task in resolved:
        law = make_law(variant, task, mode=mode, selection=selection).fit(ladder)
        laws[task.name] = law
        frames.append(law.predict(targets))
    predictions = (pd.concat(frames, ignore_index=True) if frames and targets
                   else pd.DataFrame(columns=PREDICTION_COLUMNS))
    predictions.insert(2, "variant", variant)
    predictions.insert(3, "method", mode)
    return PredictionResult(predictions=predictions, laws=laws, variant=variant, mode=mode, selection=selection)
