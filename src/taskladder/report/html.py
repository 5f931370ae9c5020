"""A self-contained HTML report of a ladder's fits and predictions: one file to open and send.

:func:`build_report` fits (or takes) the predictions of a ladder and returns one HTML document with
inline CSS and every figure embedded as a base64 PNG, so it opens offline and loads nothing from
the network. Its sections:

1. **At a glance**: each target's mean error and the ladder's cost, and predicted against actual
   accuracy for every task.
2. **Ladder**: every run with N, D, tokens per parameter, training compute and its share of each
   target's compute.
3. **Tasks**: one card per task with the prediction for each target, its interval and reliability
   verdict when the predictions carry them (columns ``acc_lo``, ``acc_hi``, ``level``,
   ``reliability``), the actual when known, and the step-1, step-2 and chained figures.
4. **Running targets**: for a target whose log ends before its planned tokens, the forecast of its
   final accuracy against the tokens it has seen (:func:`taskladder.watch.watch`), per task.
5. **Backtest**: the backtest table, when one is given.
6. **Fit diagnostics**: fitted parameters with standard errors, convergence, residuals.
7. **Provenance**: version, method, settings, data files with their SHA-256, resolved config.

Colours are fixed per model size (:func:`~taskladder.report.figures.size_colors`) across all
figures and the HTML legend.

Example
-------
>>> from taskladder.report.html import build_report          # doctest: +SKIP
>>> html = build_report("specs/olmo-paper.toml", tasks=["hellaswag", "piqa"])
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import platform
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import __version__
from ..fit.result import FitResult
from ..fit.selection import Selection
from ..io.spec import LadderSpec
from ..ladder import Ladder, RunData, load_ladder
from ..tasks import Task, get_task
from .styles import REPORT_CSS
from .tables import to_jsonable
from .task_figures import (FEATURE_SHORT, feature_short, FigureContext, Panel, accuracy_panel, chained_panel, format_count,
                           overview_panel, png_bytes, residuals_panel, step1_panel, step1_residuals, step2_panel,
                           step2_residuals, targets_panel)

__all__ = ["build_report", "report_config", "INTERVAL_COLUMNS"]

#: Optional prediction columns the report shows when present.
INTERVAL_COLUMNS = ("acc_lo", "acc_hi", "level", "reliability")


# -- small formatting helpers ---------------------------------------------------------------------

def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _pct(value: object, digits: int = 1) -> str:
    return f"{100 * float(value):.{digits}f}%" if _finite(value) else "—"


def _points(value: object) -> str:
    return f"{100 * float(value):.1f}" if _finite(value) else "—"


def _num(value: object, digits: int = 4) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if not _finite(value):
        return "—" if value is None or isinstance(value, (float, np.floating)) else _esc(value)
    v = float(value)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 10 ** -digits):
        return _sci(v)
    if float(v).is_integer() and isinstance(value, (int, np.integer)):
        return str(int(v))
    return f"{v:.{digits}g}"


def _sci(value: float) -> str:
    """``1.23 × 10<sup>21</sup>``."""
    if not _finite(value) or value == 0:
        return _num(value)
    exponent = int(math.floor(math.log10(abs(value))))
    return f"{value / 10 ** exponent:.3g}&thinsp;×&thinsp;10<sup>{exponent}</sup>"


def _level(value: object) -> str:
    if not _finite(value):
        return _esc(value) if isinstance(value, str) and value else ""
    v = float(value)
    return f"{100 * v:.0f}%" if v <= 1 else f"{v:.0f}%"


def _hex(color) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color)


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_esc(text)}</span>'


def _status_kind(status: str) -> str:
    if not status:
        return "neutral"
    if status.startswith("converged"):
        return "warn" if "bound" in status else "good"
    return "bad"


def _reliability_kind(verdict: str) -> str:
    text = str(verdict).lower()
    if any(word in text for word in ("unreliable", "poor", "fail", "bad", "not ")):
        return "bad"
    if any(word in text for word in ("reliable", "good", "pass", "ok")):
        return "good"
    return "warn"


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _figure(panel: Panel, *, alt: str, caption: str, dpi: int, css_class: str = "") -> str:
    png = png_bytes(panel, dpi=dpi)
    width, height = _png_size(png)
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure class="{css_class}"><img src="data:image/png;base64,{data}" alt="{_esc(alt)}" '
            f'width="{width}" height="{height}"><figcaption>{caption}</figcaption></figure>')


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[bool] | None = None,
           css_class: str = "", footer: Sequence[Sequence[str]] = ()) -> str:
    """An HTML table from already-escaped cell strings; numeric columns are right-aligned."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)

    # Each body cell carries its column's name, which a narrow screen shows beside the value when
    # the table reflows into one card per row (see styles.REPORT_CSS).
    labels = [f' data-label="{_esc(h)}"' if h else "" for h in headers]

    def cells(values: Sequence[str], tag: str) -> str:
        return "".join(f'<{tag}{" class=num" if num else ""}{label if tag == "td" else ""}>{v}</{tag}>'
                       for v, num, label in zip(values, numeric, labels))

    head = f"<thead><tr>{cells([_esc(h) for h in headers], 'th')}</tr></thead>" if any(headers) else ""
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    foot = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in footer)
    foot = f"<tfoot>{foot}</tfoot>" if foot else ""
    return f'<div class="table-wrap"><table class="{css_class}">{head}<tbody>{body}</tbody>{foot}</table></div>'


