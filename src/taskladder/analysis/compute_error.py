"""Prediction error as the ladder grows (method.md §5.2), done right.

Subsets of the train runs are fitted in turn and each subset's prediction for a target is
compared with the target's actual values:

``by="n_params"``  cumulative model sizes: {smallest}, {two smallest}, …, all;
``by="multiple"``  cumulative token multiples (k in k × 20N): {1}, {1, 2}, …;
``by="flops"``     runs sorted by training compute, added one at a time.

Each row records the subset's *cumulative* training compute (the reference recorded the last
run's compute under the name ``cum_flops``), the errors of step 1, step 2 (from the target's
actual task loss) and the chain, and the fit status. A subset with fewer runs than the step-1
form has parameters gives a row with status ``too few runs`` and no numbers, never a fit of an
underdetermined system.

With no ``variant``, each task gets the law ``predict`` would give it on the whole ladder
(:func:`~taskladder.predict.resolve_laws`), and that law is refitted on every subset, so the
rows measure how the default law's error falls as the ladder grows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, TaskLadderError
from ..fit.selection import Selection
from ..ladder import Ladder, RunData
from ..predict import make_law, resolve_laws
from ..tasks import Task

__all__ = ["ladder_subsets", "compute_vs_error"]

BY = ("n_params", "multiple", "flops")


def _compute(run: RunData) -> float:
    flops = run.spec.flops_per_token
    return np.nan if flops is None else flops * run.final_tokens


def ladder_subsets(ladder: Ladder, by: str) -> list[tuple[str, list[str]]]:
    """Cumulative subsets of train-run names with a label, in growing order."""
    runs = ladder.train_runs
    if by == "n_params":
        levels = sorted({r.n_params for r in runs})
        return [(f"N <= {levels[i]:.3g}", [r.name for r in runs if r.n_params <= levels[i]]) for i in range(len(levels))]
    if by == "multiple":
        levels = sorted({r.token_multiple for r in runs})
        return [(f"k <= {levels[i]:g}", [r.name for r in runs if r.token_multiple <= levels[i]]) for i in range(len(levels))]
    if by == "flops":
        ordered = sorted(runs, key=_compute)
        return [(f"+{ordered[i].name}", [r.name for r in ordered[: i + 1]]) for i in range(len(ordered))]
    raise ConfigError(f"unknown subset order {by!r}; use one of {', '.join(BY)}")


def compute_vs_error(ladder: Ladder, tasks: list[Task], target: RunData, *, by: str = "n_params",
                     mode: str = "default", selection: Selection | None = None,
                     variant: str | None = None) -> pd.DataFrame:
    """Errors on ``target`` for each cumulative subset and task.

    Parameters
    ----------
    variant
        A name of :data:`~taskladder.predict.VARIANTS`; ``None``: per task, the law ``predict``
        chooses on the whole ladder (the default order of ``mode``).
    selection
        Data selection; ``None``: each law's paper preset, as in ``predict``.

    Returns
    -------
    pandas.DataFrame
        ``by, subset, n_runs, compute, target, task, variant, step1_rel_error, step2_rel_error,
        chained_rel_error, chained_abs_error, status`` with relative errors
        ``(pred − actual) / actual`` (signed) and the absolute error in accuracy.
    """
    if not target.has_data:
        raise ConfigError(f"target {target.name!r} has no file, so there is no actual to measure errors against")
    # The law is chosen once, on the whole ladder: a subset too small for it reports its failure
    # rather than silently switching to another law part-way along the curve.
    laws, _ = resolve_laws(ladder, tasks, variant=variant, mode=mode, selection=selection)
    rows = []
    for label, names in ladder_subsets(ladder, by):
        sub = ladder.subset(names)
        compute = float(np.nansum([_compute(r) for r in sub.train_runs]))
        for task in tasks:
            row = {"by": by, "subset": label, "n_runs": len(names), "compute": compute, "target": target.name,
                   "task": task.name, "variant": laws[task.name][0], "step1_rel_error": np.nan, "step2_rel_error": np.nan,
                   "chained_rel_error": np.nan, "chained_abs_error": np.nan}
            if len(names) < 5:
                row["status"] = "too few runs"
                rows.append(row)
                continue
            try:
                name, chosen = laws[task.name]
                law = make_law(name, task, mode=mode, selection=chosen).fit(sub)
                p = law.predict([target]).iloc[0]
            except TaskLadderError as exc:
                row["status"] = f"failed: {exc}"
                rows.append(row)
                continue
            row.update(step1_rel_error=(p["task_loss_pred"] - p["task_loss_actual"]) / p["task_loss_actual"],
                       step2_rel_error=(p["acc_from_actual_loss"] - p["acc_actual"]) / p["acc_actual"],
                       chained_rel_error=(p["acc_pred"] - p["acc_actual"]) / p["acc_actual"],
                       chained_abs_error=p["abs_error"],
                       status=p["step1_status"] + (" | " + p["step2_status"] if p["step2_status"] else ""))
            rows.append(row)
    return pd.DataFrame(rows)
