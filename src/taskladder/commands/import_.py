"""Bring your own results: turn W&B run histories or a tidy CSV into a ladder that
'taskladder predict' and 'taskladder report' read (ladder-format run CSVs plus a spec TOML).

Examples:
  taskladder import tidy results.csv -o my-ladder --target 7B-run
  taskladder import wandb-csv exports/*.csv --config runs.json -o my-ladder
  taskladder import wandb-csv 190M.csv --n-params 190354176 --batch-tokens 4194304 -o my-ladder
  taskladder import wandb my-team/ladder --runs a1b2c3,d4e5f6 --target d4e5f6 -o my-ladder
  taskladder predict my-ladder/ladder.toml

Tidy CSV: columns run, N, D, step, task, metric, value (one row per run x checkpoint x task x
metric; N = parameters, D = tokens seen at that checkpoint; optional columns role, size,
flops_per_token; task empty for the C4 loss).

W&B: a history export per run (columns _step and metrics), or the wandb API (pip install
'taskladder[wandb]'). N comes from --n-params/--size or the run's config (key n_params, or
--n-key); tokens seen from the throughput/total_tokens column, else _step x batch tokens.

Metric names: taskladder's own column names (eval/downstream_bpb/TASK_SPLIT_rc_5shot_bpb, ...)
are kept; columns ending in TASK/METRIC or TASK_METRIC are mapped by these names:
  bpb, bits_per_byte                 -> bpb (task loss, bits per byte)
  accuracy                           -> accuracy
  acc_norm, acc_per_char, len_norm   -> accuracy of tasks scored per character (all but boolq)
  acc                                -> accuracy of tasks scored raw (boolq)
  soft, soft_log, mc (mc_acc)        -> soft, soft_log, mc
  c4, c4_loss                        -> C4 validation loss (nats per token)
A ',none' filter suffix (lm-evaluation-harness) is ignored. Anything else: --map COLUMN=TASK:METRIC,
--map COLUMN=c4, or --map COLUMN=- to drop a column. Other columns (loss, learning rate) are
ignored and listed.

A malformed file stops the import with one line naming the file, row (its line, header = 1)
and column, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _common(parser: argparse.ArgumentParser, *, wandb: bool) -> None:
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="folder to write runs/*.csv and ladder.toml into")
    parser.add_argument("--name", default=None, help="ladder name in the spec (default: the output folder's name)")
    parser.add_argument("--target", action="append", default=[], metavar="RUN",
                        help="mark a run as a target to predict (default: every run is a train run); repeatable")
    if wandb:
        parser.add_argument("--n-params", action="append", default=[], metavar="RUN=N",
                            help="N of a run (RUN= may be left out with one run); repeatable")
        parser.add_argument("--size", action="append", default=[], metavar="RUN=LABEL",
                            help="a run's known size label (gives N and FLOPs per token); repeatable")
        parser.add_argument("--tokens", action="append", default=[], metavar="RUN=D",
                            help="a run's final tokens D for the spec (default: its last checkpoint's); repeatable")
        parser.add_argument("--batch-tokens", default=None, metavar="T",
                            help="tokens per optimizer step, when the history has no token column")
        parser.add_argument("--n-key", default="n_params", metavar="KEY",
                            help="config key holding N, dotted for nesting (default: %(default)s)")
        parser.add_argument("--map", action="append", default=[], metavar="COLUMN=TASK:METRIC",
                            help="map a column to a task metric (or 'c4', or '-' to drop it); repeatable")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    tidy = sub.add_parser("tidy", help="a tidy CSV: run, N, D, step, task, metric, value",
                          description="Import a tidy CSV (run, N, D, step, task, metric, value).")
    tidy.add_argument("csv", type=Path, help="the tidy CSV")
    _common(tidy, wandb=False)
    csv = sub.add_parser("wandb-csv", help="W&B history exports, one CSV per run (named after the file)",
                         description="Import W&B history CSV exports, one per run; the run is named after the file.")
    csv.add_argument("csv", type=Path, nargs="+", help="history CSV(s)")
    csv.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="run configs: JSON {RUN: {n_params: ..., ...}} or W&B's runs-table CSV (Name column)")
    _common(csv, wandb=True)
    api = sub.add_parser("wandb", help="runs read with the wandb API (needs wandb installed and a login)",
                         description="Import runs straight from W&B (pip install 'taskladder[wandb]').")
    api.add_argument("project", help="ENTITY/PROJECT")
    api.add_argument("--runs", default=None, metavar="ID,ID", help="run ids (default: every run of the project)")
    _common(api, wandb=True)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    """``RUN=VALUE`` items (``VALUE`` alone: the only run)."""
    from ..errors import ConfigError

    out: dict[str, str] = {}
    for item in items:
        run, sep, value = item.rpartition("=")
        if sep and not value:
            raise ConfigError(f"{option} {item!r}: expected RUN=VALUE")
        out[run if sep else ""] = value if sep else item
    return out


def _write_staged(runs, out: Path, *, name: str) -> Path:
    """Write the ladder into a hidden folder inside ``out``, check it reads back, then move it into place.

    A run that cannot be written (or a spec that does not read back) leaves ``out`` as it was:
    no half ladder, no spec pointing at files from an earlier import. The spec is moved last.
    """
    import os
    import shutil
    import tempfile

    from ..io.tidy import write_ladder
    from ..io.validate import check_output_folder

    check_output_folder(out, "-o")
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".import-"))
    try:
        write_ladder(runs, staging, name=name)
        files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: p.name == "ladder.toml")
        for file in files:
            destination = out / file.relative_to(staging)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "ladder.toml"


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..io.validate import check_imported_run, has_control_characters

    if args.source == "tidy":
        from ..io.tidy import read_tidy_csv

        runs = read_tidy_csv(args.csv, targets=args.target)
    else:
        from ..io import wandb

        mapping = wandb.parse_mapping(args.map)
        options = {"n_params": _pairs(args.n_params, "--n-params"), "sizes": _pairs(args.size, "--size"),
                   "tokens": _pairs(args.tokens, "--tokens"), "batch_tokens": args.batch_tokens,
                   "targets": args.target, "mapping": mapping, "n_key": args.n_key}
        if args.source == "wandb-csv":
            configs = wandb.read_configs(args.config) if args.config is not None else {}
            runs = wandb.import_wandb_csvs(args.csv, configs=configs, **options)
        else:
            ids = [i.strip() for i in args.runs.split(",") if i.strip()] if args.runs else None
            runs = wandb.import_wandb_api(args.project, run_ids=ids, **options)
    for imported in runs:
        check_imported_run(imported)
    name = args.name or args.output.resolve().name
    if has_control_characters(name):
        raise ConfigError(f"--name {name!r} holds a control character")
    spec = _write_staged(runs, args.output, name=name)
    n_train = sum(r.role == "train" for r in runs)
    metrics = sorted({c for r in runs for c in r.frame.columns[2:]})
    print(f"wrote {len(runs)} runs ({n_train} train, {len(runs) - n_train} target) with {len(metrics)} metric "
          f"column(s) to {spec}")
    mapped = {source: targets for r in runs for source, targets in (r.mapped or {}).items()
              if targets != (source,)}
    for source, targets in sorted(mapped.items()):
        print(f"  {source} -> {', '.join(targets)}")
    ignored = sorted({c for r in runs for c in r.ignored})
    if ignored:
        shown = ", ".join(ignored[:6]) + (f", ... ({len(ignored)} in all)" if len(ignored) > 6 else "")
        print(f"ignored columns that are not task metrics: {shown}", file=sys.stderr)
    print(f"next: taskladder predict {spec}")
    return 0
