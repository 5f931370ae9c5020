"""The observations of a ladder: every run's evaluated checkpoints, read from its spec.

:class:`Ladder` holds one :class:`RunData` per run of a :class:`~taskladder.io.spec.LadderSpec`
and extracts per-checkpoint task metrics from them. :meth:`Ladder.observations` gives the tidy
long table (run × checkpoint × task × metric) for whoever wants to analyse it.

Task metrics
------------
``bpb``       task loss: bits per byte of the correct answer (MMLU: weighted over its areas)
``accuracy``  RC accuracy (per-character length-normalised; BoolQ raw)
``soft``      mean probability of the correct answer among the choices
``soft_log``  mean log of that probability
``taskce``    ``−soft_log``, the paper's "TaskCE"
``mc``        multiple-choice-format accuracy (available for the OLMo targets only)
``c4``        C4 validation LM loss (nats per token), the same for every task
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .io.runs import LR_COLUMN, LR_PEAK_COLUMN, STEP_COLUMN, read_run_csv, tokens_seen
from .io.spec import LadderSpec, RunSpec, load_spec
from .tasks import C4_LOSS_COLUMN, CORPUS_TASKS, Task

__all__ = ["Ladder", "RunData", "load_ladder", "TASK_METRICS"]

TASK_METRICS = ("bpb", "accuracy", "soft", "soft_log", "taskce", "mc", "c4")

#: What a metric's values must be: (lowest, highest, lowest allowed itself, in words). A loss of 0,
#: or an accuracy in percent, would fit without complaint and predict nonsense.
_VALID = {
    "bpb": (0.0, np.inf, False, "a positive loss (bits per byte)"),
    "c4": (0.0, np.inf, False, "a positive loss"),
    "accuracy": (0.0, 1.0, True, "a fraction in [0, 1]"),
    "mc": (0.0, 1.0, True, "a fraction in [0, 1]"),
    "soft": (0.0, 1.0, True, "a probability in [0, 1]"),
    "soft_log": (-np.inf, 0.0, True, "a log-probability (at most 0)"),
}


@dataclass(frozen=True, eq=False)
class RunData:
    """One run: its spec and, when it has a file, its checkpoints."""

    spec: RunSpec
    frame: pd.DataFrame | None = None
    tokens: np.ndarray | None = None
    _arrays: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def n_params(self) -> int:
        return self.spec.n_params

    @property
    def n_checkpoints(self) -> int:
        return 0 if self.frame is None else len(self.frame)

    @property
    def has_data(self) -> bool:
        return self.frame is not None

    @property
    def final_tokens(self) -> float:
        """D of the run: the spec's ``tokens`` if given, else the last checkpoint's."""
        if self.spec.tokens is not None:
            return float(self.spec.tokens)
        assert self.tokens is not None  # guaranteed by RunSpec validation
        return float(self.tokens[-1])

    @property
    def token_multiple(self) -> float:
        """Chinchilla multiple k = D / (20 N), rounded to the nearest 0.5 (``1xC`` = 20 tokens per parameter)."""
        return round(2 * self.final_tokens / (20 * self.n_params)) / 2

    @property
    def lr_fraction(self) -> np.ndarray:
        """The learning rate at each checkpoint as a fraction of the run's peak.

        The peak is the ``learning_rate_peak`` column when the file has it, else the largest
        learning rate logged.
        """
        if self.frame is None:
            raise DataError(f"run {self.name!r} has no file, so it has no learning rates")
        why = "step 1 on every checkpoint corrects each checkpoint's loss for its learning rate"
        lr = self._column(LR_COLUMN, why)
        peak = self._column(LR_PEAK_COLUMN, why) if self.has_column(LR_PEAK_COLUMN) else np.full_like(lr, lr.max())
        bad = ~(peak > 0) | (lr < 0)
        if bad.any():
            raise DataError(f"{self.spec.file}: row {self._line(bad)} has a negative learning rate or a peak that is "
                            f"not positive ({LR_COLUMN!r}, {LR_PEAK_COLUMN!r}; {why})")
        return lr / peak

    @property
    def flops_per_token(self) -> float:
        if self.spec.flops_per_token is None:
            raise DataError(f"run {self.name!r}: FLOPs per token unknown (give a known size label or "
                            "flops_per_token in the spec) but a compute-based form needs it")
        return float(self.spec.flops_per_token)

    @property
    def steps(self) -> np.ndarray:
        if self.frame is not None and self.has_column(STEP_COLUMN):
            return self._column(STEP_COLUMN, "checkpoint steps")
        return np.arange(self.n_checkpoints, dtype=float)

    def _matrix(self) -> tuple[dict[str, int], np.ndarray] | None:
        """The whole numeric table as one float matrix and a column index (``None`` if not numeric).

        One conversion per run is far cheaper than one per column of a frame read with a block
        per column.
        """
        if "__matrix__" not in self._arrays:
            assert self.frame is not None
            try:
                matrix = self.frame.to_numpy(dtype=float)
                self._arrays["__matrix__"] = ({name: j for j, name in enumerate(self.frame.columns)}, matrix)
            except (TypeError, ValueError):
                self._arrays["__matrix__"] = None
        return self._arrays["__matrix__"]

    def has_column(self, column: str) -> bool:
        if self.frame is None:
            return False
        table = self._matrix()
        return column in (table[0] if table is not None else self.frame.columns)

    def _column(self, column: str, why: str, metric: str | None = None) -> np.ndarray:
        cached = self._arrays.get(column)
        if cached is not None:
            return cached
        assert self.frame is not None
        if not self.has_column(column):
            have = [c for c in self.frame.columns if c.startswith("eval/")][:3]
            raise DataError(f"{self.spec.file}: no column {column!r} ({why}; the file has "
                            f"{len(self.frame.columns)} columns, e.g. {', '.join(map(repr, have)) or 'none'})")
        table = self._matrix()
        if table is not None:
            values = np.ascontiguousarray(table[1][:, table[0][column]])
        else:
            values = self.frame[column].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(f"{self.spec.file}: column {column!r} row {self._line(bad)} is empty or not a finite "
                            f"number ({why})")
        if metric in _VALID:
            low, high, closed, words = _VALID[metric]
            bad = (values < low if closed else values <= low) | (values > high)
            if bad.any():
                value = values[np.flatnonzero(bad)[0]]
                hint = "; in percent? divide by 100" if high == 1.0 and 1.0 < value <= 100.0 else ""
                raise DataError(f"{self.spec.file}: column {column!r} row {self._line(bad)} holds {value:g}, expected "
                                f"{words} ({why}{hint})")
        values.flags.writeable = False
        self._arrays[column] = values
        return values

    def _line(self, bad: np.ndarray) -> int:
        """The file's line number of the first flagged row (the header is line 1)."""
        row = int(np.flatnonzero(bad)[0])
        lines = self.frame.attrs.get("file_rows")  # set when the file's rows were reordered
        return int(lines[row]) if lines is not None else row + 2

    def metric(self, task: Task | None, metric: str) -> np.ndarray:
        """Per-checkpoint values of ``metric`` for ``task`` (weighted over its areas)."""
        if self.frame is None:
            raise DataError(f"run {self.name!r} has no file, so it has no {metric} values")
        if metric == "c4":
            return self._column(C4_LOSS_COLUMN, "the C4-loss feature needs it", "c4")
        if task is None:
            raise DataError(f"metric {metric!r} needs a task")
        if task.average_of:
            key = (task.name, task.split, metric)
            if key not in self._arrays:
                self._arrays[key] = np.mean(np.vstack([self.metric(t, metric) for t in task.average_of]), axis=0)
            return self._arrays[key]
        source = "soft_log" if metric == "taskce" else metric
        if source not in TASK_METRICS:
            raise DataError(f"unknown metric {metric!r}; known: {', '.join(TASK_METRICS)}")
        columns = task.columns(source)
        why = f"task {task.name} needs it for {metric}"
        key = (task.name, task.split, metric)
        cached = self._arrays.get(key)
        if cached is None:
            values = [self._column(c, why, source) for c in columns]
            cached = values[0] if len(values) == 1 else np.average(np.vstack(values), axis=0,
                                                                    weights=task.label_weights)
            cached = -cached if metric == "taskce" else cached
            self._arrays[key] = cached
        return cached


