"""Which step-1 fit extrapolates the general (C4) loss better: multi-start least squares, the
paper's early-stopped Huber fit, the Huber loss from every start (the default), or that Huber
fit with one exponent shared by parameters and tokens? Chosen by backtests pooled over the real
suites that extrapolate as far as targets do.

For each suite of ``benchmarks/honesty.py`` and each holdout that keeps three sizes and three
token multiples, the C4-loss law ``L(N, D) = A/N^α + B/D^β + E`` is fitted on the remaining
runs' final points by each method and predicts the held-out runs' final C4 loss. The holdouts
are, *near*, those of :data:`taskladder.fit.extrapolation.NESTED_HOLDOUTS` but the far one (one
or two rungs, up to about half a decade out) and, *far*, ``far_compute``: every run above a twentieth of the
top compute held out, up to 1.3 decades out, as far as a target trained with 20 times the
ladder's top budget (targets lie one to two decades beyond their ladders). Methods:

``least squares``  multi-start bounded Levenberg-Marquardt on log residuals, run to convergence
             (the default before this comparison);
``paper``    the reference's L-BFGS-B on a Huber loss (δ = 10⁻³) of log residuals from one start,
             stopped where its line search ends (method.md);
``huber``    the same Huber loss from every start of the default fit, the best objective kept:
             tells a robust loss apart from early stopping;
``shared exponent``  the Huber fit of ``A/N^α + B/D^α + E`` (Gadre et al. 2024's loss law): one
             parameter fewer, each exponent borrowing strength from the other.

Printed: the RMS relative error (%) of the held-out C4 loss per suite and method, near and far,
the mean over suites (each weighted equally), and what the rule fixed in advance says, read on
the far backtests (a law is chosen to predict targets, and targets are far): a method replaces
the default of its time (least squares, then Huber) only if it has the lower mean over suites and
is no worse on any suite by more than 20 %. The shared exponent won the near backtests (lower on
every suite) and was the default until the far ones were run; far out it loses.

Also printed: how far each suite's runs sit off the default C4 law fitted on all of them, by
tokens per parameter (RMS log residual at the runs' ends, %): the evidence for reading a
target's step-1 residual scale at the runs nearest its token multiple
(:func:`taskladder.fit.uncertainty._log_residual_sd_near`) rather than one scale for all.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/step1_fits.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from honesty import SUITES, suite_ladder


METHODS = ("least squares", "paper", "huber", "shared exponent")
#: (challenger, incumbent) in the order they were compared: Huber replaced least squares first.
RULES = (("paper", "least squares"), ("huber", "least squares"), ("shared exponent", "huber"))


#: The holdouts that reach as far as targets lie; the other nested ones are "near".
FAR_HOLDOUTS = ("far_compute",)


def held_out_errors(suite: str, ladder) -> pd.DataFrame:
    from taskladder.errors import TaskLadderError
    from taskladder.fit.backtest import holdout_split
    from taskladder.fit.extrapolation import MIN_RUNGS, NESTED_HOLDOUTS
    from taskladder.fit.laws import fit_step1
    from taskladder.fit.selection import Selection, step1_arrays, target_actual

    if not ladder.has_metric(None, "c4"):
        return pd.DataFrame()
    rows = []
    for holdout in dict.fromkeys((*NESTED_HOLDOUTS, *FAR_HOLDOUTS)):  # the far one is nested too: once
        try:
            kept, held = holdout_split(ladder, holdout)
        except TaskLadderError:
            continue
        sub = ladder.subset(kept)
        runs = sub.train_runs
        if min(len({r.n_params for r in runs}), len({r.token_multiple for r in runs})) < MIN_RUNGS:
            continue
        points = step1_arrays(sub, None, "c4", Selection())
        actual = np.array([target_actual(r, None, "c4", Selection().moving_avg) for r in held], float)
        X = np.column_stack([[float(r.n_params) for r in held], [r.final_tokens for r in held]])
        for method in METHODS:
            fit = {"least squares": lambda: fit_step1(points, form="nd"),
                   "paper": lambda: fit_step1(points, form="nd", mode="paper"),
                   "huber": lambda: fit_step1(points, form="nd", robust=True),
                   "shared exponent": lambda: fit_step1(points, form="nd_shared", robust=True)}[method]()
            error = fit.predict(X) / actual - 1.0
            distance = "far" if holdout in FAR_HOLDOUTS else "near"
            rows.extend({"suite": suite, "distance": distance, "holdout": holdout, "method": method, "error": e}
                        for e in error)
    return pd.DataFrame(rows)


#: Bands of tokens per parameter for the residual table: briefly trained, typical, long.
MULTIPLE_BANDS = ((0.0, 10.0, "under 10"), (10.0, 100.0, "10 to 100"), (100.0, np.inf, "100 and more"))


def residuals_by_multiple(suite: str, ladder) -> pd.DataFrame:
    """RMS log residual (%) of the default C4 law fitted on all the suite's train runs, at the
    runs' ends, per band of tokens per parameter."""
    from taskladder.fit.laws import fit_step1
    from taskladder.fit.selection import Selection, step1_arrays

    if not ladder.has_metric(None, "c4"):
        return pd.DataFrame()
    points = step1_arrays(ladder, None, "c4", Selection())
    fit = fit_step1(points, form="nd", robust=True)
    X = np.column_stack([points["n_params"], points["tokens"]])
    resid = np.log(fit.predict(X)) - np.log(points["y"])
    multiple = points["tokens"] / points["n_params"]
    rows = []
    for low, high, band in MULTIPLE_BANDS:
        inside = (multiple >= low) & (multiple < high)
        if inside.any():
            rows.append({"suite": suite, "tokens per parameter": band, "runs": int(inside.sum()),
                         "RMS off the law %": 100 * float(np.sqrt(np.mean(resid[inside] ** 2)))})
    return pd.DataFrame(rows)


