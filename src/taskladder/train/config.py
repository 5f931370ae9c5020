"""The resolved configuration of one training run.

A :class:`TrainConfig` holds everything that determines a run's numbers (size, recipe, data,
seed) plus the settings that do not (where to write, how often to evaluate, which device).
:data:`RESUME_KEYS` lists the former: a checkpoint can only be resumed by a run that agrees on
all of them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..sizes import get_size
from .plan import RunPlan

__all__ = ["TrainConfig", "RESUME_KEYS", "config_from_plan"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One training run.

    Parameters
    ----------
    name
        Run name; the CSV is ``{out}/{name}.csv``.
    size
        Size label of the model.
    data
        Folder written by ``taskladder data prepare``.
    out
        Run folder (checkpoints, config, CSV).
    steps, batch_sequences, peak_lr, warmup_steps, final_lr_fraction
        The recipe (see :class:`~taskladder.train.plan.RunPlan`).
    micro_batch_sequences
        Sequences per forward/backward pass on one process; the global batch is reached by
        gradient accumulation. ``0`` means the whole per-process batch at once.
    weight_decay, beta1, beta2, eps
        AdamW settings (decay applies to every parameter except the input embedding).
    grad_clip
        Maximum global gradient norm (``0`` disables clipping).
    z_loss
        Weight of the auxiliary ``z_loss · mean(logsumexp(logits)²)`` (reference: 1e-5; 0 = off).
    seed
        Seed of the initialisation and of the data order.
    max_epochs
        Most passes over the training tokens the run may make before it is refused.
    eval_every
        Evaluate (validation loss, task metrics) and append a CSV row every this many steps and at
        the last step; ``0`` evaluates only at the last step.
    eval_tasks
        Task names for in-loop evaluation (empty: validation loss only).
    eval_limit
        Questions per task (``None``: all).
    eval_batch_size
        Batch size of the task evaluation.
    val_sequences
        Validation windows used for the validation loss.
    checkpoint_every
        Save a checkpoint every this many steps (and always at the last step); ``0``: last only.
    keep_checkpoints
        How many of the most recent checkpoints to keep (``0`` keeps all).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
    wandb_project
        Log to this Weights & Biases project when ``wandb`` is installed (``None``: off).
    """

    name: str
    size: str
    data: str
    out: str
    steps: int
    batch_sequences: int
    peak_lr: float
    warmup_steps: int
    final_lr_fraction: float = 0.1
    micro_batch_sequences: int = 0
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    z_loss: float = 0.0
    seed: int = 0
    max_epochs: float = 1.0
    eval_every: int = 0
    eval_tasks: tuple[str, ...] = field(default_factory=tuple)
    eval_limit: int | None = None
    eval_batch_size: int = 32
    val_sequences: int = 64
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    device: str = "auto"
    wandb_project: str | None = None

    def __post_init__(self) -> None:
        get_size(self.size)
        for key in ("steps", "batch_sequences", "val_sequences", "eval_batch_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ConfigError(f"run {self.name!r}: {key} must be a positive integer, got {getattr(self, key)!r}")
        for key in ("micro_batch_sequences", "eval_every", "checkpoint_every", "keep_checkpoints", "warmup_steps"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 0:
                raise ConfigError(f"run {self.name!r}: {key} must be a non-negative integer, got {getattr(self, key)!r}")
        if self.warmup_steps >= self.steps:
            raise ConfigError(f"run {self.name!r}: warmup_steps {self.warmup_steps} must be below steps {self.steps}")
        if self.micro_batch_sequences and self.batch_sequences % self.micro_batch_sequences:
            raise ConfigError(f"run {self.name!r}: batch of {self.batch_sequences} sequences is not a multiple of "
                              f"the micro-batch {self.micro_batch_sequences}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"run {self.name!r}: device must be auto, cpu or cuda, got {self.device!r}")
        if self.max_epochs <= 0:
            raise ConfigError(f"run {self.name!r}: max_epochs must be positive, got {self.max_epochs}")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"run {self.name!r}: eval_limit must be positive, got {self.eval_limit}")
        object.__setattr__(self, "eval_tasks", tuple(self.eval_tasks))

    @property
    def sequence_length(self) -> int:
        return get_size(self.size).sequence_length

    @property
    def batch_tokens(self) -> int:
        return self.batch_sequences * self.sequence_length

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "eval_tasks": list(self.eval_tasks)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> "TrainConfig":
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{source}: unknown keys {sorted(unknown)}")
        return cls(**{**values, "eval_tasks": tuple(values.get("eval_tasks", ()))})

    def write(self, path: str | Path) -> None:
        """Write the config as JSON (atomically; a file that already holds it is left untouched)."""
        from ..io.files import write_if_changed

        write_if_changed(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"run config {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"run config {path} is not valid JSON: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"run config {path}: expected a JSON object, got {type(values).__name__}")
        return cls.from_dict(values, source=str(path))


#: Fields that determine a run's numbers; resuming requires the checkpoint to agree on all of them.
RESUME_KEYS = ("size", "steps", "batch_sequences", "peak_lr", "warmup_steps", "final_lr_fraction",
               "weight_decay", "beta1", "beta2", "eps", "grad_clip", "z_loss", "seed")


def config_from_plan(run: RunPlan, *, data: str | Path, out: str | Path, **options: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a planned run, with ``options`` for the other fields."""
    return TrainConfig(name=run.name, size=run.size, data=str(data), out=str(out), steps=run.steps,
                       batch_sequences=run.batch_sequences, peak_lr=run.peak_lr,
                       warmup_steps=run.warmup_steps, final_lr_fraction=run.final_lr_fraction, **options)
