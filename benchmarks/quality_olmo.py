"""Prediction quality on the paper's real targets (7B-4T, 13B-5T) with the default method.

The targets are a test set: nothing in the default method was tuned on them (the law was chosen
by `taskladder backtest`, see docs/backtests.md). Prints a Markdown table per target:
prediction, 90 % interval, actual, absolute error and reliability verdict, plus the summary
figures (mean absolute error, actuals inside their intervals, misses above 5 points and whether
they were marked unreliable), next to the paper method's errors, and how many measured task losses
and accuracies fall inside the intervals of each step alone; which actuals lie outside the chained
interval (and how far) and outside step 2's interval at the measured loss (above or below); and
the totals over both targets. ``--variant`` predicts with another law (e.g. ``ensemble``, the
default before the loss-to-loss law had intervals).

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/quality_olmo.py [--bootstrap 1000] [--variant LAW]
"""

from __future__ import annotations

import olmo


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--variant", default=None, help="the law (default: the default method's choice)")
    args = parser.parse_args()

    from taskladder.predict import predict_ladder
    from taskladder.tasks import get_task

    ladder = olmo.olmo_ladder(args.data)
    default = predict_ladder(ladder, variant=args.variant, intervals=True, reliability=True,
                             n_bootstrap=args.bootstrap).predictions
    paper = predict_ladder(ladder, mode="paper").predictions
    totals = {"n": 0, "inside": 0, "step1": 0, "step2": 0}
    big_misses = []
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
        print(f"\nstep by step: {step1} of {len(group)} measured task losses inside their step-1 intervals; "
              f"{step2} of {len(group)} accuracies inside the step-2 intervals at the measured loss")
        outside = [f"{get_task(p['task']).display_name} ({_beyond(p['acc_actual'], p['acc_lo'], p['acc_hi'])})"
                   for _, p in group.iterrows() if not p["acc_lo"] <= p["acc_actual"] <= p["acc_hi"]]
        print("\noutside the 90 % intervals: " + (", ".join(outside) or "none"))
        lo, hi = group["acc_from_actual_loss_lo"], group["acc_from_actual_loss_hi"]
        step2_out = [f"{get_task(p['task']).display_name} ({_beyond(p['acc_actual'], lo[i], hi[i])})"
                     for i, p in group.iterrows() if not lo[i] <= p["acc_actual"] <= hi[i]]
        print("\noutside step 2's interval at the measured loss: " + (", ".join(step2_out) or "none"))
        for key, value in (("n", len(group)), ("inside", inside), ("step1", step1), ("step2", step2)):
            totals[key] += int(value)
        big_misses += [f"{target} {get_task(p['task']).display_name}, {100 * p['abs_error']:.1f} points, "
                       f"{p['reliability']}" for _, p in big.iterrows()]
    n = totals["n"]
    print(f"\nboth targets: {totals['inside']} of {n} actuals inside the 90 % intervals; "
          f"{len(big_misses)} missed by more than 5 points ({'; '.join(big_misses) or 'none'}); "
          f"step 1: {totals['step1']} of {n} measured task losses inside its intervals; "
          f"step 2 alone: {totals['step2']} of {n} accuracies inside its intervals at the measured loss")


def _beyond(actual: float, lo: float, hi: float) -> str:
    """How far (points) an actual lies above or below its interval."""
    gap = 100 * (actual - hi if actual > hi else lo - actual)
    return f"{gap:.{1 if gap >= 0.05 else 2}f} points {'above' if actual > hi else 'below'}"


if __name__ == "__main__":
    main()
