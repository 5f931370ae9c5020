"""Watch a running target: forecast where each task will land from the ladder and the target's own checkpoints.

For each target that has an evaluation log (its [[run]] table gives file = "..." and its planned
tokens as tokens = ...) and each fraction f of those planned tokens, the forecast uses the ladder
and only the target's checkpoints with tokens <= f x planned: its final task loss and accuracy per
task, with an interval and a verdict. Fraction 0 is the ladder alone (the numbers of 'taskladder
predict'). On a finished run's log this replays the run ("where would we have said it lands, 25 %
in?") and compares each forecast with the final actual; on a log that ends early, the fractions
beyond it repeat the forecast from everything logged so far.

How: the ladder predicts the final task loss; the target's checkpoints, carried to the end of the
run by the ladder's law of a run's loss along its schedule (learning-rate term included), measure
it; a normal update weighs the two by what the ladder's own runs show about each. The target's
accuracy along its path measures how far it sits off the ladder's loss-to-accuracy curve, the
same way. Learning rate: the log's LR column, else the spec's schedule = {...} on the target's
[[run]] table (also for a final anneal: e.g. schedule = { shape = "cosine", warmup_tokens = "8B",
anneal_tokens = "50B" }), else the ladder's schedule (the output says so).

Examples:
  taskladder watch specs/olmo-watch.toml       # replays the OLMo ladder's largest run, 1.3B-10xC
  taskladder watch spec.toml --fractions 0.1,0.25,0.5 --tasks hellaswag,arc_easy
  taskladder watch spec.toml --json
  taskladder watch spec.toml -o watch-out/      # forecasts.{csv,json}, a figure per task, config.json

Accuracies are fractions in [0, 1]; acc_lo/acc_hi is the interval at `level`; acc_actual and
abs_error are filled only for a target whose log reaches its planned tokens. How far to trust it:
replaying the OLMo ladder's own large runs (docs/backtests.md), the forecast beats the ladder alone
from about half-way; a tenth of the way in it does not yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import add_fit_arguments, make_output_folder, selection_from_args, tasks_for, write_resolved_config

JSON_FIELDS = ["target", "task", "fraction", "tokens_seen", "planned_tokens", "n_checkpoints", "task_loss_pred",
               "task_loss_lo", "task_loss_hi", "acc_pred", "acc_lo", "acc_hi", "level", "acc_actual", "abs_error",
               "reliability", "reliability_reason", "ladder_acc_pred", "loss_weight", "step2_weight",
               "step2_offset", "lr_source", "variant", "loss_unit", "status"]


def _fractions(text: str) -> tuple[float, ...]:
    from ..errors import ConfigError
    from ..watch import check_fractions

    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            values.append(float(part))
        except ValueError:
            raise ConfigError(f"--fractions: {part!r} is not a number (give fractions of the planned tokens, "
                              "e.g. 0.1,0.25,0.5)") from None
    try:
        return check_fractions(values)
    except ConfigError as exc:
        raise ConfigError(f"--fractions: {exc}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML); its targets with a file are watched")
    parser.add_argument("--fractions", default="0.1,0.25,0.5,0.75", metavar="F,F,...",
                        help="fractions of each target's planned tokens to forecast from; 0 is the ladder alone "
                             "(default: %(default)s)")
    parser.add_argument("--target", action="append", default=None, metavar="NAME",
                        help="watch only this target of the spec (repeatable; default: every target with a file)")
    add_fit_arguments(parser)
    group = parser.add_argument_group("uncertainty")
    group.add_argument("--level", type=float, action="append", default=None, metavar="Q",
                       help="interval level, repeatable (default: 0.5 and 0.9)")
    group.add_argument("--bootstrap", type=int, default=200, metavar="B",
                       help="bootstrap resamples of the runs per law (default: %(default)s)")
    group.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: %(default)s)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON document to stdout: {\"forecasts\": [...]}")
    out.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                     help="also write forecasts.{csv,json}, a figure per task (with its CSV) and config.json here")
    out.add_argument("--no-figures", action="store_true", help="with -o, skip the figures")


def _terminal_table(forecasts):
    import pandas as pd

    level = forecasts["level"].dropna()
    label = f"{int(round(100 * float(level.iloc[0])))}%_interval" if len(level) else "interval"
    return pd.DataFrame({
        "target": forecasts["target"], "task": forecasts["task"], "fraction": forecasts["fraction"],
        "seen": [_tokens(t) for t in forecasts["tokens_seen"]], "ckpts": forecasts["n_checkpoints"],
        "loss_pred": forecasts["task_loss_pred"], "acc_pred_%": 100 * forecasts["acc_pred"],
        label: ["—" if lo != lo else f"{100 * lo:.1f}–{100 * hi:.1f}"
                for lo, hi in zip(forecasts["acc_lo"], forecasts["acc_hi"])],
        "acc_actual_%": 100 * forecasts["acc_actual"], "error_pts": 100 * forecasts["abs_error"],
        "reliability": forecasts["reliability"]})


def _tokens(value: float) -> str:
    from ..watch import format_tokens

    return "0" if not value or value != value else format_tokens(value)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..ladder import load_ladder
    from ..report.tables import render_table, to_jsonable, write_table
    from ..watch import watch

    fractions = _fractions(args.fractions)
    levels = tuple(args.level or (0.5, 0.9))
    make_output_folder(args.output)
    ladder = load_ladder(args.spec)
    targets = None
    if args.target:
        known = {t.name: t for t in ladder.targets}
        unknown = [name for name in args.target if name not in known]
        if unknown:
            raise ConfigError(f"--target {unknown[0]!r}: no such target in {args.spec} (targets: "
                              f"{', '.join(known) or 'none'})")
        targets = [known[name] for name in dict.fromkeys(args.target)]
    tasks = tasks_for(ladder, args.tasks)
    result = watch(ladder, fractions, targets=targets, tasks=tasks, variant=args.variant, mode=args.method,
                   selection=selection_from_args(args), levels=levels, n_bootstrap=args.bootstrap, seed=args.seed)
    forecasts = result.forecasts
    for note in result.notes:
        print(f"taskladder watch: note: {note}", file=sys.stderr)
    if args.json:
        fields = [f for f in JSON_FIELDS if f in forecasts.columns]
        fields += [c for c in forecasts.columns if c.startswith(("acc_lo_", "acc_hi_"))]
        print(json.dumps({"forecasts": to_jsonable(forecasts[fields].to_dict(orient="records"))}, indent=2))
    else:
        print(render_table(_terminal_table(forecasts), "text", digits=3), end="")
        known = forecasts.dropna(subset=["abs_error"])
        for (target, fraction), group in known.groupby(["target", "fraction"], sort=False):
            inside = ((group["acc_actual"] >= group["acc_lo"]) & (group["acc_actual"] <= group["acc_hi"])).sum()
            print(f"{target} at {fraction:g} of its tokens: mean absolute error {100 * group['abs_error'].mean():.2f} "
                  f"points over {len(group)} tasks; {inside} of {len(group)} actuals inside the "
                  f"{float(group['level'].iloc[0]):.0%} intervals")
    if args.output is not None:
        out = args.output
        write_table(forecasts, out / "forecasts.csv")
        write_table(forecasts, out / "forecasts.json")
        write_resolved_config(out / "config.json", {
            "command": "watch", "spec": str(args.spec), "fractions": list(fractions), "method": args.method,
            "variant": result.ladder.variant, "variants": result.ladder.variants, "notes": result.notes,
            "tasks": sorted(result.ladder.laws), "levels": list(levels), "bootstrap": args.bootstrap,
            "seed": args.seed, "targets": sorted(set(forecasts["target"]))})
        if not args.no_figures:
            from ..report.watch_figures import save_watch_figures

            save_watch_figures(forecasts, out / "figures")
        print(f"wrote forecasts and config{'' if args.no_figures else ', figures'} to {out}", file=sys.stderr)
    return 0
