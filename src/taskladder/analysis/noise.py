"""Noise and predictability diagnostics per task: checkpoint noise, seed noise, signal-to-noise.

* **Checkpoint noise**: checkpoint-to-checkpoint SD of the task loss and the accuracy over the last
  checkpoints of the ladder's largest-compute run, estimated from differences of neighbouring
  checkpoints (robust to a slow trend; :func:`~taskladder.fit.uncertainty.checkpoint_noise`).
* **Seed noise**: from rerun pairs — a run and a second run of the same configuration with
  another seed (OLMo's ``X-rerun.csv`` beside ``X.csv``). For each pair, the difference of the two
  runs' means over their last ``last_n`` common checkpoints; the seed SD is
  ``sqrt(mean(diff²) / 2)`` over pairs.
* **Signal**: how much the task's accuracy (and loss) moves across the ladder: the range of the
  train runs' final values.
* **Signal-to-noise**: ``signal / sqrt(checkpoint² + seed²)`` — below about 10 the ladder cannot
  resolve the trend the laws extrapolate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..fit.uncertainty import checkpoint_noise
from ..io.runs import read_run_csv, tokens_seen
from ..io.spec import RunSpec
from ..ladder import Ladder, RunData
from ..tasks import Task

__all__ = ["find_rerun_pairs", "seed_noise", "noise_table"]


def find_rerun_pairs(ladder: Ladder, suffix: str = "-rerun") -> list[tuple[RunData, RunData]]:
    """Train runs with a rerun file beside them (``X.csv`` and ``X-rerun.csv``), read from disk."""
    pairs = []
    for run in ladder.train_runs:
        if run.spec.file is None:
            continue
        other = run.spec.file.with_name(run.spec.file.stem + suffix + run.spec.file.suffix)
        if other.is_file():
            frame = read_run_csv(other)
            spec = RunSpec(name=run.name + suffix, role="train", file=other, n_params=run.n_params, size=run.spec.size,
                           flops_per_token=run.spec.flops_per_token)
            pairs.append((run, RunData(spec, frame, tokens_seen(frame, other))))
    return pairs


def _tail_on_common_steps(a: RunData, b: RunData, values_a: np.ndarray, values_b: np.ndarray,
                          last_n: int) -> tuple[float, float]:
    common = np.intersect1d(a.steps, b.steps)[-last_n:]
    if len(common) == 0:
        raise DataError(f"{a.spec.file} and {b.spec.file}: no common checkpoint step to compare the seeds at")
    pick_a = np.isin(a.steps, common)
    pick_b = np.isin(b.steps, common)
    return float(np.mean(values_a[pick_a])), float(np.mean(values_b[pick_b]))


def seed_noise(pairs: list[tuple[RunData, RunData]], task: Task, metric: str, *, last_n: int = 5) -> float:
    """Seed SD of ``metric``: ``sqrt(mean over pairs of (mean_a − mean_b)² / 2)``; NaN without pairs."""
    if not pairs:
        return np.nan
    diffs = []
    for a, b in pairs:
        mean_a, mean_b = _tail_on_common_steps(a, b, a.metric(task, metric), b.metric(task, metric), last_n)
        diffs.append(mean_a - mean_b)
    return float(np.sqrt(np.mean(np.square(diffs)) / 2.0))


def noise_table(ladder: Ladder, tasks: list[Task], *, last_n: int = 10, seed_last_n: int = 5,
                moving_avg: int = 5) -> pd.DataFrame:
    """One row per task: signal, checkpoint and seed noise of task loss and accuracy, and SNR.

    Columns ``task, name, loss_signal, loss_ckpt_sd, loss_seed_sd, acc_signal, acc_ckpt_sd,
    acc_seed_sd, acc_snr, n_rerun_pairs``.
    """
    if last_n < 3:
        raise ConfigError(f"--last-n must be at least 3 checkpoints (checkpoint noise is the spread of "
                          f"neighbouring differences), got {last_n}")
    runs = [r for r in ladder.train_runs if r.has_data]
    if not runs:
        raise DataError("the noise diagnostics need train runs with data")
    largest = max(runs, key=lambda r: r.n_params * r.final_tokens)
    pairs = find_rerun_pairs(ladder)
    rows = []
    for task in tasks:
        row = {"task": task.name, "name": task.display_name, "n_rerun_pairs": len(pairs)}
        for metric, prefix in (("bpb", "loss"), ("accuracy", "acc")):
            finals = np.array([np.mean(r.metric(task, metric)[-moving_avg:]) for r in runs])
            row[f"{prefix}_signal"] = float(finals.max() - finals.min())
            row[f"{prefix}_ckpt_sd"] = checkpoint_noise(largest.metric(task, metric)[-last_n:])
            row[f"{prefix}_seed_sd"] = seed_noise(pairs, task, metric, last_n=seed_last_n)
        noise = np.sqrt(row["acc_ckpt_sd"] ** 2 + np.nan_to_num(row["acc_seed_sd"]) ** 2)
        row["acc_snr"] = row["acc_signal"] / noise if noise > 0 else np.inf
        rows.append(row)
    return pd.DataFrame(rows)
