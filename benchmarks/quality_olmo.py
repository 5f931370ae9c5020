"""Prediction quality on the paper's real targets (7B-4T, 13B-5T) with the default method.

The targets are a test set: nothing in the default method was tuned on them (the law was chosen
by `taskladder backtest`, see docs/backtests.md). Prints a Markdown table per target:
prediction, 90 % interval, actual, absolute error and reliability verdict, plus the summary
figures (mean absolute error, actuals inside their intervals, misses above 5 points and whether
they were marked unreliable), next to the paper method's errors, and how many measured task losses
and accuracies fall inside the intervals of each step alone.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/quality_olmo.py [--bootstrap 1000]
"""

from __future__ import annotations

import olmo


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from taskladder.predict import predict_ladder
    from taskladder.tasks import get_task

    ladder = olmo.olmo_ladder(args.data)
    default = predict_ladder(ladder, intervals=True, reliability=True, n_bootstrap=args.bootstrap).predictions
    paper = predict_ladder(ladder, mode="paper").predictions
    for target, group in default.groupby("target", sort=False):
        print(f"\n**{target}** (default method: {group['variant'].iloc[0]})\n")
        print("| task | prediction | 90 % interval | actual | abs. error | reliability |")
        print("|---|---:|---:|---:|---:|---|")
        for _, p in group.iterrows():
            print(f"| {get_task(p['task']).display_name} | {100 * p['acc_pred']:.1f} | "
                  f"{100 * p['acc_lo']:.1f}–{100 * p['acc_hi']:.1f} | {100 * p['acc_actual']:.1f} | "
                  f"{100 * p['abs_error']:.1f} | {p['reliability']} |")
        inside = ((group["acc_actual"] >= group["acc_lo"]) & (group["acc_actual"] <= group["acc_hi"])).sum()
        big = group[group["abs_error"] > 0.05]
        flagged = (big["reliability"] == "unreliable").sum()
        paper_mae = 100 * paper.loc[paper["target"] == target, "abs_error"].mean()
        step1 = ((group["task_loss_actual"] >= group["task_loss_lo"])
                 & (group["task_loss_actual"] <= group["task_loss_hi"])).sum()
        step2 = ((group["acc_actual"] >= group["acc_from_actual_loss_lo"])
                 & (group["acc_actual"] <= group["acc_from_actual_loss_hi"])).sum()
        print(f"\nmean absolute error {100 * group['abs_error'].mean():.2f} points (paper method {paper_mae:.2f}); "
              f"{inside} of {len(group)} actuals inside the 90 % intervals; "
              f"{len(big)} task(s) missed by more than 5 points, {flagged} of them marked unreliable")
        print(f"step by step: {step1} of {len(group)} measured task losses inside their step-1 intervals; "
              f"{step2} of {len(group)} accuracies inside the step-2 intervals at the measured loss")


if __name__ == "__main__":
    main()
