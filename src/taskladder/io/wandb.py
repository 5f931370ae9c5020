"""Import Weights & Biases run histories: exported CSVs, or the ``wandb`` API when installed.

A W&B *history* has one row per logged step, with ``_step`` and one column per metric (the
"Export CSV" of a run's history, or ``run.scan_history()``). Each history becomes one
:class:`~taskladder.io.tidy.ImportedRun`; :func:`~taskladder.io.tidy.write_ladder` writes them.

Which columns are task metrics
------------------------------
A column is kept when, in this order:

1. ``mapping`` names it: ``{"eval/hs_acc": ("hellaswag", "accuracy")}``, ``("", "c4")`` for the C4
   loss, or ``None`` to drop it;
2. it already is a ladder-format column (``eval/downstream_bpb/hellaswag_val_rc_5shot_bpb``, the
   OLMo in-loop evaluator's names, kept as they are);
3. its name ends in ``TASK/METRIC`` or ``TASK_METRIC`` with a known task and a metric name of
   :func:`~taskladder.io.tidy.metric_for` (``eval/hellaswag/acc_norm``, ``piqa_bpb``); a
   ``,filter`` suffix as lm-evaluation-harness writes it (``hellaswag/acc_norm,none``) is ignored.

Every other column (training loss, learning rate, ...) is ignored and listed in the result.
Several logged rows of the same ``_step`` are merged (W&B writes sparse rows), and only steps
with at least one task metric are kept.

N and D
-------
N comes from ``n_params`` (the run's N), else ``size`` (a known size label), else the run's config
(keys ``n_params``, then ``size``; nested keys as ``model.n_params``; other key names with
``n_key``). Tokens seen at each checkpoint come from the ``throughput/total_tokens`` column, else
``_step`` × batch tokens (the ``batch_size_in_tokens`` column, the ``batch_tokens`` argument, or
the config's ``batch_size_in_tokens``). The run's final D recorded in the spec is ``tokens`` if
given (or the config's ``tokens``), else the last checkpoint's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..tasks import C4_LOSS_COLUMN, TASKS
from .runs import BATCH_TOKENS_COLUMN, STEP_COLUMN, TOKENS_COLUMN
from .tidy import ImportedRun, metric_columns, metric_for

__all__ = ["ladder_columns", "match_column", "history_to_run", "read_history_csv", "read_configs",
           "import_wandb_csvs", "import_wandb_api", "parse_mapping"]

#: Mapping value: (task, metric) to keep a column, or ``None`` to drop it.
Mapping_ = Mapping[str, "tuple[str, str] | None"]


def ladder_columns() -> set[str]:
    """Every ladder-format metric column of every known task (and the C4 loss)."""
    names = {C4_LOSS_COLUMN}
    for task in TASKS.values():
        for metric in ("bpb", "accuracy", "soft", "soft_log", "mc"):
            names.update(task.columns(metric))
            for split in ("val", "test"):
                names.update(task.with_split(split).columns(metric))
    return names


_LADDER_COLUMNS: set[str] | None = None


def match_column(name: str, mapping: Mapping_ | None = None) -> tuple[str, ...] | None:
    """The ladder column(s) a history column goes to, or ``None`` when it is not a task metric."""
    global _LADDER_COLUMNS
    mapping = mapping or {}
    if name in mapping:
        target = mapping[name]
        if target is None:
            return None
        task, metric = target
        resolved = metric_for(task or None, metric)
        if resolved is None:
            raise ConfigError(f"--map {name}={task}:{metric}: {metric!r} is not a metric of task {task or '(none)'}")
        return metric_columns(task or None, resolved)
    if _LADDER_COLUMNS is None:
        _LADDER_COLUMNS = ladder_columns()
    if name in _LADDER_COLUMNS:
        return (name,)
    base = name.split(",", 1)[0].strip()
    parts = base.split("/")
    if len(parts) >= 2:
        resolved = metric_for(parts[-2], parts[-1])
        if resolved is not None and parts[-2] in TASKS:
            return metric_columns(parts[-2], resolved)
    last = parts[-1]
    for task in sorted(TASKS, key=len, reverse=True):
        if last.startswith(task + "_"):
            resolved = metric_for(task, last[len(task) + 1:])
            if resolved is not None:
                return metric_columns(task, resolved)
    if metric_for(None, last) == "c4" and len(parts) == 1:
        return (C4_LOSS_COLUMN,)
    return None


def parse_mapping(items: Iterable[str]) -> dict[str, tuple[str, str] | None]:
    """Parse ``--map`` values: ``COLUMN=TASK:METRIC``, ``COLUMN=c4`` or ``COLUMN=-`` (drop)."""
    mapping: dict[str, tuple[str, str] | None] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column:
            raise ConfigError(f"--map {item!r}: expected COLUMN=TASK:METRIC (e.g. 'eval/hs_acc=hellaswag:accuracy'), "
                              "COLUMN=c4 or COLUMN=- to drop it")
        target = target.strip()
        if target == "-":
            mapping[column] = None
        elif target == "c4":
            mapping[column] = ("", "c4")
        else:
            task, sep, metric = target.partition(":")
            if not sep or task not in TASKS:
                raise ConfigError(f"--map {item!r}: expected TASK:METRIC with a known task "
                                  f"({', '.join(TASKS)}), got {target!r}")
            if metric_for(task, metric) is None:
                raise ConfigError(f"--map {item!r}: {metric!r} is not a metric of {task}")
            mapping[column] = (task, metric)
    return mapping


def _config_value(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]`` with dotted keys for nesting and W&B's ``{"value": ...}`` wrappers unwrapped."""
    node: Any = config
    if key in config:
        node = config[key]
    else:
        for part in key.split("."):
            if isinstance(node, Mapping) and "value" in node and part not in node:
                node = node["value"]
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
    if isinstance(node, Mapping) and "value" in node:
        node = node["value"]
    return node


