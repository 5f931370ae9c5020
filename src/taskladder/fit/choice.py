"""Which law the ladder's data supports: each law's declared needs, checked against the ladder.

:func:`law_gaps` lists what a ladder lacks for one law and task (missing metric columns, too few
runs, sizes, token multiples or checkpoints); :func:`choose_variant` takes the first law of
:data:`~taskladder.variants.DEFAULT_ORDER` with no gap and says why; :func:`check_variant` turns
the gaps of an explicitly requested law into one clear error that names the laws that would run.
"""

from __future__ import annotations

from ..errors import DataError
from ..ladder import Ladder
from ..tasks import Task
from ..variants import DEFAULT_ORDER, METRIC_WORDS, VARIANT_NEEDS

__all__ = ["law_gaps", "choose_variant", "check_variant", "runnable_variants"]


def _missing_column(ladder: Ladder, task: Task, metric: str) -> str:
    """Words naming the first missing column of ``metric`` (and a run that lacks it)."""
    from ..io.runs import LR_COLUMN
    from ..tasks import C4_LOSS_COLUMN

    if metric not in ("c4", "lr"):
        source = "soft_log" if metric == "taskce" else metric
        if not task.has_metric(source):
            return f"task {task.name} declares no {METRIC_WORDS[metric]}"
        columns = task.needed_columns(source)
    else:
        columns = (C4_LOSS_COLUMN,) if metric == "c4" else (LR_COLUMN,)
    for run in ladder.train_runs:
        for column in columns:
            if not run.has_column(column):
                return f"no {METRIC_WORDS[metric]} (column {column!r}; {run.spec.file} lacks it)"
    return f"no {METRIC_WORDS[metric]}"


def _no_accuracy(ladder: Ladder, task: Task) -> str:
    """Every law predicts accuracy: name the file and column that lack it."""
    for run in ladder.train_runs:
        for column in task.needed_columns("accuracy"):
            if not run.has_column(column):
                return (f"{run.spec.file}: no column {column!r} (task {task.name} needs its accuracy in every train "
                        "run, and every law predicts it)")
    return f"task {task.name}: the ladder has no train run with its accuracy"


def law_gaps(ladder: Ladder, task: Task, variant: str) -> list[str]:
    """What the ladder lacks for ``variant`` on ``task`` (empty: the law can run)."""
    needs = VARIANT_NEEDS[variant]
    gaps = [_missing_column(ladder, task, m) for m in needs.metrics if not ladder.has_metric(task, m)]
    runs = ladder.train_runs
    sizes = len({r.n_params for r in runs})
    multiples = len({r.token_multiple for r in runs})
    if len(runs) < needs.min_runs:
        gaps.append(f"{len(runs)} train run(s), needs {needs.min_runs}")
    if sizes < needs.min_sizes:
        gaps.append(f"{sizes} model size(s), needs {needs.min_sizes}")
    if multiples < needs.min_multiples:
        gaps.append(f"{multiples} token multiple(s), needs {needs.min_multiples}")
    fewest = min((r.n_checkpoints for r in runs), default=0)
    if fewest < needs.min_checkpoints:
        gaps.append(f"a run with {fewest} checkpoint(s), needs {needs.min_checkpoints} per run")
    return gaps


def runnable_variants(ladder: Ladder, task: Task) -> list[str]:
    """Every law the data supports for ``task``."""
    return [v for v in VARIANT_NEEDS if not law_gaps(ladder, task, v)]


def choose_variant(ladder: Ladder, task: Task, mode: str = "default") -> tuple[str, list[tuple[str, str]]]:
    """The first law of the method's default order that the data supports, and why.

    Returns
    -------
    (variant, skipped)
        ``skipped`` lists the laws before it with the first thing each lacked (empty when the
        first law runs).

    Raises
    ------
    DataError
        No law of the order can run: the message lists what each lacks.
    """
    if not ladder.has_metric(task, "accuracy"):
        raise DataError(_no_accuracy(ladder, task))
    order = DEFAULT_ORDER["paper" if mode == "paper" else "default"]
    skipped = []
    for variant in order:
        gaps = law_gaps(ladder, task, variant)
        if not gaps:
            return variant, skipped
        skipped.append((variant, gaps[0]))
    raise DataError(f"task {task.name}: no law can be fitted on this ladder ("
                    + "; ".join(f"{v}: {g}" for v, g in skipped) + ")")


def check_variant(ladder: Ladder, task: Task, variant: str) -> None:
    """Raise one clear error when the data lacks what ``variant`` needs for ``task``.

    Raises
    ------
    DataError
        Naming the first gap and the laws that would run on this data.
    """
    if not ladder.has_metric(task, "accuracy"):
        raise DataError(_no_accuracy(ladder, task))
    gaps = law_gaps(ladder, task, variant)
    if gaps:
        others = runnable_variants(ladder, task)
        would = ", ".join(others) if others else "none"
        raise DataError(f"--variant {variant} cannot run on task {task.name}: {gaps[0]}; laws that would run on "
                        f"this data: {would}")