def _frame_table(frame: pd.DataFrame) -> str:
    """Any DataFrame as an HTML table (numbers formatted, text escaped)."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    rows = [[_num(v) if num or isinstance(v, (bool, np.bool_)) else _esc("—" if v is None else v)
             for v, num in zip(row, numeric)] for row in frame.itertuples(index=False)]
    return _table([str(c) for c in frame.columns], rows, numeric=numeric)


# -- what the report is made of ---------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _RunCompute:
    run: RunData
    compute: float
    approximate: bool


def _run_compute(run: RunData) -> _RunCompute:
    """Training compute ``C = D × FLOPs per token``; ``6 N D`` (marked approximate) when FLOPs per token
    were not given and came from the 6 N estimate."""
    flops = run.spec.flops_per_token
    if flops is None or run.spec.flops_source == "6N":
        return _RunCompute(run=run, compute=6.0 * run.n_params * run.final_tokens, approximate=True)
    return _RunCompute(run=run, compute=float(flops) * run.final_tokens, approximate=False)


def _file_digest(path: Path | None) -> str:
    if path is None or not Path(path).is_file():
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def report_config(ladder: Ladder, *, tasks: Sequence[str], variant: str, method: str, selection: Selection,
                  extra: Mapping | None = None) -> dict:
    """The resolved configuration a report was produced with (also embedded in the report)."""
    spec = ladder.spec
    runs = []
    for r in ladder.runs.values():
        runs.append({"name": r.name, "role": r.role, "size": r.spec.size, "n_params": r.n_params,
                     "tokens": r.final_tokens, "flops_per_token": r.spec.flops_per_token,
                     "file": None if r.spec.file is None else os.path.normpath(r.spec.file),
                     "sha256": _file_digest(r.spec.file) or None})
    config = {"taskladder_version": __version__, "spec": None if spec.path is None else str(spec.path),
              "spec_sha256": _file_digest(spec.path) or None, "spec_name": spec.name, "method": method,
              "variant": variant, "tasks": list(tasks), "selection": vars(selection), "runs": runs}
    config.update(extra or {})
    return config


# -- sections -------------------------------------------------------------------------------------------

def _legend(ctx: FigureContext) -> str:
    items = "".join(f'<span class="swatch" style="background:{_hex(ctx.colors[n])}"></span>'
                    f'<span class="swatch-label">{_esc(ctx.labels.get(n, format_count(n)))}</span>'
                    for n in sorted(ctx.colors))
    markers = ('<span class="marker">●</span> train run <span class="marker">✕</span> prediction '
               '(bar: interval) <span class="marker">★</span> actual')
    return f'<div class="legend"><span class="legend-title">Model size</span>{items}<span class="markers">{markers}</span></div>'


def _target_summary(ladder: Ladder, predictions: pd.DataFrame, computes: dict[str, _RunCompute]) -> str:
    train_compute = sum(computes[r.name].compute for r in ladder.train_runs)
    cards = []
    for target in ladder.targets:
        rows = predictions[predictions["target"] == target.name]
        known = rows.dropna(subset=["abs_error"]) if "abs_error" in rows else rows.iloc[0:0]
        c = computes[target.name]
        share = 100 * train_compute / c.compute if c.compute > 0 else float("nan")
        lines = [f"<div class=kpi-name>{_esc(target.name)}</div>",
                 f"<div class=kpi-sub>N = {format_count(target.n_params)} parameters, "
                 f"D = {format_count(target.final_tokens)} tokens</div>"]
        if len(known):
            lines.append(f'<div class=kpi-value>{100 * known["abs_error"].mean():.2f}<span class=kpi-unit> points</span></div>'
                         f"<div class=kpi-sub>mean |predicted − actual| over {len(known)} task(s)</div>")
        else:
            lines.append('<div class=kpi-value>—</div><div class=kpi-sub>no actual to compare (no data for this target)</div>')
        if "acc_lo" in rows and "acc_hi" in rows and len(known):
            inside = ((known["acc_actual"] >= known["acc_lo"]) & (known["acc_actual"] <= known["acc_hi"])).sum()
            lines.append(f"<div class=kpi-sub>actual inside the interval for {int(inside)} of {len(known)}</div>")
        lines.append(f"<div class=kpi-sub>ladder compute = {share:.2f}% of this target's"
                     f"{' (≈ 6ND)' if c.approximate else ''}</div>")
        cards.append(f'<div class="kpi">{"".join(lines)}</div>')
    if not cards:
        return ('<p class="note">The spec has no target, so there is nothing to predict; add a run with '
                '<code>role = "target"</code> or pass <code>--target NAME:N:D</code>.</p>')
    return f'<div class="kpis">{"".join(cards)}</div>'


def _ladder_section(ladder: Ladder, computes: dict[str, _RunCompute], ctx: FigureContext) -> str:
    targets = ladder.targets
    headers = ["Run", "Role", "Size", "N (params)", "D (tokens)", "D / N", "Compute (FLOPs)"]
    headers += [f"% of {t.name}" for t in targets] + ["Checkpoints"]
    numeric = [False, False, False, True, True, True, True] + [True] * len(targets) + [True]
    rows = []
    for r in ladder.runs.values():
        c = computes[r.name]
        swatch = f'<span class="swatch" style="background:{_hex(ctx.color(r.n_params))}"></span>'
        row = [f"{swatch}{_esc(r.name)}", _esc(r.role), _esc(r.spec.size or "—"), _esc(f"{r.n_params:,}"),
               _esc(format_count(r.final_tokens)), f"{r.final_tokens / r.n_params:.0f}",
               ("≈ " if c.approximate else "") + _sci(c.compute)]
        row += [f"{100 * c.compute / computes[t.name].compute:.3f}" for t in targets]
        row.append(str(r.n_checkpoints) if r.has_data else "no data")
        rows.append(row)
    total = sum(computes[r.name].compute for r in ladder.train_runs)
    approx = any(computes[r.name].approximate for r in ladder.train_runs)
    footer = [["<b>Ladder total</b>", f"{len(ladder.train_runs)} train runs", "", "", "", "",
               ("≈ " if approx else "") + _sci(total)]
              + [f"<b>{100 * total / computes[t.name].compute:.2f}</b>" for t in targets] + [""]]
    note = ('<p class="note">Compute is D × FLOPs per token (from the architecture of a known size or the '
            "spec's <code>flops_per_token</code>); ≈ marks the 6 N D approximation where FLOPs per token "
            "are unknown. D / N is tokens per parameter (20 is the Chinchilla-optimal budget, the paper's "
            "1×C).</p>")
    return _table(headers, rows, numeric=numeric, footer=footer, css_class="ladder") + note


def _status_cell(step1: object, step2: object) -> str:
    """One green badge when every fit converged inside its bounds, else a badge per other status."""
    parts = [part.strip() for text in (step1, step2) if isinstance(text, str)
             for part in text.split(";") if part.strip()]
    odd = [part for part in parts if part.split(": ", 1)[-1] != "converged"]
    if not parts:
        return "—"
    if not odd:
        return _badge("converged", "good")
    return " ".join(_badge(part, "warn" if "at bound" in part else "bad") for part in dict.fromkeys(odd))


def _interval_cell(p: pd.Series) -> str:
    """The main interval (``acc_lo``–``acc_hi`` at ``level``), then any other level's (``acc_lo_50``)."""
    if not (_finite(p["acc_lo"]) and _finite(p["acc_hi"])):
        return "—"
    level = _level(p["level"]) if "level" in p.index else ""
    lines = [f"{_pct(p['acc_lo'])} – {_pct(p['acc_hi'])}" + (f' <span class="muted">({level})</span>' if level else "")]
    main = round(100 * float(p["level"])) if "level" in p.index and _finite(p["level"]) else None
    for column in p.index:
        if column.startswith("acc_lo_") and column[7:].isdigit() and int(column[7:]) != main:
            high = f"acc_hi_{column[7:]}"
            if high in p.index and _finite(p[column]) and _finite(p[high]):
                lines.append(f'<span class="muted">{_pct(p[column])} – {_pct(p[high])} ({int(column[7:])}%)</span>')
    return "<br>".join(lines)


