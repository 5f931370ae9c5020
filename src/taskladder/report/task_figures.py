"""One task's figures for the HTML report: step 1, step 2, chained, residuals, and an overview.

Each function draws one small figure and returns a :class:`Panel`: the matplotlib figure and a
DataFrame of the plotted numbers (as everywhere in :mod:`taskladder.report`, a figure comes with
its numbers). Colours come from :func:`~taskladder.report.figures.size_colors` over every N of the
ladder and its targets, so a model size has the same colour in every panel and in the report's
HTML legend.

Markers are the same in every panel: ``●`` a train run (or, in step 2, a selected checkpoint),
``✕`` a target's prediction (with its interval as an error bar when the predictions carry
``acc_lo``/``acc_hi``), ``★`` a target's actual value.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..ladder import Ladder
from .figures import interval_bar, size_colors

__all__ = ["Panel", "FigureContext", "step1_panel", "step2_panel", "chained_panel", "targets_panel", "accuracy_panel",
           "residuals_panel", "overview_panel", "step1_residuals", "step2_residuals", "feature_label", "feature_short",
           "format_count", "png_bytes"]

#: Axis label (with unit) of each intermediate feature of a two-step law.
FEATURE_LABELS = {"bpb": "task loss (bits per byte)", "c4": "C4 loss (nats per token)",
                  "taskce": "TaskCE (nats)"}
#: Short name of each feature for titles.
FEATURE_SHORT = {"bpb": "task bpb", "c4": "C4 loss", "taskce": "TaskCE"}
TOKENS_LABEL = "training tokens D (log scale)"
ACCURACY_LABEL = "accuracy (%)"

# Small, readable figures: about 480 × 360 px at the report's 120 dpi, shown three to a row.
_STYLE = {"font.size": 9.5, "axes.titlesize": 10.5, "axes.labelsize": 9.5, "xtick.labelsize": 8.5,
          "ytick.labelsize": 8.5, "legend.fontsize": 8, "axes.spines.top": False,
          "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}
PANEL_SIZE = (4.0, 3.0)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def feature_short(feature: str, task=None) -> str:
    """Short name of a law's intermediate feature for titles (a task loss in nats is a cross-entropy)."""
    if feature == "bpb" and task is not None and task.loss_unit == "nats":
        return "task CE"
    return FEATURE_SHORT.get(feature, feature)


def feature_label(feature: str, task=None) -> str:
    """Axis label with unit of a two-step law's intermediate feature (a task's loss in its own unit)."""
    if feature == "bpb" and task is not None and task.loss_unit == "nats":
        return "task loss (cross-entropy, nats)"
    return FEATURE_LABELS.get(feature, feature)


def format_count(value: float) -> str:
    """A count with a K/M/B/T suffix and three significant digits: ``190354176 → '190M'``."""
    value = float(value)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _finite(value: object) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True, kw_only=True)
class Panel:
    """A drawn figure and the numbers it plots."""

    figure: object
    data: pd.DataFrame


