"""Reproduce the paper's tables and figures on the OLMo ladder data (method.md §4–§5).

:func:`paper_spec` builds the paper's ladder (16 runs, targets 7B-4T and 13B-5T) from a data
folder laid out like ``olmo-ladder/`` (``ladder-runs/*.csv``). :func:`reproduce` fits every table
of the paper in both modes and returns them as named DataFrames; when the folder also holds the
reference's ``reference-results/``, each reproduced table is compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..fit.selection import Selection
from ..io.spec import LadderSpec, RunSpec
from ..ladder import Ladder, load_ladder
from ..predict import VARIANTS, paper_selection, predict_ladder
from ..sizes import get_size
from ..tasks import PAPER_TASKS, get_tasks
from .compute_error import compute_vs_error
from .variance import variance_table

__all__ = ["paper_spec", "reproduce", "PaperResults", "PAPER_FILE_PREFIX", "PAPER_TARGETS"]

#: Size label → file prefix of the ladder CSVs.
PAPER_FILE_PREFIX = {"190M": "190M", "370M": "370M", "760M": "760M", "1.3B": "1B"}
PAPER_MULTIPLES = (1, 2, 5, 10)
#: Targets as the paper predicts them: (name, size, file, tokens).
PAPER_TARGETS = (
    ("7B-4T", "7B", "peteish7_eval_anneal.csv", 3_945_065_873_408),
    ("13B-5T", "13B", "peteish13_eval_final.csv", 5_000_088_518_656),
)
VARIANCE_TASKS = ("mmlu", "hellaswag", "arc_easy", "arc_challenge", "boolq", "csqa", "openbookqa", "piqa",
                  "socialiqa", "winogrande")


def paper_spec(data_dir: str | Path) -> LadderSpec:
    """The paper's ladder spec for a data folder holding ``ladder-runs/``."""
    data_dir = Path(data_dir)
    runs_dir = data_dir / "ladder-runs"
    if not runs_dir.is_dir():
        raise DataError(f"{data_dir}: no ladder-runs/ folder (expected the OLMo ladder data; "
                        "get it with 'taskladder download DIR')")
    runs = []
    for size, prefix in PAPER_FILE_PREFIX.items():
        model = get_size(size)
        for k in PAPER_MULTIPLES:
            runs.append(RunSpec(name=f"{size}-{k}xC", role="train", file=runs_dir / f"{prefix}-{k}xC.csv",
                                n_params=model.n_params, size=size, flops_per_token=model.flops_per_token))
    for name, size, file, tokens in PAPER_TARGETS:
        model = get_size(size)
        # Both targets were trained with another recipe than the ladder (batch size, peak learning
        # rate; the 7B is its annealed checkpoint): their intervals hold step 2's recipe shift.
        runs.append(RunSpec(name=name, role="target", file=runs_dir / file, n_params=model.n_params, size=size,
                            flops_per_token=model.flops_per_token, tokens=float(tokens), recipe="different"))
    return LadderSpec(runs=tuple(runs), name="olmo-paper", path=None)


@dataclass
class PaperResults:
    """Named result tables of the reproduction (and, where available, their comparison)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    comparisons: dict[str, pd.DataFrame] = field(default_factory=dict)
    predictions: dict[str, object] = field(default_factory=dict)
    ladder: Ladder | None = None


def _reference_style(pred: pd.DataFrame, laws: dict, step: str) -> pd.DataFrame:
    """A table in the reference's layout: Task, Actual, Pred, Rel Error (, Fit Error)."""
    rows = []
    for _, p in pred.iterrows():
        law = laws[p["task"]]
        name = law.task.reference_name
        if step == "step1":
            pts = law.step1_data_
            fitted = law.step1_.predict(pts[["n_params", "tokens"]].to_numpy(float)) if law.step1_form == "nd" \
                else law.step1_.predict(pts[["flops"]].to_numpy(float))
            fit_error = float(np.mean(np.abs(fitted - pts["y"]) / pts["y"]))
            rows.append({"Task": name, "Actual": p["task_loss_actual"], "Pred": p["task_loss_pred"],
                         "Rel Error": (p["task_loss_pred"] - p["task_loss_actual"]) / p["task_loss_actual"],
                         "Fit Error": fit_error})
        elif step == "step2":
            rows.append({"Task": name, "Actual": p["acc_actual"], "Pred": p["acc_from_actual_loss"],
                         "Rel Error": (p["acc_from_actual_loss"] - p["acc_actual"]) / p["acc_actual"]})
        else:
            rows.append({"Task": name, "Actual": p["acc_actual"], "Pred": p["acc_pred"],
                         "Rel Error": abs(p["acc_pred"] - p["acc_actual"]) / p["acc_actual"]})
    return pd.DataFrame(rows)


