"""Tables of fitted parameters and convergence, one row per task and step."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..fit.result import FitResult

__all__ = ["fits_table"]


def _row(task: str, step: str, fit: FitResult) -> dict:
    row = {"task": task, "step": step, "form": fit.form.name, "formula": fit.describe(),
           "converged": fit.converged, "status": fit.status, "at_bounds": ",".join(fit.at_bounds),
           "n_points": fit.n_points, "n_iterations": fit.n_iterations, "loss": fit.loss,
           "optimizer": fit.optimizer}
    se = (np.sqrt(np.clip(np.diag(fit.covariance), 0, None)) if fit.covariance is not None
          else np.full(len(fit.params), np.nan))
    for name, value, err in zip(fit.form.params, fit.params, se):
        row[name] = float(value)
        row[f"{name}_se"] = float(err)
    return row


def fits_table(laws: dict) -> pd.DataFrame:
    """Parameters (with standard errors where a covariance exists) and status of every fit."""
    rows = []
    for task, law in laws.items():
        for step, attr in (("step1", "step1_"), ("transfer", "transfer_"), ("step2", "step2_"), ("single", "fit_")):
            fit = law.__dict__.get(attr)
            if isinstance(fit, FitResult):
                rows.append(_row(task, step, fit))
    return pd.DataFrame(rows)
