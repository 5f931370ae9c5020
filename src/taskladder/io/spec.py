"""Ladder specification: a TOML file listing the runs to fit on and the targets to predict.

Example
-------
.. code-block:: toml

    name = "my-ladder"          # optional

    [[run]]
    file = "ladder-runs/190M-1xC.csv"   # path relative to this file
    size = "190M"                        # a known size label, or give n_params (+ flops_per_token)
    role = "train"                       # "train" = ladder run; "target" = run to predict

    [[run]]
    name = "7B-4T"
    file = "ladder-runs/peteish7_eval_anneal.csv"
    n_params = 6887575552
    tokens = 3945065873408               # optional; default: the file's last row (a running target: planned)
    role = "target"
    schedule = { shape = "cosine", warmup_tokens = "8B", anneal_tokens = "50B" }   # optional (taskladder watch)

    [[task]]                    # a task of your own (optional; built-in tasks need no table)
    name = "my_qa"
    accuracy = "eval/my_qa/acc"          # column of the run files: accuracy as a fraction
    loss = "eval/my_qa/ce"               # optional: the correct answer's task loss
    loss_unit = "nats"                   # "bpb" (default) or "nats"
    chance = 0.25                        # accuracy of random guessing (default 0)

    [[task]]
    name = "avg"
    average_of = ["my_qa", "hellaswag"]  # the equal-weight mean of other tasks

Unknown keys are an error. A target without ``file`` is predicted with no actual to compare. A run
given by ``n_params`` alone, without a size label or ``flops_per_token``, gets the usual estimate
of training FLOPs per token, 6 N (``flops_source = "6N"``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..sizes import get_size
from ..schedules import Schedule, schedule_from_table
from ..tasks import Task, declared_task
from .toml_file import read_toml
from .validate import check_distinct_files, check_run_spec

__all__ = ["RunSpec", "LadderSpec", "load_spec", "parse_target", "parse_token_count"]

ROLES = ("train", "target")
_TOP_KEYS = {"name", "description", "run", "task"}
_RUN_KEYS = {"name", "file", "size", "n_params", "flops_per_token", "tokens", "role", "recipe", "schedule"}
_TASK_KEYS = {"name", "display_name", "accuracy", "loss", "loss_unit", "chance", "average_of"}
#: Where a run's FLOPs per token came from.
FLOPS_SOURCES = ("size", "spec", "6N")
#: Whether a target was trained like the ladder's runs (data, optimizer, schedule) or not.
RECIPES = ("same", "different")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run of a ladder spec.

    Parameters
    ----------
    name
        Unique run name (default: the file name without ``.csv``).
    role
        ``"train"`` (a ladder run the laws are fitted on) or ``"target"`` (a run to predict).
    file
        The run's evaluation CSV (one row per checkpoint), or ``None`` for a target with no data.
    n_params
        Non-embedding parameters N.
    size
        Size label, if the run was given by label.
    flops_per_token
        Training FLOPs per token, used by the compute-based forms.
    flops_source
        ``"size"`` (computed from the size label's architecture), ``"spec"`` (given) or ``"6N"``
        (the standard estimate 6 N, when neither was given).
    tokens
        Tokens D to predict at (targets) or the final token count; ``None``: the file's last row.
        For a running target, its planned tokens (its file ends before them).
    recipe
        ``"same"`` (default: the target is trained like the ladder's runs, only longer and larger)
        or ``"different"`` (another data mix, batch size, learning rate or schedule, e.g. a final
        anneal): its interval then also holds the recipe-shift term of step 2
        (:data:`taskladder.fit.uncertainty.RECIPE_SHIFT_SD`).
    schedule
        A target's declared learning-rate schedule (:class:`~taskladder.schedules.Schedule`), read
        by ``taskladder watch`` when the log has no learning-rate column, and for the end of the run
        (an anneal) in any case; ``None``: not declared.
    """

    name: str
    role: str
    file: Path | None
    n_params: int
    size: str | None = None
    flops_per_token: float | None = None
    tokens: float | None = None
    flops_source: str = "spec"
    recipe: str = "same"
    schedule: Schedule | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"run {self.name!r}: role must be one of {ROLES}, got {self.role!r}")
        if self.recipe not in RECIPES:
            raise ConfigError(f"run {self.name!r}: recipe must be one of {', '.join(map(repr, RECIPES))}, "
                              f"got {self.recipe!r}")
        if self.n_params <= 0:
            raise ConfigError(f"run {self.name!r}: n_params must be positive, got {self.n_params}")
        if self.tokens is not None and not (math.isfinite(self.tokens) and self.tokens > 0):
            raise ConfigError(f"run {self.name!r}: tokens must be a positive number, got {self.tokens}")
        if self.file is None and self.role == "train":
            raise ConfigError(f"run {self.name!r}: a train run needs a file")
        if self.file is None and self.tokens is None:
            raise ConfigError(f"run {self.name!r}: a target without a file needs tokens")
        check_run_spec(self)
        if self.schedule is not None:
            if self.role != "target":
                raise ConfigError(f"run {self.name!r}: a schedule is declared for targets (role = \"target\")")
            if self.tokens is None:
                raise ConfigError(f"run {self.name!r}: a declared schedule needs the run's planned tokens (tokens)")
            self.schedule.check_for(self.tokens, f"run {self.name!r}")


