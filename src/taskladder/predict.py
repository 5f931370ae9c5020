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
from .fit.laws import (PREDICTION_COLUMNS, AccuracyLaw, ComputeAccuracyLaw, DirectLaw, EnsembleLaw, FailedLaw,
                       LossToLossLaw, SingleStepLaw, TwoStepLaw, fit_accuracy_laws)
from .fit.selection import Selection
from .ladder import Ladder, RunData
from .tasks import Task
from .variants import default_variant

__all__ = ["VARIANTS", "make_law", "fit_law", "fit_laws", "paper_selection", "predict_ladder", "PredictionResult"]

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


def fit_law(variant: str, task: Task, ladder: Ladder, *, mode: str = "default",
            selection: Selection = Selection()):
    """A law of ``variant`` fitted on the ladder; data on which the linear algebra breaks down
    (singular, degenerate) gives a :class:`~taskladder.fit.laws.FailedLaw` that says so."""
    law = make_law(variant, task, mode=mode, selection=selection)
    try:
        with np.errstate(all="ignore"):
            law.fit(ladder)
    except _BREAKDOWNS as exc:
        law = _failed(variant, task, ladder, mode, selection, exc)
    law.variant_ = variant  # what refits of the same law (nested backtests) build
    return law


#: Errors of the linear algebra on singular or degenerate data: the law fails, the others go on.
_BREAKDOWNS = (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError)


def _failed(variant: str, task: Task, ladder: Ladder, mode: str, selection: Selection, exc: Exception) -> FailedLaw:
    reason = f"singular or degenerate data ({exc})"
    return FailedLaw(task=task, variant=variant, reason=reason, mode=mode, selection=selection).fit(ladder)


def fit_laws(requests: Sequence[tuple[str, Task, Ladder, str, Selection]]) -> list:
    """:func:`fit_law` for each ``(variant, task, ladder, mode, selection)``, the same laws.

    The laws fitted straight to accuracy are fitted together (:func:`~taskladder.fit.laws.fit_accuracy_laws`:
    one batched solve for all fits of one form and size, each fit exactly what it is alone);
    the others, and any the batch leaves (a fit that raised), one by one.
    """
    laws = [make_law(variant, task, mode=mode, selection=selection) for variant, task, _, mode, selection in requests]
    batch = [i for i, law in enumerate(laws) if isinstance(law, AccuracyLaw)]
    fitted: list = [None] * len(requests)
    for i, law in zip(batch, fit_accuracy_laws([(laws[i], requests[i][2]) for i in batch]) if len(batch) > 1 else ()):
        if isinstance(law, _BREAKDOWNS):
            law = _failed(*requests[i], law)
        if isinstance(law, (AccuracyLaw, FailedLaw)):
            law.variant_ = requests[i][0]
            fitted[i] = law
    return [law if law is not None else fit_law(variant, task, ladder, mode=mode, selection=selection)
            for law, (variant, task, ladder, mode, selection) in zip(fitted, requests)]


def drop_impossible(pred: pd.DataFrame) -> pd.DataFrame:
    """No impossible number leaves a law: an accuracy that is not finite or lies outside [0, 1], or
    a task loss that is not a finite positive number, becomes missing, and the status says why."""
    pred = pred.copy()
    acc = pred["acc_pred"].astype(float)
    bad = acc.notna() & ~(np.isfinite(acc) & (acc >= 0.0) & (acc <= 1.0))
    loss = pred["task_loss_pred"].astype(float)
    bad_loss = loss.notna() & ~(np.isfinite(loss) & (loss > 0.0))
    for rows, what in ((bad, "accuracy"), (bad_loss & ~bad, "task loss")):
        if rows.any():
            pred.loc[rows, "step1_status"] = [f"{s}; no number: the fit gives an impossible {what} ({v:g})"
                                              for s, v in zip(pred.loc[rows, "step1_status"],
                                                              (acc if what == "accuracy" else loss)[rows])]
            pred.loc[rows, ["acc_pred", "abs_error", "task_loss_pred"]] = np.nan
    return pred


def heldout_error(law, ladder: Ladder) -> float:
    """The law's held-out-rung backtest error: the larger over :data:`~taskladder.fit.backtest.HOLDOUTS`
    of the mean absolute accuracy error on the held-out runs (NaN when no holdout gave a number).
    The refits are the nested backtests' own (:func:`~taskladder.fit.extrapolation.heldout_predictions`),
    shared with the interval's extrapolation term."""
    from .fit.backtest import HOLDOUTS
    from .fit.extrapolation import heldout_predictions

    if isinstance(law, FailedLaw):
        return np.nan
    errors = []
    for holdout in HOLDOUTS:
        pred = heldout_predictions(ladder, holdout, law)
        if pred is not None and pred["abs_error"].notna().any():
            errors.append(float(pred["abs_error"].mean()))
    return max(errors) if errors else np.nan