@dataclass(frozen=True, kw_only=True)
class FigureContext:
    """What every panel of one report shares: the ladder, its predictions and its size colours.

    Parameters
    ----------
    ladder
        The ladder the laws were fitted on.
    predictions
        The prediction table (one row per target × task).
    colors
        Colour of each N (train runs and targets).
    labels
        Legend label of each N (the size label when the spec gives one).
    """

    ladder: Ladder
    predictions: pd.DataFrame
    colors: dict
    labels: dict

    @classmethod
    def build(cls, ladder: Ladder, predictions: pd.DataFrame) -> "FigureContext":
        runs = list(ladder.runs.values())
        n_values = [float(r.n_params) for r in runs]
        colors = {float(n): c for n, c in size_colors(n_values).items()}
        labels: dict[float, str] = {}
        for r in sorted(runs, key=lambda r: r.role != "train"):
            labels.setdefault(float(r.n_params), r.spec.size or format_count(r.n_params))
        return cls(ladder=ladder, predictions=predictions, colors=colors, labels=labels)

    def color(self, n_params: float):
        return self.colors.get(float(n_params), (0.3, 0.3, 0.3, 1.0))

    def task_predictions(self, task: str) -> pd.DataFrame:
        return self.predictions[self.predictions["task"] == task]

    def flops_per_token(self, n_params: float) -> float | None:
        for r in self.ladder.runs.values():
            if float(r.n_params) == float(n_params) and r.spec.flops_per_token is not None:
                return float(r.spec.flops_per_token)
        return None

    def token_grid(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens from half the smallest train run's D to 1.5 × the largest target's."""
        d_max = max([float(np.max(tokens))] + [t.final_tokens for t in self.ladder.targets])
        return np.geomspace(float(np.min(tokens)) / 2, d_max * 1.5, 120)

    def sizes(self, train_n: np.ndarray) -> list[float]:
        return sorted({float(n) for n in train_n} | {float(t.n_params) for t in self.ladder.targets})


def _styled(draw):
    """Run a drawing function under the report's style (rcParams are read when artists are made)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with _pyplot().rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper


def _new_axes(size: tuple[float, float] = PANEL_SIZE, ncols: int = 1, *, left: float = 0.72,
              bottom: float = 0.5, right: float = 0.12, top: float = 0.3, wspace: float = 0.3):
    """A figure with fixed margins in inches: drawing it once is enough (a tight or constrained
    layout draws every figure twice, which dominated the report's run time)."""
    width, height = size
    fig, axes = _pyplot().subplots(1, ncols, figsize=size, squeeze=False)
    fig.subplots_adjust(left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height,
                        wspace=wspace)
    return fig, list(axes.ravel())


def png_bytes(panel: Panel, *, dpi: int = 120) -> bytes:
    """Render a panel's figure as PNG bytes and close it."""
    plt = _pyplot()
    buffer = io.BytesIO()
    with plt.rc_context(_STYLE):
        panel.figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(panel.figure)
    return buffer.getvalue()


def _interval(row: pd.Series, low: str, high: str) -> tuple[float, float] | None:
    if low in row.index and high in row.index and _finite(row[low]) and _finite(row[high]):
        return float(row[low]), float(row[high])
    return None


def _mark_prediction(ax, x: float, y: float, color, interval: tuple[float, float] | None, *,
                     scale: float = 1.0, horizontal: bool = False) -> None:
    """A target's prediction: ✕, with its interval as an error bar when there is one."""
    if interval is not None:
        interval_bar(ax, y if horizontal else x, interval[0] * scale, interval[1] * scale, horizontal=horizontal,
                     ecolor=color, elinewidth=1.6, capsize=3, zorder=4)
    ax.scatter([x], [y], marker="X", color=color, s=60, edgecolors="black", linewidths=0.5, zorder=5)


def _mark_actual(ax, x: float, y: float, color) -> None:
    ax.scatter([x], [y], marker="*", color=color, s=130, edgecolors="black", linewidths=0.5, zorder=6)


def _size_legend(ax, ctx: FigureContext, sizes: list[float]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=ctx.color(n), lw=2, label=ctx.labels.get(n, format_count(n))) for n in sizes]
    ax.legend(handles=handles, title="model size", fontsize=7.5, title_fontsize=7.5, frameon=False, loc="best")


def _usable(fit, mode: str) -> bool:
    """Whether a fit gives numbers: finite, and converged unless in paper mode (as in the laws)."""
    finite = bool(np.all(np.isfinite(fit.params)))
    return finite if mode == "paper" else (finite and bool(fit.converged))


def _step1_curve(law, ctx: FigureContext, n: float, grid: np.ndarray) -> np.ndarray | None:
    flops = ctx.flops_per_token(n)
    if law.step1_form == "flops" and flops is None:
        return None
    return law.predict_task_loss(np.full_like(grid, n), grid, None if flops is None else np.full_like(grid, flops))


