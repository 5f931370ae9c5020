"""Checkpoint-to-checkpoint noise of task loss and accuracy (method.md §5.1).

For one run, take the last ``last_n`` evaluated checkpoints (raw, no smoothing) and report per
task the standard deviation and coefficient of variation of the task loss and the accuracy.
Late in a run the model barely changes, so this spread is mostly evaluation noise: a lower bound
on how precisely any method can predict a single checkpoint's value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..ladder import RunData
from ..tasks import Task

__all__ = ["variance_table"]


def variance_table(run: RunData, tasks: list[Task], *, last_n: int = 10, feature: str = "bpb") -> pd.DataFrame:
    """Noise of ``feature`` and accuracy over a run's last ``last_n`` checkpoints.

    Returns
    -------
    pandas.DataFrame
        ``task, name, loss_sd, loss_cv, acc_sd, acc_cv, loss_acc_corr, n_points``.

    Notes
    -----
    ``sd = sqrt(mean((v − mean v)²))`` (population, ``ddof = 0``, as the reference) and
    ``cv = sd / mean``; ``loss_acc_corr`` is Pearson's r between loss and accuracy over the same
    checkpoints (negative when lower loss goes with higher accuracy).
    """
    if last_n < 2:
        raise ConfigError(f"--last-n must be at least 2 checkpoints (a spread needs two), got {last_n}")
    if not run.has_data:
        raise DataError(f"run {run.name!r} has no file; the variance analysis needs its checkpoints")
    if run.n_checkpoints < max(last_n, 2):
        raise DataError(f"{run.spec.file}: run {run.name!r} has {run.n_checkpoints} checkpoint(s); the variance "
                        f"analysis over the last {last_n} needs at least {max(last_n, 2)}")
    rows = []
    for task in tasks:
        loss = run.metric(task, feature)[-last_n:]
        acc = run.metric(task, "accuracy")[-last_n:]
        loss_sd, acc_sd = float(np.std(loss)), float(np.std(acc))
        corr = float(np.corrcoef(loss, acc)[0, 1]) if loss_sd > 0 and acc_sd > 0 else np.nan
        rows.append({"task": task.name, "name": task.display_name, "loss_sd": loss_sd,
                     "loss_cv": loss_sd / float(np.mean(loss)), "acc_sd": acc_sd,
                     "acc_cv": acc_sd / float(np.mean(acc)), "loss_acc_corr": corr, "n_points": len(loss)})
    return pd.DataFrame(rows)