def main() -> None:
    from taskladder.report.tables import render_table

    with tempfile.TemporaryDirectory() as tmp:
        ladders = {suite: suite_ladder(suite, Path(tmp))[0] for suite in SUITES}
        table = pd.concat([held_out_errors(suite, ladders[suite]) for suite in SUITES], ignore_index=True)
        spread = pd.concat([residuals_by_multiple(suite, ladders[suite]) for suite in SUITES], ignore_index=True)
    print("C4 loss of the held-out runs, RMS relative error (%), step 1 fitted on each fold's other runs")
    tables = {}
    for distance in ("near", "far"):
        part = table[table["distance"] == distance]
        rms = (part.groupby(["suite", "method"], sort=False)["error"]
               .apply(lambda e: 100 * float(np.sqrt(np.mean(e**2)))).unstack("method").reset_index())
        counts = part[part["method"] == "huber"].groupby("suite", sort=False).size()
        rms.insert(1, "held-out runs", rms["suite"].map(counts))
        tables[distance] = rms
        print(f"\n{distance}:\n")
        print(render_table(rms.round(2), "markdown", digits=2))
        means = rms[list(METHODS)].mean()
        print(f"\nmean over suites, {distance}: " + ", ".join(f"{m} {means[m]:.2f}" for m in METHODS))
    rms = tables["far"]
    means = rms[list(METHODS)].mean()
    print()
    for method, incumbent in RULES:
        worst = float((rms[method] / rms[incumbent]).max())
        passes = means[method] < means[incumbent] and worst <= 1.2
        print(f"{method}: far, at worst {worst:.2f}x the {incumbent} error on a suite; by the rule it "
              f"{'replaces' if passes else 'does not replace'} {incumbent}")

    print("\nHow far the runs sit off the default C4 law fitted on all of a suite's runs, by tokens per parameter "
          "(RMS log residual at the runs' ends)\n")
    print(render_table(spread.round(2), "markdown", digits=2))
    brief = spread[spread["tokens per parameter"] == MULTIPLE_BANDS[0][2]]["RMS off the law %"]
    rest = spread[spread["tokens per parameter"] != MULTIPLE_BANDS[0][2]]["RMS off the law %"]
    print(f"\nruns under 10 tokens per parameter: {brief.min():.1f} to {brief.max():.1f} % off the law; "
          f"the rest at most {rest.max():.1f} %")

if __name__ == "__main__":
    main()