def _chained_curve(law, ctx: FigureContext, n: float, grid: np.ndarray) -> np.ndarray | None:
    """``step2(step1(N, D))`` of a two-step law, or the mean over an ensemble's members."""
    members = getattr(law, "members_", None) or [law]
    curves = []
    for member in members:
        loss = _step1_curve(member, ctx, n, grid)
        if loss is None:
            return None
        curves.append(member.predict_accuracy(loss))
    return np.mean(curves, axis=0)


@dataclass(frozen=True, kw_only=True)
class _TargetPoint:
    """One target as one two-step law sees it: its feature and accuracy, predicted and actual."""

    row: pd.Series
    loss_pred: float
    loss_actual: float
    acc_at_loss_pred: float


def _target_points(law, ctx: FigureContext) -> list[_TargetPoint]:
    """The targets of ``law``'s task, with the feature predicted and observed by this very law.

    Computed from the law rather than read from the prediction table, so that every member of an
    ensemble shows its own intermediate feature (the table holds the first member's).
    """
    from ..errors import DataError
    from ..fit.selection import target_actual

    ok1, ok2 = _usable(law.step1_, law.mode), _usable(law.step2_, law.mode)
    points = []
    for _, p in ctx.task_predictions(law.task.name).iterrows():
        run = ctx.ladder.runs.get(p["target"])
        flops = run.spec.flops_per_token if run is not None else ctx.flops_per_token(p["n_params"])
        loss_pred = np.nan
        if ok1 and not (law.step1_form == "flops" and flops is None):
            loss_pred = float(law.predict_task_loss(p["n_params"], p["tokens"], flops)[0])
        acc = float(law.predict_accuracy(loss_pred)[0]) if ok2 and np.isfinite(loss_pred) else np.nan
        loss_actual = None
        if run is not None and run.has_data:
            try:
                loss_actual = target_actual(run, law.task, law.feature, law.selection.moving_avg)
            except DataError:  # e.g. a target file without this member's feature column
                loss_actual = None
        points.append(_TargetPoint(row=p, loss_pred=loss_pred,
                                   loss_actual=np.nan if loss_actual is None else float(loss_actual),
                                   acc_at_loss_pred=acc))
    return points


@_styled
def step1_panel(law, ctx: FigureContext, *, loss_interval: bool = True) -> Panel:
    """Step 1 of a two-step law: the feature against D, one fitted curve per model size.

    Points are the train runs' step-1 values (each run's final D and its feature averaged over its
    last checkpoints); ``✕`` the targets' predicted feature (with the table's ``task_loss_lo``/
    ``task_loss_hi`` as an error bar when ``loss_interval`` and present), ``★`` their actual.
    """
    name = law.task.name
    pts = law.step1_data_
    grid = ctx.token_grid(pts["tokens"].to_numpy(float))
    fig, (ax,) = _new_axes()
    rows: list[dict] = []
    sizes = ctx.sizes(pts["n_params"].to_numpy(float))
    for n in sizes:
        curve = _step1_curve(law, ctx, n, grid)
        if curve is None:
            continue
        ax.plot(grid, curve, color=ctx.color(n), lw=1.4)
        rows += [{"task": name, "series": "fit", "n_params": n, "tokens": d, "value": v} for d, v in zip(grid, curve)]
    ax.scatter(pts["tokens"], pts["y"], c=[ctx.color(n) for n in pts["n_params"]], s=26, zorder=3,
               edgecolors="black", linewidths=0.4)
    rows += [{"task": name, "series": "train run", "n_params": n, "tokens": d, "value": v}
             for n, d, v in zip(pts["n_params"], pts["tokens"], pts["y"])]
    for t in _target_points(law, ctx):
        p = t.row
        color = ctx.color(p["n_params"])
        if np.isfinite(t.loss_pred):
            _mark_prediction(ax, p["tokens"], t.loss_pred, color,
                             _interval(p, "task_loss_lo", "task_loss_hi") if loss_interval else None)
            rows.append({"task": name, "series": f"{p['target']} predicted", "n_params": p["n_params"],
                         "tokens": p["tokens"], "value": t.loss_pred})
        if np.isfinite(t.loss_actual):
            _mark_actual(ax, p["tokens"], t.loss_actual, color)
            rows.append({"task": name, "series": f"{p['target']} actual", "n_params": p["n_params"],
                         "tokens": p["tokens"], "value": t.loss_actual})
    ax.set_xscale("log")
    ax.set_xlabel(TOKENS_LABEL)
    ax.set_ylabel(feature_label(law.feature, law.task))
    ax.set_title(f"Step 1: (N, D) → {feature_short(law.feature, law.task)}")
    _size_legend(ax, ctx, sizes)
    return Panel(figure=fig, data=pd.DataFrame(rows))


