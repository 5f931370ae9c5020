"""Fit the ladder's train runs and predict every target's task loss and accuracy, per task.

Examples:
  taskladder predict specs/olmo-paper.toml
  taskladder predict specs/olmo-paper.toml --method paper --json
  taskladder predict spec.toml --target 7B:6887575552:3.945e12 --target 13B-5T:13B:5T
  taskladder predict spec.toml --tasks hellaswag,piqa -o out/   # tables, figures, config

Accuracies are fractions in [0, 1]; abs_error is |acc_pred - acc_actual| (null when the target
has no file). acc_lo/acc_hi is the prediction interval at `level` (the widest requested; a
bootstrap over runs plus run scatter and checkpoint noise), and `reliability` is a verdict from
the ladder alone (reliable / noisy / unreliable, with `reliability_reason`). Each step has its
own interval too: task_loss_lo/hi (step 1) and acc_from_actual_loss_lo/hi (step 2 alone, at the
target's measured task loss), which tell which step a miss comes from. In the default
method a fit that did not converge gives no number: its prediction is null and
step1_status/step2_status say why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (add_fit_arguments, add_interval_arguments, check_cli_targets, make_output_folder,
                     selection_from_args, write_resolved_config)

JSON_FIELDS = ["target", "task", "n_params", "tokens", "task_loss_pred", "task_loss_actual", "acc_pred",
               "acc_actual", "abs_error", "acc_lo", "acc_hi", "level", "reliability", "reliability_reason",
               "acc_from_actual_loss", "acc_from_actual_loss_lo", "acc_from_actual_loss_hi", "task_loss_lo",
               "task_loss_hi", "loss_unit", "method", "variant", "step1_status", "step2_status",
               "acc_sd_params", "acc_sd_noise", "acc_sd_extrapolation", "acc_sd_recipe", "extrapolation_distance",
               "interval_term", "interval_method"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML) listing train runs and targets")
    add_fit_arguments(parser)
    add_interval_arguments(parser)
    out = parser.add_argument_group("targets and output")
    out.add_argument("--target", action="append", default=[], metavar="NAME:N:D",
                     help="extra target without data, e.g. 7B:6887575552:3.945e12 or 13B-5T:13B:5T "
                          "(N may be a size label; D accepts K/M/B/T suffixes); repeatable")
    out.add_argument("--only-cli-targets", action="store_true",
                     help="predict only the --target values, not the spec's targets")
    out.add_argument("--json", action="store_true", help="print one JSON document to stdout")
    out.add_argument("--format", choices=["text", "csv", "markdown", "latex", "json"], default="text",
                     help="terminal table format (default: text); json prints the same document as --json")
    out.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                     help="also write predictions.{csv,json,md,tex}, fits.csv, figures and config.json here")
    out.add_argument("--no-figures", action="store_true", help="with -o, skip the figures")


def _status(step1: str, step2: str) -> str:
    """'converged' when every fit converged inside its bounds, else only the parts that did not."""
    parts = [p.strip() for text in (step1, step2) for p in text.split(";") if p.strip()]
    bare = [p.split(":", 1)[1].strip() if p.split(":", 1)[0] in ("bpb", "c4", "taskce") else p for p in parts]
    odd = [p for p, b in zip(parts, bare) if b != "converged"]
    return "; ".join(odd) if odd else "converged"


def _terminal_table(predictions):
    import pandas as pd

    columns = {
        "target": predictions["target"], "task": predictions["task"],
        "loss_pred": predictions["task_loss_pred"], "loss_actual": predictions["task_loss_actual"]}
    if "loss_unit" in predictions and (predictions["loss_unit"] != "bpb").any():
        columns["loss_unit"] = predictions["loss_unit"]
    columns["acc_pred_%"] = 100 * predictions["acc_pred"]
    if "acc_lo" in predictions:
        level = int(round(100 * float(predictions["level"].iloc[0])))
        columns[f"{level}%_interval"] = [
            "—" if lo != lo else f"{100 * lo:.1f}–{100 * hi:.1f}"
            for lo, hi in zip(predictions["acc_lo"], predictions["acc_hi"])]
    columns.update({"acc_actual_%": 100 * predictions["acc_actual"], "error_pts": 100 * predictions["abs_error"]})
    if "reliability" in predictions:
        columns["reliability"] = predictions["reliability"]
    columns["fit"] = [_status(a, b) for a, b in zip(predictions["step1_status"], predictions["step2_status"])]
    return pd.DataFrame(columns)


def _laws(group) -> str:
    """The law(s) behind a target's rows: ``loss-to-loss``, or ``two-step-c4 (3 tasks), ...``."""
    counts = group["variant"].value_counts(sort=False)
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{name} ({n} task{'s' if n > 1 else ''})" for name, n in counts.items())


