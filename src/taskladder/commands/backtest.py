"""Backtest laws on the ladder itself: hold out the largest rung (every run of the largest size;
likewise every run of the largest token multiple), fit on the rest, predict the held-out runs,
and report per task and per law the mean absolute error and the share of held-out actuals inside
the prediction intervals (coverage). This is how laws and settings are compared; the real targets
are never used for it.

With --step2 it also tests step 2 (task loss -> accuracy) alone, extrapolated as far as the spec's
targets need: step 2 is refitted on the checkpoints whose task loss lies at least that far above
the ladder's lowest and predicts each run that ends below, with step 2's own interval. If step 2
holds there but a target later sits far off the curve, the target's recipe moved the curve.

Examples:
  taskladder backtest specs/olmo-paper.toml
  taskladder backtest specs/olmo-paper.toml --variants two-step,two-step-c4,ensemble --methods default,paper
  taskladder backtest spec.toml --tasks hellaswag --bootstrap 1000 -o backtest-out/
  taskladder backtest specs/olmo-paper.toml --holdouts '' --step2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_table_arguments, add_tasks_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..variants import VARIANT_HELP

    parser.add_argument("spec", type=Path, help="ladder spec (TOML); its targets are used only by --step2")
    parser.add_argument("--variants", default=",".join(VARIANT_HELP),
                        help="comma-separated laws to compare (default: all: %(default)s)")
    parser.add_argument("--methods", default="default", help="comma-separated: default, paper (default: %(default)s)")
    parser.add_argument("--holdouts", default="largest_size,largest_multiple",
                        help="comma-separated holdouts, or '' for none (default: %(default)s; also "
                             "two_largest_sizes, two_largest_multiples: the top two rungs held out)")
    parser.add_argument("--step2", action="store_true",
                        help="also test step 2 alone, extrapolated as far as the targets need (default law; "
                             "writes backtest_step2.csv)")
    parser.add_argument("--step2-distance", type=float, default=None, metavar="LOSS",
                        help="with --step2: extrapolate over this distance in task loss (bpb) instead of the "
                             "targets' (implies --step2)")
    add_tasks_argument(parser)
    parser.add_argument("--level", type=float, default=0.9, help="interval level for coverage (default: %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples per fit (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--per-task", action="store_true", help="print the per-task table, not only the summary")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (shown on a terminal)")
    add_table_arguments(parser, "backtest_predictions.csv, backtest_by_task.csv and backtest_summary.csv "
                                "(with --step2 also backtest_step2.csv and backtest_step2_by_task.csv)")


def summary_by_law(by_task):
    """Mean over tasks and holdouts of each law's error and coverage."""
    import pandas as pd

    agg = {"mae_points": "mean", "max_error_points": "max", "n_missing": "sum",
           "why_missing": lambda w: next((x for x in w if x), "")}
    if "coverage" in by_task:
        agg["coverage"] = "mean"
    table = by_task.groupby(["variant", "method"], sort=False).agg(agg).reset_index()
    per_holdout = by_task.pivot_table(index=["variant", "method"], columns="holdout", values="mae_points",
                                      aggfunc="mean", sort=False)
    per_holdout.columns = [f"mae_{c}" for c in per_holdout.columns]
    return table.merge(per_holdout.reset_index(), on=["variant", "method"]).sort_values("mae_points").reset_index(
        drop=True) if not table.empty else pd.DataFrame()


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..fit.backtest import ALL_HOLDOUTS, backtest, no_fit_succeeded, summarize_backtest
    from ..ladder import load_ladder
    from ..predict import VARIANTS
    from ..report.tables import render_table, write_table
    from .common import make_output_folder, tasks_for

    make_output_folder(args.output)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    holdouts = [h.strip() for h in args.holdouts.split(",") if h.strip()]
    for name, values, allowed in (("variant", variants, VARIANTS), ("method", methods, ("default", "paper")),
                                  ("holdout", holdouts, ALL_HOLDOUTS)):
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ConfigError(f"unknown {name}(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    step2 = args.step2 or args.step2_distance is not None
    if not holdouts and not step2:
        raise ConfigError("nothing to backtest: give at least one holdout (--holdouts) or --step2")
    if args.step2_distance is not None and not args.step2_distance > 0:
        raise ConfigError(f"--step2-distance must be a positive task loss (bpb), got {args.step2_distance}")
    ladder = load_ladder(args.spec)
    tasks = tasks_for(ladder, args.tasks)
    if holdouts:
        table = backtest(ladder, tasks, variants=variants, modes=methods, holdouts=holdouts,
                         intervals=True, level=args.level, n_bootstrap=args.bootstrap, seed=args.seed,
                         progress=not args.no_progress and sys.stderr.isatty())
        reason = no_fit_succeeded(table)
        if reason is not None:
            from ..errors import DataError

            raise DataError(f"{args.spec}: {reason}")
        by_task = summarize_backtest(table)
        summary = summary_by_law(by_task)
        if args.per_task:
            print(render_table(by_task, args.format, digits=3), end="")
        print(render_table(summary, args.format, digits=3), end="")
        if args.output is not None:
            write_table(table, args.output / "backtest_predictions.csv")
            write_table(by_task, args.output / "backtest_by_task.csv")
            write_table(summary, args.output / "backtest_summary.csv")
    if step2:
        from ..analysis.step2_extrapolation import step2_extrapolation_by_task, summarize_step2_extrapolation

        held_out = step2_extrapolation_by_task(ladder, tasks, distance=args.step2_distance, level=args.level,
                                               n_bootstrap=args.bootstrap, seed=args.seed)
        step2_summary = summarize_step2_extrapolation(held_out)
        if args.format == "text":
            heading = f"step 2 alone, refitted above the loss cut and extrapolated below it ({args.level:.0%} intervals):"
            print(("\n" if holdouts else "") + heading)
        print(render_table(step2_summary, args.format, digits=3), end="")
        if args.output is not None:
            write_table(held_out, args.output / "backtest_step2.csv")
            write_table(step2_summary, args.output / "backtest_step2_by_task.csv")
    return 0