@_styled
def step2_panel(law, ctx: FigureContext, *, acc_interval: bool = True) -> Panel:
    """Step 2 of a two-step law: accuracy against the feature at every selected checkpoint.

    The black curve is the fitted step-2 law; ``✕`` marks each target's (predicted feature, this
    law's accuracy there), with the table's ``acc_lo``/``acc_hi`` when ``acc_interval`` and
    present; ``★`` its (actual feature, actual accuracy), with step 2's own interval at that
    feature (``acc_from_actual_loss_lo/hi``) when present; the dotted line is chance.
    """
    name = law.task.name
    pts = law.step2_data_
    targets = _target_points(law, ctx)
    fig, (ax,) = _new_axes()
    ax.scatter(pts["x"], 100 * pts["y"], c=[ctx.color(n) for n in pts["n_params"]], s=7, alpha=0.55,
               linewidths=0, zorder=2)
    rows = [{"task": name, "series": "checkpoint", "run": str(r), "x": x, "accuracy": y}
            for r, x, y in zip(pts["run"], pts["x"], pts["y"])]
    xs = [float(pts["x"].min()), float(pts["x"].max())]
    xs += [v for t in targets for v in (t.loss_pred, t.loss_actual) if np.isfinite(v)]
    span = max(xs) - min(xs)
    grid = np.linspace(min(xs) - 0.08 * span, max(xs) + 0.08 * span, 200)
    curve = law.predict_accuracy(grid)
    ax.plot(grid, 100 * curve, color="black", lw=1.4, zorder=3)
    rows += [{"task": name, "series": "fit", "run": "", "x": x, "accuracy": y} for x, y in zip(grid, curve)]
    for t in targets:
        p = t.row
        color = ctx.color(p["n_params"])
        if np.isfinite(t.loss_pred) and np.isfinite(t.acc_at_loss_pred):
            _mark_prediction(ax, t.loss_pred, 100 * t.acc_at_loss_pred, color,
                             _interval(p, "acc_lo", "acc_hi") if acc_interval else None, scale=100)
            rows.append({"task": name, "series": f"{p['target']} predicted", "run": p["target"],
                         "x": t.loss_pred, "accuracy": t.acc_at_loss_pred})
        if np.isfinite(t.loss_actual) and _finite(p["acc_actual"]):
            step2 = _interval(p, "acc_from_actual_loss_lo", "acc_from_actual_loss_hi") if acc_interval else None
            # The table's step-2 interval belongs to the law that predicts (an ensemble's first member).
            if step2 is not None and np.isclose(float(law.predict_accuracy(t.loss_actual)[0]),
                                                p.get("acc_from_actual_loss", np.nan)):
                interval_bar(ax, t.loss_actual, 100 * step2[0], 100 * step2[1], ecolor=color, elinewidth=1.0,
                             capsize=5, alpha=0.8, zorder=3)
                rows.append({"task": name, "series": f"{p['target']} step-2 interval at measured loss",
                             "run": p["target"], "x": t.loss_actual, "accuracy": step2[0], "accuracy_high": step2[1]})
            _mark_actual(ax, t.loss_actual, 100 * p["acc_actual"], color)
            rows.append({"task": name, "series": f"{p['target']} actual", "run": p["target"],
                         "x": t.loss_actual, "accuracy": p["acc_actual"]})
    ax.axhline(100 * law.task.chance, color="grey", ls=":", lw=1.0)
    ax.set_xlabel(feature_label(law.feature, law.task))
    ax.set_ylabel(ACCURACY_LABEL)
    ax.set_title(f"Step 2: {feature_short(law.feature, law.task)} → accuracy")
    return Panel(figure=fig, data=pd.DataFrame(rows))


