"""A target's declared learning-rate schedule: LR / peak at any token count, anneal included.

A running target's checkpoints are mid-schedule: its learning rate has not decayed yet, and an
anneal may come at the end. When its log has no learning-rate column, the spec can declare the
schedule on the target's ``[[run]]`` table::

    [[run]]
    name = "7B-live"
    file = "runs/7B-live.csv"
    size = "7B"
    tokens = "4T"                    # planned tokens
    role = "target"
    schedule = { shape = "cosine", warmup_tokens = "8B", final_lr_fraction = 0.1, anneal_tokens = "50B" }

Only fractions of the peak matter to the laws (they compare a checkpoint's learning rate with
the ladder's in units of each run's peak); ``peak_lr`` is kept for the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

__all__ = ["Schedule", "SCHEDULE_SHAPES", "schedule_from_table"]

#: Decay shapes after warmup: cosine and linear decay to ``final_lr_fraction``; constant stays at the peak.
SCHEDULE_SHAPES = ("cosine", "linear", "constant")
_KEYS = {"shape", "warmup_tokens", "final_lr_fraction", "decay_tokens", "anneal_tokens", "anneal_lr_fraction",
         "peak_lr"}


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A learning-rate schedule in units of tokens, as a fraction of its peak.

    Parameters
    ----------
    shape
        ``"cosine"`` or ``"linear"`` decay from the peak to ``final_lr_fraction`` over
        ``decay_tokens``, or ``"constant"`` (stays at the peak until the anneal).
    warmup_tokens
        Linear warmup from 0 to the peak.
    final_lr_fraction
        LR / peak where the decay ends (the OLMo ladder's runs: 0.1).
    decay_tokens
        Tokens at which the decay reaches ``final_lr_fraction`` (``None``: the run's planned
        tokens). A run may stop before its decay ends (OLMo 2: a 5T cosine stopped at 4T).
    anneal_tokens
        Length of a final anneal: over the run's last ``anneal_tokens`` the LR falls linearly
        from where the schedule is to ``anneal_lr_fraction`` (0: no anneal).
    anneal_lr_fraction
        LR / peak at the end of the anneal.
    peak_lr
        The peak learning rate (for the record; the laws use fractions of it).
    """

    shape: str = "cosine"
    warmup_tokens: float = 0.0
    final_lr_fraction: float = 0.1
    decay_tokens: float | None = None
    anneal_tokens: float = 0.0
    anneal_lr_fraction: float = 0.0
    peak_lr: float | None = None

    def __post_init__(self) -> None:
        if self.shape not in SCHEDULE_SHAPES:
            raise ConfigError(f"schedule shape must be one of {', '.join(SCHEDULE_SHAPES)}, got {self.shape!r}")
        for name in ("final_lr_fraction", "anneal_lr_fraction"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"schedule {name} must be a fraction of the peak in [0, 1], got {value!r}")
        for name in ("warmup_tokens", "anneal_tokens"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f"schedule {name} must be a token count >= 0, got {value!r}")
        if self.decay_tokens is not None and not (math.isfinite(self.decay_tokens) and self.decay_tokens > 0):
            raise ConfigError(f"schedule decay_tokens must be a positive token count, got {self.decay_tokens!r}")
        if self.peak_lr is not None and not (math.isfinite(self.peak_lr) and self.peak_lr > 0):
            raise ConfigError(f"schedule peak_lr must be positive, got {self.peak_lr!r}")

    @property
    def has_anneal(self) -> bool:
        return self.anneal_tokens > 0

    def check_for(self, planned_tokens: float, where: str) -> None:
        """The schedule must fit in a run of ``planned_tokens`` (warmup and anneal inside it)."""
        if self.warmup_tokens + self.anneal_tokens >= planned_tokens:
            raise ConfigError(f"{where}: schedule warmup_tokens + anneal_tokens ({self.warmup_tokens:.4g} + "
                              f"{self.anneal_tokens:.4g}) must be less than the run's tokens ({planned_tokens:.4g})")

    def lr_fraction(self, tokens: np.ndarray, planned_tokens: float) -> np.ndarray:
        """LR / peak after ``tokens`` tokens of a run planned for ``planned_tokens``.

        Notes
        -----
        With warmup ``W``, decay end ``T`` (``decay_tokens`` or the planned tokens), floor ``f``:
        ``η(t) = t / W`` for ``t < W``; then with ``p = min(1, (t − W) / (T − W))``:
        cosine ``f + (1 − f)(1 + cos πp)/2``, linear ``1 − (1 − f) p``, constant ``1``.
        An anneal of length ``A`` to ``a`` replaces the last ``A`` tokens by the line from
        ``η(D − A)`` to ``a``: ``η(t) = η(D − A) + (a − η(D − A)) (t − D + A) / A``.
        """
        t = np.asarray(tokens, float)
        total = float(self.decay_tokens or planned_tokens)
        out = self._decay(t, total)
        if self.has_anneal:
            start = planned_tokens - self.anneal_tokens
            level = float(self._decay(np.array([start]), total)[0])
            inside = t > start
            out = np.where(inside, level + (self.anneal_lr_fraction - level)
                           * np.clip((t - start) / self.anneal_tokens, 0.0, 1.0), out)
        return out

    def _decay(self, t: np.ndarray, total: float) -> np.ndarray:
        warm = self.warmup_tokens
        p = np.clip((t - warm) / max(total - warm, 1.0), 0.0, 1.0)
        f = self.final_lr_fraction
        if self.shape == "cosine":
            decayed = f + (1.0 - f) * 0.5 * (1.0 + np.cos(np.pi * p))
        elif self.shape == "linear":
            decayed = 1.0 - (1.0 - f) * p
        else:
            decayed = np.ones_like(p)
        if warm > 0:
            decayed = np.where(t < warm, t / warm, decayed)
        return decayed

    def describe(self) -> str:
        """One phrase, e.g. ``cosine to 10 % with a 50B-token anneal to 0 %``."""
        text = self.shape if self.shape == "constant" else f"{self.shape} to {100 * self.final_lr_fraction:.0f} %"
        if self.has_anneal:
            text += f" with a {self.anneal_tokens:.3g}-token anneal to {100 * self.anneal_lr_fraction:.0f} %"
        return text


def schedule_from_table(table: object, where: str) -> Schedule:
    """A :class:`Schedule` from a spec's ``schedule = {...}`` inline table (token counts may carry K/M/B/T)."""
    from .io.spec import parse_token_count

    if not isinstance(table, dict):
        raise ConfigError(f"{where}: schedule must be a table, e.g. schedule = {{ shape = \"cosine\", "
                          f"warmup_tokens = \"8B\", anneal_tokens = \"50B\" }}, got {table!r}")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: schedule: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: "
                          f"{', '.join(sorted(_KEYS))}")
    values: dict = {}
    for key, value in table.items():
        if key == "shape":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: schedule shape must be a string, got {value!r}")
            values[key] = value
        elif key.endswith("_tokens"):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ConfigError(f"{where}: schedule {key} must be a token count, got {value!r}")
            values[key] = 0.0 if value in (0, "0") else parse_token_count(value, what=f"{where}: schedule {key}")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: schedule {key} must be a number, got {value!r}")
            values[key] = float(value)
    try:
        return Schedule(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
