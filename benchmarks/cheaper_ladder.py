"""Can a cheaper ladder predict as well? Step 1 on every checkpoint, corrected for the learning rate.

The paper trains every size at 1, 2, 5 and 10 × Chinchilla tokens. The ``-lr`` variants fit step 1
(the C4 law, for loss-to-loss) on every checkpoint instead of each run's end, each checkpoint's
loss scaled by ``1 + c u`` with ``u`` how far its learning rate still is above the run's final
value (:data:`taskladder.fit.forms.power_law_nd_lr`), so that the intermediate checkpoints of a
long run stand in for the shorter runs.

Held out: the four 1.3B runs of the OLMo ladder (as in ``taskladder backtest``'s largest-size
holdout); fitted on three subsets of the smaller sizes' runs:

* all twelve runs (1, 2, 5, 10 × C) — the paper's design;
* the 5 × C and 10 × C runs only;
* the 10 × C runs only (one run per size).

Prints, per variant and subset, the mean absolute error over 8 tasks × 4 held-out runs (points),
how many predictions there were (a law with more parameters than runs cannot be fitted) and the
share of held-out actuals inside the 90 % intervals (200 resamples), beside the subset's training
compute as a share of the full ladder's.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/cheaper_ladder.py
"""

from __future__ import annotations


import numpy as np

import olmo

VARIANTS = ("loss-to-loss", "loss-to-loss-lr", "two-step", "two-step-lr")


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()

    from taskladder.fit.backtest import backtest, holdout_split

    ladder = olmo.olmo_ladder(args.data)
    tasks = ladder.default_tasks()
    kept, held = holdout_split(ladder, "largest_size")
    runs = {r.name: r for r in ladder.train_runs}

    def compute(names) -> float:
        return sum(runs[n].flops_per_token * runs[n].final_tokens for n in names)

    subsets = {
        "all 12 runs (1, 2, 5, 10 × C)": kept,
        "5 × C and 10 × C runs (6)": [n for n in kept if runs[n].token_multiple >= 5],
        "10 × C runs only (3)": [n for n in kept if runs[n].token_multiple == 10],
    }
    print("| fitted on | compute (share of all 12) | " + " | ".join(VARIANTS) + " |")
    print("|---|---:|" + "---:|" * len(VARIANTS))
    for label, names in subsets.items():
        sub = ladder.subset(set(names) | {r.name for r in held})
        table = backtest(sub, tasks, variants=VARIANTS, holdouts=("largest_size",), intervals=True,
                         n_bootstrap=args.bootstrap)
        cells = []
        for variant in VARIANTS:
            rows = table[table["variant"] == variant]
            err = 100 * rows["abs_error"].astype(float) if "abs_error" in rows else None
            if err is None or err.notna().sum() == 0:
                cells.append("no fit")
                continue
            ok = rows["acc_lo"].notna()
            inside = ((rows["acc_actual"] >= rows["acc_lo"]) & (rows["acc_actual"] <= rows["acc_hi"]))[ok].mean()
            cells.append(f"{err.mean():.2f} ({int(err.notna().sum())} of {len(rows)}; {100 * inside:.0f} % inside)")
        share = compute(names) / compute(kept)
        print(f"| {label} | {100 * share:.0f} % | " + " | ".join(cells) + " |")
    print("\ncells: mean absolute error in points (predictions made; held-out actuals inside the 90 % intervals)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
