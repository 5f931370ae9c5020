"""Ladder planning: per run the token budget, batch size, learning rate, warmup and steps.

The heuristics are those of the reference ladder (method.md §3.3), written for any size and
sequence length; for the paper's sizes they give exactly the published recipe:

======== ============== =========== ======== ==================
size     batch (seqs)   peak LR     warmup   steps at 1xC
======== ============== =========== ======== ==================
190M     128            9.727e-4    363      7262
370M     192            7.785e-4    472      9442
760M     320            6.136e-4    578      11570
1.3B     384            5.154e-4    813      16269
======== ============== =========== ======== ==================

A plan is written as TOML (``[ladder]`` plus one ``[[run]]`` per run) and read back with
:func:`load_plan`; :func:`ladder_spec` turns it into the ladder spec that the fitter reads.

Examples
--------
>>> plan = plan_ladder(sizes=["190M"], multiples=[1])
>>> run = plan.runs[0]
>>> run.name, run.batch_sequences, run.warmup_steps, run.steps
('190M-1xC', 128, 363, 7262)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from ..io.toml_file import read_toml
from ..io.validate import MAX_MULTIPLE, MAX_TOKENS
from ..sizes import ModelSize, get_size
from . import _toml

__all__ = [
    "RunPlan", "LadderPlan", "plan_run", "plan_ladder", "batch_sequences", "peak_learning_rate",
    "warmup_steps", "parse_tokens", "parse_multiples", "load_plan", "plan_toml", "ladder_spec",
    "TOKENS_PER_PARAM", "reference_batch_tokens",
]

#: Tokens per parameter of a 1xC ("Chinchilla") budget.
TOKENS_PER_PARAM = 20
#: Model size at which the reference heuristics are anchored.
_ANCHOR_N = 1.08e8
#: Reference batch at the anchor size, in tokens (160 sequences of 2048).
_ANCHOR_BATCH_TOKENS = 160 * 2048
#: Reference peak learning rate at the anchor size (0.0047 / 4).
_ANCHOR_LR = 0.0047 / 4


def reference_batch_tokens(n_params: float) -> float:
    """The reference recipe's global batch in tokens for ``n_params``, before rounding to sequences.

    Notes
    -----
    ``160 · 2048 · (N / 1.08e8)^(2/3)`` tokens.
    """
    return _ANCHOR_BATCH_TOKENS * (n_params / _ANCHOR_N) ** (2 / 3)


def batch_sequences(n_params: int, sequence_length: int, divisor: int = 64) -> int:
    """Global batch size in sequences for a model of ``n_params`` non-embedding parameters.

    Notes
    -----
    ``B = round(160 · 2048 · (N / 1.08e8)^(2/3) / (S · divisor)) · divisor`` sequences of length
    ``S``. At ``S = 4096`` this is the reference's ``round(160 (N/1.08e8)^(2/3) / 2 / divisor) ·
    divisor``. Raises :class:`ConfigError` if it rounds to zero (choose a smaller ``divisor``).
    """
    if divisor < 1:
        raise ConfigError(f"batch divisor must be a positive integer, got {divisor}")
    raw = reference_batch_tokens(n_params) / sequence_length
    sequences = round(raw / divisor) * divisor
    if sequences == 0:
        raise ConfigError(
            f"the batch for N={n_params:,} at sequence length {sequence_length} is {raw:.2f} sequences, "
            f"which rounds to 0 with batch divisor {divisor}; use a smaller batch divisor "
            f"(e.g. {max(1, 2 ** int(math.log2(max(raw, 1))))})")
    return sequences


def peak_learning_rate(n_params: int) -> float:
    """Peak learning rate ``0.0047 · (N / 1.08e8)^(−1/3) / 4`` (method.md §3.3)."""
    return _ANCHOR_LR * (n_params / _ANCHOR_N) ** (-1 / 3)


def warmup_steps(n_params: int, batch_tokens: int) -> int:
    """Warmup of about N tokens: ``round(N / batch_tokens)`` steps."""
    return round(n_params / batch_tokens)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """The recipe of one ladder run.

    Parameters
    ----------
    name
        Run name, ``"{size}-{multiple}xC"``; also the stem of its CSV.
    size
        Size label (see :mod:`taskladder.sizes`).
    multiple
        Token budget in multiples of ``20 · N``.
    tokens
        Planned token budget ``round(multiple · 20 · N)``.
    batch_sequences
        Global batch in sequences.
    peak_lr
        Peak learning rate.
    warmup_steps
        Linear warmup length in optimizer steps.
    steps
        Optimizer steps, ``ceil(tokens / batch_tokens)``; the cosine reaches its floor here.
    final_lr_fraction
        Learning-rate floor as a fraction of the peak.
    """

    name: str
    size: str
    multiple: float
    tokens: int
    batch_sequences: int
    peak_lr: float
    warmup_steps: int
    steps: int
    final_lr_fraction: float = 0.1

    def __post_init__(self) -> None:
        get_size(self.size)
        for name in ("tokens", "batch_sequences", "steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"run {self.name!r}: {name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ConfigError(f"run {self.name!r}: warmup of {self.warmup_steps} steps is not shorter than "
                              f"the run ({self.steps} steps); plan more tokens or a smaller batch")
        if self.peak_lr <= 0:
            raise ConfigError(f"run {self.name!r}: peak_lr must be positive, got {self.peak_lr}")

    @property
    def model(self) -> ModelSize:
        return get_size(self.size)

    @property
    def n_params(self) -> int:
        return self.model.n_params

    @property
    def flops_per_token(self) -> int:
        return self.model.flops_per_token

    @property
    def sequence_length(self) -> int:
        return self.model.sequence_length

    @property
    def batch_tokens(self) -> int:
        return self.batch_sequences * self.sequence_length

    @property
    def trained_tokens(self) -> int:
        """Tokens the run actually sees: ``steps · batch_tokens`` (≥ ``tokens``)."""
        return self.steps * self.batch_tokens

    @property
    def total_flops(self) -> int:
        """Training compute ``trained_tokens · flops_per_token``."""
        return self.trained_tokens * self.flops_per_token

    def record(self) -> dict[str, object]:
        """All fields plus the derived counts, as written to the plan file."""
        return {**asdict(self), "n_params": self.n_params, "flops_per_token": self.flops_per_token,
                "sequence_length": self.sequence_length, "batch_tokens": self.batch_tokens,
                "trained_tokens": self.trained_tokens,
                # TOML integers are 64-bit; ladder FLOPs (up to ~1e22) are not, so write a float.
                "total_flops": float(self.total_flops)}


#: Keys of a ``[[run]]`` table that are derived; when present in a file they must agree.
_DERIVED = ("n_params", "flops_per_token", "sequence_length", "batch_tokens", "trained_tokens",
            "total_flops")


@dataclass(frozen=True, kw_only=True)
class LadderPlan:
    """A ladder: its runs and, optionally, the target whose compute it is compared with.

    Parameters
    ----------
    runs
        The runs, in training order.
    batch_divisor
        Batch sizes were rounded to multiples of this many sequences.
    target_size
        Size label of the target model, if any.
    target_tokens
        Training tokens of the target.
    """

    runs: tuple[RunPlan, ...]
    batch_divisor: int = 64
    target_size: str | None = None
    target_tokens: int | None = None

    def __post_init__(self) -> None:
        if not self.runs:
            raise ConfigError("a ladder plan needs at least one run")
        names = [r.name for r in self.runs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"run names must be unique; repeated: {', '.join(duplicated)}")
        if (self.target_size is None) != (self.target_tokens is None):
            raise ConfigError("give both target size and target tokens, or neither")
        if self.target_size is not None:
            get_size(self.target_size)
            if self.target_tokens is not None and self.target_tokens < 1:
                raise ConfigError(f"target tokens must be positive, got {self.target_tokens}")

    @property
    def total_flops(self) -> int:
        return sum(r.total_flops for r in self.runs)

    @property
    def target_flops(self) -> int | None:
        if self.target_size is None or self.target_tokens is None:
            return None
        return self.target_tokens * get_size(self.target_size).flops_per_token

    @property
    def compute_percent(self) -> float | None:
        """The ladder's total compute as a percentage of the target's."""
        target = self.target_flops
        return None if target is None else 100.0 * self.total_flops / target

    def run(self, name: str) -> RunPlan:
        for r in self.runs:
            if r.name == name:
                return r
        raise ConfigError(f"no run {name!r} in the plan; runs: {', '.join(r.name for r in self.runs)}")


def _multiple_label(multiple: float) -> str:
    return f"{multiple:g}xC"


def plan_run(size: str, multiple: float, *, batch_divisor: int = 64) -> RunPlan:
    """Plan one run of ``size`` for ``multiple × 20 · N`` tokens with the reference heuristics.

    Raises
    ------
    ConfigError
        Unknown size, a non-positive multiple, a batch that rounds to zero, or a token budget
        smaller than one batch.
    """
    model = get_size(size)
    if not 0 < multiple <= MAX_MULTIPLE:
        raise ConfigError(f"token multiple must be a positive number of at most {MAX_MULTIPLE:g} (× 20 · N tokens), "
                          f"got {multiple}")
    n = model.n_params
    tokens = model.tokens_for_multiple(multiple)
    batch = batch_sequences(n, model.sequence_length, batch_divisor)
    batch_tokens = batch * model.sequence_length
    name = f"{model.name}-{_multiple_label(multiple)}"
    if tokens < batch_tokens:
        raise ConfigError(f"run {name}: token budget {tokens:,} ({multiple:g} × 20 × N) is smaller than one "
                          f"batch of {batch} sequences × {model.sequence_length} = {batch_tokens:,} tokens")
    steps = math.ceil(tokens / batch_tokens)
    return RunPlan(name=name, size=model.name, multiple=float(multiple), tokens=tokens,
                   batch_sequences=batch, peak_lr=peak_learning_rate(n),
                   warmup_steps=warmup_steps(n, batch_tokens), steps=steps)


def plan_ladder(*, sizes: Sequence[str], multiples: Sequence[float], batch_divisor: int = 64,
                target_size: str | None = None, target_tokens: int | None = None) -> LadderPlan:
    """Plan every (size, multiple) pair, sizes outermost, in the order given."""
    if not sizes or not multiples:
        raise ConfigError("give at least one size and one token multiple")
    runs = tuple(plan_run(s, m, batch_divisor=batch_divisor) for s in sizes for m in multiples)
    return LadderPlan(runs=runs, batch_divisor=batch_divisor, target_size=target_size,
                      target_tokens=target_tokens)


_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


def parse_tokens(text: str) -> int:
    """A token count such as ``"4T"``, ``"3.9e12"`` or ``"3945065873408"`` as an integer.

    Suffixes K, M, B (or G) and T are powers of 1000. This parses user-typed budgets, never size
    labels.
    """
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([KMBGT]?)\s*", text.upper())
    if not match:
        raise ConfigError(f"cannot read a token count from {text!r}; expected e.g. 4T, 150B, 3.9e12")
    value = float(match.group(1)) * _SUFFIXES[match.group(2)]
    if not 1 <= value <= MAX_TOKENS:
        raise ConfigError(f"token count must be between 1 and {MAX_TOKENS:.0e}, got {text!r}")
    return int(round(value))


def parse_multiples(text: str) -> list[float]:
    """``"0.5,1,2"`` → ``[0.5, 1.0, 2.0]``."""
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"cannot read token multiple {part.strip()!r} in {text!r}; "
                              "expected numbers such as 1,2,5,10") from None
        if not 0 < value <= MAX_MULTIPLE:
            raise ConfigError(f"token multiples must be positive numbers of at most {MAX_MULTIPLE:g} "
                              f"(× 20 · N tokens), got {part.strip()!r}")
        out.append(value)
    return out


def plan_toml(plan: LadderPlan) -> str:
    """The plan file: ``[ladder]`` (divisor, target, compute) and one ``[[run]]`` per run."""
    ladder: dict[str, object] = {"batch_divisor": plan.batch_divisor, "target_size": plan.target_size,
                                 "target_tokens": plan.target_tokens, "total_flops": float(plan.total_flops)}
    if plan.target_flops is not None:
        ladder["target_flops"] = float(plan.target_flops)
        ladder["compute_percent"] = plan.compute_percent
    header = ("taskladder ladder plan: one [[run]] per training run. Edit name, multiple, tokens,\n"
              "batch_sequences, peak_lr, warmup_steps, steps or final_lr_fraction if you must; the\n"
              "derived counts are checked against the size when the plan is read.")
    return _toml.dumps({"ladder": ladder, "run": [r.record() for r in plan.runs]}, header=header)


_RUN_KEYS = {f for f in RunPlan.__dataclass_fields__} | set(_DERIVED)
_LADDER_KEYS = {"batch_divisor", "target_size", "target_tokens", "total_flops", "target_flops",
                "compute_percent"}


def load_plan(path: str | Path) -> LadderPlan:
    """Read a plan written by :func:`plan_toml`, checking keys, types and derived counts."""
    path = Path(path)
    document = read_toml(path, "plan file")
    unknown = set(document) - {"ladder", "run"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}; expected [ladder] and [[run]]")
    ladder = document.get("ladder", {})
    unknown = set(ladder) - _LADDER_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown keys in [ladder]: {sorted(unknown)}; known: {sorted(_LADDER_KEYS)}")
    runs = []
    for i, table in enumerate(document.get("run", []), start=1):
        where = f"{path}: [[run]] #{i}"
        unknown = set(table) - _RUN_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_RUN_KEYS)}")
        fields = {k: v for k, v in table.items() if k in RunPlan.__dataclass_fields__}
        missing = [k for k, f in RunPlan.__dataclass_fields__.items()
                   if k not in fields and f.default is MISSING]
        if missing:
            raise ConfigError(f"{where}: missing keys {missing}")
        for key in ("tokens", "batch_sequences", "warmup_steps", "steps"):
            if not isinstance(fields[key], int) or isinstance(fields[key], bool):
                raise ConfigError(f"{where}: {key} must be an integer, got {fields[key]!r}")
        run = RunPlan(**{**fields, "multiple": float(fields["multiple"]),
                         "peak_lr": float(fields["peak_lr"])})
        derived = run.record()
        for key in _DERIVED:
            if key in table and not math.isclose(table[key], derived[key], rel_tol=1e-12):
                raise ConfigError(f"{where} ({run.name}): {key} is {table[key]!r} in the file but "
                                  f"{derived[key]!r} from size {run.size} and the run's fields")
        runs.append(run)
    if not runs:
        raise ConfigError(f"{path}: no [[run]] tables")
    return LadderPlan(runs=tuple(runs), batch_divisor=int(ladder.get("batch_divisor", 64)),
                      target_size=ladder.get("target_size"), target_tokens=ladder.get("target_tokens"))


def ladder_spec(plan: LadderPlan, *, runs_dir: str = "runs", builtin_sizes: frozenset[str] | None = None) -> str:
    """The ladder spec (TOML) that the fitter reads, for the CSVs that ``ladder run`` writes.

    Each run becomes ``[[run]]`` with ``file = "{runs_dir}/{name}/{name}.csv"`` (relative to the spec;
    the layout ``taskladder ladder run`` writes),
    ``role = "train"``, its ``name`` and ``tokens`` (tokens actually trained). Sizes defined in
    :mod:`taskladder.sizes` are named by ``size``; others (registered at run time) are written
    as ``n_params`` and ``flops_per_token`` so that any reader can use them.
    """
    known = _BUILTIN_SIZES if builtin_sizes is None else builtin_sizes
    entries = []
    for run in plan.runs:
        entry: dict[str, object] = {"name": run.name, "file": f"{runs_dir}/{run.name}/{run.name}.csv"}
        if run.size in known:
            entry["size"] = run.size
        else:
            entry.update(n_params=run.n_params, flops_per_token=run.flops_per_token)
        entry.update(role="train", tokens=run.trained_tokens)
        entries.append(entry)
    header = "Ladder spec for 'taskladder fit/predict': one [[run]] per CSV written by 'taskladder ladder run'."
    return _toml.dumps({"run": entries}, header=header)


def _builtin_sizes() -> frozenset[str]:
    from .. import sizes

    return frozenset(sizes.SIZES)


#: Sizes defined in taskladder.sizes itself (not registered later at run time).
_BUILTIN_SIZES = _builtin_sizes()
