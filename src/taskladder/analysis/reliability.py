"""A reliability verdict for each prediction, from what the ladder itself shows.

Nothing here looks at the targets' actual values. The verdict is one of:

``unreliable``
    the law does not even extrapolate within the ladder (held-out-rung backtest error above
    ``max_backtest_error``), or its members disagree at the target beyond their own parameter
    uncertainty (``member_gap_z`` above ``max_member_gap_z``: two intermediate features that both
    fit the ladder give different answers, so the extrapolation is not pinned down), or the
    interval is wider than ``max_interval_width``;
``noisy``
    the task shows little signal on this ladder: accuracy moves less across the ladder than
    ``min_signal_to_noise`` times its checkpoint-to-checkpoint noise, or the ladder's accuracies all
    sit within ``near_chance`` of chance;
``reliable``
    none of the above.

The thresholds are fixed in advance (not tuned on any target) and are stored with each verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..fit.uncertainty import largest_run_noise
from ..ladder import Ladder

__all__ = ["ReliabilityRules", "ladder_signal", "assess_reliability"]


@dataclass(frozen=True, kw_only=True)
class ReliabilityRules:
    """Thresholds of the verdict (accuracy as fractions)."""

    max_backtest_error: float = 0.03
    max_member_gap_z: float = 2.0
    max_interval_width: float = 0.20
    min_signal_to_noise: float = 10.0
    near_chance: float = 0.03
    last_n: int = 10


def ladder_signal(law, ladder: Ladder, rules: ReliabilityRules = ReliabilityRules()) -> dict:
    """Signal and noise of the task on the ladder's train runs.

    ``signal`` is the range of the runs' final accuracies (mean of the last ``moving_avg``
    checkpoints); ``noise`` the accuracy SD over the last ``last_n`` checkpoints of the run with
    the most compute; ``snr = signal / noise``; ``max_above_chance`` the best run's margin over
    chance.
    """
    task = law.task
    window = law.selection.moving_avg
    runs = [r for r in ladder.train_runs if r.name in set(law.fitted_on_)]
    finals = np.array([np.mean(r.metric(task, "accuracy")[-window:]) for r in runs])
    noise = largest_run_noise(law, ladder, last_n=rules.last_n)
    signal = float(finals.max() - finals.min())
    return {"signal": signal, "noise": noise, "snr": signal / noise if noise > 0 else np.inf,
            "max_above_chance": float(finals.max() - task.chance)}


def assess_reliability(row: pd.Series, signal: dict, backtest_error: float | None,
                       rules: ReliabilityRules = ReliabilityRules()) -> tuple[str, str]:
    """The verdict and its reason for one prediction row (with interval columns if present)."""
    problems, noise = [], []
    if backtest_error is not None and np.isfinite(backtest_error) and backtest_error > rules.max_backtest_error:
        problems.append(f"held-out-rung backtest error {100 * backtest_error:.1f} pts > {100 * rules.max_backtest_error:.0f}")
    gap_z = row.get("member_gap_z", np.nan)
    if gap_z is not None and np.isfinite(gap_z) and gap_z > rules.max_member_gap_z:
        problems.append(f"bpb and C4 laws disagree by {100 * row['member_gap']:.1f} pts ({gap_z:.1f} SD)")
    width = row.get("acc_hi", np.nan) - row.get("acc_lo", np.nan)
    if np.isfinite(width) and width > rules.max_interval_width:
        problems.append(f"interval {100 * width:.0f} pts wide")
    if not np.isfinite(row.get("acc_pred", np.nan)):
        problems.append("no converged fit")
    if signal["snr"] < rules.min_signal_to_noise:
        noise.append(f"ladder signal only {signal['snr']:.1f}x checkpoint noise")
    if signal["max_above_chance"] < rules.near_chance:
        noise.append(f"ladder accuracy within {100 * rules.near_chance:.0f} pts of chance")
    if problems:
        return "unreliable", "; ".join(problems + noise)
    if noise:
        return "noisy", "; ".join(noise)
    bt = "" if backtest_error is None or not np.isfinite(backtest_error) else \
        f"backtest error {100 * backtest_error:.1f} pts, "
    return "reliable", f"{bt}signal {signal['snr']:.0f}x noise"


def rules_dict(rules: ReliabilityRules = ReliabilityRules()) -> dict:
    """The thresholds as a plain dict (for resolved configs)."""
    return asdict(rules)