def _positive(value: Any, *, where: str, what: str) -> float:
    from .spec import parse_token_count

    try:
        return parse_token_count(value, what=f"{where}: {what}")
    except ConfigError as exc:
        raise DataError(str(exc)) from None


def history_to_run(name: str, history: pd.DataFrame, *, source: str, config: Mapping[str, Any] | None = None,
                   n_params: float | None = None, size: str | None = None, tokens: float | None = None,
                   batch_tokens: float | None = None, role: str = "train", mapping: Mapping_ | None = None,
                   n_key: str = "n_params", row_offset: int = 2, row_label: str = "row") -> ImportedRun:
    """Turn one W&B history (one row per logged step) into an :class:`ImportedRun`.

    Parameters
    ----------
    name
        Run name.
    history
        The history table; must have ``_step``.
    source
        What to name in messages (the CSV's path, or ``wandb run ENTITY/PROJECT/ID``).
    config
        The run's W&B config (for N, size, batch tokens, tokens).
    n_params, size, tokens, batch_tokens
        Explicit values; they win over the config.
    role
        ``"train"`` or ``"target"``.
    mapping
        Explicit column mapping (see the module docstring).
    n_key
        Config key of N.
    row_offset, row_label
        How a history row index is named in messages (a CSV's data starts on row 2, its line).
    """
    config = config or {}
    if STEP_COLUMN not in history.columns:
        hint = (" (this looks like a chart export with 'Step' and 'RUN - METRIC' columns; export the run's "
                "history instead)") if "Step" in history.columns else ""
        raise DataError(f"{source}: column {STEP_COLUMN!r} missing (a W&B history export has it){hint}")
    kept: dict[str, tuple[str, ...]] = {}
    ignored = []
    for column in history.columns:
        if column in (STEP_COLUMN, TOKENS_COLUMN, BATCH_TOKENS_COLUMN):
            continue
        target = match_column(str(column), mapping)
        if target is None:
            ignored.append(str(column))
        else:
            kept[str(column)] = target
    if not kept:
        raise DataError(f"{source}: no column is a task metric (columns: "
                        f"{', '.join(map(repr, list(history.columns)[:8]))}{', ...' if len(history.columns) > 8 else ''}); "
                        "name them with --map COLUMN=TASK:METRIC")
    destinations: dict[str, str] = {}
    for column, targets in kept.items():
        for t in targets:
            if t in destinations:
                raise DataError(f"{source}: columns {destinations[t]!r} and {column!r} both map to {t!r}; "
                                f"drop one with --map '{column}=-'")
            destinations[t] = column
    numeric = {}
    for column in [STEP_COLUMN, *kept, *(c for c in (TOKENS_COLUMN, BATCH_TOKENS_COLUMN) if c in history.columns)]:
        raw = history[column]
        values = pd.to_numeric(raw, errors="coerce")
        text = raw.astype(str).str.strip()
        blank = raw.isna() | text.isin(["", "nan", "NaN", "None", "null"])
        bad = (values.isna() & ~blank).to_numpy(copy=True)
        if column == STEP_COLUMN:
            bad |= blank.to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{source}: {row_label} {i + row_offset}, column {column!r}: {raw.iloc[i]!r} is not a "
                            "number" + (" (every row needs its step)" if column == STEP_COLUMN else ""))
        numeric[column] = values.to_numpy(dtype=float)
    frame = pd.DataFrame(numeric)
    merged = frame.groupby(STEP_COLUMN, sort=True).last()
    has_metric = merged[list(kept)].notna().any(axis=1)
    merged = merged[has_metric]
    if merged.empty:
        raise DataError(f"{source}: no logged step has a task metric")
    steps = merged.index.to_numpy(dtype=float)
    if np.any(steps != np.round(steps)) or np.any(steps < 0) or np.any(steps > 2**53):
        raise DataError(f"{source}: column {STEP_COLUMN!r} has a value that is not a whole, non-negative step "
                        "(at most 2^53)")
    seen = _tokens_seen(merged, steps, source=source, config=config, batch_tokens=batch_tokens)
    out = pd.DataFrame({STEP_COLUMN: steps.astype(np.int64), TOKENS_COLUMN: seen})
    for column, targets in kept.items():
        for t in targets:
            out[t] = merged[column].to_numpy(dtype=float)
    size = size or _config_value(config, "size")
    n_value = n_params if n_params is not None else _config_value(config, n_key)
    if n_value is None and not size:
        raise DataError(f"{source}: N of run {name!r} unknown; give it (--n-params {name}=N or --size "
                        f"{name}=LABEL) or put '{n_key}' in the run's config")
    if isinstance(n_value, str) and _is_size_label(n_value.strip()):
        raise DataError(f"{source}: N given as {n_value!r}, a size label; labels are not counts: give the label "
                        f"with --size {name}={n_value.strip()} (or N as a number)")
    n = None if n_value is None else int(_positive(n_value, where=source, what=f"N ({n_key})"))
    if size is not None:
        from ..sizes import get_size

        try:
            size = get_size(str(size)).name
        except ConfigError as exc:
            raise DataError(f"{source}: {exc}") from None
    d_value = tokens if tokens is not None else _config_value(config, "tokens")
    final = None if d_value is None else _positive(d_value, where=source, what="tokens D")
    return ImportedRun(name=name, frame=out, n_params=n, size=size, role=role, tokens=final, source=source,
                       mapped={c: kept[c] for c in kept}, ignored=tuple(ignored))