def _prediction_rows(task_predictions: pd.DataFrame, ctx: FigureContext) -> str:
    has_interval = "acc_lo" in task_predictions and "acc_hi" in task_predictions
    has_reliability = "reliability" in task_predictions
    has_step2_alone = ("acc_from_actual_loss" in task_predictions
                       and task_predictions["acc_from_actual_loss"].map(_finite).any())
    headers = ["Target", "Predicted"] + (["Interval"] if has_interval else []) + ["Actual", "Error (pts)"]
    headers += ["Loss pred. / actual"] + (["Step 2 at actual loss"] if has_step2_alone else [])
    headers += (["Reliability"] if has_reliability else []) + ["Fit status"]
    numeric = [False, True] + ([True] if has_interval else []) + [True, True, True]
    numeric += ([True] if has_step2_alone else []) + ([False] if has_reliability else []) + [False]
    rows = []
    for _, p in task_predictions.iterrows():
        swatch = f'<span class="swatch" style="background:{_hex(ctx.color(p["n_params"]))}"></span>'
        error = (f"{100 * (p['acc_pred'] - p['acc_actual']):+.1f}"
                 if _finite(p["acc_pred"]) and _finite(p["acc_actual"]) else "—")
        row = [f'<span class="nowrap">{swatch}<b>{_esc(p["target"])}</b></span>', f"<b>{_pct(p['acc_pred'])}</b>"]
        if has_interval:
            row.append(_interval_cell(p))
        row += [_pct(p["acc_actual"]), error,
                f"{_num(p['task_loss_pred'], 3)} / {_num(p['task_loss_actual'], 3)}"]
        if has_step2_alone:
            row.append(_pct(p["acc_from_actual_loss"]))
        if has_reliability:
            verdict = p["reliability"]
            reason = p.get("reliability_reason", "")
            cell = _badge(str(verdict), _reliability_kind(str(verdict))) if isinstance(verdict, str) and verdict else "—"
            if isinstance(reason, str) and reason:
                cell += f'<div class="reason">{_esc(reason)}</div>'
            row.append(cell)
        row.append(_status_cell(p.get("step1_status", ""), p.get("step2_status", "")))
        rows.append(row)
    return _table(headers, rows, numeric=numeric, css_class="predictions")


