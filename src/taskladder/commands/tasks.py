"""List the known tasks, their split, chance level and the ladder-CSV columns that hold their
task loss (bpb) and accuracy. A task with several areas (MMLU) is their weighted average.

Example:
  taskladder tasks
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "csv", "json", "markdown"], default="text",
                        help="output format (default: text)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..report.tables import render_table
    from ..tasks import PAPER_TASKS, TASKS

    rows = []
    for task in TASKS.values():
        rows.append({"task": task.name, "name": task.display_name, "split": task.split,
                     "chance": round(task.chance, 4), "in_paper": task.name in PAPER_TASKS,
                     "bpb_column": " + ".join(task.columns("bpb")) if len(task.labels) == 1
                     else f"weighted mean of {len(task.labels)} areas",
                     "accuracy_column": task.columns("accuracy")[0] if len(task.labels) == 1
                     else f"weighted mean of {len(task.labels)} areas"})
    print(render_table(pd.DataFrame(rows), args.format), end="")
    return 0
