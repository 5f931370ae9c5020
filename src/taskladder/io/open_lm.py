"""Read an open_lm scaling testbed (Gadre et al. 2024's ``exp_data`` layout) as a tidy table.

The layout: ``models/*.json``, one file per run, with ``dataset_name``, ``hyperparameters``
(``params``, ``tokens``, ``global_bs``) and ``results`` (validation losses in nats per token; the
entry whose ``val_data`` names ``c4_val`` is the C4 loss); ``evals/evaluation_<run>_heavy.json``
with ``eval_metrics.icl`` mapping task names to accuracy; ``eval_metadata.csv`` with each task's
random baseline in percent. Every run is evaluated once, at its end.

:func:`read_open_lm` returns the tidy format of :mod:`taskladder.io.tidy` (``run, N, D, step,
task, metric, value, chance``): the tasks that taskladder knows under another name are renamed
(:data:`KNOWN_TASKS`), the others keep theirs and become declared tasks on import, and the
17-task average that Gadre et al. predict is one more declared task, ``avg17``
(:data:`AVG17_TASKS`; its accuracy the mean of theirs, its chance the mean of their baselines).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["KNOWN_TASKS", "AVG17_TASKS", "SPLITS", "read_open_lm", "split_roles", "write_open_lm_ladder"]

#: open_lm task name → taskladder's built-in task.
KNOWN_TASKS = {"arc_easy": "arc_easy", "arc_challenge": "arc_challenge", "hellaswag": "hellaswag", "piqa": "piqa",
               "commonsense_qa": "csqa", "siqa": "socialiqa", "openbook_qa": "openbookqa", "mmlu": "mmlu",
               "boolq": "boolq", "winogrande": "winogrande"}

#: The 17 tasks whose mean top-1 error Gadre et al. (2024) predict (their "17-task split").
AVG17_TASKS = ("bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq", "arc_easy", "coqa",
               "bigbench_dyck_languages", "lambada_openai", "bigbench_novel_concepts", "winograd",
               "bigbench_cs_algorithms", "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad",
               "piqa")

#: open_lm's sequence length, to turn tokens into optimizer steps.
_SEQUENCE_LENGTH = 2048


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read it as JSON ({exc})") from None


def _c4_loss(model: dict, path: Path) -> float:
    for entry in model.get("results") or ():
        names = entry.get("val_data") or ()
        if any("c4_val" in str(name) for name in names):
            return float(entry["loss"])
    raise DataError(f"{path}: no results entry whose val_data names c4_val (the C4 validation loss)")


def read_open_lm(folder: str | Path, *, datasets: Iterable[str] | None = None,
                 tasks: Iterable[str] | None = None) -> pd.DataFrame:
    """The testbed's runs as a tidy table, one row per run × task × metric.

    Parameters
    ----------
    folder
        The ``exp_data`` folder (with ``models/``, ``evals/`` and ``eval_metadata.csv``).
    datasets
        Keep only runs of these pretraining datasets (``c4_original``, ``rpj``, ``rw_original``).
    tasks
        open_lm task names to include (default: those of :data:`KNOWN_TASKS`), and always ``avg17``.

    Returns
    -------
    pandas.DataFrame
        Columns ``run, dataset, N, D, step, task, metric, value, chance``; ``N`` counts every
        parameter (embeddings included, as the testbed's laws do), ``metric`` is ``accuracy`` or
        ``c4``, ``chance`` a task's random baseline as a fraction (empty for built-in tasks and C4).
    """
    folder = Path(folder)
    models = sorted((folder / "models").glob("*.json"))
    if not models:
        raise DataError(f"{folder}: no models/*.json (expected an open_lm testbed's exp_data folder)")
    metadata_path = folder / "eval_metadata.csv"
    if not metadata_path.is_file():
        raise DataError(f"{metadata_path}: file not found (each task's random baseline is read from it)")
    metadata = pd.read_csv(metadata_path)
    baseline = dict(zip(metadata["Eval Task"], metadata["Random baseline"].astype(float) / 100.0))
    wanted = list(KNOWN_TASKS) if tasks is None else list(tasks)
    keep = None if datasets is None else set(datasets)
    rows = []
    for path in models:
        model = _load_json(path)
        if keep is not None and model.get("dataset_name") not in keep:
            continue
        name = model["name"]
        hyper = model["hyperparameters"]
        n_params, tokens = int(hyper["params"]), float(hyper["tokens"])
        step = max(1, int(round(tokens / (float(hyper["global_bs"]) * _SEQUENCE_LENGTH))))
        evals_path = folder / "evals" / f"evaluation_{name}_heavy.json"
        if not evals_path.is_file():
            raise DataError(f"{evals_path}: file not found (run {name!r} has no evaluation)")
        accuracy = _load_json(evals_path)["eval_metrics"]["icl"]
        base = {"run": name, "dataset": model["dataset_name"], "N": n_params, "D": tokens, "step": step}
        rows.append({**base, "task": "", "metric": "c4", "value": _c4_loss(model, path), "chance": ""})
        for task in wanted:
            if task not in accuracy:
                raise DataError(f"{evals_path}: no accuracy of task {task!r}")
            known = KNOWN_TASKS.get(task)
            rows.append({**base, "task": known or task, "metric": "accuracy", "value": float(accuracy[task]),
                         "chance": "" if known else baseline[task]})
        missing = [t for t in AVG17_TASKS if t not in accuracy]
        if missing:
            raise DataError(f"{evals_path}: no accuracy of task {missing[0]!r} (one of the 17-task average's)")
        rows.append({**base, "task": "avg17", "metric": "accuracy",
                     "value": float(np.mean([accuracy[t] for t in AVG17_TASKS])),
                     "chance": float(np.mean([baseline[t] for t in AVG17_TASKS]))})
    if not rows:
        raise DataError(f"{folder}: no run of dataset(s) {', '.join(sorted(keep or ()))}")
    return pd.DataFrame(rows)


#: Ways to split the testbed into ladder and targets (one pretraining dataset at a time):
#: ``paper``: Gadre et al.'s fitting runs (0.011B–0.411B at M = 20, 0.011B at M = 320, and 1.44B
#: at M = 20, on which they fit the error law) predicting the 1.44B run at its largest M and the
#: 6.89B run; ``small``: every run below 1B parameters predicting the three larger runs.
SPLITS = ("paper", "small")


def split_roles(table: pd.DataFrame, split: str) -> tuple[list[str], list[str]]:
    """Names of the train runs and of the targets of one dataset's runs under ``split``."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    runs = table.drop_duplicates("run").set_index("run")
    tokens_per_param = (runs["D"] / runs["N"]).round()
    small = runs["N"] < 1e9
    smallest = runs["N"] == runs["N"].min()
    mid = (runs["N"] > 1e9) & (runs["N"] < 2e9)
    if split == "paper":
        train = (small & (tokens_per_param == 20)) | (smallest & (tokens_per_param == 320)) | \
            (mid & (tokens_per_param == 20))
    else:
        train = small
    targets = ~small & ~train
    return list(runs.index[train]), list(runs.index[targets])


def write_open_lm_ladder(folder: str | Path, out_dir: str | Path, *, dataset: str, split: str = "paper",
                         tasks: Iterable[str] | None = None) -> Path:
    """One dataset's runs as a ladder: the tidy CSV ``out_dir/tidy.csv``, imported by
    :func:`taskladder.io.tidy.read_tidy_csv` and written by :func:`~taskladder.io.tidy.write_ladder`.

    Returns
    -------
    Path
        The spec, ``out_dir/ladder.toml``.
    """
    from .tidy import read_tidy_csv, write_ladder

    table = read_open_lm(folder, datasets=[dataset], tasks=tasks)
    train, targets = split_roles(table, split)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tidy = out_dir / "tidy.csv"
    table[table["run"].isin(train + targets)].drop(columns="dataset").to_csv(tidy, index=False)
    return write_ladder(read_tidy_csv(tidy, targets=targets), out_dir, name=f"{dataset}-{split}",
                        description=f"open_lm testbed, dataset {dataset}, split {split!r}")