class Ladder:
    """All runs of a spec, with their checkpoints read from disk.

    Parameters
    ----------
    spec
        The ladder specification.
    runs
        Run data in spec order.
    """

    def __init__(self, spec: LadderSpec, runs: list[RunData]):
        self.spec = spec
        self.runs = {r.name: r for r in runs}
        self._memo: dict = {}

    def memoize(self, key: tuple, compute):
        """``compute()``, evaluated once per ladder and ``key``.

        For results that depend on the train runs but not on the task (the step-1 fit of the C4
        loss is the same for every task). A :meth:`subset` is a new ladder with its own memo.
        """
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def memoized(self, key: tuple) -> bool:
        """Whether :meth:`memoize` already holds a value for ``key``."""
        return key in self._memo

    @property
    def train_runs(self) -> list[RunData]:
        return [r for r in self.runs.values() if r.role == "train"]

    def has_metric(self, task: Task | None, metric: str) -> bool:
        """Whether every train run has ``metric`` of ``task`` (``task`` ``None`` for the C4 loss).

        ``lr`` asks for the learning-rate column; ``taskce`` for ``soft_log``.
        """
        runs = self.train_runs
        if metric == "c4":
            columns: tuple[str, ...] = (C4_LOSS_COLUMN,)
        elif metric == "lr":
            columns = (LR_COLUMN,)
        else:
            source = "soft_log" if metric == "taskce" else metric
            if task is None or not task.has_metric(source):
                return False
            columns = task.needed_columns(source)
        return bool(runs) and all(run.has_column(c) for run in runs for c in columns)

    def resolve_tasks(self, names: str | list[str] | tuple[str, ...] | None) -> list[Task]:
        """Tasks by name, the spec's declared tasks included; ``None``: :meth:`default_tasks`;
        ``"all"``: :meth:`available_tasks`.

        ``"all"`` means every task this ladder has data for, not every task taskladder knows: the
        registry's list failed on a ladder without, say, MMLU's columns.

        Raises
        ------
        DataError
            ``"all"`` on a ladder where no task has its accuracy in every train run.
        """
        from .tasks import get_tasks

        if names is None:
            return self.default_tasks()
        listed = names.split(",") if isinstance(names, str) else list(names)
        if "all" in {str(n).strip() for n in listed}:
            return self.available_tasks() or self._raise_no_task()
        return get_tasks(names, self.spec.declared_tasks)

    def checkpoint_counts(self) -> dict[str, int]:
        """Checkpoints of each train run."""
        return {r.name: r.n_checkpoints for r in self.train_runs}

    @property
    def targets(self) -> list[RunData]:
        return [r for r in self.runs.values() if r.role == "target"]

    def available_tasks(self) -> list[Task]:
        """Tasks whose accuracy every train run has: corpus tasks, built-in tasks, then the spec's
        declared tasks. A task without a task loss is available too: the laws that need none
        predict it (see :func:`~taskladder.variants.choose_variant`)."""
        from .tasks import CORPUS_TASKS, TASKS

        candidates = [*CORPUS_TASKS.values(), *TASKS.values(), *self.spec.tasks]
        return [task for task in candidates if self.has_metric(task, "accuracy")]

    def default_tasks(self) -> list[Task]:
        """The tasks to use when none are named: the paper's eight this ladder has data for, the
        corpus tasks it has data for (the micro-ladder's own cloze tasks), and every task the spec
        declares; when it has none of them, every registered task it has.

        Corpus tasks exist in a ladder only when its own evaluation made them, so a ladder that has
        their columns means them: leaving them out showed the micro-ladder's HellaSwag alone.

        Raises
        ------
        DataError
            A declared task whose accuracy column no train run has (a typo would otherwise drop
            the task without a word), or no task with its columns in every train run.
        """
        from .tasks import PAPER_TASKS

        self._check_declared_tasks()
        available = self.available_tasks()
        chosen = [t for t in available if t.name in PAPER_TASKS and not t.declared]
        chosen.sort(key=lambda t: PAPER_TASKS.index(t.name))
        chosen = [t for t in available if t.name in CORPUS_TASKS and not t.declared] + chosen
        chosen += [t for t in available if t.declared]
        return chosen or available or self._raise_no_task()

    def _missing(self, task: Task, run: RunData) -> list[str]:
        """The accuracy columns of ``task`` that ``run`` lacks."""
        return [c for c in task.needed_columns("accuracy") if not run.has_column(c)]

    def _check_declared_tasks(self) -> None:
        """Raise :class:`DataError` for a declared task whose accuracy column is in no train run."""
        runs = self.train_runs
        for task in self.spec.tasks:
            if task.average_of or not runs:
                continue  # a mean of tasks names its members' columns, checked with them
            if all(self._missing(task, run) for run in runs):
                where = self.spec.path or f"spec {self.spec.name!r}"
                raise DataError(f"{where}: task {task.name!r} declares the accuracy column "
                                f"{task.accuracy_column!r}, which no train run has (e.g. {runs[0].spec.file}); "
                                "check its spelling against the run files' columns")

    def _raise_no_task(self):
        """Raise the :class:`DataError` of a ladder where no task has its accuracy in every train run,
        naming the declared tasks (or the registered task nearest to usable) and a column a run lacks."""
        from .tasks import TASKS

        runs = self.train_runs
        if not runs:
            raise DataError("the spec has no train run to take tasks from")
        declared = [t for t in self.spec.tasks if any(self._missing(t, r) for r in runs)]
        if declared:
            # The user named these columns: say which are missing, not which built-in task is nearest.
            gaps = []
            for task in declared:
                run = next(r for r in runs if self._missing(task, r))
                gaps.append(f"task {task.name!r} needs column {self._missing(task, run)[0]!r}, which {run.spec.file} "
                            "lacks")
            raise DataError(f"no task has its accuracy column in every train run: {'; '.join(gaps)}; 'taskladder "
                            "tasks --spec SPEC' lists each task's columns")
        # Name the task nearest to usable (present in the most runs) and a run that lacks it.
        nearest = max(TASKS.values(), key=lambda t: sum(not self._missing(t, r) for r in runs))
        run = next(r for r in runs if self._missing(nearest, r))
        raise DataError(f"{run.spec.file}: no task has its accuracy column in every train run (nearest: "
                        f"{nearest.name}, whose column {self._missing(nearest, run)[0]!r} this run lacks); "
                        "'taskladder tasks' lists every task's columns, --tasks picks tasks, and a [[task]] "
                        "table in the spec declares a task of your own")

    def subset(self, train_names: list[str] | set[str], *, extra_targets: list[RunData] = ()) -> "Ladder":
        """A ladder with only the named train runs (targets kept), plus ``extra_targets``."""
        kept = [r for r in self.runs.values() if (r.role == "train" and r.name in train_names) or r.role == "target"]
        return Ladder(self.spec, kept + list(extra_targets))

    @cached_property
    def runs_table(self) -> pd.DataFrame:
        """One row per run: name, role, size, N, D, FLOPs per token, compute C = D × FLOPs per token."""
        rows = []
        for r in self.runs.values():
            flops = r.spec.flops_per_token
            rows.append({"run": r.name, "role": r.role, "size": r.spec.size, "n_params": r.n_params,
                         "tokens": r.final_tokens, "flops_per_token": flops,
                         "compute": None if flops is None else flops * r.final_tokens,
                         "n_checkpoints": r.n_checkpoints,
                         "file": None if r.spec.file is None else str(r.spec.file)})
        return pd.DataFrame(rows)

    def observations(self, tasks: list[Task], metrics: tuple[str, ...] = ("bpb", "accuracy")) -> pd.DataFrame:
        """Tidy long table: one row per run × checkpoint × task × metric.

        Columns: ``run, role, n_params, step, tokens, task, metric, value``.
        """
        frames = []
        for r in self.runs.values():
            if not r.has_data:
                continue
            for task in tasks:
                for metric in metrics:
                    frames.append(pd.DataFrame({
                        "run": r.name, "role": r.role, "n_params": r.n_params, "step": r.steps,
                        "tokens": r.tokens, "task": task.name, "metric": metric,
                        "value": r.metric(task, metric)}))
        columns = ["run", "role", "n_params", "step", "tokens", "task", "metric", "value"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _read(spec: RunSpec) -> RunData:
    if spec.file is None:
        return RunData(spec)
    frame = read_run_csv(spec.file)
    return RunData(spec, frame, tokens_seen(frame, spec.file))


def load_ladder(spec: LadderSpec | str | Path) -> Ladder:
    """Read every run of a spec (a :class:`LadderSpec` or the path of a TOML spec)."""
    if not isinstance(spec, LadderSpec):
        spec = load_spec(spec)
    return Ladder(spec, [_read(r) for r in spec.runs])
