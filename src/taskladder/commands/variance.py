"""Checkpoint-to-checkpoint noise of each task: SD and coefficient of variation of the task loss
and the accuracy over a run's last checkpoints (population SD, as the reference).

Examples:
  taskladder variance specs/olmo-paper.toml --run 1.3B-10xC
  taskladder variance spec.toml --run my-run --last-n 20 --tasks all --format csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_table_arguments, add_tasks_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML)")
    parser.add_argument("--run", default=None, help="run name (default: the train run with the most compute)")
    parser.add_argument("--last-n", type=int, default=10, help="checkpoints to use (default: %(default)s)")
    add_tasks_argument(parser)
    add_table_arguments(parser, "variance.csv and variance.png (+ its CSV)")


def run(args: argparse.Namespace) -> int:
    from ..analysis.variance import variance_table
    from ..errors import ConfigError
    from ..ladder import load_ladder
    from ..report.tables import render_table, write_table
    from .common import make_output_folder, require_checkpoints, tasks_for

    make_output_folder(args.output)

    ladder = load_ladder(args.spec)
    if args.run is None:
        runs = [r for r in ladder.train_runs if r.has_data]
        chosen = max(runs, key=lambda r: r.n_params * r.final_tokens)
    elif args.run in ladder.runs:
        chosen = ladder.runs[args.run]
    else:
        raise ConfigError(f"{args.spec}: no run named {args.run!r}; runs: {', '.join(ladder.runs)}")
    require_checkpoints(chosen, 3, "checkpoint-to-checkpoint variance")
    table = variance_table(chosen, tasks_for(ladder, args.tasks), last_n=args.last_n)
    print(f"run {chosen.name}, last {args.last_n} checkpoints", flush=True) if args.format == "text" else None
    print(render_table(table, args.format, digits=4), end="")
    if args.output is not None:
        from ..report.analysis_figures import save_variance_figure

        write_table(table, args.output / "variance.csv")
        save_variance_figure(table, args.output / "variance.png")
    return 0
