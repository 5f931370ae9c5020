"""Every law, in both modes, backtested on the OLMo ladder: the table the default law is chosen by.

Runs :func:`taskladder.fit.backtest.backtest` for every variant in the default and the paper
mode, holding out the largest rung twice (all 1.3B runs; then all 10 × C runs), with 90 %
intervals from 200 bootstrap resamples, on all ten tasks of the ladder (the same fits, seeded the
same way, as ``taskladder backtest specs/olmo-paper.toml --methods default,paper --tasks all``).
Prints, as Markdown:

1. for the paper's eight tasks, per law and mode: mean absolute error over every held-out
   prediction (points), the largest error, predictions without a number (fit not converged),
   the share of held-out actuals inside the 90 % intervals, and the error per holdout. Laws that
   predict every held-out run come first, by error, then those that leave some without a number;
   a law whose two modes give the same predictions (a law not in the paper is fitted the default
   way in both) has one row, ``default = paper``;
2. the rule of docs/backtests.md applied to that table: among the default mode's laws that predict
   every held-out run, the lowest error wins, and among laws within 0.05 points of it the one whose
   coverage is nearest 90 %;
3. the per-task errors of the current default law and the laws it was chosen against;
4. the table and the rule again over all ten tasks (BoolQ and WinoGrande added).

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/backtest_olmo.py [--bootstrap 200]
"""

from __future__ import annotations

import numpy as np

import olmo

LABELS = {
    "loss-to-loss": "loss-to-loss (C4 → task bpb → accuracy)",
    "ensemble": "ensemble (bpb + C4)",
    "two-step": "two-step (task bpb, the paper's)",
    "two-step-c4": "two-step-c4",
    "two-step-taskce": "two-step-taskce",
    "two-step-flops": "two-step-flops",
    "single-step": "single-step",
    "direct": "direct (negated power law)",
    "direct-compute": "direct-compute (−ln Acc power law in C)",
    "loss-to-loss-lr": "loss-to-loss-lr (C4 law on every checkpoint, LR-corrected)",
    "two-step-lr": "two-step-lr (step 1 on every checkpoint, LR-corrected)",
}
#: The laws of the per-task table: the default and those it was chosen against.
PER_TASK = (("loss-to-loss", "loss-to-loss"), ("ensemble", "ensemble"), ("two-step", "two-step"),
            ("two-step-c4", "C4"))
HOLDOUT_WORDS = {"largest_size": "1.3B", "largest_multiple": "10×C"}
#: Laws within this many points of the lowest error are compared on coverage.
TIE_POINTS = 0.05


def summary(table, holdouts):
    """Per law and mode: error over every held-out prediction, worst, missing, coverage, per holdout."""
    import pandas as pd

    rows = []
    for (variant, method), group in table.groupby(["variant", "method"], sort=False):
        err = 100 * group["abs_error"].astype(float)
        ok = group["acc_lo"].notna()
        inside = (group["acc_actual"] >= group["acc_lo"]) & (group["acc_actual"] <= group["acc_hi"])
        row = {"variant": variant, "method": method, "mae": err.mean(), "worst": err.max(), "n": len(group),
               "made": int(err.notna().sum()), "coverage": inside[ok].mean() if ok.any() else np.nan}
        for holdout in holdouts:
            row[holdout] = err[group["holdout"] == holdout].mean()
        rows.append(row)
    rows = pd.DataFrame(rows)
    rows["same_in_both"] = False
    for variant in rows["variant"].unique():
        a = table[(table["variant"] == variant) & (table["method"] == "default")]["acc_pred"].to_numpy(float)
        b = table[(table["variant"] == variant) & (table["method"] == "paper")]["acc_pred"].to_numpy(float)
        if len(a) and len(a) == len(b) and np.array_equal(a, b, equal_nan=True):
            rows.loc[rows["variant"] == variant, "same_in_both"] = True
    rows = rows[~(rows["same_in_both"] & (rows["method"] == "paper"))]
    # Laws that predict every held-out run first: a mean over fewer predictions is not comparable.
    rows = rows.assign(partial=rows["made"] < rows["n"])
    return rows.sort_values(["partial", "mae"], kind="stable").reset_index(drop=True)