@dataclass(frozen=True, kw_only=True)
class LadderSpec:
    """A parsed ladder specification."""

    runs: tuple[RunSpec, ...]
    name: str = "ladder"
    path: Path | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()

    @property
    def declared_tasks(self) -> dict[str, Task]:
        """The spec's own tasks by name (``[[task]]`` tables)."""
        return {t.name: t for t in self.tasks}

    @property
    def train_runs(self) -> tuple[RunSpec, ...]:
        return tuple(r for r in self.runs if r.role == "train")

    @property
    def targets(self) -> tuple[RunSpec, ...]:
        return tuple(r for r in self.runs if r.role == "target")

    def with_targets(self, targets: list[RunSpec], *, replace: bool = False) -> "LadderSpec":
        """A copy with extra targets (or with its targets replaced)."""
        kept = self.train_runs if replace else self.runs
        names = {r.name for r in kept}
        for t in targets:
            if t.name in names:
                raise ConfigError(f"target name {t.name!r} is already used by a run of the spec")
        return LadderSpec(runs=tuple(kept) + tuple(targets), name=self.name, path=self.path,
                          description=self.description, tasks=self.tasks)


_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_token_count(text: str | int | float, *, what: str = "tokens") -> float:
    """Parse a count such as ``3945065873408``, ``3.945e12`` or ``4T`` (K, M, B/G, T, P suffixes)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMBGTP]?)\s*", str(text), re.IGNORECASE)
        if not match:
            raise ConfigError(f"{what}: cannot read {text!r} as a count (e.g. 3.945e12 or 4T)")
        value = float(match.group(1)) * _SUFFIXES.get(match.group(2).upper(), 1.0)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{what}: must be a positive number, got {text!r}")
    return value


def parse_target(text: str) -> RunSpec:
    """Parse a command-line target ``NAME:N:D``, e.g. ``7B:6887575552:3.945e12`` or ``13B-5T:13B:5T``.

    ``N`` is a parameter count or a known size label; ``D`` a token count.
    """
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise ConfigError(f"--target {text!r}: expected NAME:N:D, e.g. 7B:6887575552:3.945e12 or 13B-5T:13B:5T")
    name, n_text, d_text = (p.strip() for p in parts)
    size = None
    flops = None
    # A size label wins over reading N as a count: "13B" is the 13B model (N = 13202396160),
    # not 13e9 parameters.
    if _is_size_label(n_text):
        model = get_size(n_text)
        size, n_params, flops = model.name, model.n_params, float(model.flops_per_token)
    else:
        try:
            n_params = int(parse_token_count(n_text, what=f"--target {text!r} N"))
        except ConfigError:
            from ..sizes import size_names

            raise ConfigError(f"--target {text!r}: N must be a parameter count or a known size label "
                              f"({', '.join(size_names())}), got {n_text!r}") from None
    source = "size"
    if size is None:
        flops, source = _known_flops(n_params), "size"
        if flops is None:
            flops, source = 6.0 * n_params, "6N"
    tokens = parse_token_count(d_text, what=f"--target {text!r} D")
    try:
        return RunSpec(name=name, role="target", file=None, n_params=n_params, size=size,
                       flops_per_token=flops, tokens=tokens, flops_source=source)
    except ConfigError as exc:  # name the flag the value came from
        raise ConfigError(f"--target {text!r}: {exc}") from None


def _is_size_label(text: str) -> bool:
    from ..sizes import ALIASES, SIZES

    return text in SIZES or text in ALIASES


def _known_flops(n_params: int) -> float | None:
    """FLOPs per token of a known size with exactly this N (so compute forms work for it)."""
    from ..sizes import SIZES

    for s in SIZES.values():
        if s.n_params == n_params:
            return float(s.flops_per_token)
    return None


def _number(value: object, *, where: str, key: str, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    number = parse_token_count(value, what=f"{where}: {key}")
    if integer and number != int(number):
        raise ConfigError(f"{where}: {key} must be a whole number, got {value!r}")
    return number


def _check_table(table: object, where: str, kind: str, allowed: set[str]) -> None:
    """A ``[[kind]]`` entry must be a table with only ``allowed`` keys."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a [[{kind}]] table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: "
                          f"{', '.join(sorted(allowed))}")


