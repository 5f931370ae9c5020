"""The learning-rate schedule of the ladder runs: linear warmup, then cosine decay to a floor.

One pure function, so that the plan, the trainer and the tests share a single definition. It
reproduces every ``optim/learning_rate_group0`` value logged by the paper's ladder runs to
floating-point precision (``tests/test_train_plan.py``).
"""

from __future__ import annotations

import math

from ..errors import ConfigError

__all__ = ["learning_rate"]


def learning_rate(step: int, *, peak: float, warmup_steps: int, total_steps: int,
                  final_fraction: float = 0.1) -> float:
    """Learning rate of optimizer step ``step`` (1-based: the first update is step 1).

    Parameters
    ----------
    step
        Optimizer step, ``1 ≤ step``; steps past ``total_steps`` stay at the floor.
    peak
        Peak learning rate, reached at the end of warmup.
    warmup_steps
        Length of the linear warmup (0 for none).
    total_steps
        Step at which the cosine reaches the floor (the planned length of the run).
    final_fraction
        Floor as a fraction of ``peak`` (the reference's ``alpha_f`` = 0.1).

    Returns
    -------
    float
        The learning rate.

    Notes
    -----
    With ``W`` warmup steps, ``T`` total steps, peak ``η`` and floor ``η_f = final_fraction · η``:

    * ``step < W``:  ``η · step / W``;
    * otherwise:    ``η_f + (η − η_f) · (1 + cos(π · min(1, (step − W) / (T − W)))) / 2``.

    The update at step ``W`` uses the peak, and the update at step ``T`` uses the floor.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ConfigError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}")
    if peak <= 0 or not 0 <= final_fraction <= 1:
        raise ConfigError(f"need peak > 0 and final_fraction in [0, 1], got {peak} and {final_fraction}")
    if step < warmup_steps:
        return peak * step / warmup_steps
    floor = final_fraction * peak
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return floor + (peak - floor) * (1.0 + math.cos(math.pi * progress)) / 2.0
