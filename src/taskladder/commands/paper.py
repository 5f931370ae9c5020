"""Reproduce the paper's tables and figures on the OLMo ladder data, in the paper's mode and in
the default mode side by side, and compare each table with the reference's published one when
DIR/reference-results/ is there.

Examples:
  taskladder paper --data ../shared/data/olmo-ladder -o paper-out
  taskladder paper --data olmo-ladder -o out --no-compute-error   # skip the slowest analysis

Writes to OUT: step1_*/step2_*/chained_* tables in the reference's layout, comparison_*.csv
against the reference, variants.csv (every variant x method, mean absolute error per target),
paper_vs_default.csv, variance.csv, compute_vs_error.csv, figures/ (PNG + CSV each), summary.md
and config.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import make_output_folder, write_resolved_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="the OLMo ladder data folder (holding ladder-runs/ and optionally reference-results/)")
    parser.add_argument("-o", "--output", type=Path, default=Path("paper-out"), metavar="OUT",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--no-compute-error", action="store_true",
                        help="skip the compute-vs-error analysis (about 100 refits)")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")


def run(args: argparse.Namespace) -> int:
    from ..analysis.paper import reproduce
    from ..report.tables import render_table, write_table
    make_output_folder(args.output)

    results = reproduce(args.data, compute_error=not args.no_compute_error)
    out = args.output
    for name, table in results.tables.items():
        write_table(table, out / f"{name}.csv")
    for name, table in results.comparisons.items():
        write_table(table, out / f"comparison_{name}.csv")
    lines = ["# Paper reproduction", "",
             f"Data: `{args.data}`. Paper mode reproduces the reference implementation; default mode is "
             "taskladder's robust fit.", ""]
    for name, table in results.comparisons.items():
        worst = table["pred_rel_diff"].abs().max()
        lines.append(f"- `{name}`: largest relative difference from the reference {worst:.2e} "
                     f"({table['pred_abs_diff_points'].abs().max():.4f} points)")
    lines.append("")
    for name in ("variants", "paper_vs_default", "chained_7B-4T", "chained_13B-5T", "step1_main", "step2_main",
                 "variance"):
        if name in results.tables:
            lines += [f"## {name}", "", render_table(results.tables[name], "markdown"), ""]
    write_table_text = "\n".join(lines)
    from ..report.tables import atomic_write_text

    atomic_write_text(out / "summary.md", write_table_text)
    if not args.no_figures:
        from ..report.figures import save_law_figures
        from ..report.analysis_figures import save_compute_error_figure, save_variance_figure

        for key in ("two-step/paper", "two-step/default"):
            save_law_figures(results.predictions[key], results.ladder, out / "figures" / key.replace("/", "-"))
        save_variance_figure(results.tables["variance"], out / "figures" / "variance.png")
        if "compute_vs_error" in results.tables:
            save_compute_error_figure(results.tables["compute_vs_error"], out / "figures" / "compute_vs_error.png")
    write_resolved_config(out / "config.json", {"command": "paper", "data": str(args.data),
                                                "compute_error": not args.no_compute_error})
    variants = results.tables["variants"]
    print(render_table(variants, "text", digits=2), end="")
    for name, table in results.comparisons.items():
        print(f"{name}: max |relative difference| from the reference {table['pred_rel_diff'].abs().max():.2e}")
    print(f"wrote the reproduction to {out}", file=sys.stderr)
    return 0