def print_summary(rows, holdouts, default_law: str) -> None:
    print("| law | method | MAE (points) | worst (points) | not converged | 90 % coverage | "
          + " | ".join(f"MAE, {HOLDOUT_WORDS[h]} held out" for h in holdouts) + " |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * len(holdouts))
    for _, r in rows.iterrows():
        bold = r["variant"] == default_law and r["method"] == "default"
        b = "**" if bold else ""
        mae = f"{r['mae']:.3f}" + ("" if r["made"] == r["n"] else f" ({r['made']} of {r['n']})")
        method = r["method"] + (" = paper" if r["same_in_both"] else "")
        cells = [f"{b}{LABELS.get(r['variant'], r['variant'])}{b}", f"{b}{method}{b}", f"{b}{mae}{b}",
                 f"{r['worst']:.2f}", str(r["n"] - r["made"]), f"{b}{100 * r['coverage']:.0f} %{b}"]
        cells += [f"{r[h]:.2f}" for h in holdouts]
        print("| " + " | ".join(cells) + " |")


def print_rule(rows) -> None:
    """The choice the rule makes among the default mode's laws that predict every held-out run."""
    candidates = rows[(rows["method"] == "default") & (rows["made"] == rows["n"])].sort_values("mae", kind="stable")
    best = candidates.iloc[0]
    tied = candidates[candidates["mae"] <= best["mae"] + TIE_POINTS]
    chosen = tied.iloc[int(np.argmin(np.abs(tied["coverage"].to_numpy() - 0.9)))]
    runner = candidates.iloc[1]
    others = ", ".join(tied["variant"].iloc[1:]) or "none"
    print(f"\nthe rule, over the {len(candidates)} default-mode laws that predict every held-out run: lowest error "
          f"{best['variant']} ({best['mae']:.3f} points, {100 * best['coverage']:.0f} % coverage); next "
          f"{runner['variant']} ({runner['mae']:.3f} points, {100 * runner['coverage']:.0f} % coverage); within "
          f"{TIE_POINTS} points of the lowest: {others}; chosen: {chosen['variant']}")


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()

    from taskladder.fit.backtest import HOLDOUTS, backtest
    from taskladder.tasks import PAPER_TASKS, get_task
    from taskladder.variants import VARIANT_HELP, default_variant

    ladder = olmo.olmo_ladder(args.data)
    tasks = ladder.resolve_tasks("all")
    table = backtest(ladder, tasks, variants=list(VARIANT_HELP), modes=("default", "paper"), holdouts=HOLDOUTS,
                     intervals=True, n_bootstrap=args.bootstrap)
    default_law = default_variant("default")
    eight = table[table["task"].isin(PAPER_TASKS)]

    n_eight = eight.groupby(["variant", "method"]).size().iloc[0]
    print(f"**The paper's eight tasks** ({n_eight} held-out predictions per row; the default law in bold)\n")
    rows = summary(eight, HOLDOUTS)
    print_summary(rows, HOLDOUTS, default_law)
    print_rule(rows)

    print("\nPer task, mean absolute error in points, default mode:\n")
    columns = [(v, label, h) for h in HOLDOUTS for v, label in PER_TASK]
    print("| task | " + " | ".join(f"{label}, {HOLDOUT_WORDS[h]} out" for _, label, h in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    default_mode = eight[eight["method"] == "default"]
    for task in [t for t in tasks if t.name in PAPER_TASKS]:
        cells = []
        for variant, _, holdout in columns:
            rows_ = default_mode[(default_mode["task"] == task.name) & (default_mode["variant"] == variant)
                                 & (default_mode["holdout"] == holdout)]
            cells.append(f"{100 * rows_['abs_error'].astype(float).mean():.2f}")
        print(f"| {get_task(task.name).display_name} | " + " | ".join(cells) + " |")

    added = ", ".join(get_task(t.name).display_name for t in tasks if t.name not in PAPER_TASKS)
    n_all = table.groupby(["variant", "method"]).size().iloc[0]
    print(f"\n**All {len(tasks)} tasks** ({added} added; {n_all} held-out predictions per row)\n")
    rows = summary(table, HOLDOUTS)
    print_summary(rows, HOLDOUTS, default_law)
    print_rule(rows)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