def _task_card(task: Task, law, ctx: FigureContext, *, dpi: int) -> str:
    from ..fit.laws import EnsembleLaw

    sub = ctx.task_predictions(task.name)
    title = (f'<h3>{_esc(task.display_name)} <span class="muted">{_esc(task.name)} · {_esc(task.split)} split · '
             f"chance {_pct(task.chance, 0)}</span></h3>")
    table = _prediction_rows(sub, ctx) if len(sub) else '<p class="note">No target to predict.</p>'
    members = [m for m in _members(law) if _chained(m)]
    figures = []
    if members:
        ensemble = isinstance(law, EnsembleLaw)
        primary, others = members[0], members[1:]
        short = feature_short(primary.feature, primary.task)
        targets = targets_panel(law, ctx)
        figures += [
            _figure(chained_panel(law, ctx), alt=f"{task.display_name}: chained prediction against tokens",
                    caption=("<b>Chained</b>: step 2 of step 1 per model size; ● train runs' final accuracy."
                             if not ensemble else
                             f"<b>Chained</b>: mean of the {len(members)} laws' step 2 of step 1 (the "
                             "prediction); ● train runs' final accuracy."), dpi=dpi)]
        if targets is not None:
            figures.append(_figure(targets, alt=f"{task.display_name}: the targets' predictions up close",
                                   caption="<b>Targets up close</b>: ✕ prediction with its intervals (thick: "
                                           "narrowest level, thin: widest), ★ actual"
                                           + ("; hollow: each law of the ensemble alone." if ensemble else "."),
                                   dpi=dpi))
        figures += [
            _figure(step1_panel(primary, ctx), alt=f"{task.display_name}: step 1, {short} against tokens",
                    caption=(f"<b>Step 1</b> ({_esc(short)}): fitted law per model size; ● train runs."
                             if not getattr(primary, "uses_c4_", False) else
                             f"<b>Step 1</b> ({_esc(short)}): the C4-loss law per model size carried to the task "
                             "by the loss-to-loss map; ● train runs."), dpi=dpi),
            _figure(step2_panel(primary, ctx, acc_interval=not ensemble),
                    alt=f"{task.display_name}: step 2, accuracy against {short}",
                    caption=f"<b>Step 2</b> ({_esc(short)}): fitted curve; dots: selected checkpoints; "
                            "dotted: chance.", dpi=dpi)]
        for member in others:
            other = feature_short(member.feature, member.task)
            figures += [
                _figure(step1_panel(member, ctx, loss_interval=False),
                        alt=f"{task.display_name}: step 1, {other} against tokens",
                        caption=f"<b>Step 1</b> ({_esc(other)}), second member of the ensemble.", dpi=dpi),
                _figure(step2_panel(member, ctx, acc_interval=False),
                        alt=f"{task.display_name}: step 2, accuracy against {other}",
                        caption=f"<b>Step 2</b> ({_esc(other)}): ✕ at this member's own prediction.", dpi=dpi)]
    else:
        figures.append(_figure(accuracy_panel(law, ctx), alt=f"{task.display_name}: accuracy against tokens",
                               caption="<b>One fit</b> from (N, D) to accuracy per model size; ● train runs' "
                                       "final accuracy.", dpi=dpi))
        targets = targets_panel(law, ctx)
        if targets is not None:
            figures.append(_figure(targets, alt=f"{task.display_name}: the targets' predictions up close",
                                   caption="<b>Targets up close</b>: ✕ prediction with its intervals, ★ actual.",
                                   dpi=dpi))
    return (f'<section class="card task-card" id="task-{_esc(task.name)}" data-task="{_esc(task.name)}">'
            f'{title}{table}<div class="figures">{"".join(figures)}</div></section>')


def _members(law) -> list:
    """The two-step laws inside a law: an ensemble's members, or the law itself."""
    return list(getattr(law, "members_", None) or [law])


def _chained(law) -> bool:
    """Whether a law chains (N, D) → task loss → accuracy (two-step, or loss-to-loss through C4)."""
    from ..fit.laws import LossToLossLaw, TwoStepLaw

    return isinstance(law, (TwoStepLaw, LossToLossLaw))


