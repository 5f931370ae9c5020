"""The paper's law in its two modes beside the default laws, on the real targets (7B-4T, 13B-5T).

Prints, as Markdown, the mean absolute error over the paper's eight tasks of the paper's two-step
law (task bpb) fitted the paper's way and the default way, of the bpb + C4 ensemble and of the
default law, per target; then how the step-1 fits of the paper's law end in each mode, and its
ARC misses: the accuracy errors, and how far each target's measured ARC task loss lies below
step 1's extrapolation (as a share of the prediction).

Deterministic (no bootstrap); a few seconds. ``taskladder paper`` writes the same predictions
side by side in ``paper_vs_default.csv``.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/paper_vs_default.py
"""

from __future__ import annotations

import olmo

COLUMNS = (("two-step", "paper", "paper's law, paper mode"), ("two-step", "default", "paper's law, default mode"),
           ("ensemble", "default", "bpb + C4 ensemble"))
ARC = ("arc_challenge", "arc_easy")


def _end(status: str) -> str:
    """How a step-1 fit ended, without the notes on parameters at a bound."""
    return status.split(";")[0].strip()


def main() -> None:
    args = olmo.parser(__doc__).parse_args()

    from taskladder.predict import predict_ladder
    from taskladder.variants import default_variant

    ladder = olmo.olmo_ladder(args.data)
    default_law = default_variant("default")
    columns = COLUMNS + ((default_law, "default", f"default ({default_law})"),)
    tables = {(v, m): predict_ladder(ladder, variant=v, mode=m).predictions for v, m, _ in columns}
    targets = list(tables[columns[0][:2]]["target"].unique())

    print("| target | " + " | ".join(label for _, _, label in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for target in targets:
        cells = [f"{100 * t.loc[t['target'] == target, 'abs_error'].mean():.2f} points" for t in tables.values()]
        print(f"| {target} | " + " | ".join(cells) + " |")

    print()
    for mode in ("paper", "default"):
        table = tables[("two-step", mode)]
        fits = table.drop_duplicates("task")  # one step-1 fit per task, shared by the targets
        ends = fits["step1_status"].map(_end).value_counts()
        print(f"- paper's law, {mode} mode, step 1: {len(fits)} fits; "
              + "; ".join(f"{count} {end}" for end, count in ends.items()))

    both = [tables[("two-step", mode)] for mode in ("paper", "default")]
    arc = [t[t["task"].isin(ARC)] for t in both]
    errors = [100 * e for t in arc for e in t["abs_error"]]
    below = [100 * (p - a) / p for t in arc for p, a in zip(t["task_loss_pred"], t["task_loss_actual"])]
    print(f"- paper's law, both modes, ARC-Challenge and ARC-Easy: accuracy missed by {min(errors):.1f} to "
          f"{max(errors):.1f} points; measured task loss {min(below):.1f} to {max(below):.1f} % below step 1's "
          "extrapolation")


if __name__ == "__main__":
    main()