@dataclass
class PredictionResult:
    """Predictions of every target for every task, and the fitted laws behind them.

    ``variant`` is the law that ran (``"auto"`` when the default chose different laws for
    different tasks; ``variants`` has each task's), ``notes`` what the user should know about how
    the data was used (one sentence each: a law chosen because another lacked columns, a selection
    that shrank to the checkpoints the runs have, FLOPs per token estimated as 6 N).
    """

    predictions: pd.DataFrame
    laws: dict[str, object] = field(default_factory=dict)
    variant: str = "two-step"
    mode: str = "default"
    selection: Selection = Selection()
    variants: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _loss_unit(law, task: Task) -> str:
    """What ``task_loss_pred`` holds for this law: the task loss in its unit, the C4 loss or TaskCE in
    nats, or nothing (laws fitted straight to accuracy)."""
    feature = getattr(law, "feature", None) or (getattr(law, "features", None) or (None,))[0]
    if feature is None:
        return ""
    if feature == "c4":
        return "C4 nats"
    if feature == "taskce":
        return "TaskCE nats"
    return task.loss_unit


def resolve_laws(ladder: Ladder, tasks: Sequence[Task], *, variant: str | None, mode: str,
                 selection: Selection | None) -> tuple[dict[str, tuple[str, Selection]], list[str]]:
    """Each task's variant and selection, and the notes that explain them.

    With ``variant`` ``None`` each task gets the first law of the default order that its data
    supports (:func:`~taskladder.fit.choice.choose_variant`); a given ``variant`` is checked against
    the data (:func:`~taskladder.fit.choice.check_variant`).
    """
    from .fit.choice import check_variant, choose_variant
    from .fit.selection import selection_note

    chosen: dict[str, tuple[str, Selection]] = {}
    # (chosen law, the laws skipped before it) -> [(task, first gap of each skipped law)]
    fallbacks: dict[tuple[str, tuple[str, ...]], list[tuple[str, list[str]]]] = {}
    for task in tasks:
        if variant is None:
            name, skipped = choose_variant(ladder, task, mode)
            if skipped:
                key = (name, tuple(v for v, _ in skipped))
                fallbacks.setdefault(key, []).append((task.name, [g for _, g in skipped]))
        else:
            check_variant(ladder, task, variant)
            name = variant
        chosen[task.name] = (name, selection or paper_selection(name))
    notes = []
    for (name, skipped), cases in fallbacks.items():
        names = [t for t, _ in cases]
        which = (f"every task ({len(names)})" if len(names) == len(tasks) and len(names) > 1 else
                 ", ".join(names[:4]) + (f" … ({len(names)} tasks)" if len(names) > 4 else ""))
        gaps = "; ".join(f"{v}: {g}" for v, g in zip(skipped, cases[0][1]))
        notes.append(f"law: {name} for {which}, the first law of the default order that the data supports "
                     f"({gaps}{' …' if len(names) > 1 else ''})")
    note = selection_note(ladder, selection or paper_selection(variant or default_variant(mode)))
    if note:
        notes.append(f"selection: {note}")
    estimated = [r.name for r in ladder.runs.values() if r.spec.flops_source == "6N"]
    uses_flops = any(v in ("two-step-flops", "direct-compute") for v, _ in chosen.values())
    if estimated and uses_flops:
        notes.append(f"FLOPs per token: 6 N for {len(estimated)} run(s) without a size label or flops_per_token "
                     f"({', '.join(estimated[:3])}{' …' if len(estimated) > 3 else ''})")
    return chosen, notes