def _train_finals(law, ctx: FigureContext) -> list[tuple[float, float, float]]:
    window = law.selection.moving_avg
    return [(float(r.n_params), r.final_tokens, float(np.mean(r.metric(law.task, "accuracy")[-window:])))
            for r in ctx.ladder.train_runs]


@_styled
def _accuracy_vs_tokens(law, ctx: FigureContext, curve_of, title: str) -> Panel:
    name = law.task.name
    finals = _train_finals(law, ctx)
    grid = ctx.token_grid(np.array([f[1] for f in finals]))
    fig, (ax,) = _new_axes()
    rows: list[dict] = []
    sizes = ctx.sizes(np.array([f[0] for f in finals]))
    for n in sizes:
        curve = curve_of(n, grid)
        if curve is None:
            continue
        ax.plot(grid, 100 * curve, color=ctx.color(n), lw=1.4)
        rows += [{"task": name, "series": "fit", "n_params": n, "tokens": d, "accuracy": v} for d, v in zip(grid, curve)]
    ax.scatter([f[1] for f in finals], [100 * f[2] for f in finals], c=[ctx.color(f[0]) for f in finals], s=26,
               edgecolors="black", linewidths=0.4, zorder=3)
    rows += [{"task": name, "series": "train run final", "n_params": n, "tokens": d, "accuracy": a}
             for n, d, a in finals]
    for _, p in ctx.task_predictions(name).iterrows():
        color = ctx.color(p["n_params"])
        if _finite(p["acc_pred"]):
            _mark_prediction(ax, p["tokens"], 100 * p["acc_pred"], color, _interval(p, "acc_lo", "acc_hi"),
                             scale=100)
            rows.append({"task": name, "series": f"{p['target']} predicted", "n_params": p["n_params"],
                         "tokens": p["tokens"], "accuracy": p["acc_pred"]})
        if _finite(p["acc_actual"]):
            _mark_actual(ax, p["tokens"], 100 * p["acc_actual"], color)
            rows.append({"task": name, "series": f"{p['target']} actual", "n_params": p["n_params"],
                         "tokens": p["tokens"], "accuracy": p["acc_actual"]})
    ax.axhline(100 * law.task.chance, color="grey", ls=":", lw=1.0)
    ax.set_xscale("log")
    ax.set_xlabel(TOKENS_LABEL)
    ax.set_ylabel(ACCURACY_LABEL)
    ax.set_title(title)
    return Panel(figure=fig, data=pd.DataFrame(rows))


def chained_panel(law, ctx: FigureContext) -> Panel:
    """The chained prediction ``Acc(N, D) = step2(step1(N, D))`` against D, one curve per size.

    For an ensemble the curve is the mean of its members' chained curves. Points are each train
    run's final accuracy (averaged over its last checkpoints); ``✕`` the table's prediction with
    its interval.
    """
    members = getattr(law, "members_", None)
    title = ("Chained: (N, D) → accuracy" if not members
             else f"Chained: mean of {len(members)} laws")
    return _accuracy_vs_tokens(law, ctx, lambda n, grid: _chained_curve(law, ctx, n, grid), title)