def _fits(laws: dict) -> list[tuple[object, str, FitResult]]:
    """Every curve fit of every law: (law, step, fit); an ensemble's members are listed one by one."""
    out = []
    for law in laws.values():
        members = _members(law)
        for member in members:
            feature = getattr(member, "feature", None)
            suffix = f" ({FEATURE_SHORT.get(feature, feature)})" if len(members) > 1 and feature else ""
            for step, attr in (("step 1", "step1_"), ("transfer (C4 → bpb)", "transfer_"), ("step 2", "step2_"),
                               ("one fit", "fit_")):
                fit = member.__dict__.get(attr)
                if isinstance(fit, FitResult):
                    out.append((member, step + suffix, fit))
    return out


def _parameters(fit: FitResult) -> str:
    """``name = value ± se`` per parameter; fixed parameters say so instead of ``± 0``."""
    fixed = fit.extra.get("fixed", {}) if isinstance(fit.extra, dict) else {}
    se = (np.sqrt(np.clip(np.diag(fit.covariance), 0, None)) if fit.covariance is not None
          else np.full(len(fit.params), np.nan))
    lines = []
    for name, value, err in zip(fit.form.params, fit.params, se):
        if name in fixed:
            lines.append(f"{_esc(name)} = {_num(value)} <span class=muted>(fixed)</span>")
        else:
            lines.append(f"{_esc(name)} = {_num(value)}" + (f" ± {_num(err, 2)}" if _finite(err) else ""))
    return "<br>".join(lines)


def _diagnostics(laws: dict, ctx: FigureContext, *, dpi: int) -> str:
    rows = []
    for law, step, fit in _fits(laws):
        status = fit.status + (f"; at bound: {', '.join(fit.at_bounds)}" if fit.at_bounds else "")
        rows.append([_esc(law.task.display_name), _esc(step).replace(" (", "<br>("), f"<code>{_esc(fit.describe())}</code>",
                     _parameters(fit), str(int(fit.n_points)), str(int(fit.n_iterations)), _num(fit.loss, 3),
                     _badge(status, _status_kind(status)) + f'<div class="reason">{_esc(fit.optimizer)}</div>'])
    table = _table(["Task", "Step", "Fitted law", "Parameters (± standard error)", "Points", "Iterations",
                    "Objective", "Status / optimizer"], rows,
                   numeric=[False, False, False, False, True, True, True, False], css_class="fits")
    note = ('<p class="note">Standard errors come from the fit\'s covariance (s² (JᵀJ)⁻¹ for least squares; '
            "for the paper method's Huber fits it is the optimizer's inverse-Hessian approximation, not a "
            "statistical covariance). Step-1 <code>a</code>, <code>b</code> are log A, log B.</p>")
    summary_rows = []
    figures = []
    for law in (m for top in laws.values() for m in _members(top)):
        if not _chained(law):
            continue
        r1, r2 = step1_residuals(law), step2_residuals(law)
        rms1 = float(np.sqrt(np.mean(r1["rel_residual"] ** 2)))
        rms2 = float(np.sqrt(np.mean(r2["residual"] ** 2)))
        worst = r1.iloc[int(np.argmax(np.abs(r1["rel_residual"].to_numpy())))]
        summary_rows.append([_esc(law.task.display_name), _esc(feature_short(law.feature, law.task)), str(len(r1)), f"{100 * rms1:.2f}",
                             f"{100 * worst['rel_residual']:+.2f} ({_esc(worst['run'])})", str(len(r2)),
                             f"{100 * rms2:.2f}", f"{100 * float(np.max(np.abs(r2['residual']))):.2f}"])
        figures.append(_figure(residuals_panel(law, ctx), alt=f"{law.task.display_name}: residuals",
                               caption=f"<b>{_esc(law.task.display_name)}</b>, "
                                       f"{_esc(feature_short(law.feature, law.task))}", dpi=dpi))
    summary = ""
    if summary_rows:
        summary = ("<h3>Residuals</h3>" + _table(
            ["Task", "Feature", "Step-1 runs", "Step-1 RMS (%)", "Step-1 worst (%) (run)", "Step-2 points",
             "Step-2 RMS (points)", "Step-2 max |·| (points)"], summary_rows,
            numeric=[False, False, True, True, True, True, True, True])
            + '<p class="note">Left panels: step-1 residual, observed / fitted − 1, one per train run (the fit '
              "is on log residuals). Right panels: step-2 residual, observed − fitted accuracy in points, one "
              "per selected checkpoint. A trend in either (rather than scatter around zero) means the form "
              "does not fit the ladder.</p>"
            + f'<div class="figures two">{"".join(figures)}</div>')
    return "<h3>Fitted parameters and convergence</h3>" + table + note + summary


