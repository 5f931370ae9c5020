"""Watch a running target: forecast its final task loss and accuracy from the ladder and its own checkpoints.

Once a large run is launched, its early checkpoints say where it is heading. For each fraction
``f`` of its planned tokens ``D`` (the spec's ``tokens``), :func:`watch` uses the ladder and only the
target's checkpoints with ``t ≤ f D`` to forecast, per task, the final task loss and accuracy,
with an interval and a verdict. Fraction 0 is the ladder alone: the numbers of
:func:`~taskladder.predict.predict_ladder`.

Method
------
Two offsets of the target from the ladder, each a normal update whose prior is what the ladder
says about a new run and whose measurement error is what the ladder's own runs show at the same
fraction ``φ`` of their schedule, carried to the target's size.

1. **Task loss.** The ladder law predicts the final task loss ``L̂`` with bootstrap draws
   ``ℓ_b`` of ``log L`` (:func:`~taskladder.fit.uncertainty.bootstrap_predictions`, the draws of
   the ladder-only interval), prior variance ``τ² = var(ℓ_b)``. A checkpoint at ``t`` tokens with
   learning rate ``u`` (LR / peak above the ladder's final) lies above the run's end by the
   *trajectory ratio* ``ρ(t, u) = L_traj(N, t, u) / mean_k L_traj(N, t_k, u_k)``, the end being
   the run's last ``W`` checkpoints ``(t_k, u_k)`` that its actual averages (for a running target:
   spaced as its checkpoints so far, at the learning rate of its schedule). ``L_traj`` is the
   ladder's law on every checkpoint with the learning-rate term (``power_law_nd_lr``; without a
   learning-rate column, ``power_law_nd`` on the runs' ends), through the transfer map for the
   loss-to-loss law. A window of the target's checkpoints implies the final log loss
   ``y = mean_i (log L_i − log ρ_i)``, or, for the loss-to-loss law, the same through the less noisy
   C4 loss plus the run's own offset from the transfer map (:meth:`_Trajectory.implied`).

   The ladder's runs give the miss of the same measurement at ``φ`` of their own schedule, against
   their own ends. The misses depend on the run (a short run is earlier in its warmup and decay
   at the same ``φ``), so they are regressed on ``(1, log N, log D)``: at the target, the mean miss
   ``μ`` is subtracted from ``y`` and the variance is the regression's prediction variance times
   ``R/(R − k)`` (the ``k`` parameters of the trajectory law were fitted on the same ``R`` runs). Of
   the windows (the last ``W`` checkpoints, or the latter half of those seen; :func:`window`) and
   routes, the measurement uses the one the ladder shows to be the most precise. The update:

   ``w = τ² / (τ² + s²)``, ``m = log L̂ + w (y − μ − log L̂)``, draws ``ℓ'_b = m + √(1 − w) (ℓ_b − log L̂)``.

2. **Accuracy at that loss.** The target's offset from the step-2 curve ``g`` along its smooth
   path (the forecast final loss times ``ρ``, so that the task loss's evaluation noise stays out),
   ``m_obs = mean_i (A_i − g(L ρ_i)) − μ_η``, measures its offset at the end, ``o``. The two are
   drawn jointly: ``o_b = c_b(L'_b) + κ δ_b + η_b`` and ``m_b = mean_i c_b(L'_b ρ_i) + κ δ_b + η_b + ε_b``,
   with ``c_b`` each bootstrap curve's departure from ``g`` (paired with its loss draw),
   ``η_b ~ N(0, σ₀²)`` the run scatter and checkpoint noise of the ladder-only interval (times
   ``R/(R − k₂)`` for the curve's ``k₂`` free parameters), ``ε_b ~ s_η t_{R−3}`` the drift from ``φ``
   to the end, Student t because its scale is estimated from the R runs by a regression with three
   coefficients (``μ_η`` from the ladder's runs by the same regression; ``s_η²`` from its residuals,
   whose spread grows with the curve's log-slope along the run's path, carried to the target by its
   own slope, plus the drift's extrapolation error measured by nested holdouts of the ladder, see
   :meth:`_Calibration._drift_at` and :meth:`_Calibration.drift_tau`), ``δ_b = ℓ'_b − log L̂``
   the loss offset and ``κ`` the slope, over the ladder's runs, of their accuracy offsets on their
   loss offsets (part of a run's task-loss deviation never reaches its accuracy). The update is
   the ensemble Kalman one, with gain ``K = cov(o, m) / var(m)``:

   ``Acc_b = g(L'_b) + o_b + K (m_obs,b − m_b)``; the forecast ``g(e^m) + κ(m − log L̂) + K (m_obs − κ(m − log L̂))``.

   The interval is the central quantiles of ``Acc_b``. When the curve's level is measured (``K``
   near 1) the curve's uncertainty cancels but for its slope between the path and the end.

Nothing is tuned on a target: ``W`` is the selection's moving average (the window the actual is
measured over), the priors are those of the ladder-only interval, and every measurement variance,
mean miss and ``κ`` comes from the ladder's own runs. A finished run (its log reaches its planned
tokens) is forecast by its measured final values.

Schedules
---------
A checkpoint's learning rate comes from the log's learning-rate column, else the spec's declared
:class:`~taskladder.schedules.Schedule`, else the ladder's runs (LR / peak at the same fraction of
the schedule; the output says so). The run's end follows the declared schedule, else it is taken
to end as the ladder's runs do (a note says so): a final anneal below the ladder's final learning
rate enters through the learning-rate term (``u < 0``, beyond what the ladder's runs show), and
the verdict names it.

Columns
-------
Besides the forecast (:data:`WATCH_COLUMNS`): ``ladder_acc_pred`` the ladder-only prediction,
``loss_weight`` (``w``) and ``step2_weight`` (``K``), ``step2_offset`` (``m_obs``, how far off the
ladder's curve the target sits), ``loss_measured`` (``e^(y − μ)``) with ``loss_measured_sd`` (``s``)
and ``loss_prior_sd`` (``τ``), ``acc_target_only`` (the forecast from the target's accuracy alone,
``K = 1``) with ``acc_measured_sd`` (``s_η``) and ``acc_prior_sd`` (the SD of ``o_b``), ``window``
(route, loss window / accuracy window) and ``lr_source``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .fit.selection import Selection
from .io.runs import LR_COLUMN
from .ladder import Ladder, RunData

__all__ = ["watch", "WatchResult", "WATCH_COLUMNS", "COMPLETE_AT", "DEFAULT_FRACTIONS", "is_partial", "format_tokens",
           "check_fractions", "update_partial_targets"]

#: A target's file is complete when its last checkpoint has seen this fraction of its planned tokens.
COMPLETE_AT = 0.99
#: Fractions of the planned tokens watched by default.
DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 0.75)

WATCH_COLUMNS = ["target", "task", "fraction", "tokens_seen", "planned_tokens", "n_checkpoints", "task_loss_pred",
                 "task_loss_lo", "task_loss_hi", "acc_pred", "acc_lo", "acc_hi", "level", "acc_actual", "abs_error",
                 "reliability", "reliability_reason", "ladder_acc_pred", "loss_weight", "step2_weight", "step2_offset", "window",
                 "loss_measured", "loss_measured_sd", "loss_prior_sd", "acc_target_only", "acc_measured_sd", "acc_prior_sd",
                 "lr_source", "variant", "loss_unit", "status"]


@dataclass
class WatchResult:
    """Forecasts of watched targets, and the ladder-only prediction they start from.

    ``forecasts`` has one row per (target, task, fraction) with :data:`WATCH_COLUMNS` plus
    ``acc_lo_XX``/``acc_hi_XX`` per level; ``ladder`` is the ladder-only
    :class:`~taskladder.predict.PredictionResult`; ``notes`` one sentence each on how data was used.
    """

    forecasts: pd.DataFrame
    ladder: object
    notes: list[str] = field(default_factory=list)


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Fractions of the planned tokens, each in [0, 1], sorted and distinct."""
    values = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or not 0.0 <= f <= 1.0:
            raise ConfigError(f"fraction of the planned tokens must be in [0, 1] (e.g. 0.25), got {f!r}")
        values.append(float(f))
    if not values:
        raise ConfigError("no fraction to watch (give e.g. 0.1,0.25,0.5,0.75)")
    return tuple(sorted(set(values)))


