"""Fit the ladder's train runs and predict every target's task loss and accuracy, per task.

Examples:
  taskladder predict specs/olmo-paper.toml
  taskladder predict specs/olmo-paper.toml --method paper --json
  taskladder predict spec.toml --target 7B:6887575552:3.945e12 --target 13B-5T:13B:5T
  taskladder predict spec.toml --tasks hellaswag,piqa -o out/   # tables, figures, config

Accuracies are fractions in [0, 1]; abs_error is |acc_pred - acc_actual| (null when the target
has no file). In the default method a fit that did not converge gives no number: its prediction
is null and step1_status/step2_status say why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import add_fit_arguments, selection_from_args, write_resolved_config

JSON_FIELDS = ["target", "task", "n_params", "tokens", "task_loss_pred", "task_loss_actual", "acc_pred",
               "acc_actual", "abs_error", "acc_from_actual_loss", "method", "variant", "step1_status",
               "step2_status"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML) listing train runs and targets")
    add_fit_arguments(parser)
    out = parser.add_argument_group("targets and output")
    out.add_argument("--target", action="append", default=[], metavar="NAME:N:D",
                     help="extra target without data, e.g. 7B:6887575552:3.945e12 or 13B-5T:13B:5T "
                          "(N may be a size label; D accepts K/M/B/T suffixes); repeatable")
    out.add_argument("--only-cli-targets", action="store_true",
                     help="predict only the --target values, not the spec's targets")
    out.add_argument("--json", action="store_true", help="print one JSON document to stdout")
    out.add_argument("--format", choices=["text", "csv", "markdown", "latex", "json"], default="text",
                     help="terminal table format (default: text)")
    out.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                     help="also write predictions.{csv,json,md,tex}, fits.csv, figures and config.json here")
    out.add_argument("--no-figures", action="store_true", help="with -o, skip the figures")


def _terminal_table(predictions):
    import pandas as pd

    table = pd.DataFrame({
        "target": predictions["target"], "task": predictions["task"],
        "loss_pred": predictions["task_loss_pred"], "loss_actual": predictions["task_loss_actual"],
        "acc_pred_%": 100 * predictions["acc_pred"], "acc_actual_%": 100 * predictions["acc_actual"],
        "error_pts": 100 * predictions["abs_error"],
        "status": [s1 if s2 in ("", "converged") else f"{s1} | {s2}"
                   for s1, s2 in zip(predictions["step1_status"], predictions["step2_status"])],
    })
    return table


def run(args: argparse.Namespace) -> int:
    from ..io.spec import load_spec, parse_target
    from ..ladder import load_ladder
    from ..predict import predict_ladder
    from ..report.tables import render_table, to_jsonable, write_table

    spec = load_spec(args.spec)
    extra = [parse_target(t) for t in args.target]
    if extra or args.only_cli_targets:
        spec = spec.with_targets(extra, replace=args.only_cli_targets)
    ladder = load_ladder(spec)
    if not ladder.targets:
        print(f"taskladder predict: note: {args.spec} has no target; give one with --target NAME:N:D",
              file=sys.stderr)
    selection = selection_from_args(args)
    result = predict_ladder(ladder, tasks=args.tasks, variant=args.variant, mode=args.method,
                            selection=selection)
    predictions = result.predictions
    if args.json:
        records = predictions[JSON_FIELDS].to_dict(orient="records")
        print(json.dumps({"predictions": to_jsonable(records)}, indent=2))
    else:
        table = _terminal_table(predictions)
        print(render_table(table, args.format, digits=3), end="")
        if args.format == "text":
            known = predictions.dropna(subset=["abs_error"])
            for target, group in known.groupby("target", sort=False):
                print(f"{target}: mean absolute error {100 * group['abs_error'].mean():.2f} points over "
                      f"{len(group)} tasks ({args.method} method, {args.variant})")
    if args.output is not None:
        from ..report.fits import fits_table

        out = args.output
        for suffix in (".csv", ".json", ".md", ".tex"):
            write_table(predictions, out / f"predictions{suffix}")
        write_table(fits_table(result.laws), out / "fits.csv")
        write_resolved_config(out / "config.json", {
            "command": "predict", "spec": str(args.spec), "method": args.method, "variant": args.variant,
            "tasks": sorted(result.laws), "selection": vars(selection),
            "targets": [{"name": t.name, "n_params": t.n_params, "tokens": t.final_tokens} for t in ladder.targets]})
        if not args.no_figures:
            from ..report.figures import save_law_figures

            save_law_figures(result, ladder, out / "figures")
        print(f"wrote tables, fits and config{'' if args.no_figures else ', figures'} to {out}", file=sys.stderr)
    return 0
