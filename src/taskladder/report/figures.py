"""Figures like the paper's, each saved as PNG with a CSV of its plotted numbers beside it.

* ``step1.png``   task loss against tokens D, one fitted curve per model size, targets marked;
* ``step2.png``   accuracy against task loss: every selected checkpoint and the fitted curve;
* ``chained.png`` predicted accuracy against D per model size, with each run's final accuracy
  and the targets' predicted and actual values.

Colours are fixed per model size (ordered by N) in every figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..ladder import Ladder
from .tables import write_table

__all__ = ["save_law_figures", "size_colors", "new_figure", "save_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def size_colors(n_params: list[float]) -> dict[float, tuple]:
    """One colour per distinct N, from small (light) to large (dark), the same in every figure."""
    plt = _pyplot()
    values = sorted(set(n_params))
    cmap = plt.get_cmap("viridis")
    return {n: cmap(0.85 * (1 - i / max(len(values) - 1, 1))) for i, n in enumerate(values)}


def _label_n(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2g}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e3:.0f}k"


def new_figure(n_panels: int, *, width: float = 3.6, height: float = 3.0):
    """A grid of panels (up to four columns)."""
    plt = _pyplot()
    cols = min(4, n_panels)
    rows = math.ceil(n_panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def save_figure(fig, data: pd.DataFrame, path: Path) -> Path:
    """Save ``fig`` as PNG and ``data`` (its plotted numbers) as CSV with the same stem."""
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    write_table(data, path.with_suffix(".csv"))
    return path


def _task_title(law) -> str:
    return law.task.display_name


def interval_bar(ax, at: float, low: float, high: float, *, horizontal: bool = False, **style) -> None:
    """Draw the interval ``[low, high]`` as an error bar at ``at`` (x, or y when ``horizontal``).

    Centred on the interval, not on the prediction: a bootstrap interval need not contain the point
    prediction (skewed draws), and a bar anchored there would need a negative arm.
    """
    middle, half = 0.5 * (low + high), [0.5 * (high - low)]
    if horizontal:
        ax.errorbar([middle], [at], xerr=half, fmt="none", **style)
    else:
        ax.errorbar([at], [middle], yerr=half, fmt="none", **style)


def _mark_targets(ax, rows: list, name: str, sub: pd.DataFrame, colors: dict, predicted: str, actual: str,
                  quantity: str) -> None:
    """x at each target's prediction (with its interval bar when there is one) and ★ at its actual."""
    for _, p in sub.iterrows():
        color = colors[p["n_params"]]
        value = p[predicted]
        if value is not None and np.isfinite(value):
            if quantity == "accuracy" and "acc_lo" in p and np.isfinite(p["acc_lo"]):
                interval_bar(ax, p["tokens"], p["acc_lo"], p["acc_hi"], ecolor=color, elinewidth=1.0, capsize=3,
                             zorder=4)
                rows.append({"task": name, "series": f"{p['target']} interval {p['level']:.0%}",
                             "n_params": p["n_params"], "tokens": p["tokens"], "low": p["acc_lo"], "high": p["acc_hi"]})
            ax.scatter([p["tokens"]], [value], marker="x", color=color, s=50, zorder=4)
            rows.append({"task": name, "series": f"{p['target']} predicted", "n_params": p["n_params"],
                         "tokens": p["tokens"], quantity: value})
        value = p[actual]
        if value is not None and np.isfinite(value):
            ax.scatter([p["tokens"]], [value], marker="*", color=color, s=90, edgecolors="black", linewidths=0.4,
                       zorder=5)
            rows.append({"task": name, "series": f"{p['target']} actual", "n_params": p["n_params"],
                         "tokens": p["tokens"], quantity: value})


def _size_curves(ax, rows: list, name: str, law, ladder: Ladder, colors: dict, quantity: str) -> None:
    """One curve per model size (train sizes and targets) against D: task loss or chained accuracy."""
    runs = ladder.train_runs + ladder.targets
    base = getattr(law, "primary_", law)
    pts = base.step1_data_
    d_max = max([pts["tokens"].max()] + [t.final_tokens for t in ladder.targets])
    grid = np.geomspace(pts["tokens"].min() / 2, d_max * 1.5, 120)
    members = getattr(law, "members_", [law])
    for n in sorted(set(pts["n_params"]) | {float(t.n_params) for t in ladder.targets}):
        flops = next((r.spec.flops_per_token for r in runs if r.n_params == n), None)
        if base.step1_form == "flops" and flops is None:
            continue
        per_token = None if flops is None else np.full_like(grid, flops)
        if quantity == "task_loss":
            curve = base.predict_task_loss(np.full_like(grid, n), grid, per_token)
        else:
            # An ensemble's chained curve is the mean of its members' chained curves.
            curve = np.mean([m.predict_accuracy(m.predict_task_loss(np.full_like(grid, n), grid, per_token))
                             for m in members], axis=0)
        ax.plot(grid, curve, color=colors[n], lw=1.2, label=_label_n(n))
        rows += [{"task": name, "series": "fit", "n_params": n, "tokens": d, quantity: v} for d, v in zip(grid, curve)]