def _is_size_label(text: str) -> bool:
    from ..sizes import ALIASES, SIZES

    return text in SIZES or text in ALIASES


def _tokens_seen(merged: pd.DataFrame, steps: np.ndarray, *, source: str, config: Mapping[str, Any],
                 batch_tokens: float | None) -> np.ndarray:
    if TOKENS_COLUMN in merged.columns and merged[TOKENS_COLUMN].notna().all():
        return merged[TOKENS_COLUMN].to_numpy(dtype=float)
    batch = batch_tokens
    if batch is None and BATCH_TOKENS_COLUMN in merged.columns and merged[BATCH_TOKENS_COLUMN].notna().all():
        return steps * merged[BATCH_TOKENS_COLUMN].to_numpy(dtype=float)
    if batch is None:
        batch = _config_value(config, BATCH_TOKENS_COLUMN)
    if batch is None:
        raise DataError(f"{source}: cannot tell tokens seen: needs a {TOKENS_COLUMN!r} column, a "
                        f"{BATCH_TOKENS_COLUMN!r} column or config key, or --batch-tokens")
    return steps * _positive(batch, where=source, what="batch tokens")


def read_history_csv(path: str | Path) -> pd.DataFrame:
    """Read a W&B history export as text (cells are checked when the columns are chosen)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty (expected a W&B history export with a header)") from None
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+), saw (\d+)", str(exc))
        detail = f"row {match.group(1)} has {match.group(2)} fields" if match else " ".join(str(exc).split())
        raise DataError(f"{path}: not a well-formed CSV ({detail})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    if frame.empty:
        raise DataError(f"{path}: no rows (expected one row per logged step)")
    return frame


def read_configs(path: str | Path) -> dict[str, dict]:
    """Run configs by run name, from JSON or from a W&B runs-table CSV export.

    JSON: ``{"RUN": {"n_params": ..., ...}, ...}``. CSV: one row per run, a ``Name`` (or ``name``,
    ``run``) column and one column per config key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(f"{path}: expected an object of run name -> config object")
        return data
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    key = next((c for c in ("Name", "name", "run") if c in frame.columns), None)
    if key is None:
        raise ConfigError(f"{path}: a runs table needs a 'Name' column (W&B's runs export) or 'run'")
    return {row[key]: {k: v for k, v in row.items() if k != key and v != ""} for row in frame.to_dict("records")}


def _lookup(values: Mapping[str, Any], name: str, count: int) -> Any:
    """The value given for run ``name``; a value given without a name applies to a single run."""
    if name in values:
        return values[name]
    if "" in values and count == 1:
        return values[""]
    return None