def _run_from_table(table: dict, index: int, base: Path, source: str) -> RunSpec:
    where = f"{source}: run #{index + 1}"
    _check_table(table, where, "run", _RUN_KEYS)
    file_value = table.get("file")
    path = None
    if file_value is not None:
        if not isinstance(file_value, str) or not file_value:
            raise ConfigError(f"{where}: file must be a path string, got {file_value!r}")
        path = Path(file_value)
        path = path if path.is_absolute() else (base / path)
    name = table.get("name") or (path.stem if path is not None else None)
    if not name or not isinstance(name, str):
        raise ConfigError(f"{where}: needs a name (or a file to take it from)")
    where = f"{source}: run {name!r}"
    size_label = table.get("size")
    n_params = table.get("n_params")
    flops = table.get("flops_per_token")
    if size_label is not None:
        if not isinstance(size_label, str):
            raise ConfigError(f"{where}: size must be a label string such as \"190M\", got {size_label!r}")
        try:
            model = get_size(size_label)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        n_params = model.n_params if n_params is None else n_params
        flops = model.flops_per_token if flops is None else flops
        size_label = model.name
    if n_params is None:
        raise ConfigError(f"{where}: needs size (a known label) or n_params")
    n_params = int(_number(n_params, where=where, key="n_params", integer=True))
    if size_label is not None and n_params != model.n_params:
        # Which of the two the user meant is unknowable; taking either silently fits the wrong N.
        raise ConfigError(f"{where}: n_params = {n_params:,} disagrees with size {table['size']!r} (N = "
                          f"{model.n_params:,}); give one of them, or an n_params equal to the size's N")
    flops_source = "size" if size_label is not None and table.get("flops_per_token") is None else "spec"
    if flops is None:
        flops = _known_flops(n_params)
        flops_source = "size"
        if flops is None:
            flops, flops_source = 6.0 * n_params, "6N"
    else:
        flops = _number(flops, where=where, key="flops_per_token")
    tokens = table.get("tokens")
    tokens = None if tokens is None else _number(tokens, where=where, key="tokens")
    role = table.get("role", "train")
    schedule = None if table.get("schedule") is None else schedule_from_table(table["schedule"], where)
    try:
        return RunSpec(name=name, role=role, file=path, n_params=n_params, size=size_label,
                       flops_per_token=flops, tokens=tokens, flops_source=flops_source,
                       recipe=table.get("recipe", "same"), schedule=schedule)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _tasks_from_tables(tables: object, source: str) -> tuple[Task, ...]:
    """The spec's ``[[task]]`` tables as tasks; ``average_of`` may name built-in tasks and tasks declared
    anywhere in the spec (no cycles)."""
    if tables is None:
        return ()
    if not isinstance(tables, list):
        raise ConfigError(f"{source}: 'task' must be [[task]] tables, got {tables!r}")
    raw: dict[str, dict] = {}
    for index, table in enumerate(tables):
        where = f"{source}: task #{index + 1}"
        _check_table(table, where, "task", _TASK_KEYS)
        name = table.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: needs a name (a string)")
        if name in raw:
            raise ConfigError(f"{source}: two [[task]] tables are named {name!r}")
        for key in ("accuracy", "loss", "loss_unit", "display_name"):
            if key in table and not (isinstance(table[key], str) and table[key]):
                raise ConfigError(f"{source}: task {name!r}: {key} must be a non-empty string, got {table[key]!r}")
        if "chance" in table:
            chance = table["chance"]
            if isinstance(chance, bool) or not isinstance(chance, (int, float)) or not 0.0 <= chance < 1.0:
                hint = " (in percent? divide by 100)" if isinstance(chance, (int, float)) and 1 <= chance < 100 else ""
                raise ConfigError(f"{source}: task {name!r}: chance must be an accuracy in [0, 1), got {chance!r}{hint}")
        members = table.get("average_of")
        if members is not None and (not isinstance(members, list) or not members
                                    or not all(isinstance(m, str) and m for m in members)):
            raise ConfigError(f"{source}: task {name!r}: average_of must be a non-empty list of task names, "
                              f"got {members!r}")
        raw[name] = table
    from ..tasks import get_task

    done: dict[str, Task] = {}

    def build(name: str, chain: tuple[str, ...]) -> Task:
        if name in done:
            return done[name]
        if name in chain:
            raise ConfigError(f"{source}: task {name!r}: average_of goes round in a circle "
                              f"({' -> '.join(chain + (name,))})")
        table = raw[name]
        members = []
        for member in table.get("average_of") or ():
            if member in raw:
                members.append(build(member, chain + (name,)))
            else:
                try:
                    members.append(get_task(member))
                except ConfigError as exc:
                    raise ConfigError(f"{source}: task {name!r}: average_of: {exc}") from None
        try:
            task = declared_task(name, accuracy=table.get("accuracy"), loss=table.get("loss"),
                                 loss_unit=table.get("loss_unit", "bpb"), chance=float(table.get("chance", 0.0)),
                                 display_name=table.get("display_name"), average_of=tuple(members))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if "chance" in table and members:
            raise ConfigError(f"{source}: task {name!r}: a mean of tasks takes its chance from them; leave chance out")
        done[name] = task
        return task

    return tuple(build(name, ()) for name in raw)


def load_spec(path: str | Path) -> LadderSpec:
    """Read and validate a ladder spec.

    Raises
    ------
    ConfigError
        On a missing file, a TOML syntax error (with line and column), an unknown key, an unknown
        size label, duplicate run names, or no train run.
    """
    path = Path(path)
    data = read_toml(path, "spec file")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; allowed top-level keys: "
                          f"{', '.join(sorted(_TOP_KEYS))} (runs go in [[run]] tables)")
    tables = data.get("run")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: no [[run]] tables (expected one per ladder run and target)")
    tasks = _tasks_from_tables(data.get("task"), str(path))
    runs = tuple(_run_from_table(t, i, path.parent, str(path)) for i, t in enumerate(tables))
    seen: set[str] = set()
    for run in runs:
        if run.name in seen:
            raise ConfigError(f"{path}: two runs are named {run.name!r}; names must be unique")
        seen.add(run.name)
    check_distinct_files(runs, str(path))
    spec = LadderSpec(runs=runs, name=str(data.get("name", path.stem)), path=path,
                      description=str(data.get("description", "")), tasks=tasks)
    if not spec.train_runs:
        raise ConfigError(f"{path}: no run has role = \"train\"; the laws need ladder runs to fit on")
    return spec
