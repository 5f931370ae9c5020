"""List the known tasks, their split, chance level and the ladder-CSV columns that hold their
task loss (bpb) and accuracy. A task with several areas (MMLU) is their weighted average. The
corpus tasks (docs_order, docs_cloze: cloze tasks built from the micro-ladder's held-out pages)
follow the built-in ones. With --spec, the spec's own tasks ([[task]] tables) follow, with their
loss unit.

Examples:
  taskladder tasks
  taskladder tasks --spec my-ladder/ladder.toml
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "csv", "json", "markdown"], default="text",
                        help="output format (default: text)")
    parser.add_argument("--spec", type=Path, default=None,
                        help="also list the tasks this ladder spec declares")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..report.tables import render_table
    from ..tasks import CORPUS_TASKS, PAPER_TASKS, TASKS

    rows = []
    # Corpus tasks are listed too: --tasks accepts them, and the micro-ladder's default uses them.
    for task in [*TASKS.values(), *CORPUS_TASKS.values()]:
        rows.append({"task": task.name, "name": task.display_name, "split": task.split,
                     "chance": round(task.chance, 4), "in_paper": task.name in PAPER_TASKS,
                     "bpb_column": " + ".join(task.columns("bpb")) if len(task.labels) == 1
                     else f"weighted mean of {len(task.labels)} areas",
                     "accuracy_column": task.columns("accuracy")[0] if len(task.labels) == 1
                     else f"weighted mean of {len(task.labels)} areas", "loss_unit": "bpb"})
    if args.spec is not None:
        from ..io.spec import load_spec

        for task in load_spec(args.spec).tasks:
            mean = f"mean of {', '.join(t.name for t in task.average_of)}" if task.average_of else None
            rows.append({"task": task.name, "name": task.display_name, "split": "", "chance": round(task.chance, 4),
                         "in_paper": False,
                         "bpb_column": mean or task.loss_column or "(none)",
                         "accuracy_column": mean or task.accuracy_column,
                         "loss_unit": task.loss_unit if task.has_metric("bpb") else ""})
    print(render_table(pd.DataFrame(rows), args.format), end="")
    return 0