def predict_ladder(ladder: Ladder, *, tasks: str | Sequence[str] | Sequence[Task] | None = None,
                   variant: str | None = None, mode: str = "default", selection: Selection | None = None,
                   targets: Sequence[RunData] | None = None, intervals: bool = False,
                   levels: Sequence[float] = (0.5, 0.9), n_bootstrap: int = 1000, seed: int = 0,
                   reliability: bool = False, interval_terms: bool = True, update: bool = True) -> PredictionResult:
    """Fit one law per task on the ladder's train runs and predict every target.

    Parameters
    ----------
    tasks
        Task names (a list or a comma-separated string; ``"all"``: every task the ladder has data
        for) or tasks; default: :meth:`Ladder.default_tasks` (the paper's eight, the corpus tasks
        and the spec's declared tasks that the ladder has data for).
    variant
        A name of :data:`VARIANTS`, checked against the data; default: per task, the first law of
        :data:`~taskladder.variants.DEFAULT_ORDER` the data supports (``"loss-to-loss"``, or
        ``"two-step"`` in paper mode, on a ladder with task and C4 losses).
    selection
        Data selection; default: the variant's paper preset (:func:`paper_selection`).
    intervals
        Add prediction intervals at ``levels`` (bootstrap over runs with ``n_bootstrap``
        resamples, seeded by ``seed``; see :mod:`taskladder.fit.uncertainty`), widened by the
        extrapolation error the ladder's nested backtests show (:mod:`taskladder.fit.extrapolation`)
        and, for a target with ``recipe = "different"``, the recipe shift of step 2;
        ``interval_terms=False`` leaves both out (the bootstrap alone).
    reliability
        Add ``reliability`` and ``reliability_reason`` (see :mod:`taskladder.analysis.reliability`),
        which needs a backtest of the same law on the ladder.
    update
        A target whose file ends before its planned tokens (a run still training) is conditioned
        on its checkpoints (:func:`taskladder.watch.update_partial_targets`: its forecast at the
        fraction its file reaches), and a note says so; ``False``: the ladder alone for every target.

    Returns
    -------
    PredictionResult
        ``predictions`` has one row per (target, task) with :data:`PREDICTION_COLUMNS` plus
        ``method`` and ``variant``; a fit that did not converge leaves its prediction missing
        (``NaN``) in default mode, with the reason in ``step1_status``/``step2_status``.
    """
    if tasks is None or isinstance(tasks, str):
        resolved = ladder.resolve_tasks(tasks)
    else:
        resolved = [t if isinstance(t, Task) else ladder.resolve_tasks([t])[0] for t in tasks]
    targets = list(ladder.targets if targets is None else targets)
    if intervals:
        from .fit.uncertainty import check_interval_options

        check_interval_options(levels, n_bootstrap)  # before any fit
    chosen, notes = resolve_laws(ladder, resolved, variant=variant, mode=mode, selection=selection)
    fitted = fit_laws([(chosen[task.name][0], task, ladder, mode, chosen[task.name][1]) for task in resolved])
    laws = {task.name: law for task, law in zip(resolved, fitted)}
    points = {task.name: drop_impossible(laws[task.name].predict(targets)) for task in resolved}
    # A law straight to accuracy that gives no number (its fit did not converge) has no step 2 to
    # read at a measured loss either: nothing to put an interval on or to backtest for a verdict.
    silent = {name for name, law in laws.items()
              if isinstance(law, FailedLaw) or (isinstance(law, AccuracyLaw) and not points[name]["acc_pred"].notna().any())}
    if targets and (reliability or (intervals and interval_terms)):
        # The nested backtests' refits (the reliability verdict's held-out rungs, the interval's
        # extrapolation term), every task's at once.
        from .fit.backtest import HOLDOUTS
        from .fit.extrapolation import prefit_heldout, usable_nested_holdouts

        holdouts = [*(HOLDOUTS if reliability else ()), *(usable_nested_holdouts(ladder) if intervals and interval_terms
                                                            else ())]
        prefit_heldout(ladder, [law for name, law in laws.items() if name not in silent],
                       list(dict.fromkeys(holdouts)))
    backtest_errors: dict[str, float] = {}
    if reliability and targets:
        backtest_errors = {task.name: heldout_error(laws[task.name], ladder) for task in resolved
                           if task.name not in silent}
    frames = []
    for task in resolved:
        law = laws[task.name]
        pred = points[task.name]
        if intervals and targets:
            from .fit.uncertainty import add_intervals, without_intervals

            if task.name in silent:
                pred = without_intervals(pred, levels=levels, reason="none: the law gives no number (see its status)")
            else:
                pred = add_intervals(law, ladder, targets, pred, levels=levels, n_bootstrap=n_bootstrap, seed=seed,
                                     extrapolation=interval_terms)
        if reliability and targets:
            from .analysis.reliability import (ReliabilityRules, assess_reliability, curve_bounds, include_chance,
                                               ladder_signal)

            signal = ladder_signal(getattr(law, "primary_", law), ladder)
            bounds = curve_bounds(getattr(law, "primary_", law))
            verdicts = [assess_reliability(row, signal, backtest_errors.get(task.name), bounds=bounds)
                        for _, row in pred.iterrows()]
            pred["reliability"] = [v for v, _ in verdicts]
            pred["reliability_reason"] = [r for _, r in verdicts]
            if signal["max_above_chance"] < ReliabilityRules().near_chance and intervals:
                pred = include_chance(pred, task.chance, pred.index.to_numpy())
            pred["backtest_error"] = backtest_errors.get(task.name, np.nan)
        pred.insert(2, "variant", chosen[task.name][0])
        pred.insert(3, "method", mode)
        pred.insert(4, "loss_unit", _loss_unit(law, task))
        frames.append(pred)
    predictions = (pd.concat(frames, ignore_index=True) if frames and targets
                   else pd.DataFrame(columns=[*PREDICTION_COLUMNS[:2], "variant", "method", "loss_unit",
                                              *PREDICTION_COLUMNS[2:]]))
    names = sorted({v for v, _ in chosen.values()})
    shown = names[0] if len(names) == 1 else "auto"
    first = next(iter(chosen.values()))[1] if chosen else (selection or Selection())
    result = PredictionResult(predictions=predictions, laws=laws, variant=shown, mode=mode,
                              selection=selection or first, variants={k: v for k, (v, _) in chosen.items()},
                              notes=notes)
    if update and targets and any(t.role == "target" for t in targets):
        from .watch import is_partial, update_partial_targets

        if any(is_partial(t) for t in targets):
            update_partial_targets(ladder, result, targets=targets, tasks=resolved, variant=variant, selection=selection,
                                   levels=levels, n_bootstrap=n_bootstrap, seed=seed)
    return result