def planned_tokens(target: RunData) -> float:
    """The target's planned tokens D: the spec's ``tokens`` (else its file's last checkpoint)."""
    return float(target.final_tokens)


def is_partial(target: RunData) -> bool:
    """Whether the target's file ends before its planned tokens (a run still training)."""
    return (target.has_data and target.spec.tokens is not None
            and float(target.tokens[-1]) < COMPLETE_AT * float(target.spec.tokens))


def format_tokens(tokens: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if tokens >= scale:
            return f"{tokens / scale:.3g}{suffix}"
    return f"{tokens:.3g}"


def _supports_update(law) -> str | None:
    """Why the law cannot be updated from a target's checkpoints (``None``: it can)."""
    from .fit.laws import LossToLossLaw, TwoStepLaw

    if isinstance(law, LossToLossLaw):
        return None
    if isinstance(law, TwoStepLaw):
        return None if law.step1_form in ("nd", "nd_lr") else "a compute-form step 1 has no trajectory in tokens"
    return f"the {type(law).__name__} has no task loss and step 2 to update"


class _Trajectory:
    """The ladder's law of a run's loss along its checkpoints, for the trajectory ratio ρ.

    Fitted on every checkpoint with the learning-rate term when every train run logs its learning
    rate (``power_law_nd_lr``), else on the runs' ends (``power_law_nd``); for the loss-to-loss law
    the C4 loss, carried to the task loss by the law's transfer map.

    Routes of measurement (:meth:`implied`): ``"task"`` reads the task loss of the checkpoints;
    ``"c4"`` (loss-to-loss law, a target that logs its C4 loss) reads their C4 loss, far less noisy,
    carries its implied final value through the transfer map, and adds the run's own offset from
    the map (the mean of ``log L_i − log T(C4_i)`` over the same checkpoints).
    """

    def __init__(self, law, ladder: Ladder):
        from .fit.laws import LossToLossLaw, _fit_step1_of, _usable

        self.uses_lr = ladder.has_metric(None, "lr")
        form = "nd_lr" if self.uses_lr else "nd"
        through_c4 = isinstance(law, LossToLossLaw) and law.uses_c4_
        feature = "c4" if through_c4 else law.feature
        _, self.fit = _fit_step1_of(ladder, law.task, feature, law.selection, form, "default")
        self.transfer = law.transfer_ if through_c4 else None
        self.ok = _usable(self.fit, "default") and (self.transfer is None or _usable(self.transfer, "default"))
        self.n_params = len(self.fit.params) + (0 if self.transfer is None else len(self.transfer.params))
        self.routes = ("task", "c4") if through_c4 else ("task",)
        self.description = (f"{'C4 ' if through_c4 else ''}{self.fit.form.name}"
                            f"{' and transfer map' if through_c4 else ''}")

    def log_loss(self, n_params: float, tokens: np.ndarray, u: np.ndarray, *, general: bool = False) -> np.ndarray:
        """``log L_traj(N, t, u)``: the task loss, or with ``general`` the C4 loss before the transfer map."""
        tokens = np.atleast_1d(np.asarray(tokens, float))
        columns = [np.full_like(tokens, float(n_params)), tokens]
        if self.uses_lr:
            columns.append(np.broadcast_to(np.asarray(u, float), tokens.shape))
        value = self.fit.predict(np.column_stack(columns))
        if self.transfer is not None and not general:
            value = self.transfer.predict(value.reshape(-1, 1))
        with np.errstate(all="ignore"):
            return np.log(value)

    def log_ratio(self, n_params: float, tokens: np.ndarray, u: np.ndarray, end_tokens: np.ndarray,
                  end_u: np.ndarray, *, general: bool = False) -> np.ndarray:
        """``log ρ = log L_traj(N, t, u) − log mean_k L_traj(N, t_k, u_k)`` over the run's last checkpoints
        ``(t_k, u_k)`` (``end_tokens``, ``end_u``): the end that a run's actual averages."""
        with np.errstate(all="ignore"):
            end = np.log(np.mean(np.exp(self.log_loss(n_params, end_tokens, end_u, general=general))))
        return self.log_loss(n_params, tokens, u, general=general) - end

    def implied(self, route: str, idx: np.ndarray, *, n_params: float, tokens: np.ndarray, u: np.ndarray,
                end_tokens: np.ndarray, end_u: np.ndarray, loss: np.ndarray, c4: np.ndarray | None) -> float:
        """The final log task loss (the mean over the run's last checkpoints) that checkpoints ``idx`` imply.

        Notes
        -----
        ``"task"``: ``mean_i (log L_i − log ρ_i)``. ``"c4"``: with ``y = mean_i (log G_i − log ρᴳ_i)``
        the implied final C4 loss, ``log T(e^y) + mean_i (log L_i − log T(G_i))``.
        """
        t, uu = tokens[idx], u[idx]
        with np.errstate(all="ignore"):
            if route == "task":
                return float(np.mean(np.log(loss[idx]) - self.log_ratio(n_params, t, uu, end_tokens, end_u)))
            y = float(np.mean(np.log(c4[idx]) - self.log_ratio(n_params, t, uu, end_tokens, end_u, general=True)))
            offset = np.mean(np.log(loss[idx]) - np.log(self.transfer.predict(c4[idx].reshape(-1, 1))))
            return float(np.log(self.transfer.predict(np.array([[np.exp(y)]]))[0]) + offset)


def _ladder_end_lr(ladder: Ladder) -> float:
    """The ladder's final LR / peak (its runs' mean): ``u = 0`` of the learning-rate term."""
    return float(np.mean([r.lr_fraction[-1] for r in ladder.train_runs]))


def _ladder_lr_by_fraction(ladder: Ladder, phi: np.ndarray) -> np.ndarray:
    """The ladder runs' mean LR / peak at fraction ``phi`` of their schedules."""
    return np.mean([np.interp(phi, r.tokens / r.final_tokens, r.lr_fraction) for r in ladder.train_runs], axis=0)


def _target_lr(target: RunData, ladder: Ladder, traj: _Trajectory):
    """The target's learning-rate term: ``(u per checkpoint, u at future tokens (a function), where it came from)``.

    ``u`` is LR / peak less the ladder's final LR / peak. The future (the end of the run, which its
    actual averages) follows the declared schedule, else the ladder's runs at the same fraction.
    """
    n = target.n_checkpoints
    if not traj.uses_lr:
        return np.zeros(n), (lambda t: np.zeros_like(np.asarray(t, float))), "none (the ladder logs no learning rate)"
    end = _ladder_end_lr(ladder)
    schedule = target.spec.schedule
    D = planned_tokens(target)
    if target.has_column(LR_COLUMN):
        lr, source = target.lr_fraction, "logged"
    elif schedule is not None:
        lr, source = schedule.lr_fraction(target.tokens, D), "declared"
    else:
        lr, source = _ladder_lr_by_fraction(ladder, target.tokens / D), "assumed the ladder's"
    if schedule is not None:
        future = lambda t: schedule.lr_fraction(np.asarray(t, float), D) - end  # noqa: E731
        if source == "logged":
            source = "logged; end declared"
    else:
        future = lambda t: _ladder_lr_by_fraction(ladder, np.asarray(t, float) / D) - end  # noqa: E731
    return lr - end, future, source


def _end_window(target: RunData, seen: np.ndarray, size: int) -> np.ndarray:
    """Tokens of the target's last ``size`` checkpoints at its planned end, spaced as its checkpoints so far."""
    D = planned_tokens(target)
    tokens = target.tokens[seen]
    step = float(np.median(np.diff(tokens))) if tokens.size > 1 else D / 100.0
    return np.clip(D - step * np.arange(size)[::-1], min(D, tokens[0]), D)



#: The two ways of choosing the checkpoints a measurement averages (see :func:`window`).
WINDOWS = ("last", "half")


def window(phi: np.ndarray, upto: float, rule: str, size: int) -> np.ndarray:
    """Indices of the checkpoints a measurement averages, among those at fractions ``phi ≤ upto``.

    ``"last"``: the last ``size`` of them (the window the actual is measured over); ``"half"``:
    every one in the latter half of what is seen, ``upto/2 < φ ≤ upto`` (at least the last ``size``).
    Averaging more checkpoints cancels more evaluation noise but reaches back further along the
    trajectory: which is better is read off the ladder's runs (:meth:`_Calibration.at`).
    """
    seen = np.flatnonzero(phi <= upto * (1 + 1e-9))
    last = seen[-size:]
    if rule == "last" or seen.size == 0:
        return last
    half = seen[phi[seen] > upto / 2]
    return half if half.size > last.size else last


def _run_entry(law, traj: _Trajectory, run: RunData, size: int) -> dict:
    """One finished run's checkpoints as the calibration reads them (see :class:`_Calibration`)."""
    from .tasks import C4_LOSS_COLUMN

    task, feature = law.task, law.feature
    loss = run.metric(task, feature)
    acc = run.metric(task, "accuracy")
    c4 = run.metric(None, "c4") if "c4" in traj.routes and run.has_column(C4_LOSS_COLUMN) else None
    u = run.lr_fraction - run.lr_fraction[-1] if traj.uses_lr else np.zeros(len(loss))
    w = min(size, len(loss))
    end_loss = float(np.mean(loss[-w:]))
    # The run's offset from the curve along its smooth path (its final loss times ρ), not at its
    # measured losses: a task loss carries evaluation noise that the curve would turn into accuracy.
    with np.errstate(all="ignore"):
        path = end_loss * np.exp(traj.log_ratio(run.n_params, run.tokens, u, run.tokens[-w:], u[-w:]))
    offset = acc - law.predict_accuracy(path)
    end_offset = float(np.mean(acc[-w:]) - law.predict_accuracy(np.array([end_loss]))[0])
    return {"run": run, "phi": run.tokens / run.final_tokens, "loss": loss, "c4": c4, "u": u,
            "log_end": np.log(end_loss), "drift": offset - end_offset, "offset": end_offset,
            "slope": curve_log_slope(law, path),
            "loss_offset": float(np.log(end_loss / law.predict_task_loss(run.n_params, run.final_tokens)[0]))}


class _Calibration:
    """What the ladder's own runs show about the two measurements, at each fraction of their schedule.

    For every train run ``r``, window (:func:`window`) of its checkpoints up to fraction ``φ`` and
    route (:meth:`_Trajectory.implied`): the miss of the implied final log task loss,
    ``e_r(φ) = implied − log mean(L_end)``, and the drift of the step-2 offset,
    ``d_r(φ) = mean(A_i − g(L_i)) − (Ā_end − g(L̄_end))``, with the run's end the mean of its last
    ``W`` checkpoints (as a target's actual). With ``nested``, the drift's variance at a target
    beyond the ladder also holds its extrapolation error, from the same calibration refitted on
    nested holdouts (:meth:`drift_tau`).
    """

    def __init__(self, law, ladder: Ladder, traj: _Trajectory, size: int, *, nested: bool = True):
        self.size = size
        self.traj = traj
        self.law, self.ladder = law, ladder
        runs = [r for r in ladder.train_runs if r.name in set(law.fitted_on_)]
        self.runs = [_run_entry(law, traj, run, size) for run in runs]
        self.nested = nested
        self.n_runs = len(runs)
        # How a run's accuracy offset from the curve moves with its loss offset from the law: part of a
        # run's task-loss deviation does not reach its accuracy (evaluation noise of the loss, say).
        delta = np.array([r["loss_offset"] for r in self.runs])
        offset = np.array([r["offset"] for r in self.runs])
        ok = np.isfinite(delta) & np.isfinite(offset)
        self.kappa = (float(np.cov(delta[ok], offset[ok])[0, 1] / np.var(delta[ok], ddof=1))
                      if ok.sum() > 2 and np.var(delta[ok]) > 0 else 0.0)
        self.k = len(traj.fit.params)
        fixed = (law.step2_.extra or {}).get("fixed", {})
        self.k2 = len(law.step2_.params) - len(fixed)  # the step-2 curve is fitted on the same runs too
        self._memo: dict = {}

    def at(self, phi: float, rule: str, route: str, n_params: float, tokens: float) -> tuple[float, float]:
        """``(μ, s²)`` of the loss measurement at fraction ``phi`` for a window ``rule`` and a ``route``, for a
        run of ``n_params`` and planned ``tokens`` (see :meth:`_at`)."""
        key = ("loss", round(phi, 6), rule, route, float(n_params), float(tokens))
        if key not in self._memo:
            self._memo[key] = self._at(phi, rule, route, n_params, tokens)
        return self._memo[key]

    def drift_at(self, phi: float, rule: str, n_params: float, tokens: float, slope: float) -> tuple[float, float]:
        """``(μ_η, s_η²)`` of the step-2 drift at fraction ``phi`` for a window ``rule``, for a run of
        ``n_params``, planned ``tokens`` and curve log-slope ``slope`` along its path (see :meth:`_drift_at`)."""
        key = ("drift", round(phi, 6), rule, float(n_params), float(tokens), round(float(slope), 9))
        if key not in self._memo:
            mu, s2 = self._drift_at(phi, rule, n_params, tokens, slope)
            if self.nested and np.isfinite(s2):
                from .fit.extrapolation import box_of, distance

                far = float(distance(n_params, tokens, box_of([r["run"] for r in self.runs])))
                s2 += (self.drift_tau(phi, rule) * far) ** 2
            self._memo[key] = (mu, s2)
        return self._memo[key]

    def drift_tau(self, phi: float, rule: str) -> float:
        """The drift's extrapolation error per decade beyond the ladder, ``τ_η``, from nested holdouts.

        Notes
        -----
        The regression of :meth:`_drift_at` knows how its runs scatter, not how much more a run
        beyond them drifts: the trajectory law and the curve, extrapolated, err more along its path
        than along the runs they were fitted on. The ladder measures this on itself as
        :mod:`~taskladder.fit.extrapolation` does for the ladder law: hold out the top rung (size or
        token multiple, then the top two, as long as :data:`~taskladder.fit.extrapolation.MIN_RUNGS`
        remain), refit the law, its trajectory law and this calibration on the rest, and read each
        held-out run's drift miss ``r = d − μ_η`` against the fold's ``s_η`` at its distance ``d``
        beyond the fold's runs. :func:`~taskladder.fit.extrapolation.estimate_tau` turns them into a
        scale per decade (only the excess beyond the regression's own spread, less one SD of its
        noise, counts; fewer than :data:`~taskladder.fit.extrapolation.MIN_MISSES` misses: no term),
        and a target ``d*`` decades out gets ``s_η² + (τ_η d*)²``. The rule is that of the ladder-only
        interval's extrapolation term, fixed before these misses were read.
        """
        key = ("drift_tau", round(phi, 6), rule)
        if key not in self._memo:
            from .fit.extrapolation import MIN_DISTANCE, MIN_MISSES, distance, estimate_tau

            r, sd, d = [], [], []
            for calib, entries, box in self._folds():
                for e in entries:
                    idx = window(e["phi"], phi, rule, self.size)
                    idx = idx if idx.size else np.array([0])
                    run = e["run"]
                    far = float(distance(run.n_params, run.final_tokens, box))
                    mu, s2 = calib._drift_at(phi, rule, run.n_params, run.final_tokens, float(np.mean(e["slope"][idx])))
                    miss = float(np.mean(e["drift"][idx])) - mu
                    if far >= MIN_DISTANCE and np.isfinite(s2) and np.isfinite(miss):
                        r.append(miss), sd.append(np.sqrt(s2)), d.append(far)
            tau = estimate_tau(r, sd, d) if len(r) >= MIN_MISSES else 0.0
            self._memo[key] = float(tau) if np.isfinite(tau) else 0.0
        return self._memo[key]

    def _folds(self) -> list:
        """The nested holdouts' ``(calibration, held-out runs' entries, box)``, each refitted on the rest."""
        if "folds" in self._memo:
            return self._memo["folds"]
        from .errors import TaskLadderError
        from .fit.backtest import holdout_split
        from .fit.extrapolation import MIN_RUNGS, NESTED_HOLDOUTS, box_of
        from .fit.laws import FailedLaw
        from .predict import fit_law

        law, ladder = self.law, self.ladder
        fitted_on = set(law.fitted_on_)
        folds = []
        for holdout in NESTED_HOLDOUTS:
            try:
                kept, held = holdout_split(ladder, holdout)
            except (DataError, ConfigError):
                continue
            kept_runs = [r for r in ladder.train_runs if r.name in set(kept)]
            held = [r for r in held if r.name in fitted_on]
            if not held or min(len({r.n_params for r in kept_runs}),
                               len({r.token_multiple for r in kept_runs})) < MIN_RUNGS:
                continue

            def refit(holdout=holdout, kept=kept):
                sub = ladder.memoize(("holdout ladder", holdout), lambda: ladder.subset(kept))
                try:
                    refitted = fit_law(law.variant_, law.task, sub, mode=law.mode, selection=law.selection)
                    if isinstance(refitted, FailedLaw):
                        return None
                    traj = _Trajectory(refitted, sub)
                except (TaskLadderError, np.linalg.LinAlgError, ValueError):
                    return None
                return (refitted, traj, sub) if traj.ok else None

            fitted = ladder.memoize(("watch fold", holdout, law.variant_, law.mode, law.selection, law.task), refit)
            if fitted is None:
                continue
            refitted, traj, sub = fitted
            try:
                calib = _Calibration(refitted, sub, traj, self.size, nested=False)
                entries = [_run_entry(refitted, traj, run, self.size) for run in held]
            except (TaskLadderError, ValueError):
                continue
            folds.append((calib, entries, box_of([sub.runs[name] for name in refitted.fitted_on_])))
        self._memo["folds"] = folds
        return folds

    def _windows(self, phi: float, rule: str) -> list[np.ndarray]:
        out = []
        for r in self.runs:
            idx = window(r["phi"], phi, rule, self.size)
            out.append(idx if idx.size else np.array([0]))  # a first checkpoint after phi: its earliest is the nearest
        return out

    def _design(self) -> np.ndarray:
        return np.array([[1.0, np.log(r["run"].n_params), np.log(r["run"].final_tokens)] for r in self.runs])

    def _at(self, phi: float, rule: str, route: str, n_params: float, tokens: float) -> tuple[float, float]:
        """The ladder's loss misses at ``phi``, carried to the target by a regression on its size.

        Notes
        -----
        The misses ``e_r`` are not the same for every run: a short run is earlier in its warmup
        and decay at the same fraction of its schedule. They are regressed on ``x = (1, log N, log D)``
        (least squares, ``R`` runs); at the target ``x*``: ``μ = x*ᵀβ`` and
        ``s² = σ̂² (1 + x*ᵀ(XᵀX)⁻¹x*) R/(R − k)``, with ``σ̂² = Σ r² / (R − 3)``, the factor
        ``1 + x*ᵀ(XᵀX)⁻¹x*`` the usual prediction variance of a regression (it grows with
        extrapolation) and ``R/(R − k)`` the in-sample correction for the ``k`` parameters of the
        trajectory law fitted on the same runs.
        """
        if route == "c4" and any(r["c4"] is None for r in self.runs):
            return 0.0, np.inf
        e = []
        for r, idx in zip(self.runs, self._windows(phi, rule)):
            run = r["run"]
            w = min(self.size, run.n_checkpoints)
            implied = self.traj.implied(route, idx, n_params=run.n_params, tokens=run.tokens, u=r["u"],
                                        end_tokens=run.tokens[-w:], end_u=r["u"][-w:], loss=r["loss"], c4=r["c4"])
            e.append(implied - r["log_end"])
        x_star = np.array([1.0, np.log(n_params), np.log(tokens)])
        return _regress(self._design(), np.array(e), x_star, self.k)

    def _drift_at(self, phi: float, rule: str, n_params: float, tokens: float, slope: float) -> tuple[float, float]:
        """The ladder's step-2 drifts at ``phi``, carried to the target with a spread that grows with the
        curve's slope.

        Notes
        -----
        A drift ``d_r`` is the accuracy measured along the window less what the curve says the run
        gains from there to its end. Part of it does not depend on where the run sits on the curve
        (evaluation noise of the window and of the end, an accuracy that lags its loss); the rest is
        a transport error: the trajectory law's error in the loss still to come (the error the loss
        measurement of :meth:`_at` sees) and the curve's own slope error, each turned into accuracy
        by the curve's log-slope along the run's path, ``b_r = mean_i dg/dlog L`` at ``L_end ρ_i``
        (:func:`curve_log_slope`). So the drift's variance is ``v(b) = v₀ + b² v₁``.

        The mean is the least-squares regression on ``x = (1, log N, log D)`` as for the loss,
        ``μ_η = x*ᵀβ``. The two variance components come from the regression of its squared
        residuals on ``(1, b_r²)`` (each kept ``≥ 0``, times ``R/(R − 3)`` for the three fitted
        coefficients), and at the target, with its own slope ``b*`` along its forecast path,

        ``s_η² = (v(b*) + x*ᵀ Cov(β) x*) R/(R − k₂)``, ``Cov(β) = (XᵀX)⁻¹ Xᵀ diag(v(b_r)) X (XᵀX)⁻¹``

        (the prediction variance of a regression whose residuals' variance differs by run; ``k₂`` the
        free parameters of the step-2 curve, fitted on the same runs).

        Why: a regression with one residual variance gives a target the ladder's average spread.
        The ladder's small runs sit on the sigmoid's flat top, where a transport error costs little
        accuracy; a target beyond its largest runs sits where the curve is steeper along its path (on
        the synthetic ladders of ``tests/synthetic.py``: ``b* ≈ −0.95`` against the largest runs'
        ``−0.5`` at fraction 0.1, ``−0.9`` against ``−0.67`` at 0.25), and the trajectory law,
        extrapolated, errs more there too (its log error 1.8 times the largest runs', which
        :meth:`drift_tau` measures). On 72 synthetic seeds that the tests do not use, the targets'
        drift (the forecast from their own accuracy alone) missed by 1.46, 1.37 and 1.30 of its
        ``s_η`` at fractions 0.1, 0.25 and 0.5 with one residual variance, most of it the trajectory
        law's share (``ρ``'s error times the slope), against 1.27, 1.24 and 1.22 with both terms.
        """
        if not np.isfinite(slope):
            return 0.0, np.inf
        d, b = [], []
        for r, idx in zip(self.runs, self._windows(phi, rule)):
            d.append(np.mean(r["drift"][idx]))
            b.append(np.mean(r["slope"][idx]))
        x_star = np.array([1.0, np.log(n_params), np.log(tokens)])
        return _regress_by_slope(self._design(), np.array(d), np.array(b), x_star, float(slope), self.k2)


def curve_log_slope(law, losses: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """``dg/dlog L`` of the law's step-2 curve at ``losses`` (a central difference in ``log L``): how much
    accuracy a relative error in the loss moves."""
    losses = np.asarray(losses, float)
    with np.errstate(all="ignore"):
        up = law.predict_accuracy(losses * np.exp(step))
        down = law.predict_accuracy(losses * np.exp(-step))
    return (up - down) / (2 * step)


def _regress(X: np.ndarray, y: np.ndarray, x_star: np.ndarray, k: int) -> tuple[float, float]:
    """Least-squares prediction at ``x_star`` and its variance, ``σ̂² (1 + x*ᵀ(XᵀX)⁻¹x*) R/(R − k)``
    (``(0, ∞)`` when there are too few runs to say)."""
    ok = np.isfinite(y)
    R = int(ok.sum())
    if R <= X.shape[1] + 1:
        return 0.0, np.inf
    Xo, yo = X[ok], y[ok]
    beta, *_ = np.linalg.lstsq(Xo, yo, rcond=None)
    resid = yo - Xo @ beta
    sigma2 = float(resid @ resid) / (R - X.shape[1])
    leverage = float(x_star @ np.linalg.pinv(Xo.T @ Xo) @ x_star)
    return float(x_star @ beta), sigma2 * (1.0 + leverage) * R / max(R - k, 1)


def _regress_by_slope(X: np.ndarray, y: np.ndarray, b: np.ndarray, x_star: np.ndarray, b_star: float,
                      k: int) -> tuple[float, float]:
    """Least-squares prediction at ``x_star`` and its variance when the residual variance is
    ``v₀ + b² v₁`` (see :meth:`_Calibration._drift_at`); ``(0, ∞)`` when there are too few runs to say."""
    ok = np.isfinite(y) & np.isfinite(b)
    R, p = int(ok.sum()), X.shape[1]
    if R <= p + 1:
        return 0.0, np.inf
    Xo, yo, bo = X[ok], y[ok], b[ok]
    beta, *_ = np.linalg.lstsq(Xo, yo, rcond=None)
    r2 = (yo - Xo @ beta) ** 2 * R / (R - p)
    B = np.column_stack([np.ones(R), bo ** 2])
    (v0, v1), *_ = np.linalg.lstsq(B, r2, rcond=None)
    if v1 < 0:
        v0, v1 = float(np.mean(r2)), 0.0
    elif v0 < 0:
        v0, v1 = 0.0, float(np.sum(r2 * bo ** 2) / np.sum(bo ** 4))
    v = v0 + v1 * bo ** 2
    inv = np.linalg.pinv(Xo.T @ Xo)
    cov = inv @ (Xo.T * v) @ Xo @ inv
    return float(x_star @ beta), float((v0 + v1 * b_star ** 2 + x_star @ cov @ x_star) * R / max(R - k, 1))


def _quantiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _ladder_row(row: pd.Series, fraction: float, target: RunData, actual: tuple[float, float] | None) -> dict:
    """A fraction's row that carries the ladder-only prediction (fraction 0, or no checkpoint seen yet)."""
    out = {k: row.get(k, np.nan) for k in row.index}
    out.update(fraction=fraction, tokens_seen=0.0, planned_tokens=planned_tokens(target), n_checkpoints=0,
               ladder_acc_pred=row["acc_pred"], loss_weight=0.0, step2_weight=0.0)
    acc_actual = np.nan if actual is None else actual[1]
    out.update(acc_actual=acc_actual, abs_error=abs(row["acc_pred"] - acc_actual)
               if np.isfinite(acc_actual) and np.isfinite(row["acc_pred"]) else np.nan)
    return out


def _final_actual(target: RunData, task, feature: str | None, window: int) -> tuple[float, float] | None:
    """The target's final task loss (``NaN`` without a ``feature``) and accuracy, each the mean of its last
    ``window`` checkpoints, when its file is complete."""
    if not target.has_data or is_partial(target):
        return None
    loss = np.nan if feature is None else float(np.mean(target.metric(task, feature)[-window:]))
    return loss, float(np.mean(target.metric(task, "accuracy")[-window:]))


def _forecast(law, ladder: Ladder, target: RunData, base: pd.Series, fraction: float, *, prior: dict,
              traj: _Trajectory, calib: _Calibration, lr: tuple[np.ndarray, float, str], levels: Sequence[float],
              seed: int, signal: dict, bounds, backtest_error) -> dict:
    """One (target, task, fraction) forecast from the checkpoints seen by then (see the module's Method)."""
    from .analysis.reliability import assess_reliability
    from .fit.uncertainty import target_normal, target_student_t

    D = planned_tokens(target)
    task, feature, size = law.task, law.feature, calib.size
    seen = np.flatnonzero(target.tokens <= fraction * D * (1 + 1e-9))
    actual = _final_actual(target, task, feature, size)
    row = _ladder_row(base, fraction, target, actual)
    row["lr_source"] = lr[2]
    if seen.size == 0:
        row["status"] = f"no checkpoint by {format_tokens(fraction * D)} tokens: the ladder alone"
        return row
    row.update(tokens_seen=float(target.tokens[seen[-1]]), n_checkpoints=int(seen.size))
    phi = float(target.tokens[seen[-1]] / D)
    if phi >= COMPLETE_AT:
        # The run is done: its final checkpoints are measured, and the forecast is what they say.
        acc_end = float(np.mean(target.metric(task, "accuracy")[seen][-size:]))
        loss_end = float(np.mean(target.metric(task, feature)[seen][-size:]))
        row.update(task_loss_pred=loss_end, task_loss_lo=loss_end, task_loss_hi=loss_end, acc_pred=acc_end,
                   acc_lo=acc_end, acc_hi=acc_end, level=max(levels), loss_weight=1.0, step2_weight=1.0,
                   status=f"complete ({seen.size} checkpoints, {format_tokens(row['tokens_seen'])} of "
                          f"{format_tokens(D)} tokens): the measured final values",
                   reliability="reliable", reliability_reason="measured: the run has reached its planned tokens")
        for q in levels:
            row[f"acc_lo_{round(100 * q)}"] = row[f"acc_hi_{round(100 * q)}"] = acc_end
        if actual is not None:
            row["abs_error"] = abs(acc_end - actual[1])
        return row
    # Each measurement averages the window (and the loss reads the route) whose precision the
    # ladder's runs show to be the better.
    from .tasks import C4_LOSS_COLUMN

    routes = [r for r in traj.routes if r == "task" or target.has_column(C4_LOSS_COLUMN)]
    options = {(rule, route): calib.at(phi, rule, route, target.n_params, D) for rule in WINDOWS for route in routes}
    rule, route = min(options, key=lambda key: options[key][1])
    mu, s2 = options[(rule, route)]
    last = window(target.tokens / D, phi, rule, size)
    u, future, _ = lr
    end_tokens = _end_window(target, seen, size)
    end_u = future(end_tokens)
    u_end = float(end_u[-1])
    loss = target.metric(task, feature)
    acc = target.metric(task, "accuracy")
    c4 = target.metric(None, "c4") if route == "c4" else None
    y = traj.implied(route, last, n_params=target.n_params, tokens=target.tokens, u=u, end_tokens=end_tokens,
                     end_u=end_u, loss=loss, c4=c4) - mu
    m0 = float(np.log(base["task_loss_pred"]))
    draws = prior["log_loss"]
    tau2 = float(np.nanvar(draws))
    w = tau2 / (tau2 + s2) if np.isfinite(s2) and tau2 + s2 > 0 else 0.0
    m1 = m0 + w * (y - m0)
    log_post = m1 + np.sqrt(1.0 - w) * (draws - m0)
    # The drift's window: the one whose drift the ladder shows to be the more precise, carried to the
    # target by the curve's log-slope along its forecast path (see _Calibration._drift_at).
    drifts = {}
    for rule_ in WINDOWS:
        idx = window(target.tokens / D, phi, rule_, size)
        with np.errstate(all="ignore"):
            path = np.exp(m1 + traj.log_ratio(target.n_params, target.tokens[idx], u[idx], end_tokens, end_u))
        drifts[rule_] = calib.drift_at(phi, rule_, target.n_params, D, float(np.mean(curve_log_slope(law, path))))
    rule2 = min(WINDOWS, key=lambda r: drifts[r][1])
    mu_eta, s2_eta = drifts[rule2]
    last2 = window(target.tokens / D, phi, rule2, size)
    # Step 2: the target's offset from the curve along its path (m, measured) and at its end (o), drawn
    # jointly: both hold the same bootstrap curve and run offset; m also the drift to the end. The
    # path is the forecast final loss times ρ (smooth), so the task loss's evaluation noise stays out.
    curves = prior["step2"]  # (losses (B,)) -> (B,): each bootstrap curve minus the fitted one
    salt = 100 + int(seen.size)  # keyed by the data seen: the same checkpoints give the same draws
    eta = prior["sigma0"] * target_normal(seed, salt, task.name, [target], len(draws), 1.0)[:, 0]
    loss_post = np.exp(log_post)
    with np.errstate(all="ignore"):
        rho = np.exp(traj.log_ratio(target.n_params, target.tokens[last2], u[last2], end_tokens, end_u))
    a_bar = float(np.mean(acc[last2]))
    paths = loss_post[:, None] * rho[None, :]  # (B, n)
    g_path = np.mean(law.predict_accuracy(paths.ravel()).reshape(paths.shape), axis=1)
    c_path = np.mean(np.column_stack([curves(paths[:, i]) for i in range(paths.shape[1])]), axis=1)
    m_obs_b = a_bar - g_path - mu_eta
    m_obs = float(a_bar - np.mean(law.predict_accuracy(np.exp(m1) * rho))) - mu_eta
    shift = calib.kappa * (log_post - m0)  # the accuracy offset that comes with the loss offset (κ δ)
    o = curves(loss_post) + shift + eta
    # The drift's SD is estimated from the ladder's R runs by a regression with three coefficients:
    # its miss is Student t with R − 3 degrees of freedom, not normal (wider tails with few runs).
    dof = max(len(calib.runs) - 3, 1)
    t_drift = target_student_t(seed, salt + 1, task.name, [target], len(draws), 1.0, dof)[:, 0]
    m = c_path + shift + eta + (np.sqrt(s2_eta) * t_drift if np.isfinite(s2_eta) else 0.0)
    ok = np.isfinite(o) & np.isfinite(m)
    var_m = float(np.var(m[ok])) if np.isfinite(s2_eta) else np.inf
    gain = float(np.clip(np.cov(o[ok], m[ok])[0, 1] / var_m, 0.0, 1.0)) if var_m > 0 and np.isfinite(var_m) else 0.0
    g_post = law.predict_accuracy(loss_post)
    acc_draws = np.clip(g_post + o + gain * (m_obs_b - m), 0.0, 1.0)
    kappa_shift = calib.kappa * (m1 - m0)
    acc_pred = float(law.predict_accuracy(np.array([np.exp(m1)]))[0] + kappa_shift + gain * (m_obs - kappa_shift))
    w2 = gain
    row.update(task_loss_pred=float(np.exp(m1)), acc_pred=acc_pred, loss_weight=w, step2_weight=w2,
               step2_offset=m_obs, acc_target_only=float(law.predict_accuracy(np.array([np.exp(m1)]))[0] + m_obs),
               acc_measured_sd=float(np.sqrt(s2_eta)), acc_prior_sd=float(np.std(o)), loss_measured=float(np.exp(y)), loss_measured_sd=float(np.sqrt(s2)), loss_prior_sd=float(np.sqrt(tau2)),
               window=f"{route}:{rule}/{rule2}")
    widest = max(levels)
    for q in sorted(levels):
        lo, hi = _quantiles(acc_draws, q)
        row[f"acc_lo_{round(100 * q)}"], row[f"acc_hi_{round(100 * q)}"] = lo, hi
    row["acc_lo"], row["acc_hi"], row["level"] = row[f"acc_lo_{round(100 * widest)}"], \
        row[f"acc_hi_{round(100 * widest)}"], widest
    row["task_loss_lo"], row["task_loss_hi"] = (float(v) for v in np.exp(_quantiles(log_post, widest)))
    if actual is not None:
        row["abs_error"] = abs(acc_pred - actual[1])
    row["status"] = (f"updated with {seen.size} checkpoint{'s' if seen.size != 1 else ''}, "
                     f"{format_tokens(row['tokens_seen'])} of {format_tokens(D)} tokens")
    verdict_row = pd.Series({**row, "member_gap_z": np.nan})
    verdict, reason = assess_reliability(verdict_row, signal, backtest_error, bounds=bounds)
    extra = []
    schedule = target.spec.schedule
    if schedule is not None and schedule.has_anneal:
        extra.append(f"end-of-run anneal ({schedule.describe()}) that the ladder's runs did not have: modelled by the "
                     f"learning-rate term at u = {u_end:+.2f}, beyond the ladder's range")
    elif traj.uses_lr and np.any(u[seen] < -0.02):
        extra.append("the target's learning rate is already below the ladder's final one (an anneal?): the "
                     "learning-rate term extrapolates")
    if lr[2].startswith("assumed"):
        extra.append("no learning-rate column or declared schedule: assumed the ladder's schedule")
    if extra:
        reason = "; ".join([reason] + extra)
    row["reliability"], row["reliability_reason"] = verdict, reason
    return row


def _prior(law, ladder: Ladder, targets: Sequence[RunData], *, n_bootstrap: int, seed: int) -> dict:
    """Bootstrap draws of the ladder law at each target: log task loss ``(B, T)``, step-2 curves (each
    resample's curve less the unweighted refit, a function of one loss per resample), and ``σ₀`` per
    target. The draws hold the interval terms of the ladder-only prediction: the extrapolation error
    of the ladder's nested backtests in the loss, and in ``σ₀`` the recipe shift (for a target
    trained otherwise) and step 2's form error beyond the ladder
    (:func:`~taskladder.fit.uncertainty.interval_terms`)."""
    from .fit.uncertainty import (bootstrap_predictions, interval_terms, noise_components, resample_counts,
                                  step2_refits)

    terms = interval_terms(law, ladder, targets)
    boot = bootstrap_predictions(law, ladder, targets, n_bootstrap=n_bootstrap, seed=seed,
                                 extra_log_sd=(terms["extrapolation_sd"], terms["extrapolation"].dof))
    with np.errstate(all="ignore"):
        log_loss = np.log(boot["loss"])
    # The very resamples of bootstrap_predictions (same seed, same first draw): each resample's step-2
    # curve is paired with its own task-loss draw, as in the ladder-only interval (the two steps are
    # fitted on the same runs, so their errors are correlated).
    counts = resample_counts(np.random.default_rng(seed), len(law.step2_points_.runs), n_bootstrap)
    P = step2_refits(law.step2_, law.step2_points_, counts).params
    form = law.step2_.form

    def curves(losses: np.ndarray) -> np.ndarray:
        x = np.asarray(losses, float)
        with np.errstate(all="ignore"):
            # 1-D input and a parameter matrix (k, B): resample b's curve at x[b]
            own = form.function(x, P[1:].T)
            base = form.function(x, P[0])
        return own - base

    sigma_run, sigma_ckpt = noise_components(law, ladder)
    # The run scatter is measured around a curve fitted on the same runs: undo the in-sample shrinkage
    # by R/(R − k) for its k free parameters over R runs, as for every other scale measured on the ladder.
    R = len(law.step2_points_.runs)
    k = len(law.step2_.params) - len((law.step2_.extra or {}).get("fixed", {}))
    sigma0 = float(np.hypot(sigma_run, sigma_ckpt)) * np.sqrt(R / max(R - k, 1))
    # A target's offset from the step-2 curve: its recipe shift, and step 2's form error this far
    # beyond the ladder; both are what its own checkpoints can reveal.
    step2_sd = 0.0 if terms["step2_sd"] is None else terms["step2_sd"]
    return {"log_loss": log_loss, "step2": curves,
            "sigma0": np.sqrt(sigma0**2 + np.square(terms["recipe_sd"]) + np.square(step2_sd))}


def watch(ladder: Ladder, fractions: Sequence[float] = DEFAULT_FRACTIONS, *, targets: Sequence[RunData] | None = None,
          tasks=None, variant: str | None = None, mode: str = "default", selection: Selection | None = None,
          levels: Sequence[float] = (0.5, 0.9), n_bootstrap: int = 1000, seed: int = 0) -> WatchResult:
    """Forecast each target's final task loss and accuracy at each fraction of its planned tokens.

    Parameters
    ----------
    ladder
        The ladder (its train runs are fitted once).
    fractions
        Fractions ``f`` in [0, 1] of each target's planned tokens ``D``: the forecast at ``f`` uses
        only the target's checkpoints with ``t ≤ f D``; ``0`` is the ladder alone.
    targets
        Targets to watch (default: the ladder's targets that have a history file).
    tasks, variant, mode, selection, levels, n_bootstrap, seed
        As for :func:`~taskladder.predict.predict_ladder` (fraction 0 is its prediction, with
        intervals and verdicts).

    Returns
    -------
    WatchResult
        ``forecasts``: one row per (target, task, fraction), :data:`WATCH_COLUMNS`;
        ``acc_actual``/``abs_error`` only when the target's file reaches its planned tokens.
        A law that cannot be updated (fitted straight to accuracy) or did not converge keeps the
        ladder-only numbers or none, and ``status`` says why.

    Raises
    ------
    DataError
        A target without a history file, or a watched target whose file lacks a task's columns.
    ConfigError
        A fraction outside [0, 1].
    """
    from .analysis.reliability import curve_bounds, ladder_signal
    from .predict import predict_ladder

    fractions = check_fractions(fractions)
    if targets is None:
        targets = [t for t in ladder.targets if t.has_data]
        if not targets:
            names = ", ".join(t.name for t in ladder.targets) or "none"
            raise DataError(f"no target with a history file to watch (targets: {names}); give a target's "
                            "evaluation log as file = \"...\" in its [[run]] table")
    for target in targets:
        if not target.has_data:
            raise DataError(f"target {target.name!r} has no history file to watch; give its evaluation log as "
                            f"file = \"...\" in its [[run]] table")
    base = predict_ladder(ladder, tasks=tasks, variant=variant, mode=mode, selection=selection, targets=targets,
                          intervals=True, levels=levels, n_bootstrap=n_bootstrap, seed=seed, reliability=True,
                          update=False)
    notes = list(base.notes)
    rows = []
    for task_name, law in base.laws.items():
        pred = base.predictions[base.predictions["task"] == task_name].set_index("target")
        why = _supports_update(law)
        traj = calib = prior = None
        if why is None and np.isfinite(pred["acc_pred"].astype(float)).any():
            traj = _Trajectory(law, ladder)
            if not traj.ok:
                why = f"the trajectory law ({traj.description}) did not converge"
        if why is None and traj is not None:
            calib = _Calibration(law, ladder, traj, law.selection.moving_avg)
            prior = _prior(law, ladder, targets, n_bootstrap=n_bootstrap, seed=seed)
            signal = ladder_signal(getattr(law, "primary_", law), ladder)
            bounds = curve_bounds(law)
        for j, target in enumerate(targets):
            row0 = pred.loc[target.name].copy()
            row0["target"] = target.name
            for name in law.task.needed_columns("accuracy"):
                if not target.has_column(name):
                    raise DataError(f"{target.spec.file}: no column {name!r} (task {task_name} needs it to watch "
                                    f"target {target.name!r})")
            actual = _final_actual(target, law.task, getattr(law, "feature", None), law.selection.moving_avg)
            for f in fractions:
                if f == 0.0 or traj is None or calib is None or not np.isfinite(row0["acc_pred"]):
                    row = _ladder_row(row0, f, target, actual)
                    row["status"] = "the ladder alone" if f == 0.0 else (
                        f"not updated: {why or 'no converged ladder prediction'}")
                    row["lr_source"] = ""
                    if f > 0.0 and not np.isfinite(row0["acc_pred"]):
                        row["status"] = "no number: the ladder law did not converge"
                else:
                    lr = _target_lr(target, ladder, traj)
                    own = {"log_loss": prior["log_loss"][:, j], "step2": prior["step2"], "sigma0": prior["sigma0"][j]}
                    row = _forecast(law, ladder, target, row0, f, prior=own, traj=traj, calib=calib, lr=lr,
                                    levels=levels, seed=seed, signal=signal, bounds=bounds,
                                    backtest_error=row0.get("backtest_error"))
                rows.append(row)
    frame = pd.DataFrame(rows)
    extra = sorted(c for c in frame.columns if c.startswith(("acc_lo_", "acc_hi_")))
    frame = frame[[c for c in WATCH_COLUMNS if c in frame.columns] + extra].reset_index(drop=True)
    sources = {t.name: s for t in targets for s in [_lr_source_note(t, ladder)] if s}
    notes += [f"{name}: {text}" for name, text in sources.items()]
    return WatchResult(forecasts=frame, ladder=base, notes=notes)


def _lr_source_note(target: RunData, ladder: Ladder) -> str | None:
    """A note when a target's learning rate, or the end of its schedule, is assumed rather than known."""
    if not ladder.has_metric(None, "lr") or target.spec.schedule is not None:
        return None
    if target.has_column(LR_COLUMN):
        return ("its schedule's end is not declared: taken to end as the ladder's runs do (declare "
                "schedule = {...} in its [[run]] table for an anneal the ladder's runs did not have)")
    return ("no learning-rate column and no declared schedule: its checkpoints are taken to follow the ladder's "
            "schedule (declare one with schedule = {...} in its [[run]] table)")


def update_partial_targets(ladder: Ladder, result, *, targets: Sequence[RunData], tasks, variant: str | None,
                           selection: Selection | None, levels: Sequence[float], n_bootstrap: int,
                           seed: int) -> None:
    """Condition the predictions of targets whose files end before their planned tokens on their checkpoints.

    Used by :func:`~taskladder.predict.predict_ladder` (with its own arguments): each such
    target's rows become the :func:`watch` forecast at the fraction its file reaches, its
    ``acc_actual`` (not known before the end) missing, and a note says so ("updated with 41
    checkpoints, 1.2T of 4T tokens"). Modifies ``result`` in place.
    """
    partial = [t for t in targets if is_partial(t)]
    if not partial or result.predictions.empty:
        return
    watched = watch(ladder, [1.0], targets=partial, tasks=tasks, variant=variant, mode=result.mode,
                    selection=selection, levels=levels, n_bootstrap=n_bootstrap, seed=seed)
    pred = result.predictions
    carried = ["task_loss_pred", "acc_pred", "acc_lo", "acc_hi", "task_loss_lo", "task_loss_hi", "reliability",
               "reliability_reason"] + [c for c in watched.forecasts.columns if c.startswith(("acc_lo_", "acc_hi_"))]
    for _, row in watched.forecasts.iterrows():
        at = (pred["target"] == row["target"]) & (pred["task"] == row["task"])
        for column in carried:
            if column in pred.columns:
                pred.loc[at, column] = row[column]
        pred.loc[at, ["task_loss_actual", "acc_actual", "abs_error", "acc_from_actual_loss"]] = np.nan
        for column in ("acc_from_actual_loss_lo", "acc_from_actual_loss_hi", "member_gap", "member_gap_z"):
            if column in pred.columns:
                pred.loc[at, column] = np.nan
        pred.loc[at, "step1_status"] = [f"{s}; {row['status']}" for s in pred.loc[at, "step1_status"]]
    for target in partial:
        rows = watched.forecasts[watched.forecasts["target"] == target.name]
        status = rows["status"].iloc[0] if len(rows) else ""
        result.notes.append(f"{target.name}: its file ends before its planned tokens; {status}"
                            if status.startswith("updated") else f"{target.name}: {status}")