@_styled
def targets_panel(law, ctx: FigureContext) -> Panel | None:
    """The targets up close: each target size's chained curve around its D, the prediction (✕)
    with its intervals (thick: the narrowest level, thin: the widest), the actual (★) and, for an
    ensemble, each member's own prediction (hollow markers) to show how far they disagree.

    ``None`` when the task has no target with a prediction.
    """
    name = law.task.name
    sub = ctx.task_predictions(name)
    sub = sub[[_finite(v) for v in sub["acc_pred"]]]
    if sub.empty:
        return None
    members = getattr(law, "members_", None) or []
    d_lo, d_hi = float(sub["tokens"].min()) / 3, float(sub["tokens"].max()) * 1.5
    grid = np.geomspace(d_lo, d_hi, 60)
    fig, (ax,) = _new_axes()
    rows: list[dict] = []
    ys: list[float] = []
    levels = sorted({int(c[7:]) for c in sub.columns if c.startswith("acc_lo_") and c[7:].isdigit()})
    widest = round(100 * float(sub["level"].iloc[0])) if "level" in sub and _finite(sub["level"].iloc[0]) else None
    narrow = [lv for lv in levels if lv != widest][:1]
    for k, (_, p) in enumerate(sub.iterrows()):
        color = ctx.color(p["n_params"])
        curve = _chained_curve(law, ctx, float(p["n_params"]), grid) if members or hasattr(law, "step1_") else None
        if curve is None and hasattr(law, "fit_"):
            curve = law.fit_.predict(np.column_stack([np.full_like(grid, p["n_params"]), grid]))
        if curve is not None:
            ax.plot(grid, 100 * curve, color=color, lw=1.4)
            ys += list(100 * curve)
            rows += [{"task": name, "target": p["target"], "series": "fit", "tokens": d, "accuracy": v}
                     for d, v in zip(grid, curve)]
        x = float(p["tokens"])
        y = 100 * float(p["acc_pred"])
        for level, width in ((narrow[0], 5) if narrow else (None, 0), (None, 1.6)):
            low, high = (f"acc_lo_{level}", f"acc_hi_{level}") if level is not None else ("acc_lo", "acc_hi")
            interval = _interval(p, low, high)
            if interval is not None and width:
                interval_bar(ax, x, 100 * interval[0], 100 * interval[1], ecolor=color, elinewidth=width,
                             capsize=0 if width > 2 else 4, alpha=0.45 if width > 2 else 1, zorder=4)
                ys += [100 * interval[0], 100 * interval[1]]
                rows.append({"task": name, "target": p["target"], "series": f"interval {level or 'widest'}",
                             "tokens": x, "accuracy": interval[0], "accuracy_high": interval[1]})
        ax.scatter([x], [y], marker="X", color=color, s=70, edgecolors="black", linewidths=0.5, zorder=6)
        ys.append(y)
        rows.append({"task": name, "target": p["target"], "series": "predicted", "tokens": x, "accuracy": p["acc_pred"]})
        for j, member in enumerate(members):
            run = ctx.ladder.runs.get(p["target"])
            flops = run.spec.flops_per_token if run is not None else None
            if not (_usable(member.step1_, member.mode) and _usable(member.step2_, member.mode)):
                continue
            acc = float(member.predict_accuracy(member.predict_task_loss(p["n_params"], x, flops))[0])
            ax.scatter([x * (1.12 if j else 1 / 1.12)], [100 * acc], marker="o^sD"[j % 4], facecolors="white",
                       edgecolors=color, s=34, linewidths=1.2, zorder=5)
            ys.append(100 * acc)
            rows.append({"task": name, "target": p["target"], "series": f"member {member.feature}", "tokens": x,
                         "accuracy": acc})
        if _finite(p["acc_actual"]):
            _mark_actual(ax, x, 100 * p["acc_actual"], color)
            ys.append(100 * float(p["acc_actual"]))
            rows.append({"task": name, "target": p["target"], "series": "actual", "tokens": x,
                         "accuracy": p["acc_actual"]})
        # Centred over the widest interval for every other target and under it for the rest, so
        # that neighbouring targets' labels never meet and none runs off the panel's side.
        low, high = _interval(p, "acc_lo", "acc_hi") or (p["acc_pred"], p["acc_pred"])
        above = k % 2 == 0
        ax.annotate(str(p["target"]), (x, 100 * (high if above else low)), xytext=(0, 5 if above else -5),
                    textcoords="offset points", ha="center", va="bottom" if above else "top",
                    fontsize=8, color="black", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                                     "alpha": 0.8}, zorder=7)
        ys.append(100 * high + 2.5 if above else 100 * low - 2.5)
    focus = [v for v in ys if np.isfinite(v)]
    near = [v for v in focus if abs(v - np.median(focus)) < 25]
    low, high = min(near), max(near)
    pad = max(1.0, 0.12 * (high - low))
    ax.set_ylim(low - pad, high + pad)
    ax.set_xscale("log")
    ax.set_xlim(d_lo, d_hi)
    # Under a decade wide, matplotlib labels every minor tick (3, 4, 6 x 10^k) and the labels
    # overlap: label 1, 2 and 5 x 10^k only, and none so close to an end that it runs off the panel.
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def tick_label(value: float, _position: int) -> str:
        where = (np.log(value) - np.log(d_lo)) / (np.log(d_hi) - np.log(d_lo))
        if not 0.06 < where < 0.94:
            return ""
        exponent = int(np.floor(np.log10(value) + 1e-9))
        mantissa = round(value / 10.0 ** exponent, 6)
        return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa:g}\\times10^{{{exponent}}}$"

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=20))
    ax.xaxis.set_major_formatter(FuncFormatter(tick_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(TOKENS_LABEL)
    ax.set_ylabel(ACCURACY_LABEL)
    ax.set_title("Targets up close")
    if members:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o^sD"[j % 4], ls="", markerfacecolor="white", markeredgecolor="black",
                          label=f"{feature_short(m.feature, m.task)} law alone") for j, m in enumerate(members)]
        ax.legend(handles=handles, fontsize=7.5, framealpha=0.8, edgecolor="none", loc="best")
    return Panel(figure=fig, data=pd.DataFrame(rows))


