"""Watching the OLMo ladder's own large runs as if they were running: error and coverage against the fraction seen.

Each pseudo-target is a finished run of the ladder, watched with the ladder that would have been
trained before it, and only its checkpoints up to a fraction of its tokens. Two designs:

* **largest runs**: the four runs of most compute (1.3B-10xC, 1.3B-5xC, 760M-10xC, 1.3B-2xC), each
  with every run of less compute as its ladder;
* **a new size**: the four 1.3B runs, with the 190M-760M runs as the ladder (the target's size is
  not on the ladder, as a 7B is not on the paper's).

For each fraction: the mean absolute error of the forecast of the final accuracy (the mean over the
run's last five checkpoints, as a target's actual), the same for the ladder alone (fraction 0),
on how many forecasts the watch is closer, and the share of actuals inside the 90 % intervals.
No constant of the method is fitted to these runs' final values (its scales come from the ladder's
runs, see ``taskladder.watch``), but the method was developed with this replay in view: it is a
check, not a clean held-out test.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/watch_olmo.py [--bootstrap 1000]
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

import olmo

FRACTIONS = (0.1, 0.25, 0.5, 0.75)


def pseudo_target(ladder, name: str, keep):
    """A ladder of the runs ``keep`` picks and the run ``name`` as its (finished) target."""
    from taskladder.ladder import Ladder, RunData

    run = ladder.runs[name]
    target = RunData(dataclasses.replace(run.spec, role="target"), run.frame, run.tokens)
    train = [r for r in ladder.train_runs if r.name != name and keep(r, run)]
    return Ladder(ladder.spec, train + [target]), target


def designs(ladder) -> dict[str, list[tuple[str, object]]]:
    """Each design's pseudo-targets and the rule that picks their ladder."""
    def compute(r):
        return r.n_params * r.final_tokens

    largest = sorted(ladder.train_runs, key=compute, reverse=True)[:4]
    new_size = [r for r in ladder.train_runs if r.n_params == max(x.n_params for x in ladder.train_runs)]
    return {"largest runs": [(r.name, lambda x, t: compute(x) < compute(t)) for r in largest],
            "a new size": [(r.name, lambda x, t: x.n_params < t.n_params) for r in new_size]}


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from taskladder.watch import watch

    ladder = olmo.olmo_ladder(args.data)
    start = time.perf_counter()
    for design, cases in designs(ladder).items():
        frames = []
        for name, keep in cases:
            sub, target = pseudo_target(ladder, name, keep)
            forecasts = watch(sub, (0.0, *FRACTIONS), targets=[target], n_bootstrap=args.bootstrap).forecasts
            frames.append(forecasts.assign(ladder_runs=len(sub.train_runs)))
        f = pd.concat(frames, ignore_index=True)
        f["inside"] = (f["acc_actual"] >= f["acc_lo"]) & (f["acc_actual"] <= f["acc_hi"])
        ladder_error = f[f["fraction"] == 0.0].set_index(["target", "task"])["abs_error"]
        f["ladder_error"] = [ladder_error[(t, k)] for t, k in zip(f["target"], f["task"])]
        runs = ", ".join(f"{n} ({int(g['ladder_runs'].iloc[0])} runs)" for n, g in f.groupby("target", sort=False))
        print(f"\n**{design}**: {runs}; {f['task'].nunique()} tasks\n")
        print("| fraction seen | forecasts | MAE (points) | ladder alone | closer than the ladder | "
              "inside 90 % | mean 90 % width |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for fraction, g in f.groupby("fraction"):
            closer = int((g["abs_error"] < g["ladder_error"]).sum()) if fraction > 0 else 0
            print(f"| {fraction:g} | {len(g)} | {100 * g['abs_error'].mean():.2f} | "
                  f"{100 * g['ladder_error'].mean():.2f} | {'—' if fraction == 0 else f'{closer} of {len(g)}'} | "
                  f"{g['inside'].sum()} of {len(g)} ({100 * g['inside'].mean():.0f} %) | "
                  f"{100 * (g['acc_hi'] - g['acc_lo']).mean():.1f} |")
        half = f[f["fraction"] == 0.5]
        per_target = half.groupby("target", sort=False).agg(mae=("abs_error", "mean"), inside=("inside", "sum"),
                                                             n=("inside", "size"))
        worst = per_target["mae"].max()
        print(f"\n{design}, half-way: MAE per target at most {100 * worst:.2f} points; "
              f"{int(per_target['inside'].sum())} of {int(per_target['n'].sum())} actuals inside the 90 % intervals "
              f"({', '.join(f'{t} {100 * r.mae:.2f}' for t, r in per_target.iterrows())})")
    print(f"\n({time.perf_counter() - start:.0f} s with {args.bootstrap} bootstrap resamples)")


if __name__ == "__main__":
    main()