def import_wandb_csvs(paths: Sequence[str | Path], *, configs: Mapping[str, Mapping] | None = None,
                      n_params: Mapping[str, Any] | None = None, sizes: Mapping[str, str] | None = None,
                      tokens: Mapping[str, Any] | None = None, batch_tokens: float | None = None,
                      targets: Sequence[str] = (), mapping: Mapping_ | None = None,
                      n_key: str = "n_params") -> list[ImportedRun]:
    """Read W&B history CSVs, one run each (named after the file), into imported runs.

    ``n_params``, ``sizes`` and ``tokens`` map run names to values (key ``""``: the only run).
    """
    configs, n_params, sizes, tokens = configs or {}, n_params or {}, sizes or {}, tokens or {}
    names = [Path(p).stem for p in paths]
    _check_names(names, [n_params, sizes, tokens], targets)
    runs = []
    for path, name in zip(paths, names):
        history = read_history_csv(path)
        runs.append(history_to_run(
            name, history, source=str(path), config=configs.get(name, {}),
            n_params=_lookup(n_params, name, len(paths)), size=_lookup(sizes, name, len(paths)),
            tokens=_lookup(tokens, name, len(paths)), batch_tokens=batch_tokens,
            role="target" if name in targets else "train", mapping=mapping, n_key=n_key))
    return runs


def _check_names(names: Sequence[str], given: Sequence[Mapping], targets: Sequence[str]) -> None:
    known = set(names)
    for values in given:
        for key in values:
            if key and key not in known:
                raise ConfigError(f"run {key!r} is not among the imported runs ({', '.join(names)})")
            if not key and len(names) > 1:
                raise ConfigError("with several runs, name the run: RUN=VALUE")
    for t in targets:
        if t not in known:
            raise ConfigError(f"--target {t!r}: no such run among the imported runs ({', '.join(names)})")


def import_wandb_api(project: str, *, run_ids: Sequence[str] | None = None, api: Any = None,
                     n_params: Mapping[str, Any] | None = None, sizes: Mapping[str, str] | None = None,
                     tokens: Mapping[str, Any] | None = None, batch_tokens: float | None = None,
                     targets: Sequence[str] = (), mapping: Mapping_ | None = None,
                     n_key: str = "n_params") -> list[ImportedRun]:
    """Read runs straight from W&B: every run of ``project`` (``ENTITY/PROJECT``) or the given ids.

    Each run's full history comes from ``run.scan_history()`` (not the 500-row sample of
    ``run.history()``) and its N and D from ``run.config`` unless given. Runs are named by their
    W&B display name; ``n_params``, ``sizes``, ``tokens`` and ``targets`` may use names or ids.

    Parameters
    ----------
    api
        A ``wandb.Api`` instance (default: a new one, which needs ``pip install wandb`` and a
        login); tests pass a stand-in with the same ``runs``/``run`` methods.
    """
    if api is None:
        try:
            import wandb
        except ImportError:
            raise ConfigError("reading runs from W&B needs the wandb package: pip install 'taskladder[wandb]'") from None
        api = wandb.Api()
    if project.count("/") != 1 or not all(project.split("/")):
        raise ConfigError(f"W&B project {project!r}: expected ENTITY/PROJECT")
    runs = [api.run(f"{project}/{rid}") for rid in run_ids] if run_ids else list(api.runs(project))
    if not runs:
        raise DataError(f"W&B project {project}: no runs")
    n_params, sizes, tokens = n_params or {}, sizes or {}, tokens or {}
    names = [str(getattr(r, "name", None) or r.id) for r in runs]
    if len(set(names)) != len(names):
        names = [f"{n}-{r.id}" if names.count(n) > 1 else n for n, r in zip(names, runs)]
    aliases = {r.id: n for r, n in zip(runs, names)}

    def by_name(values: Mapping[str, Any]) -> dict[str, Any]:
        return {aliases.get(k, k): v for k, v in values.items()}

    n_params, sizes, tokens = by_name(n_params), by_name(sizes), by_name(tokens)
    targets = [aliases.get(t, t) for t in targets]
    _check_names(names, [n_params, sizes, tokens], targets)
    out = []
    for run, name in zip(runs, names):
        history = pd.DataFrame(list(run.scan_history()))
        source = f"wandb run {project}/{run.id}"
        if history.empty:
            raise DataError(f"{source}: empty history")
        out.append(history_to_run(
            name, history, source=source, config=dict(run.config or {}),
            n_params=_lookup(n_params, name, len(runs)), size=_lookup(sizes, name, len(runs)),
            tokens=_lookup(tokens, name, len(runs)), batch_tokens=batch_tokens,
            role="target" if name in targets else "train", mapping=mapping, n_key=n_key, row_offset=0,
            row_label="history row"))
    return out
