"""Fit a ladder spec and write a self-contained HTML report: one file to open offline and send.

Examples:
  taskladder report specs/olmo-paper.toml -o report.html
  taskladder report specs/olmo-paper.toml --tasks hellaswag,arc_easy --method paper -o paper.html
  taskladder report my-ladder/ladder.toml --target 7B:7B:4T -o my-ladder.html
  taskladder report spec.toml --no-intervals --no-backtest -o quick.html   # fastest

The report holds: each target's mean error and the ladder's share of its compute; the ladder
(runs, N, D, compute, share of each target's compute); one card per task with the prediction,
its interval and reliability verdict when computed, the actual when the target has data, and the
step-1, step-2 and chained figures; fit diagnostics (parameters with standard errors,
convergence, residuals); and provenance (version, method, settings, data-file checksums, the
resolved configuration). Figures are embedded PNGs and the styles are inline, so nothing is
loaded from the network. The resolved configuration is also written beside the report as
REPORT.config.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (add_fit_arguments, add_interval_arguments, check_cli_targets, make_output_folder,
                     selection_from_args, write_resolved_config)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="ladder spec (TOML) listing train runs and targets")
    add_fit_arguments(parser)
    add_interval_arguments(parser)
    parser.add_argument("--no-backtest", action="store_true",
                        help="leave out the backtest section (and, with it, the reliability verdict)")
    out = parser.add_argument_group("targets and output")
    out.add_argument("--target", action="append", default=[], metavar="NAME:N:D",
                     help="extra target without data, e.g. 7B:6887575552:3.945e12 or 7B-8T:7B:8T; repeatable")
    out.add_argument("--only-cli-targets", action="store_true",
                     help="predict only the --target values, not the spec's targets")
    out.add_argument("-o", "--output", type=Path, default=Path("report.html"), metavar="FILE",
                     help="the HTML file to write (default: %(default)s)")
    out.add_argument("--title", default=None, help="page title (default: '<spec name>: task scaling report')")
    out.add_argument("--dpi", type=int, default=120, help="resolution of the embedded figures (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..io.spec import load_spec, parse_target
    from ..ladder import load_ladder
    from ..predict import predict_ladder
    from ..report.html import build_report, report_config
    from ..report.tables import atomic_write_text

    if not 30 <= args.dpi <= 600:
        raise ConfigError(f"--dpi must be between 30 and 600, got {args.dpi}")
    if args.output.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"-o {args.output}: the report is an HTML file; give a name ending in .html")
    check_cli_targets(args)
    make_output_folder(args.output.parent)
    spec = load_spec(args.spec)
    extra = [parse_target(t) for t in args.target]
    if extra or args.only_cli_targets:
        spec = spec.with_targets(extra, replace=args.only_cli_targets)
    ladder = load_ladder(spec)
    selection = selection_from_args(args)
    levels = tuple(args.level or (0.5, 0.9))
    intervals = not args.no_intervals
    result = predict_ladder(ladder, tasks=args.tasks, variant=args.variant, mode=args.method, selection=selection,
                            intervals=intervals, levels=levels, n_bootstrap=args.bootstrap, seed=args.seed,
                            reliability=intervals and not args.no_backtest)
    for note in result.notes:
        print(f"taskladder report: note: {note}", file=sys.stderr)
    command = {"command": "report", "output": str(args.output), "cli_targets": list(args.target),
               "intervals": intervals, "levels": list(levels), "bootstrap": args.bootstrap, "seed": args.seed}
    html = build_report(ladder, result=result, backtest=not args.no_backtest, title=args.title,
                        extra_config=command, dpi=args.dpi)
    atomic_write_text(args.output, html)
    config = report_config(ladder, tasks=list(result.laws), variant=result.variant, method=args.method,
                           selection=result.selection, extra={**command, "variants": result.variants,
                                                              "notes": result.notes})
    config.pop("taskladder_version", None)
    write_resolved_config(args.output.with_name(args.output.stem + ".config.json"), config)
    size_mb = len(html.encode("utf-8")) / 1e6
    print(f"wrote {args.output} ({size_mb:.1f} MB: {len(result.laws)} task(s), {len(ladder.targets)} target(s), "
          f"{len(ladder.train_runs)} train runs)", file=sys.stderr)
    return 0
