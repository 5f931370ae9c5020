"""Noise and predictability diagnostics per task: how much each task's loss and accuracy move
across the ladder (signal) against checkpoint-to-checkpoint noise and seed noise (from rerun
pairs: a file X-rerun.csv beside a train run's X.csv), and their signal-to-noise ratio. A task
whose accuracy signal is below 10x its noise cannot be extrapolated with confidence.

Examples:
  taskladder noise specs/olmo-paper.toml
  taskladder noise specs/olmo-paper.toml --tasks all -o noise-out/   # table + SNR figure
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_table_arguments, add_tasks_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML)")
    add_tasks_argument(parser)
    parser.add_argument("--last-n", type=int, default=10,
                        help="checkpoints of the largest run used for checkpoint noise (default: %(default)s)")
    add_table_arguments(parser, "noise.csv and snr.png (+ its CSV)")


def run(args: argparse.Namespace) -> int:
    from ..analysis.noise import noise_table
    from ..ladder import load_ladder
    from ..report.tables import render_table, write_table
    from .common import make_output_folder, require_checkpoints, tasks_for

    make_output_folder(args.output)

    ladder = load_ladder(args.spec)
    runs = [r for r in ladder.train_runs if r.has_data]
    if runs:  # the largest run gives the checkpoint noise (see analysis.noise.noise_table)
        require_checkpoints(max(runs, key=lambda r: r.n_params * r.final_tokens), 3, "checkpoint noise")
    table = noise_table(ladder, tasks_for(ladder, args.tasks), last_n=args.last_n)
    print(render_table(table, args.format, digits=4), end="")
    if args.output is not None:
        from ..report.analysis_figures import save_snr_figure

        write_table(table, args.output / "noise.csv")
        save_snr_figure(table, args.output / "snr.png")
    return 0
