"""Figures of the analyses: checkpoint noise per task, and error as the ladder grows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .figures import new_figure, save_figure

__all__ = ["save_variance_figure", "save_compute_error_figure"]


def save_variance_figure(table: pd.DataFrame, path: Path) -> Path:
    """Bars of the coefficient of variation of task loss and accuracy per task."""
    fig, axes = new_figure(1, width=7.5, height=3.4)
    ax = axes[0]
    order = table.sort_values("loss_cv", ascending=False)
    x = np.arange(len(order))
    ax.bar(x - 0.2, 100 * order["loss_cv"], width=0.4, label="task loss CV", color="#3b6ea5")
    ax.bar(x + 0.2, 100 * order["acc_cv"], width=0.4, label="accuracy CV", color="#e07b39")
    ax.set_xticks(x, order["name"], rotation=35, ha="right")
    ax.set_ylabel("coefficient of variation (%)")
    ax.set_title("Checkpoint-to-checkpoint noise (last checkpoints of one run)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    data = order[["task", "name", "loss_sd", "loss_cv", "acc_sd", "acc_cv"]]
    return save_figure(fig, data, path)


def save_compute_error_figure(table: pd.DataFrame, path: Path) -> Path:
    """Mean absolute chained error (points) against the ladder's cumulative compute, per subset order."""
    groups = list(table.groupby(["by", "method"], sort=False))
    orders = list(dict.fromkeys(table["by"]))
    fig, axes = new_figure(len(orders), width=4.2, height=3.2)
    rows = []
    for ax, by in zip(axes, orders):
        for (group_by, method), group in groups:
            if group_by != by:
                continue
            agg = group.groupby(["subset", "compute"], sort=False)["chained_abs_error"].mean().reset_index()
            agg = agg.dropna()
            ax.plot(agg["compute"], 100 * agg["chained_abs_error"], marker="o", ms=3, label=method)
            rows += [{"by": by, "method": method, "subset": s, "compute": c, "mean_abs_error_points": 100 * e}
                     for s, c, e in zip(agg["subset"], agg["compute"], agg["chained_abs_error"])]
        ax.set_xscale("log")
        ax.set_xlabel("ladder training compute (FLOPs)")
        ax.set_ylabel("mean |error| (accuracy points)")
        ax.set_title(f"growing by {by}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Prediction error on the target as the ladder grows")
    return save_figure(fig, pd.DataFrame(rows), path)


def save_snr_figure(table: pd.DataFrame, path: Path, *, threshold: float = 10.0) -> Path:
    """Signal-to-noise of each task's accuracy on the ladder (log scale), with the 'noisy' threshold."""
    fig, axes = new_figure(1, width=7.5, height=3.4)
    ax = axes[0]
    order = table.sort_values("acc_snr", ascending=False)
    x = np.arange(len(order))
    colors = ["#3b8f5a" if v >= threshold else "#c0504d" for v in order["acc_snr"]]
    ax.bar(x, order["acc_snr"], color=colors)
    ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"noisy below {threshold:g}")
    ax.set_yscale("log")
    ax.set_xticks(x, order["name"], rotation=35, ha="right")
    ax.set_ylabel("accuracy signal / noise")
    ax.set_title("Signal-to-noise: accuracy range across the ladder / (checkpoint ⊕ seed noise)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, order[["task", "name", "acc_signal", "acc_ckpt_sd", "acc_seed_sd", "acc_snr"]], path)