def _provenance(config: dict, generated_at: datetime) -> str:
    import matplotlib
    import scipy

    facts = [("taskladder", __version__), ("generated", generated_at.strftime("%Y-%m-%d %H:%M UTC")),
             ("method", config.get("method")), ("variant", config.get("variant")),
             ("selection", ", ".join(f"{k} = {v}" for k, v in config.get("selection", {}).items())),
             ("tasks", ", ".join(config.get("tasks", []))), ("spec", config.get("spec") or "(built in code)"),
             ("spec SHA-256", config.get("spec_sha256") or "—"),
             ("Python / NumPy / SciPy / pandas / Matplotlib",
              f"{platform.python_version()} / {np.__version__} / {scipy.__version__} / {pd.__version__} / "
              f"{matplotlib.__version__}")]
    rows = [[f"<b>{_esc(k)}</b>", _esc(v)] for k, v in facts]
    files = [[_esc(r["name"]), _esc(r["file"] or "—"), f"<code>{_esc((r['sha256'] or '—')[:16])}</code>"]
             for r in config.get("runs", [])]
    blob = json.dumps(to_jsonable(config), indent=2)
    return (_table(["", ""], rows, css_class="facts")
            + "<h3>Data files</h3>" + _table(["Run", "File", "SHA-256 (first 16)"], files)
            + f"<details><summary>Resolved configuration (JSON)</summary><pre>{_esc(blob)}</pre></details>")


_TASKS_INTRO = (
    '<p class="note">Each card: the prediction for every target (interval and reliability verdict when they '
    "were computed), the actual accuracy when the target has data, and three figures. <b>Step 1</b> fits the "
    "intermediate feature (task loss) against model size N and tokens D; each point is one train run at its "
    "final D, its feature averaged over its last checkpoints. <b>Step 2</b> fits accuracy against the feature "
    "over the selected checkpoints of every run. <b>Chained</b> composes the two: accuracy against D for each "
    "model size. ✕ marks a target's prediction, ★ its actual value.</p>")


_RUNNING_NOTE = (
    '<p class="note">A target whose log ends before its planned tokens is still training. Its predictions above '
    "are conditioned on the checkpoints it has logged; each figure shows how the forecast of its final accuracy "
    "(and its interval) moved as the checkpoints came in, from the ladder alone at 0 tokens (dashed line).</p>")


def _running_section(ladder: Ladder, result, *, levels: Sequence[float], n_bootstrap: int, seed: int,
                     dpi: int) -> str:
    """Figures of the forecasts of the targets still training (empty when there is none)."""
    from ..watch import DEFAULT_FRACTIONS, is_partial, watch
    from .watch_figures import watch_figure

    partial = [t for t in ladder.targets if is_partial(t)]
    if not partial or not result.laws:
        return ""
    tasks = [law.task for law in result.laws.values()]
    variant = None if result.variant == "auto" else result.variant
    forecasts = watch(ladder, (0.0, *DEFAULT_FRACTIONS, 1.0), targets=partial, tasks=tasks, variant=variant,
                      mode=result.mode, levels=tuple(levels), n_bootstrap=n_bootstrap, seed=seed).forecasts
    figures = []
    for task in tasks:
        fig, data = watch_figure(forecasts, task.name)
        figures.append(_figure(Panel(figure=fig, data=data), alt=f"forecast of {task.display_name} against tokens seen",
                               caption=f"{_esc(task.display_name)}: forecast and interval against tokens seen.",
                               dpi=dpi))
    return _RUNNING_NOTE + f'<div class="figures">{"".join(figures)}</div>'


_BACKTEST_NOTE = (
    '<p class="note">The same law fitted on part of the ladder and asked to predict the rest: '
    "<code>largest_size</code> holds out every run of the largest model size, <code>largest_multiple</code> every "
    "run of the largest token multiple. The error is in accuracy points against each held-out run's own final "
    "accuracy; this is what the reliability verdict uses, and it never looks at the targets.</p>")


def _backtest_summary(ladder: Ladder, laws: dict, variant: str, method: str, selection: Selection) -> pd.DataFrame:
    from ..fit.backtest import backtest, summarize_backtest

    tasks = [law.task for law in laws.values()]
    return summarize_backtest(backtest(ladder, tasks, variants=[variant], modes=[method], selection=selection))


