"""Bring your own results: a tidy CSV of observations, metric-name mapping, and ladder writing.

The tidy format has one row per run × checkpoint × task × metric::

    run,N,D,step,task,metric,value
    190M-1xC,190354176,3984588800,950,hellaswag,bpb,1.2345
    190M-1xC,190354176,3984588800,950,hellaswag,accuracy,0.3456
    190M-1xC,190354176,3984588800,950,,c4,3.456

``N`` (or ``n_params``) is the run's non-embedding parameter count, ``D`` (or ``tokens``) the
tokens seen at that checkpoint, ``step`` the optimizer step. Optional columns: ``role``
(``train``, the default, or ``target``), ``size`` (a known size label, which also gives FLOPs per
token), ``flops_per_token``, ``chance`` (a task's chance accuracy, for tasks of your own) and
``unit`` (``bpb`` or ``nats``, for the metric ``task_loss``). ``metric`` is one of taskladder's
metrics or an alias of one (:func:`metric_for`); ``task`` is a task name and is empty for ``c4``.

Tasks of your own
-----------------
A task name that is not built in (``taskladder tasks`` lists those) becomes a *declared* task of
the written spec (a ``[[task]]`` table): its metrics are ``accuracy`` (or an accuracy alias) and,
optionally, its task loss, as ``bpb`` or as ``task_loss`` with its ``unit`` (``nats`` for the
correct answer's cross-entropy). Its chance level comes from the ``chance`` column (default 0).

:func:`write_ladder` turns imported runs into the ladder format that ``taskladder predict``
reads: one CSV per run in the OLMo ladder's layout (``_step``, ``throughput/total_tokens`` and one
column per metric, e.g. ``eval/downstream_bpb/hellaswag_val_rc_5shot_bpb``) and a spec TOML
listing them. A task with several components (MMLU's four areas) gets the same value in every
component column, so the weighted average the fitter takes returns exactly that value.

Metric names
------------
:func:`metric_for` maps a metric name to taskladder's, per task:

===================================================  =============================================
name                                                 taskladder metric
===================================================  =============================================
``bpb``, ``bits_per_byte``                           ``bpb`` (task loss, bits per byte)
``accuracy``                                         ``accuracy`` (whatever the task uses)
``acc_norm``, ``acc_per_char``, ``len_norm``         ``accuracy`` of tasks scored per character
                                                     (all but BoolQ)
``acc``                                              ``accuracy`` of tasks scored raw (BoolQ)
``soft``, ``soft_log``                               ``soft``, ``soft_log``
``mc``, ``mc_acc``                                   ``mc``
``c4``, ``c4_loss``                                  ``c4`` (C4 validation loss, nats per token)
===================================================  =============================================

Raw ``acc`` of a task scored per character is *not* mapped (it is a different number from the
one the paper fits); map it explicitly if that is what you want.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..tasks import C4_LOSS_COLUMN, CORPUS_TASKS, LOSS_UNITS, TASKS, Task, declared_task, get_task
from .runs import STEP_COLUMN, TOKENS_COLUMN

__all__ = ["ImportedRun", "read_tidy_csv", "write_ladder", "metric_for", "metric_columns", "TIDY_COLUMNS",
           "METRIC_ALIASES", "LADDER_METRICS"]

#: The tidy format's required columns (``N``/``D`` may also be spelled ``n_params``/``tokens``).
TIDY_COLUMNS = ("run", "N", "D", "step", "task", "metric", "value")
_COLUMN_ALIASES = {"n_params": "N", "tokens": "D"}
_OPTIONAL = ("role", "size", "flops_per_token", "chance", "unit")
#: Metric names of a declared task's loss: ``task_loss`` needs a ``unit``; the bpb aliases are in bpb.
_TASK_LOSS_NAMES = ("task_loss", "bpb", "bits_per_byte")
_ACCURACY_NAMES = ("accuracy", "acc", "acc_norm", "acc_per_char", "len_norm")
#: taskladder's metrics: per task, and the task-free C4 loss.
LADDER_METRICS = ("bpb", "accuracy", "soft", "soft_log", "mc", "c4")
#: Alias → metric; ``None`` marks the accuracy aliases whose meaning depends on the task.
METRIC_ALIASES: dict[str, str | None] = {
    "bpb": "bpb", "bits_per_byte": "bpb", "accuracy": "accuracy", "acc_norm": None, "acc_per_char": None,
    "len_norm": None, "acc": None, "soft": "soft", "soft_log": "soft_log", "mc": "mc", "mc_acc": "mc",
    "c4": "c4", "c4_loss": "c4"}
_PER_CHAR = ("acc_norm", "acc_per_char", "len_norm")


def metric_for(task: str | None, name: str) -> str | None:
    """taskladder's metric for a metric ``name`` of ``task`` (``None``: no such metric here).

    ``acc_norm``/``acc_per_char``/``len_norm`` are the accuracy of tasks scored per character and
    ``acc`` that of tasks scored raw; see the module docstring for the table.
    """
    name = name.strip().lower()
    if name not in METRIC_ALIASES:
        return None
    metric = METRIC_ALIASES[name]
    if metric == "c4":
        return "c4"
    if task is None or task not in TASKS:
        return None
    if metric is not None:
        return metric
    scoring = TASKS[task].accuracy_metric
    if name in _PER_CHAR:
        return "accuracy" if scoring == "len_norm" else None
    return "accuracy" if scoring == "acc" else None


def metric_columns(task: str | None, metric: str) -> tuple[str, ...]:
    """The ladder-format column(s) holding ``metric`` of ``task`` (every component for MMLU)."""
    if metric == "c4":
        return (C4_LOSS_COLUMN,)
    if task is None:
        raise ConfigError(f"metric {metric!r} needs a task")
    return get_task(task).columns(metric)


@dataclass(frozen=True, kw_only=True)
class ImportedRun:
    """One run read from someone's results, ready to be written in the ladder format.

    Parameters
    ----------
    name
        Run name (unique within an import).
    frame
        One row per checkpoint, sorted by step: ``_step``, ``throughput/total_tokens`` and the
        ladder-format metric columns.
    n_params
        Non-embedding parameters N, or ``None`` when ``size`` gives it.
    size
        A known size label, or ``None``.
    role
        ``"train"`` or ``"target"``.
    tokens
        D to record in the spec (the run's final tokens), or ``None``: the last checkpoint's.
    tasks
        Declared tasks (not built in) whose columns the frame holds; written as ``[[task]]`` tables.
    flops_per_token
        Training FLOPs per token, if known.
    source
        Where the run came from (for messages).
    mapped
        Source metric name → the ladder columns it was written to.
    ignored
        Source columns that are not task metrics and were left out.
    """

    name: str
    frame: pd.DataFrame
    n_params: int | None = None
    size: str | None = None
    role: str = "train"
    tokens: float | None = None
    flops_per_token: float | None = None
    source: str = ""
    mapped: dict | None = None
    ignored: tuple[str, ...] = ()
    tasks: tuple[Task, ...] = ()


def declared_columns(name: str, metric: str) -> str:
    """The ladder-format column of a declared task's ``accuracy`` or task loss (``bpb``)."""
    return f"eval/{name}/{'accuracy' if metric == 'accuracy' else 'task_loss'}"


# -- reading the tidy CSV -------------------------------------------------------------------------

def _fail(path: Path, row: int | None, column: str | None, message: str) -> DataError:
    where = str(path)
    if row is not None:
        where += f": row {row}"
    if column is not None:
        where += f", column {column!r}" if row is not None else f": column {column!r}"
    return DataError(f"{where}: {message}")


def _numbers(frame: pd.DataFrame, column: str, path: Path, *, what: str, positive: bool = False,
             integer: bool = False, allow_empty: bool = False) -> np.ndarray:
    """Parse a text column as numbers; name the first bad cell's row (file line) and column."""
    text = frame[column].str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    empty = (text == "").to_numpy()
    bad = ~np.isfinite(values) & ~(empty & allow_empty)
    if positive:
        bad |= np.isfinite(values) & (values <= 0)
    if integer:
        bad |= np.isfinite(values) & (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell = frame[column].iloc[i]
        kind = "a positive number" if positive else ("a whole number" if integer else "a number")
        raise _fail(path, i + 2, column, f"{cell!r} is not {kind} ({what})")
    return values


def read_tidy_csv(path: str | Path, *, targets: Sequence[str] = ()) -> list[ImportedRun]:
    """Read a tidy CSV (see the module docstring) into one :class:`ImportedRun` per run.

    Parameters
    ----------
    path
        The CSV file.
    targets
        Run names to mark as targets (in addition to a ``role`` column's).

    Raises
    ------
    DataError
        With the file, the row (its line in the file; the header is row 1) and the column of the
        first malformed cell: a missing column, a value that is not a number, an unknown task or
        metric, a run whose N changes between rows, two values for one run × step × task × metric.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty (expected a header {','.join(TIDY_COLUMNS)} and one row "
                        "per run × checkpoint × task × metric)") from None
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+), saw (\d+)", str(exc))
        detail = (f"row {match.group(1)} has {match.group(2)} fields" if match else " ".join(str(exc).split()))
        raise DataError(f"{path}: not a well-formed CSV ({detail}; the header has the column names)") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.rename(columns={k: v for k, v in _COLUMN_ALIASES.items() if k in frame.columns})
    missing = [c for c in TIDY_COLUMNS if c not in frame.columns]
    if missing:
        raise _fail(path, None, missing[0], f"missing (the tidy format needs columns {', '.join(TIDY_COLUMNS)}; "
                                            f"the file has {', '.join(map(repr, frame.columns))})")
    if frame.empty:
        raise DataError(f"{path}: no rows (expected one row per run × checkpoint × task × metric)")
    frame["run"] = frame["run"].str.strip()
    empty_run = (frame["run"] == "").to_numpy()
    if empty_run.any():
        raise _fail(path, int(np.flatnonzero(empty_run)[0]) + 2, "run", "empty (every row needs a run name)")
    n_params = _numbers(frame, "N", path, what="parameters N of the run", positive=True)
    tokens = _numbers(frame, "D", path, what="tokens seen at this checkpoint", positive=True)
    steps = _numbers(frame, "step", path, what="optimizer step", integer=True)
    values = _numbers(frame, "value", path, what="the metric's value")
    columns = []
    resolved_pairs: dict[tuple[str, str], tuple[str, ...]] = {}
    units = frame["unit"].str.strip().str.lower() if "unit" in frame else pd.Series("", index=frame.index)
    declared: dict[str, dict] = {}
    declared_pairs: dict[tuple[str, str, str], tuple[str]] = {}
    for i, (task, metric) in enumerate(zip(frame["task"].str.strip(), frame["metric"].str.strip())):
        if task and task not in TASKS and task not in CORPUS_TASKS:
            # A task of one's own: each (task, metric, unit) is resolved once; only a new combination
            # can clash with what the task declared on earlier rows.
            key = (task, metric, units.iloc[i])
            if key not in declared_pairs:
                declared_pairs[key] = _declared_metric(path, i, task, metric, units.iloc[i], declared)
            columns.append(declared_pairs[key])
            continue
        if (task, metric) in resolved_pairs:
            columns.append(resolved_pairs[(task, metric)])
            continue
        if metric.strip().lower() == "task_loss":
            unit = units.iloc[i]
            if unit != "bpb":
                raise _fail(path, i + 2, "unit", f"task {task!r} is built in with its task loss in bpb; got unit "
                                                 f"{unit or '(none)'!r} (give bpb, or import the task under a name of "
                                                 "your own to declare a loss in nats)")
            metric = "bpb"
        resolved = metric_for(task or None, metric)
        if resolved is None:
            if metric.lower() in METRIC_ALIASES and not task and METRIC_ALIASES[metric.lower()] != "c4":
                raise _fail(path, i + 2, "task", f"empty, but metric {metric!r} needs a task")
            raise _fail(path, i + 2, "metric", f"{metric!r} is not a metric of task {task or '(none)'} "
                                               f"(use one of {', '.join(LADDER_METRICS)}; see "
                                               "'taskladder import --help' for accepted aliases)")
        resolved_pairs[(task, metric)] = metric_columns(task or None, resolved)
        columns.append(resolved_pairs[(task, metric)])
    roles = frame["role"].str.strip().replace("", "train") if "role" in frame else pd.Series("train", index=frame.index)
    for i, role in enumerate(roles):
        if role not in ("train", "target"):
            raise _fail(path, i + 2, "role", f"{role!r} is not a role (use train or target)")
    flops = (_numbers(frame, "flops_per_token", path, what="training FLOPs per token", positive=True, allow_empty=True)
             if "flops_per_token" in frame else np.full(len(frame), np.nan))
    sizes = frame["size"].str.strip() if "size" in frame else pd.Series("", index=frame.index)
    unknown_targets = sorted(set(targets) - set(frame["run"]))
    if unknown_targets:
        raise ConfigError(f"--target {unknown_targets[0]!r}: no such run in {path} "
                          f"(runs: {', '.join(dict.fromkeys(frame['run']))})")
    tasks = tuple(_declared_tasks(path, frame, declared))
    runs = []
    for name, index in frame.groupby("run", sort=False).indices.items():
        run = _tidy_run(path, name, index, n_params, tokens, steps, values, columns, roles, flops, sizes,
                        set(targets))
        used = set(run.frame.columns)
        runs.append(replace(run, tasks=tuple(t for t in tasks if declared_columns(t.name, "accuracy") in used
                                             or declared_columns(t.name, "bpb") in used)))
    return runs


def _declared_metric(path: Path, i: int, task: str, metric: str, unit: str, declared: dict[str, dict]) -> tuple[str]:
    """The column of one row of a task that is not built in, recording what the task declares."""
    record = declared.setdefault(task, {"first_row": i + 2, "unit": None, "loss": False})
    name = metric.strip().lower()
    if name in _ACCURACY_NAMES:
        return (declared_columns(task, "accuracy"),)
    if name in _TASK_LOSS_NAMES:
        unit = "bpb" if name != "task_loss" else unit
        if unit not in LOSS_UNITS:
            raise _fail(path, i + 2, "unit", f"{unit or '(empty)'!r} is not a task-loss unit (metric task_loss needs a "
                                             f"unit column: {' or '.join(LOSS_UNITS)})")
        if record["unit"] not in (None, unit):
            raise _fail(path, i + 2, "unit", f"task {task!r} has its task loss in {record['unit']} on an earlier row "
                                             f"but in {unit} here")
        record["unit"], record["loss"] = unit, True
        return (declared_columns(task, "bpb"),)
    raise _fail(path, i + 2, "metric", f"{metric!r} is not a metric of task {task!r}, which is not built in (a task of "
                                       f"your own takes accuracy, and optionally task_loss with a unit, or bpb; "
                                       f"built-in tasks: 'taskladder tasks')")


def _declared_tasks(path: Path, frame: pd.DataFrame, declared: dict[str, dict]) -> list[Task]:
    """The tasks that are not built in, with their chance level (the ``chance`` column, constant per task)."""
    tasks = []
    for name, record in declared.items():
        rows = np.flatnonzero((frame["task"].str.strip() == name).to_numpy())
        chance = 0.0
        if "chance" in frame:
            given = {c for c in frame["chance"].iloc[rows].str.strip() if c}
            if len(given) > 1:
                raise _fail(path, int(rows[0]) + 2, "chance", f"task {name!r} has several chance levels "
                                                              f"({', '.join(sorted(given))}); give one")
            if given:
                text = given.pop()
                try:
                    chance = float(text)
                except ValueError:
                    chance = float("nan")
                if not (math.isfinite(chance) and 0.0 <= chance < 1.0):
                    hint = "; in percent? divide by 100" if math.isfinite(chance) and 1 <= chance < 100 else ""
                    raise _fail(path, int(rows[0]) + 2, "chance", f"{text!r} is not an accuracy in [0, 1){hint}")
        if not any(frame["metric"].iloc[rows].str.strip().str.lower().isin(_ACCURACY_NAMES)):
            raise _fail(path, record["first_row"], "task", f"task {name!r} is not built in and has no accuracy rows "
                                                           "(a task of your own needs its accuracy)")
        try:
            tasks.append(declared_task(name, accuracy=declared_columns(name, "accuracy"),
                                       loss=declared_columns(name, "bpb") if record["loss"] else None,
                                       loss_unit=record["unit"] or "bpb", chance=chance))
        except ConfigError as exc:
            raise _fail(path, record["first_row"], "task", str(exc)) from None
    return tasks


def _constant(path: Path, name: str, index: np.ndarray, values, column: str, what: str):
    first = values[index[0]]
    for i in index[1:]:
        other = values[i]
        same = (first == other) or (isinstance(first, float) and math.isnan(first) and math.isnan(other))
        if not same:
            raise _fail(path, int(i) + 2, column, f"run {name!r} has {what} {first!r} on row {index[0] + 2} "
                                                 f"but {other!r} here (it must be the same on every row of a run)")
    return first


def _tidy_run(path, name, index, n_params, tokens, steps, values, columns, roles, flops, sizes, targets) -> ImportedRun:
    n = _constant(path, name, index, n_params, "N", "N")
    role = _constant(path, name, index, roles.to_numpy(), "role", "role")
    size = _constant(path, name, index, sizes.to_numpy(), "size", "size")
    fpt = _constant(path, name, index, flops, "flops_per_token", "FLOPs per token")
    step_tokens = pd.DataFrame({"step": steps[index], "D": tokens[index], "row": index + 2})
    first_d = step_tokens.groupby("step")["D"].transform("first")
    clash = (step_tokens["D"] != first_d).to_numpy()
    if clash.any():
        k = int(np.flatnonzero(clash)[0])
        step = step_tokens["step"].iloc[k]
        earlier = step_tokens[(step_tokens["step"] == step)].iloc[0]
        raise _fail(path, int(step_tokens["row"].iloc[k]), "D",
                    f"run {name!r} step {int(step)} has D = {earlier['D']:g} on row {int(earlier['row'])} but "
                    f"{step_tokens['D'].iloc[k]:g} here")
    long = pd.DataFrame([(steps[i], column, values[i], i + 2) for i in index for column in columns[i]],
                        columns=["step", "column", "value", "row"])
    first_value = long.groupby(["step", "column"])["value"].transform("first")
    clash = (long["value"] != first_value).to_numpy()
    if clash.any():
        k = int(np.flatnonzero(clash)[0])
        earlier = long[(long["step"] == long["step"].iloc[k]) & (long["column"] == long["column"].iloc[k])].iloc[0]
        raise _fail(path, int(long["row"].iloc[k]), "value",
                    f"run {name!r} step {int(long['step'].iloc[k])} already has a different value for this task "
                    f"and metric on row {int(earlier['row'])}")
    wide = long.pivot_table(index="step", columns="column", values="value", aggfunc="first", sort=True)
    ordered = sorted(set(step_tokens["step"]))
    d_of = step_tokens.groupby("step")["D"].first()
    frame = pd.DataFrame({STEP_COLUMN: np.array(ordered, dtype=np.int64), TOKENS_COLUMN: d_of.loc[ordered].to_numpy()})
    for column in dict.fromkeys(long["column"]):
        frame[column] = wide[column].reindex(ordered).to_numpy()
    if name in targets:
        role = "target"
    if size:
        from ..sizes import get_size

        try:
            get_size(size)
        except ConfigError as exc:
            raise _fail(path, int(index[0]) + 2, "size", str(exc)) from None
    return ImportedRun(name=name, frame=frame, n_params=int(n), size=size or None, role=role,
                       flops_per_token=None if math.isnan(fpt) else float(fpt), source=str(path))


# -- writing the ladder -----------------------------------------------------------------------------

def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    return safe


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _toml_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_ladder(runs: Sequence[ImportedRun], out_dir: str | Path, *, name: str = "imported",
                 description: str = "") -> Path:
    """Write runs as ladder-format CSVs under ``out_dir/runs/`` and a spec ``out_dir/ladder.toml``.

    Every file is written atomically and the spec last, so an interrupted import never leaves a
    spec pointing at a missing file. The spec is read back with
    :func:`~taskladder.io.spec.load_spec` before returning, so what it returns ``predict`` reads.

    Returns
    -------
    Path
        The spec's path.
    """
    from ..report.tables import atomic_write_text
    from .spec import load_spec

    out_dir = Path(out_dir)
    if not runs:
        raise DataError("nothing to import: no run has any task metric")
    seen: dict[str, str] = {}
    for run in runs:
        if run.name in seen:
            raise DataError(f"two runs are named {run.name!r} ({seen[run.name]} and {run.source}); "
                            "names must be unique")
        seen[run.name] = run.source
    if not any(r.role == "train" for r in runs):
        raise DataError("every imported run is a target; the laws need train runs to fit on")
    files: set[str] = set()
    blocks = [f"name = {_toml_string(name)}\n"]
    if description:
        blocks.append(f"description = {_toml_string(description)}\n")
    blocks.append("\n")
    tasks = {t.name: t for run in runs for t in run.tasks}
    for task in tasks.values():
        keys = [f"name = {_toml_string(task.name)}", f"accuracy = {_toml_string(task.accuracy_column)}"]
        if task.loss_column is not None:
            keys += [f"loss = {_toml_string(task.loss_column)}", f"loss_unit = {_toml_string(task.loss_unit)}"]
        keys.append(f"chance = {_toml_number(task.chance)}")
        blocks.append("[[task]]\n" + "\n".join(keys) + "\n\n")
    for run in runs:
        stem = _safe_name(run.name)
        while stem.lower() in files:
            stem += "_"
        files.add(stem.lower())
        relative = f"runs/{stem}.csv"
        atomic_write_text(out_dir / relative, run.frame.to_csv(index=False))
        keys = [f"name = {_toml_string(run.name)}", f"file = {_toml_string(relative)}"]
        if run.size:
            keys.append(f"size = {_toml_string(run.size)}")
        if run.n_params is not None:
            keys.append(f"n_params = {int(run.n_params)}")
        if run.flops_per_token is not None:
            keys.append(f"flops_per_token = {_toml_number(run.flops_per_token)}")
        if run.tokens is not None:
            keys.append(f"tokens = {_toml_number(run.tokens)}")
        keys.append(f"role = {_toml_string(run.role)}")
        blocks.append("[[run]]\n" + "\n".join(keys) + "\n\n")
    spec_path = atomic_write_text(out_dir / "ladder.toml", "".join(blocks))
    load_spec(spec_path)
    return spec_path