def _compare(ours: pd.DataFrame, reference_file: Path) -> pd.DataFrame | None:
    if not reference_file.is_file():
        return None
    ref = pd.read_csv(reference_file)
    merged = ours.merge(ref, on="Task", suffixes=("", "_reference"))
    merged["pred_rel_diff"] = (merged["Pred"] - merged["Pred_reference"]) / merged["Pred_reference"]
    merged["pred_abs_diff_points"] = 100 * (merged["Pred"] - merged["Pred_reference"])
    return merged[["Task", "Pred", "Pred_reference", "pred_rel_diff", "pred_abs_diff_points", "Actual",
                   "Actual_reference"]]


def reproduce(data_dir: str | Path, *, compute_error: bool = True) -> PaperResults:
    """Fit every table of the paper in paper and default modes."""
    data_dir = Path(data_dir)
    ladder = load_ladder(paper_spec(data_dir))
    results = PaperResults(ladder=ladder)
    tasks = get_tasks(list(PAPER_TASKS))
    reference_dir = data_dir / "reference-results"
    target_13b = [ladder.runs["13B-5T"]]

    # Step 1 and step 2 tables for the 13B target, per intermediate feature (paper mode).
    for variant, suffix in (("two-step", "main"), ("two-step-c4", "c4_main"), ("two-step-taskce", "taskce_main")):
        res = predict_ladder(ladder, tasks=tasks, variant=variant, mode="paper",
                             selection=paper_selection(variant), targets=target_13b)
        for step in ("step1", "step2"):
            name = f"{step}_{suffix}"
            results.tables[name] = _reference_style(res.predictions, res.laws, step)
            comparison = _compare(results.tables[name], reference_dir / f"{name}.csv")
            if comparison is not None:
                results.comparisons[name] = comparison

    # Chained predictions, both targets, every variant and both modes.
    summary = []
    for variant in VARIANTS:
        for mode in ("paper", "default"):
            res = predict_ladder(ladder, tasks=tasks, variant=variant, mode=mode, selection=paper_selection(variant))
            results.predictions[f"{variant}/{mode}"] = res
            for target, group in res.predictions.groupby("target", sort=False):
                summary.append({"variant": variant, "method": mode, "target": target,
                                "mean_abs_error_points": 100 * group["abs_error"].mean(),
                                "max_abs_error_points": 100 * group["abs_error"].max(),
                                "n_tasks": int(group["abs_error"].notna().sum()),
                                "n_not_converged": int(group["acc_pred"].isna().sum())})
            if variant == "two-step" and mode == "paper":
                for target, group in res.predictions.groupby("target", sort=False):
                    name = f"chained_{target}"
                    results.tables[name] = _reference_style(group, res.laws, "chained")
                    comparison = _compare(results.tables[name], reference_dir / f"{name}.csv")
                    if comparison is not None:
                        results.comparisons[name] = comparison
    results.tables["variants"] = pd.DataFrame(summary)

    # The paper's method beside the default law (loss-to-loss), the ensemble and the default fit of
    # the paper's law.
    keys = ["target", "task"]
    side = results.predictions["two-step/paper"].predictions[keys + ["acc_actual", "acc_pred", "abs_error",
                                                                      "step1_status"]]
    side = side.rename(columns={"acc_pred": "acc_pred_paper", "abs_error": "abs_error_paper",
                                "step1_status": "step1_status_paper"})
    for key, label in (("two-step/default", "two_step_default"), ("loss-to-loss/default", "loss_to_loss_default"),
                       ("ensemble/default", "ensemble_default")):
        other = results.predictions[key].predictions[keys + ["acc_pred", "abs_error", "step1_status"]]
        side = side.merge(other.rename(columns={"acc_pred": f"acc_pred_{label}", "abs_error": f"abs_error_{label}",
                                                "step1_status": f"step1_status_{label}"}), on=keys)
    results.tables["paper_vs_default"] = side

    # Variance analysis on the 1.3B-10xC run (10 tasks, last 10 checkpoints).
    results.tables["variance"] = variance_table(ladder.runs["1.3B-10xC"], get_tasks(list(VARIANCE_TASKS)), last_n=10)

    if compute_error:
        frames = [compute_vs_error(ladder, tasks, ladder.runs["7B-4T"], by=by, mode=mode,
                                   selection=Selection(), variant="two-step")
                  for by in ("n_params", "multiple", "flops") for mode in ("paper", "default")]
        for frame, (by, mode) in zip(frames, [(b, m) for b in ("n_params", "multiple", "flops") for m in ("paper", "default")]):
            frame.insert(1, "method", mode)
        results.tables["compute_vs_error"] = pd.concat(frames, ignore_index=True)
    return results