def accuracy_panel(law, ctx: FigureContext) -> Panel:
    """A one-fit law (single-step or direct): its accuracy against D, one curve per size."""
    def curve(n: float, grid: np.ndarray) -> np.ndarray:
        return law.fit_.predict(np.column_stack([np.full_like(grid, n), grid]))

    return _accuracy_vs_tokens(law, ctx, curve, f"{law.fit_.form.name}: (N, D) → accuracy")


def step1_residuals(law) -> pd.DataFrame:
    """Step-1 residuals per train run: ``run, n_params, tokens, observed, fitted, rel_residual``.

    Notes
    -----
    ``rel_residual = observed / fitted − 1`` (step 1 is fitted on log residuals, so relative error
    is its natural scale).
    """
    pts = law.step1_data_
    flops = (pts["flops"] / pts["tokens"]).to_numpy(float)
    fitted = law.predict_task_loss(pts["n_params"].to_numpy(float), pts["tokens"].to_numpy(float),
                                   flops if np.all(np.isfinite(flops)) else None)
    observed = pts["y"].to_numpy(float)
    return pd.DataFrame({"run": pts["run"].astype(str), "n_params": pts["n_params"], "tokens": pts["tokens"],
                         "observed": observed, "fitted": fitted, "rel_residual": observed / fitted - 1.0})


def step2_residuals(law) -> pd.DataFrame:
    """Step-2 residuals per selected checkpoint: ``run, n_params, x, observed, fitted, residual``.

    Notes
    -----
    ``residual = observed accuracy − fitted accuracy`` (a fraction; × 100 for points).
    """
    pts = law.step2_data_
    fitted = law.predict_accuracy(pts["x"].to_numpy(float))
    observed = pts["y"].to_numpy(float)
    return pd.DataFrame({"run": pts["run"].astype(str), "n_params": pts["n_params"], "x": pts["x"],
                         "observed": observed, "fitted": fitted, "residual": observed - fitted})


