"""Which loss-to-accuracy form extrapolates better: the sigmoid, the exponential of Gadre et al.
(2024), or the sigmoid made flat where the ladder shows no trend (the default)? Chosen by
backtests pooled over the real suites, not by any target.

For each suite of ``benchmarks/honesty.py`` and each task, the default law's step-2 points (its
intermediate loss and accuracy per checkpoint) are split by run: the quarter of the runs whose
last loss is lowest are held out, both forms are fitted to the other runs' points, and each
predicts the held-out runs' accuracy at their own last loss (step 2 extrapolating to lower loss,
as for a target). Forms:

``sigmoid``      ``Acc = a / (1 + exp(−k (L − x0))) + 1``, floor within 5 points of chance;
``exponential``  ``Acc = 1 − ε + k exp(−γ L)`` (Gadre et al.'s top-1 error ``ε − k exp(−γ L)``);
``flat without a trend``  the sigmoid, unless the fitted runs' last loss and accuracy have a
                 Spearman correlation above −0.7 (no steady rise of accuracy as the loss falls:
                 the reliability verdict's rule): then the mean of the fitted points (the default,
                 :func:`taskladder.fit.laws.fit_step2`). A second variant, the mean of the lowest-
                 loss half of the fitted runs' last points, was tried beside it (``--near``).

Printed: the RMS error (points) per suite and task, the mean per suite, and the mean over suites
(each suite weighted equally): the rule fixed in advance is that the default changes only if
another form has the lower mean over suites.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/step2_forms.py
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from honesty import SUITES, suite_ladder

from taskladder.fit.laws import NO_TREND_RANK_CORRELATION
from taskladder.fit.selection import rank_correlation


def sigmoid(x, a, x0, k):
    return a / (1.0 + np.exp(-k * (x - x0))) + 1.0


def exponential(x, eps, k, gamma):
    return 1.0 - eps + k * np.exp(-gamma * x)


def forms(task, x):
    """(name, function, start, bounds) of each form."""
    floor = max(-1.0, task.chance - 0.05 - 1.0)
    return (("sigmoid", sigmoid, [task.chance - 1.0, float(np.median(x)), 3.0], ([floor, 0.0, 0.0], [0.0, np.inf, 50.0])),
            ("exponential", exponential, [1.0 - task.chance, 0.01, 1.0], ([0.0, 0.0, 0.0], [1.0, np.inf, 50.0])))


def held_out_errors(suite: str, tmp: Path, near: bool = False) -> pd.DataFrame:
    from taskladder.predict import fit_law, resolve_laws

    ladder, names = suite_ladder(suite, tmp)
    tasks = ladder.resolve_tasks(names)
    chosen, _ = resolve_laws(ladder, tasks, variant=None, mode="default", selection=None)
    rows = []
    for task in tasks:
        variant, selection = chosen[task.name]
        points = fit_law(variant, task, ladder, selection=selection).step2_points_
        x, y, codes = points["x"], points["y"], points.codes
        runs = np.unique(codes)
        last = np.array([np.flatnonzero(codes == c)[-1] for c in runs])
        order = np.argsort(x[last])
        held = order[:max(1, len(runs) // 4)]
        fitted = ~np.isin(codes, runs[held])
        kept = order[max(1, len(runs) // 4):]
        trend = rank_correlation(x[last][kept], y[last][kept])
        predictions = {}
        for name, form, start, bounds in forms(task, x[fitted]):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    params, _ = curve_fit(form, x[fitted], y[fitted], p0=start, bounds=bounds, maxfev=20000)
                predictions[name] = np.clip(form(x[last][held], *params), 0.0, 1.0)
            except (RuntimeError, ValueError):
                predictions[name] = np.full(len(held), np.nan)
        level = (y[last][kept[:max(1, len(kept) // 2)]].mean() if near else y[fitted].mean())
        no_trend = np.isfinite(trend) and trend > NO_TREND_RANK_CORRELATION
        predictions["flat without a trend"] = np.full(len(held), level) if no_trend else predictions["sigmoid"]
        for name, pred in predictions.items():
            rmse = 100 * float(np.sqrt(np.mean((pred - y[last][held]) ** 2)))
            rows.append({"suite": suite, "task": task.name, "form": name, "rms error pts": rmse})
    return pd.DataFrame(rows)


def main() -> None:
    import argparse

    from taskladder.report.tables import render_table

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--near", action="store_true",
                        help="flat level: the lowest-loss half of the fitted runs, not every fitted point")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = pd.concat([held_out_errors(suite, Path(tmp), args.near) for suite in SUITES], ignore_index=True)
    per_suite = table.pivot_table(index="suite", columns="form", values="rms error pts", sort=False).reset_index()
    print("Step 2 extrapolated to the lowest-loss quarter of each ladder's runs: RMS error (points), mean over tasks\n")
    print(render_table(per_suite.round(2), "markdown", digits=2))
    means = per_suite[["exponential", "sigmoid", "flat without a trend"]].mean()
    wins = int((per_suite["exponential"] < per_suite["sigmoid"]).sum())
    flat_wins = int((per_suite["flat without a trend"] <= per_suite["sigmoid"]).sum())
    average = table[table["task"] == "avg17"].pivot_table(index="suite", columns="form", values="rms error pts",
                                                          sort=False)
    if not average.empty:
        print("\nthe 17-task average (avg17) alone: " + "; ".join(
            f"{suite} sigmoid {row['sigmoid']:.2f}, exponential {row['exponential']:.2f}" for suite, row in average.iterrows()))
    print("\nmean over suites: " + ", ".join(f"{k} {v:.2f}" for k, v in means.items())
          + f"; lower: {means.idxmin()}; the exponential is lower than the sigmoid on {wins} of {len(per_suite)} "
            f"suites; flat without a trend at most the sigmoid on {flat_wins} of {len(per_suite)}")


if __name__ == "__main__":
    main()
