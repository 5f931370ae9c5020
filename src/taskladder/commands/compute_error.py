"""Prediction error on a target as the ladder grows: refit on cumulative subsets of the train
runs (by model size, by token multiple, or run by run in order of compute) and report the
step-1, step-2 and chained errors of each subset. Subsets with fewer runs than the step-1 form
has parameters are reported as 'too few runs' rather than fitted.

Examples:
  taskladder compute-error specs/olmo-paper.toml --target 7B-4T --by n_params
  taskladder compute-error specs/olmo-paper.toml --target 7B-4T --by flops --method paper -o out/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_fit_arguments, add_table_arguments, make_output_folder, selection_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML)")
    parser.add_argument("--target", required=True, help="name of a target run with data (actuals)")
    parser.add_argument("--by", choices=["n_params", "multiple", "flops"], default="n_params",
                        help="how the ladder grows (default: %(default)s)")
    add_fit_arguments(parser)
    add_table_arguments(parser, "compute_vs_error.csv and its figure")


def run(args: argparse.Namespace) -> int:
    from ..analysis.compute_error import compute_vs_error
    from ..errors import ConfigError
    from ..ladder import load_ladder
    from ..report.tables import render_table, write_table
    from .common import tasks_for

    make_output_folder(args.output)

    ladder = load_ladder(args.spec)
    if args.target not in ladder.runs:
        raise ConfigError(f"{args.spec}: no run named {args.target!r}; targets: "
                          f"{', '.join(t.name for t in ladder.targets) or 'none'}")
    table = compute_vs_error(ladder, tasks_for(ladder, args.tasks), ladder.runs[args.target], by=args.by,
                             mode=args.method, selection=selection_from_args(args), variant=args.variant)
    table.insert(1, "method", args.method)
    shown = table.drop(columns=["target"]) if args.format == "text" else table
    print(render_table(shown, args.format, digits=4), end="")
    if args.output is not None:
        from ..report.analysis_figures import save_compute_error_figure

        write_table(table, args.output / "compute_vs_error.csv")
        save_compute_error_figure(table, args.output / "compute_vs_error.png")
    return 0