@_styled
def residuals_panel(law, ctx: FigureContext) -> Panel:
    """Two side-by-side panels: step-1 relative residuals per run and step-2 residuals per checkpoint."""
    name = law.task.name
    r1, r2 = step1_residuals(law), step2_residuals(law)
    fig, (left, right) = _new_axes((7.2, 2.8), ncols=2, wspace=0.4)
    left.axhline(0, color="black", lw=0.8)
    left.scatter(r1["tokens"], 100 * r1["rel_residual"], c=[ctx.color(n) for n in r1["n_params"]], s=26,
                 edgecolors="black", linewidths=0.4, zorder=3)
    left.set_xscale("log")
    left.set_xlabel(TOKENS_LABEL)
    left.set_ylabel("observed / fitted − 1 (%)")
    left.set_title("Step-1 residuals (one per run)")
    right.axhline(0, color="black", lw=0.8)
    right.scatter(r2["x"], 100 * r2["residual"], c=[ctx.color(n) for n in r2["n_params"]], s=7, alpha=0.6,
                  linewidths=0)
    right.set_xlabel(feature_label(law.feature, law.task))
    right.set_ylabel("observed − fitted (points)")
    right.set_title("Step-2 residuals (per checkpoint)")
    data = pd.concat([r1.assign(task=name, step="step1"), r2.assign(task=name, step="step2")], ignore_index=True)
    return Panel(figure=fig, data=data)


@_styled
def overview_panel(ctx: FigureContext, tasks: list, *, display: dict[str, str]) -> Panel:
    """Predicted (✕, with interval) and actual (★) accuracy per task and target, one row per task."""
    targets = list(dict.fromkeys(ctx.predictions["target"]))
    height = 0.9 + 0.3 * max(1, len(tasks)) * max(1, len(targets)) ** 0.5
    fig, (ax,) = _new_axes((7.2, height), left=1.25, right=1.3)
    rows: list[dict] = []
    offsets = np.linspace(-0.18, 0.18, len(targets)) if len(targets) > 1 else [0.0]
    for i, task in enumerate(tasks):
        sub = ctx.task_predictions(task)
        for offset, target in zip(offsets, targets):
            match = sub[sub["target"] == target]
            if match.empty:
                continue
            p = match.iloc[0]
            y = i + offset
            color = ctx.color(p["n_params"])
            if _finite(p["acc_pred"]):
                _mark_prediction(ax, 100 * p["acc_pred"], y, color, _interval(p, "acc_lo", "acc_hi"), scale=100,
                                 horizontal=True)
            if _finite(p["acc_actual"]):
                _mark_actual(ax, 100 * p["acc_actual"], y, color)
                if _finite(p["acc_pred"]):
                    ax.plot([100 * p["acc_pred"], 100 * p["acc_actual"]], [y, y], color=color, lw=0.8, alpha=0.7)
            rows.append({"task": task, "target": target, "acc_pred": p["acc_pred"], "acc_actual": p["acc_actual"]})
    ax.set_yticks(range(len(tasks)), [display.get(t, t) for t in tasks])
    ax.set_ylim(len(tasks) - 0.5, -0.5)
    ax.set_xlabel(ACCURACY_LABEL)
    ax.grid(axis="y", alpha=0)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="X", ls="", color="grey", markeredgecolor="black", label="predicted"),
               Line2D([], [], marker="*", ls="", color="grey", markeredgecolor="black", markersize=11, label="actual")]
    handles += [Line2D([], [], color=ctx.color(ctx.predictions[ctx.predictions["target"] == t]["n_params"].iloc[0]),
                       lw=3, label=t) for t in targets]
    ax.legend(handles=handles, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Predicted and actual accuracy per task")
    return Panel(figure=fig, data=pd.DataFrame(rows))