def save_law_figures(result, ladder: Ladder, folder: Path) -> list[Path]:
    """Write step-1, step-2 and chained figures for every fitted two-step (or ensemble) law.

    For an ensemble, steps 1 and 2 show its first member (the task-bpb law) and the chained
    figure the ensemble's mean curve.
    """
    from ..fit.laws import EnsembleLaw, LossToLossLaw, TwoStepLaw

    laws = {name: law for name, law in result.laws.items()
            if isinstance(law, (TwoStepLaw, EnsembleLaw, LossToLossLaw))}
    if not laws:
        return []
    folder = Path(folder)
    train = ladder.train_runs
    colors = size_colors([r.n_params for r in train] + [t.n_params for t in ladder.targets])
    predictions = result.predictions
    paths = []

    # Step 1 ---------------------------------------------------------------------------------
    fig, axes = new_figure(len(laws))
    rows: list = []
    for ax, (name, law) in zip(axes, laws.items()):
        law = getattr(law, "primary_", law)
        pts = law.step1_data_
        _size_curves(ax, rows, name, law, ladder, colors, "task_loss")
        ax.scatter(pts["tokens"], pts["y"], c=[colors[n] for n in pts["n_params"]], s=18, zorder=3,
                   edgecolors="black", linewidths=0.3)
        rows += [{"task": name, "series": "train run", "n_params": n, "tokens": d, "task_loss": v}
                 for n, d, v in zip(pts["n_params"], pts["tokens"], pts["y"])]
        _mark_targets(ax, rows, name, predictions[predictions["task"] == name], colors, "task_loss_pred",
                      "task_loss_actual", "task_loss")
        ax.set_xscale("log")
        ax.set_title(_task_title(law))
        ax.set_xlabel("training tokens D (log scale)")
        ax.set_ylabel(_feature_label(law))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, title="N", title_fontsize=7)
    fig.suptitle("Step 1: task loss vs tokens (x predicted, ★ actual)")
    paths.append(save_figure(fig, pd.DataFrame(rows), folder / "step1.png"))

    # Step 2 ---------------------------------------------------------------------------------
    fig, axes = new_figure(len(laws))
    rows = []
    for ax, (name, law) in zip(axes, laws.items()):
        law = getattr(law, "primary_", law)
        pts = law.step2_data_
        ax.scatter(pts["x"], pts["y"], c=[colors[n] for n in pts["n_params"]], s=5, alpha=0.6)
        rows += [{"task": name, "series": "checkpoint", "run": r, "task_loss": x, "accuracy": y}
                 for r, x, y in zip(pts["run"], pts["x"], pts["y"])]
        sub = predictions[predictions["task"] == name]
        lo = min(pts["x"].min(), np.nanmin(sub["task_loss_pred"].to_numpy(float), initial=np.inf)) * 0.9
        grid = np.linspace(lo, pts["x"].max() * 1.05, 200)
        curve = law.predict_accuracy(grid)
        ax.plot(grid, curve, color="black", lw=1.3)
        rows += [{"task": name, "series": "fit", "run": "", "task_loss": x, "accuracy": y} for x, y in zip(grid, curve)]
        for _, p in sub.iterrows():
            if p["acc_actual"] is not None and np.isfinite(p["acc_actual"]):
                ax.scatter([p["task_loss_actual"]], [p["acc_actual"]], marker="*", s=90,
                           color=colors[p["n_params"]], edgecolors="black", linewidths=0.4, zorder=5)
                rows.append({"task": name, "series": f"{p['target']} actual", "run": p["target"],
                             "task_loss": p["task_loss_actual"], "accuracy": p["acc_actual"]})
        ax.axhline(law.task.chance, color="grey", ls=":", lw=0.8)
        ax.set_title(_task_title(law))
        ax.set_xlabel(_feature_label(law))
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle("Step 2: accuracy vs task loss (dots: checkpoints; ★ targets; dotted: chance)")
    paths.append(save_figure(fig, pd.DataFrame(rows), folder / "step2.png"))

    # Chained --------------------------------------------------------------------------------
    fig, axes = new_figure(len(laws))
    rows = []
    for ax, (name, law) in zip(axes, laws.items()):
        primary = getattr(law, "primary_", law)
        _size_curves(ax, rows, name, law, ladder, colors, "accuracy")
        window = primary.selection.moving_avg
        finals = [(r.n_params, r.final_tokens, float(np.mean(r.metric(primary.task, "accuracy")[-window:])))
                  for r in train]
        ax.scatter([f[1] for f in finals], [f[2] for f in finals], c=[colors[f[0]] for f in finals], s=18,
                   edgecolors="black", linewidths=0.3, zorder=3)
        rows += [{"task": name, "series": "train run final", "n_params": n, "tokens": d, "accuracy": a}
                 for n, d, a in finals]
        _mark_targets(ax, rows, name, predictions[predictions["task"] == name], colors, "acc_pred", "acc_actual",
                      "accuracy")
        ax.set_xscale("log")
        ax.set_title(_task_title(primary))
        ax.set_xlabel("training tokens D (log scale)")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, title="N", title_fontsize=7)
    fig.suptitle("Chained prediction: accuracy vs tokens (x predicted with interval, ★ actual)")
    paths.append(save_figure(fig, pd.DataFrame(rows), folder / "chained.png"))
    return paths


def _feature_label(law) -> str:
    """Axis label of a law's intermediate feature, in its unit (task_figures imports this module)."""
    from .task_figures import feature_label

    return feature_label(law.feature, law.task)
