"""Figures of a watched target: per task, the forecast of its final accuracy against the tokens it has seen.

One PNG per task (``watch_<task>.png``), one panel per target, with a CSV of its plotted numbers
beside it: the forecast and its interval against the tokens seen (the ladder alone at 0), the
ladder-only prediction as a dashed line, and the final actual as a solid line when the run has
finished. The x axis spans the planned tokens, so the panel also shows how far the run has got.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .figures import new_figure, save_figure

__all__ = ["save_watch_figures", "watch_figure", "watch_figure_data"]

#: The columns a watch figure plots (and its CSV holds).
FIGURE_COLUMNS = ["target", "task", "fraction", "planned_tokens", "tokens_seen", "acc_pred", "acc_lo", "acc_hi",
                  "level", "ladder_acc_pred", "acc_actual"]


def watch_figure_data(forecasts: pd.DataFrame, task: str) -> pd.DataFrame:
    """The rows of one task, in the order they are drawn, with the plotted columns only.

    A fraction beyond the end of a log repeats the forecast of the last checkpoint: only its first
    row is drawn.
    """
    rows = forecasts[forecasts["task"] == task].sort_values(["target", "fraction"])
    rows = rows.drop_duplicates(["target", "tokens_seen"])
    return rows[[c for c in FIGURE_COLUMNS if c in rows.columns]].reset_index(drop=True)


def _tokens_label(tokens: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if tokens >= scale:
            return f"{tokens / scale:.3g}{suffix}"
    return f"{tokens:.3g}"


def watch_figure(forecasts: pd.DataFrame, task: str):
    """The figure of one task (one panel per target) and the numbers it plots: ``(figure, data)``."""
    data = watch_figure_data(forecasts, task)
    targets = list(dict.fromkeys(data["target"]))
    fig, axes = new_figure(len(targets), width=4.2, height=3.2)
    for ax, target in zip(axes, targets):
        rows = data[data["target"] == target]
        planned = float(rows["planned_tokens"].iloc[0])
        x = rows["tokens_seen"].fillna(0.0).to_numpy(dtype=float) / 1e9
        pred, lo, hi = (100 * rows[c].to_numpy(dtype=float) for c in ("acc_pred", "acc_lo", "acc_hi"))
        level = rows["level"].dropna()
        ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.18, linewidth=0,
                        label=f"{100 * float(level.iloc[0]):.0f} % interval" if len(level) else "interval")
        ax.plot(x, pred, "o-", color="tab:blue", label="forecast")
        ladder = float(rows["ladder_acc_pred"].iloc[0])
        if np.isfinite(ladder):
            ax.axhline(100 * ladder, color="tab:gray", linestyle="--", label="ladder alone")
        actual = rows["acc_actual"].dropna()
        if len(actual):
            ax.axhline(100 * float(actual.iloc[0]), color="black", linewidth=1.2, label="final actual")
        ax.set_xlim(0.0, planned / 1e9)
        ax.set_title(f"{target}: {task}", fontsize=10)
        ax.set_xlabel(f"tokens seen (billions; planned {_tokens_label(planned)})")
        ax.set_ylabel("final accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return fig, data


def save_watch_figures(forecasts: pd.DataFrame, folder: Path) -> list[Path]:
    """Save one figure per task of ``forecasts`` (a :func:`~taskladder.watch.watch` table) in ``folder``."""
    paths = []
    for task in dict.fromkeys(forecasts["task"]):
        fig, data = watch_figure(forecasts, task)
        paths.append(save_figure(fig, data, Path(folder) / f"watch_{task}.png"))
    return paths
