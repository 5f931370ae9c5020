"""See the whole method work in a few seconds, offline: fit the embedded micro-ladder and predict
larger models.

The package ships a real ladder of small models (its first output line gives the runs, sizes, N
and tokens; docs/micro-ladder.md the design), trained on a 2-core CPU on Debian's documentation,
every run evaluated in-loop (validation loss; task bits-per-byte and accuracy on two cloze tasks
built from held-out pages, and on HellaSwag). 'demo' fits the two-step law (N, D -> task loss ->
accuracy) on it, predicts the spec's larger targets (micro-m and micro-l, no data), prints the
predictions with their intervals, reliability verdicts and fit status, and writes tables and
figures.

The word-order task (docs_order) and the next-word task (docs_cloze) rise well above chance
across the ladder; HellaSwag stays at chance at this scale, and its verdict says so. The fit
column names what is not plainly converged: a parameter on its bound, a fit the data do not
determine ('degenerate'), or a step 2 whose accuracy does not rise with falling loss ('flat', as
HellaSwag's here).
'taskladder backtest' on the same spec measures how well the law extrapolates
(docs/micro-ladder.md); 'taskladder ladder run --preset micro' retrains the ladder from scratch.

Examples:
  taskladder demo                          # prints the predictions, writes taskladder-demo/
  taskladder demo -o out/ --report         # also the HTML report (out/report.html)
  taskladder demo --spec micro-ladder/export/ladder.toml    # a ladder you regenerated
  taskladder backtest "$(taskladder demo --where)" --variants two-step --tasks docs_order,docs_cloze,hellaswag
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path("taskladder-demo"), metavar="DIR",
                        help="folder for tables, figures and config (default: %(default)s)")
    parser.add_argument("--spec", type=Path, default=None,
                        help="ladder spec to use instead of the embedded micro-ladder")
    parser.add_argument("--bootstrap", type=int, default=200, metavar="B",
                        help="bootstrap resamples for the intervals (default: %(default)s)")
    parser.add_argument("--report", action="store_true", help="also write the HTML report (report.html)")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--where", action="store_true",
                        help="print the path of the embedded micro-ladder's spec and exit (to pass it to "
                             "'taskladder backtest', 'predict' or 'report')")


def embedded_spec() -> Path:
    """Path of the embedded micro-ladder's spec inside the installed package."""
    from importlib import resources

    from ..errors import DataError

    path = Path(str(resources.files("taskladder") / "data" / "micro" / "ladder.toml"))
    if not path.is_file():
        raise DataError(f"the embedded micro-ladder is missing from this installation ({path}); reinstall "
                        "taskladder or regenerate it with 'taskladder ladder run --preset micro'")
    return path


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from ..errors import DataError
    from ..ladder import load_ladder
    from ..predict import paper_selection, predict_ladder
    from ..report.tables import render_table, write_table
    from .common import make_output_folder, write_resolved_config
    from .predict import _terminal_table

    if args.where:
        print(embedded_spec())
        return 0
    make_output_folder(args.output)
    began = time.perf_counter()
    spec = args.spec or embedded_spec()
    ladder = load_ladder(spec)
    tasks = ladder.available_tasks()
    if not tasks:
        raise DataError(f"{spec}: no registered task has bpb and accuracy columns in every train run")
    variant = "two-step"  # the micro-ladder has its own corpus loss, not C4, so no ensemble with C4
    result = predict_ladder(ladder, tasks=tasks, variant=variant, intervals=True, reliability=True,
                            n_bootstrap=args.bootstrap)
    runs = ladder.runs_table
    train = runs[runs["role"] == "train"]
    # A spec may give runs by n_params alone (no size label): those are shown by their N.
    labels = [size if isinstance(size, str) else f"N={int(n):,}" for size, n in zip(train["size"], train["n_params"])]
    print(f"ladder: {len(train)} runs, sizes {', '.join(dict.fromkeys(labels))}, "
          f"N {int(train['n_params'].min()):,}-{int(train['n_params'].max()):,}, "
          f"tokens {train['tokens'].min():.3g}-{train['tokens'].max():.3g}  "
          f"({'the embedded micro-ladder' if args.spec is None else spec})")
    print(f"law: {variant} (N, D -> task bits per byte -> accuracy); tasks: {', '.join(t.name for t in tasks)}")
    print(render_table(_terminal_table(result.predictions), "text", digits=3), end="")

    out = args.output
    predictions = result.predictions
    for suffix in (".csv", ".md", ".json"):
        write_table(predictions, out / f"predictions{suffix}")
    from ..report.fits import fits_table

    write_table(fits_table(result.laws), out / "fits.csv")
    write_table(runs, out / "runs.csv")
    write_resolved_config(out / "config.json", {
        "command": "demo", "spec": str(spec), "variant": variant, "method": "default",
        "tasks": [t.name for t in tasks], "selection": vars(paper_selection(variant)), "intervals": True,
        "bootstrap": args.bootstrap,
        "targets": [{"name": t.name, "n_params": t.n_params, "tokens": t.final_tokens} for t in ladder.targets]})
    if not args.no_figures:
        from ..report.figures import save_law_figures

        save_law_figures(result, ladder, out / "figures")
    if args.report:
        from ..report.html import build_report
        from ..report.tables import atomic_write_text

        html = build_report(ladder, tasks=tasks, result=result, n_bootstrap=args.bootstrap,
                            title="taskladder demo: the embedded micro-ladder")
        atomic_write_text(out / "report.html", html)
    print(f"wrote predictions, fits, runs{'' if args.no_figures else ', figures'}"
          f"{', report.html' if args.report else ''} and config to {out} ({time.perf_counter() - began:.1f} s)",
          file=sys.stderr)
    return 0