def _backtest_html(table: pd.DataFrame) -> str:
    """The backtest summary as one row per task and a column group per holdout; any other table as it is."""
    needed = {"holdout", "task", "mae_points", "max_error_points"}
    if needed <= set(table.columns) and table.groupby(["holdout", "task"]).size().max() == 1:
        holdouts = list(dict.fromkeys(table["holdout"]))
        has_coverage = "coverage" in table and table["coverage"].notna().any()
        headers = ["Task"]
        for h in holdouts:
            headers += [f"{h}: mean |error|", "max"] + (["coverage"] if has_coverage else [])
        rows = []
        for task in dict.fromkeys(table["task"]):
            row = [_esc(get_task(task).display_name if task in _task_names() else task)]
            for h in holdouts:
                match = table[(table["task"] == task) & (table["holdout"] == h)]
                r = match.iloc[0] if len(match) else None
                row += ["—" if r is None or not _finite(r["mae_points"]) else f"{r['mae_points']:.2f}",
                        "—" if r is None or not _finite(r["max_error_points"]) else f"{r['max_error_points']:.2f}"]
                if has_coverage:
                    row.append("—" if r is None or not _finite(r["coverage"]) else f"{100 * r['coverage']:.0f}%")
            rows.append(row)
        means = ["<b>Mean</b>"]
        for h in holdouts:
            sub = table[table["holdout"] == h]
            means += [f"<b>{sub['mae_points'].mean():.2f}</b>", f"<b>{sub['max_error_points'].max():.2f}</b>"]
            means += [""] if has_coverage else []
        missing = int(table["n_missing"].sum()) if "n_missing" in table else 0
        note = (f'<p class="note">Errors in accuracy points. {missing} held-out prediction(s) missing (a fit that '
                "did not converge).</p>" if missing else '<p class="note">Errors in accuracy points.</p>')
        return _table(headers, rows, numeric=[False] + [True] * (len(headers) - 1), footer=[means]) + note
    nice = {"holdout": "Held out", "variant": "Variant", "method": "Method", "task": "Task",
            "mae_points": "Mean |error| (points)", "max_error_points": "Max |error| (points)",
            "n_runs": "Held-out runs", "n_missing": "No prediction", "coverage": "Interval coverage"}
    frame = table.copy()
    if "task" in frame:
        frame["task"] = [get_task(t).display_name if isinstance(t, str) and t in _task_names() else t
                         for t in frame["task"]]
    if {"variant", "method"} <= set(frame.columns) and frame["variant"].nunique() == 1 and frame["method"].nunique() == 1:
        frame = frame.drop(columns=["variant", "method"])
    return _frame_table(frame.rename(columns=nice))


_STEP2_NOTE = (
    '<h3>Step 2 extrapolated as far as the targets need</h3><p class="note">Step 2 (task loss → accuracy) '
    "refitted on the ladder's checkpoints whose task loss lies at least <i>d</i> above the ladder's lowest, "
    "<i>d</i> being how far the furthest target's predicted task loss lies below it, then asked for every run "
    "that ends below that cut, at the run's measured loss, with step 2's own 90 % interval. If step 2 holds here "
    "but a trained target sits far off the curve at its measured loss, the target's recipe moved the curve.</p>")


def _step2_check_html(ladder: Ladder, result, *, seed: int) -> str:
    """The step-2 extrapolation check per task (empty when the ladder has no target or no step 2)."""
    from ..analysis.step2_extrapolation import step2_extrapolation_by_task, summarize_step2_extrapolation
    from ..errors import TaskLadderError

    try:
        summary = summarize_step2_extrapolation(step2_extrapolation_by_task(ladder, result=result, seed=seed))
    except TaskLadderError:
        return ""
    if not (summary["status"] == "ok").any():
        return ""
    rows = []
    for _, r in summary.iterrows():
        name = get_task(r["task"]).display_name if r["task"] in _task_names() else r["task"]
        if r["status"] != "ok":
            rows.append([_esc(name), _num(r["distance"], 3), "—", "—", "—", _esc(r["status"])])
            continue
        rows.append([_esc(name), _num(r["distance"], 3), str(int(r["n_runs"])), f"{r['mean_error_points']:+.2f}",
                     f"{r['max_error_points']:+.2f}", f"{round(r['coverage'] * r['n_runs'])} of {int(r['n_runs'])}"])
    headers = ["Task", "d (task loss)", "Runs below the cut", "Mean error (points)", "Largest error", "Inside 90 %"]
    return _STEP2_NOTE + _table(headers, rows, numeric=[False, True, True, True, True, False])


def _task_names() -> set[str]:
    from ..tasks import TASKS

    return set(TASKS)


# -- the document -------------------------------------------------------------------------------------

def _resolve_tasks(tasks, ladder: Ladder) -> list[Task]:
    # The ladder resolves names: it knows the spec's declared tasks and what "all" has data for.
    if tasks is None or isinstance(tasks, str):
        return ladder.resolve_tasks(tasks)
    return [t if isinstance(t, Task) else ladder.resolve_tasks([t])[0] for t in tasks]