def run(args: argparse.Namespace) -> int:
    from ..io.spec import load_spec, parse_target
    from ..ladder import load_ladder
    from ..predict import predict_ladder
    from ..report.tables import render_table, to_jsonable, write_table
    check_cli_targets(args)
    make_output_folder(args.output)

    spec = load_spec(args.spec)
    extra = [parse_target(t) for t in args.target]
    if extra or args.only_cli_targets:
        spec = spec.with_targets(extra, replace=args.only_cli_targets)
    ladder = load_ladder(spec)
    if not ladder.targets:
        print(f"taskladder predict: note: {args.spec} has no target; give one with --target NAME:N:D",
              file=sys.stderr)
    selection = selection_from_args(args)
    levels = tuple(args.level or (0.5, 0.9))
    intervals = not args.no_intervals
    result = predict_ladder(ladder, tasks=args.tasks, variant=args.variant, mode=args.method,
                            selection=selection, intervals=intervals, levels=levels,
                            n_bootstrap=args.bootstrap, seed=args.seed, reliability=intervals)
    predictions = result.predictions
    for note in result.notes:
        print(f"taskladder predict: note: {note}", file=sys.stderr)
    if args.json or args.format == "json":
        fields = [f for f in JSON_FIELDS if f in predictions.columns]
        fields += [c for c in predictions.columns if c.startswith(("acc_lo_", "acc_hi_"))]
        records = predictions[fields].to_dict(orient="records")
        print(json.dumps({"predictions": to_jsonable(records)}, indent=2))
    else:
        table = _terminal_table(predictions)
        print(render_table(table, args.format, digits=3), end="")
        if args.format == "text":
            known = predictions.dropna(subset=["abs_error"])
            for target, group in known.groupby("target", sort=False):
                line = (f"{target}: mean absolute error {100 * group['abs_error'].mean():.2f} points over "
                        f"{len(group)} tasks ({args.method} method, {_laws(group)})")
                if "acc_lo" in group:
                    inside = ((group["acc_actual"] >= group["acc_lo"]) & (group["acc_actual"] <= group["acc_hi"])).sum()
                    line += f"; {inside} of {len(group)} actuals inside the {group['level'].iloc[0]:.0%} intervals"
                print(line)
    if args.output is not None:
        from ..report.fits import fits_table

        out = args.output
        for suffix in (".csv", ".json", ".md", ".tex"):
            write_table(predictions, out / f"predictions{suffix}")
        write_table(fits_table(result.laws), out / "fits.csv")
        write_resolved_config(out / "config.json", {
            "command": "predict", "spec": str(args.spec), "method": args.method, "variant": result.variant,
            "variants": result.variants, "notes": result.notes,
            "tasks": sorted(result.laws), "selection": vars(result.selection), "intervals": intervals,
            "levels": list(levels), "bootstrap": args.bootstrap, "seed": args.seed,
            "targets": [{"name": t.name, "n_params": t.n_params, "tokens": t.final_tokens} for t in ladder.targets]})
        if not args.no_figures:
            from ..report.figures import save_law_figures

            save_law_figures(result, ladder, out / "figures")
        print(f"wrote tables, fits and config{'' if args.no_figures else ', figures'} to {out}", file=sys.stderr)
    return 0
