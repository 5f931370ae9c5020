"""Does step 2 extrapolate on the ladder itself, and how far off its curve do the real targets sit?

Two measurements per task, for the default law's step 2 (task bpb → accuracy):

1. **Step 2 extrapolated within the ladder**
   (:func:`taskladder.analysis.step2_extrapolation.step2_extrapolation_backtest`). ``d`` is how far
   below the ladder's lowest checkpoint loss the furthest target's *predicted* task loss lies
   (known before any target is trained). Step 2 is refitted on the checkpoints at least ``d`` above
   the ladder's lowest loss and predicts each run that ends below that cut, at its measured loss:
   mean and largest error, and how many actuals its 90 % intervals hold.
2. **The targets' distance from the ladder's curve.** Each target's accuracy minus step 2 at its
   *measured* task loss (``acc_actual − acc_from_actual_loss``), in points and in units of the
   scatter a new run of the ladder's recipe shows around the curve (``σ = √(σ_run² + σ_ckpt²)``,
   :func:`taskladder.fit.uncertainty.noise_components`).

If (1) is small and its intervals hold, but (2) is large, the targets' loss-to-accuracy map differs
from the ladder's (their recipe differs), which nothing fitted on the ladder can foresee.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/step2_shift.py [--bootstrap 1000]
"""

from __future__ import annotations

import numpy as np

import olmo


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from taskladder.analysis.step2_extrapolation import step2_extrapolation_by_task, summarize_step2_extrapolation
    from taskladder.fit.uncertainty import noise_components
    from taskladder.predict import predict_ladder
    from taskladder.tasks import get_task

    ladder = olmo.olmo_ladder(args.data)
    result = predict_ladder(ladder)
    table = result.predictions
    held_out = step2_extrapolation_by_task(ladder, result=result, n_bootstrap=args.bootstrap)
    by_task = summarize_step2_extrapolation(held_out).set_index("task")
    targets = list(table["target"].unique())
    print("| task | d (bpb) | ladder: runs held out | mean error | largest error | inside 90 % | "
          "σ (run scatter) | " + " | ".join(f"{t} off the curve" for t in targets) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(targets))
    offsets, sigmas = [], []
    for task_name, law in result.laws.items():
        rows = table[table["task"] == task_name]
        check = by_task.loc[task_name]
        sigma = 100 * float(np.hypot(*noise_components(law, ladder)))
        cells = []
        for target in targets:
            row = rows[rows["target"] == target].iloc[0]
            off = 100 * (row["acc_actual"] - row["acc_from_actual_loss"])
            offsets.append(off)
            sigmas.append(off / sigma)
            cells.append(f"{off:+.1f} ({abs(off) / sigma:.1f} σ)")
        inside = round(check["coverage"] * check["n_runs"])
        print(f"| {get_task(task_name).display_name} | {check['distance']:.3f} | {check['n_runs']} | "
              f"{check['mean_error_points']:+.2f} | {check['max_error_points']:+.2f} | {inside} of {check['n_runs']} | "
              f"{sigma:.2f} | " + " | ".join(cells) + " |")
    ok = held_out[held_out["status"] == "ok"]
    offsets, sigmas = np.array(offsets), np.array(sigmas)
    print(f"\nladder, step 2 extrapolated as far as to the targets: {int(ok['inside'].astype(bool).sum())} of "
          f"{len(ok)} held-out runs inside their 90 % intervals; RMS error "
          f"{100 * np.sqrt(np.mean(ok['error'].astype(float) ** 2)):.2f} points")
    print(f"\ntargets, off the ladder's curve at their measured loss: RMS {np.sqrt(np.mean(offsets ** 2)):.2f} points "
          f"(largest {np.abs(offsets).max():.2f}); {int(np.sum(np.abs(sigmas) > 2))} of {len(sigmas)} "
          f"more than 2 σ away")


if __name__ == "__main__":
    main()