def build_report(source: Ladder | LadderSpec | str | Path, *, tasks: str | Sequence[str] | None = None,
                 variant: str | None = None, method: str = "default", selection: Selection | None = None,
                 intervals: bool = True, levels: Sequence[float] = (0.5, 0.9), n_bootstrap: int = 200,
                 seed: int = 0, reliability: bool = True, result=None, backtest: bool | pd.DataFrame = True,
                 title: str | None = None, extra_config: Mapping | None = None,
                 generated_at: datetime | None = None, dpi: int = 120) -> str:
    """Fit a ladder (unless ``result`` is given) and return a self-contained HTML report.

    Parameters
    ----------
    source
        A loaded :class:`~taskladder.ladder.Ladder`, a :class:`~taskladder.io.spec.LadderSpec` or
        the path of a spec TOML.
    tasks, variant, method, selection, intervals, levels, n_bootstrap, seed, reliability
        As for :func:`~taskladder.predict.predict_ladder` (variant ``None``: that function's
        default for the method).
    result
        Predictions already computed (a :class:`~taskladder.predict.PredictionResult` for this
        ladder); its variant, method and selection are reported. Intervals and reliability
        verdicts in ``result.predictions`` (``acc_lo``, ``acc_hi``, ``level``, ``reliability``)
        are shown when present, and left out when not.
    backtest
        ``True``: backtest the same law on the ladder (hold out its largest size, then its largest
        token multiple; :mod:`taskladder.fit.backtest`) and show the summary; ``False``: no
        backtest section; a DataFrame: show that table as it is.
    title
        Page title (default: ``"<spec name>: task scaling report"``).
    extra_config
        More entries for the provenance's resolved configuration (e.g. the command's options).
    generated_at
        Timestamp shown in the provenance (default: now, UTC).
    dpi
        Resolution of the embedded figures.

    Returns
    -------
    str
        The HTML document (write it with :func:`~taskladder.report.tables.atomic_write_text`).
    """
    from ..predict import predict_ladder

    ladder = source if isinstance(source, Ladder) else load_ladder(source)
    if result is None:
        result = predict_ladder(ladder, tasks=_resolve_tasks(tasks, ladder), variant=variant, mode=method,
                                selection=selection, intervals=intervals, levels=tuple(levels),
                                n_bootstrap=n_bootstrap, seed=seed, reliability=reliability)
    variant, method, selection = result.variant, result.mode, result.selection
    predictions = result.predictions
    laws = result.laws
    ctx = FigureContext.build(ladder, predictions)
    computes = {r.name: _run_compute(r) for r in ladder.runs.values()}
    task_objects = [law.task for law in laws.values()]
    config = report_config(ladder, tasks=list(laws), variant=variant, method=method, selection=selection,
                           extra=extra_config)
    generated_at = generated_at or datetime.now(timezone.utc)
    title = title or f"{ladder.spec.name}: task scaling report"

    overview = ""
    if len(predictions):
        display = {t.name: t.display_name for t in task_objects}
        overview = _figure(overview_panel(ctx, list(laws), display=display), alt="predicted and actual accuracy per task",
                           caption="✕ predicted (bar: interval, when computed), ★ actual; colour: target size.",
                           dpi=dpi, css_class="wide")
    cards = "".join(_task_card(law.task, law, ctx, dpi=dpi) for law in laws.values())
    nav = "".join(f'<a href="#task-{_esc(t.name)}">{_esc(t.display_name)}</a>' for t in task_objects)
    sections = [
        ("summary", "At a glance", _target_summary(ladder, predictions, computes) + overview),
        ("ladder", "Ladder", _legend(ctx) + _ladder_section(ladder, computes, ctx)),
        ("tasks", "Tasks", f'<nav class="task-nav">{nav}</nav>{_TASKS_INTRO}{_legend(ctx)}{cards}'),
    ]
    running = _running_section(ladder, result, levels=levels, n_bootstrap=n_bootstrap, seed=seed, dpi=dpi)
    if running:
        sections.append(("running", "Running targets", running))
    backtest_table = _backtest_summary(ladder, laws, variant, method, selection) if backtest is True else backtest
    if isinstance(backtest_table, pd.DataFrame) and len(backtest_table):
        step2 = _step2_check_html(ladder, result, seed=seed) if backtest is True else ""
        sections.append(("backtest", "Backtest", _BACKTEST_NOTE + _backtest_html(backtest_table) + step2))
    sections += [("diagnostics", "Fit diagnostics", _diagnostics(laws, ctx, dpi=dpi)),
                 ("provenance", "Provenance", _provenance(config, generated_at))]
    toc = "".join(f'<a href="#{key}">{_esc(name)}</a>' for key, name, _ in sections)
    body = "".join(f'<section id="{key}" class="section"><h2>{_esc(name)}</h2>{content}</section>'
                   for key, name, content in sections)
    description = f"<p class=lead>{_esc(ladder.spec.description)}</p>" if ladder.spec.description else ""
    subtitle = (f"{len(ladder.train_runs)} train runs · {len(ladder.targets)} target(s) · {len(laws)} task(s) · "
                f"{_esc(variant)} law · {_esc(method)} method · taskladder {_esc(__version__)}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"taskladder {_esc(__version__)}\">"
            f"<title>{_esc(title)}</title><style>{REPORT_CSS}</style></head><body>"
            f"<header><h1>{_esc(title)}</h1>{description}<p class=sub>{subtitle}</p>"
            f"<nav class=toc>{toc}</nav></header><main>{body}</main>"
            "<footer>Bhagia et al. (2024), <i>Establishing Task Scaling Laws via Compute-Efficient Model "
            "Ladders</i>. Made with taskladder.</footer></body></html>\n")
