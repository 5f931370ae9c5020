"""Task scaling laws as estimators: two-step (the paper's main method), single-step and direct.

Every law follows scikit-learn's conventions: options are keyword-only and stored as given,
:meth:`fit` takes a :class:`~taskladder.ladder.Ladder` and returns ``self``, fitted state ends in
``_``, and :meth:`predict` before :meth:`fit` raises :class:`~taskladder.errors.NotFittedError`.

Two fitting *modes* exist for each law:

``"paper"``
    The reference implementation's choices (method.md §1): one starting point, its bounds, the
    Huber-on-log L-BFGS-B fit for power laws and ``curve_fit`` for sigmoids, the "ideal point"
    ``(L = 0, Acc = 1)`` added to step 2. Non-converged fits are kept (as the reference keeps
    them) but flagged in ``step1_status``/``step2_status``.
``"default"``
    Multi-start least squares with analytic Jacobians from grid (variable-projection) starts:
    step 1 on log residuals (relative error, the natural scale of a loss), step 2 on accuracy.
    No fake data point: the step-2 sigmoid's upper asymptote is *fixed* at accuracy 1 instead
    (a model that puts all mass on the right answer is always right), and recorded as fixed.
    A fit that does not converge gives no number: its prediction is missing and its status says
    why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, NotFittedError
from ..ladder import Ladder, RunData
from ..tasks import C4_LOSS_COLUMN, Task
from .forms import (FORMS, Form, flat, log_sigmoid, negated_power_law_nd, power_law_c, power_law_nd, power_law_nd_lr,
                    power_law_nd_shared, sigmoid, single_step)
from .optimize import fit_curve_fit, fit_huber_irls, fit_huber_log_lbfgsb, fit_least_squares, fit_least_squares_many
from .parallel import map_in_processes
from .result import FitResult
from .selection import Points, Selection, step1_arrays, step1_checkpoint_arrays, step2_arrays, target_actual
from .starts import single_step_starts, power_law_c_starts, power_law_nd_starts, sigmoid_starts

__all__ = ["FailedLaw", "TwoStepLaw", "SingleStepLaw", "DirectLaw", "EnsembleLaw", "ComputeAccuracyLaw", "LossToLossLaw", "MODES", "FEATURES", "PREDICTION_COLUMNS",
           "STEP1_BOUNDS",
           "fit_step1", "fit_step2", "fit_accuracy_laws"]

MODES = ("paper", "default")
#: Intermediate features of two-step laws: task bpb, C4 LM loss, TaskCE (−soft_log).
FEATURES = ("bpb", "c4", "taskce")

PREDICTION_COLUMNS = ["target", "task", "n_params", "tokens", "task_loss_pred", "task_loss_actual",
                      "acc_pred", "acc_actual", "abs_error", "acc_from_actual_loss", "step1_status",
                      "step2_status"]

_INF = np.inf
#: How far below chance the step-2 curve's floor may sit (accuracy): measured accuracies at chance
#: scatter a little below it on small test sets.
CHANCE_MARGIN = 0.05
#: Step 2 is a sigmoid only where accuracy rises steadily as the loss falls across the ladder's
#: runs: the Spearman correlation of the runs' last loss and accuracy at most this. Above it the
#: sigmoid's rise beyond the ladder is the shape's assumption, not the data's (a ladder flat at
#: 49 % fits a knee just past its last run and predicts 94 %), and step 2 is flat at the points'
#: mean. Chosen by ``benchmarks/step2_forms.py`` (step 2 extrapolated to each ladder's lowest-loss
#: quarter, pooled over five suites, by the rule fixed before: the lower mean error over suites),
#: at the threshold the reliability verdict already used for "no steady rise".
NO_TREND_RANK_CORRELATION = -0.7


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown method {mode!r}; use one of {', '.join(MODES)}")


def _check_enough(n_points: int, form: Form, what: str) -> None:
    if n_points < len(form.params):
        raise DataError(f"{what}: {n_points} train run(s) but the form {form.name} has "
                        f"{len(form.params)} parameters; add runs to the ladder")


def _status(fit: FitResult, mode: str) -> str:
    text = fit.status
    if fit.at_bounds:
        text += f"; at bound: {', '.join(fit.at_bounds)}"
    return text


def _usable(fit: FitResult, mode: str) -> bool:
    """Paper mode reports whatever the reference's optimizer stopped at, as long as it moved from its
    start to a finite objective; default needs convergence."""
    finite = bool(np.all(np.isfinite(fit.params))) and bool(np.isfinite(fit.loss))
    if mode == "paper":
        # An optimizer that never left its starting point (a non-finite objective there) returns
        # the start itself: a number that says nothing about the data.
        return finite and (fit.converged or fit.n_iterations > 0)
    return finite and fit.converged


def _grid_first(form: Form, X: np.ndarray, y: np.ndarray, starts: list, bounds, **options) -> FitResult:
    """Fit from the grid's best start; only if that does not converge, from every start.

    The grid solves the linear parameters exactly for each nonlinear combination, so its best
    point is nearly always in the global optimum's basin; the other starts are a fallback.
    """
    fit = fit_least_squares(form, X, y, starts[:1], bounds, **options)
    return fit if fit.converged else fit_least_squares(form, X, y, starts, bounds, **options)


def _columns(points: Points | pd.DataFrame, *names: str) -> np.ndarray:
    """Named columns of a points table (or :class:`Points`) as a float matrix ``(n, len(names))``."""
    return np.column_stack([np.asarray(points[n], dtype=float) for n in names])


#: Bounds ``(lower, upper)`` of the default step-1 fits per form, shared with their bootstrap refits:
#: exponents in [0, 5], asymptote E ≥ 0, the learning-rate factor c in [−5, 5].
STEP1_BOUNDS: dict[str, tuple[list[float], list[float]]] = {
    "power_law_nd": ([-_INF, -_INF, 0.0, 0.0, 0.0], [_INF, _INF, 5.0, 5.0, _INF]),
    "power_law_nd_lr": ([-_INF, -_INF, 0.0, 0.0, 0.0, -5.0], [_INF, _INF, 5.0, 5.0, _INF, 5.0]),
    "power_law_nd_shared": ([-_INF, -_INF, 0.0, 0.0], [_INF, _INF, 5.0, _INF]),
    "power_law_c": ([-_INF, 0.0, 0.0], [_INF, 5.0, _INF]),
}
#: Bounds of the loss-to-loss transfer map ``L_task = K L_C4^κ + E'`` as a compute-form power law
#: (its exponent ``α = −κ`` lies in [−10, 0]), shared with its bootstrap refits.
TRANSFER_BOUNDS: tuple[list[float], list[float]] = ([-_INF, -10.0, 0.0], [_INF, 0.0, _INF])


def fit_step1(points: Points | pd.DataFrame, *, form: str = "nd", mode: str = "default",
              robust: bool = False) -> FitResult:
    """Fit step 1: (N, D) → feature (``form="nd"``, or ``"nd_shared"`` with one exponent,
    ``A/N^α + B/D^α + E``) or compute C → feature (``form="flops"``).

    ``points`` has columns ``n_params, tokens, flops, y`` (see :func:`~.selection.step1_arrays`).
    ``robust`` (default mode, ``form="nd"`` or ``"nd_shared"``): a Huber loss on log residuals (δ = 10⁻³, nearly the
    absolute relative error; :func:`~.optimize.fit_huber_irls`, from the least-squares fit)
    instead of least squares; the default for the general (C4) loss, whose held-out runs it
    predicts better on every suite (``benchmarks/step1_fits.py``).
    """
    _check_mode(mode)
    y = np.asarray(points["y"], dtype=float)
    if np.any(y <= 0):
        raise DataError("step 1 fits a positive loss in log space, but the feature has values <= 0")
    if form == "nd":
        X = _columns(points, "n_params", "tokens")
        _check_enough(len(y), power_law_nd, "step 1")
        if mode == "paper":
            return fit_huber_log_lbfgsb(power_law_nd, X, y, [3.0, 6.0, 0.1, 0.2, 1.0],
                                        ([0.0] * 5, [_INF] * 5))
        starts = power_law_nd_starts(X[:, 0], X[:, 1], y)
        starts.append(np.array([3.0, 6.0, 0.1, 0.2, 0.5 * y.min()]))
        fit = _grid_first(power_law_nd, X, y, starts, STEP1_BOUNDS["power_law_nd"], residual="log")
        if not robust:
            return fit
        huber = fit_huber_irls(power_law_nd, X, y, fit, STEP1_BOUNDS["power_law_nd"])
        if huber.converged or not fit.converged:
            return huber
        # Rounds that creep along a ridge the data barely pin: the least-squares fit, saying so.
        return replace(fit, status=f"{fit.status} (least squares: the Huber fit did not settle in "
                                   f"{huber.n_iterations} rounds)")
    if form == "nd_shared":
        X = _columns(points, "n_params", "tokens")
        _check_enough(len(y), power_law_nd_shared, "step 1")
        # The (N, D) law's grid starts with both exponents set to their mean.
        starts = [np.array([p[0], p[1], 0.5 * (p[2] + p[3]), p[4]]) for p in power_law_nd_starts(X[:, 0], X[:, 1], y)]
        starts.append(np.array([3.0, 6.0, 0.15, 0.5 * y.min()]))
        bounds = STEP1_BOUNDS["power_law_nd_shared"]
        fit = fit_least_squares(power_law_nd_shared, X, y, starts, bounds, residual="log")
        return fit_huber_irls(power_law_nd_shared, X, y, fit, bounds) if robust else fit
    if form == "nd_lr":
        # Not in the paper: the default fit in both modes, from the (N, D) law's starts with c = 0.
        X = _columns(points, "n_params", "tokens", "lr_excess")
        _check_enough(len(y), power_law_nd_lr, "step 1 on every checkpoint")
        starts = [np.append(p, 0.0) for p in power_law_nd_starts(X[:, 0], X[:, 1], y)]
        starts.append(np.array([3.0, 6.0, 0.1, 0.2, 0.5 * y.min(), 0.0]))
        return _grid_first(power_law_nd_lr, X, y, starts, STEP1_BOUNDS["power_law_nd_lr"], residual="log")
    if form == "flops":
        X = _columns(points, "flops")
        if not np.all(np.isfinite(X)):
            raise DataError("the compute form needs FLOPs per token of every train run (give a size label or "
                            "flops_per_token in the spec)")
        _check_enough(len(y), power_law_c, "step 1 (compute)")
        if mode == "paper":
            return fit_huber_log_lbfgsb(power_law_c, X, y, [3.0, 0.1, 1.0], ([0.0, 0.0, 0.0], [_INF, 1.0, _INF]))
        starts = power_law_c_starts(X[:, 0], y) + [np.array([3.0, 0.1, 0.5 * y.min()])]
        return _grid_first(power_law_c, X, y, starts, STEP1_BOUNDS["power_law_c"], residual="log")
    raise ConfigError(f"unknown step-1 form {form!r}; use 'nd', 'nd_shared', 'nd_lr' or 'flops'")


def fit_step2(points: Points | pd.DataFrame, *, task: Task, form: str = "sigmoid", mode: str = "default",
              ideal_point: bool | None = None) -> FitResult:
    """Fit step 2: feature → accuracy (``form="sigmoid"`` or ``"log_sigmoid"``).

    ``points`` has columns ``x, y`` (see :func:`~.selection.step2_arrays`). ``ideal_point`` appends the
    reference's synthetic point ``(0, 1)`` (default: in paper mode for the sigmoid only).

    In default mode a sigmoid whose points (a :class:`~.selection.Points`) show no steady rise of
    accuracy as the loss falls, a Spearman correlation of the runs' last loss and accuracy above
    :data:`NO_TREND_RANK_CORRELATION`, is fitted flat instead: ``Acc = c``, the points' mean, and
    the status says so. The sigmoid fitted to the same points is kept in ``extra["alternative"]``:
    half of the bootstrap's draws come from it (:func:`~.uncertainty.bootstrap_predictions`), as
    the ladder cannot rule out the rise it would predict.
    """
    _check_mode(mode)
    x = np.asarray(points["x"], dtype=float)
    y = np.asarray(points["y"], dtype=float)
    if ideal_point is None:
        ideal_point = mode == "paper" and form == "sigmoid"
    if ideal_point:
        x, y = np.append(x, 0.0), np.append(y, 1.0)
    X = x.reshape(-1, 1)
    if form == "sigmoid":
        bounds = ([-1.0, 0.0, 0.0, 0.0], [0.0, _INF, _INF, 1.0])
        if mode == "paper":
            # p0 of the reference's step2.py: [task minimum − 1, 0.9, 3, 1] (method.md §1.5).
            return fit_curve_fit(sigmoid, X, y, [task.chance - 1.0, 0.9, 3.0, 1.0], bounds)
        # The floor 1 + a stays within CHANCE_MARGIN of chance (a curve that sinks far below
        # guessing predicts the impossible), and k stays below 50 per unit of loss: a ladder that
        # jumps once between two runs would otherwise fit a step whose steepness grows without end;
        # bounded, the fit ends "at bound: k" and the verdict sees a prediction at the ceiling.
        bounds = ([max(-1.0, task.chance - CHANCE_MARGIN - 1.0), 0.0, 0.0, 0.0], [0.0, _INF, 50.0, 1.0])
        starts = sigmoid_starts(x, y, top=1.0) + [np.array([task.chance - 1.0, 0.9, 3.0, 1.0])]
        starts = [np.clip(p, bounds[0], bounds[1]) for p in starts]
        # A steep curve creeps towards its k bound slowly: allow the iterations to reach it.
        curve = _grid_first(sigmoid, X, y, starts, bounds, fixed={"b": 1.0}, max_iter=1000)
        trend = points.rank_correlation() if isinstance(points, Points) else np.nan
        if ideal_point or not (np.isfinite(trend) and trend > NO_TREND_RANK_CORRELATION):
            return curve
        # No steady rise: the level of the points (started off their mean, which the fit reaches
        # in one step, so that it has moved). The sigmoid stays beside it: the ladder cannot tell
        # whether the task starts to rise beyond it, so the intervals draw from both.
        fit = fit_least_squares(flat, X, y, [[float(np.min(y))]], ([0.0], [1.0]))
        return replace(fit, status=f"{fit.status}; flat: accuracy does not rise steadily as the loss falls "
                                  f"(rank correlation {trend:+.2f})", extra={**(fit.extra or {}), "alternative": curve})
    if form == "log_sigmoid":
        bounds = ([-_INF, 0.0, 0.0], [0.0, _INF, _INF])
        if mode == "paper":
            return fit_curve_fit(log_sigmoid, X, y, [-0.1, 0.9, 3.0], bounds)
        # When every point sits on the nearly linear branch of the softplus, only a·k and x0 are
        # identified and k drifts to infinity; bounding k (50 per unit of loss is far steeper than
        # any observed curve) makes such a fit end "at bound: k" instead of never converging.
        bounds = ([-10.0, 0.0, 0.0], [0.0, 10.0, 50.0])
        starts = [np.array([a, x0, k]) for a in (-0.1, -0.5) for x0 in np.quantile(x, [0.1, 0.5, 0.9])
                  for k in (1.0, 5.0)]
        return fit_least_squares(log_sigmoid, X, y, starts, bounds)
    raise ConfigError(f"unknown step-2 form {form!r}; use 'sigmoid' or 'log_sigmoid'")


def _fit_step1_of(ladder: Ladder, task: Task, feature: str, selection: Selection, form: str,
                  mode: str) -> tuple[Points, FitResult]:
    """Step-1 points and fit of a feature; a task-independent feature (C4 loss) is fitted once per
    ladder and shared by every task's law."""
    arrays = step1_checkpoint_arrays if form == "nd_lr" else step1_arrays
    if feature != "c4":
        points = arrays(ladder, task, feature, selection)
        return points, fit_step1(points, form=form, mode=mode)

    def fit() -> tuple[Points, FitResult]:
        points = arrays(ladder, None, feature, selection)
        # The general loss's law is fitted robustly (see fit_step1): one run off the law, common
        # on ladders evaluated once per run, moves its extrapolation less. It keeps two exponents:
        # one shared by parameters and tokens erred less one rung out, but 1.3 decades out, as far
        # as targets lie, the held-out runs' C4 loss erred 1.88 % RMS against 1.34 %, twice as much
        # on one suite (benchmarks/step1_fits.py).
        return points, fit_step1(points, form=form, mode=mode, robust=mode == "default")

    key = selection.skip_fraction if form == "nd_lr" else selection.step1_window
    return ladder.memoize(("step1", feature, key, form, mode), fit)


def step1_inputs(fit: FitResult, n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Step 1's input matrix at (N, D) at the end of a run: ``u = 0`` for the checkpoint form."""
    n_params, tokens = np.atleast_1d(np.asarray(n_params, float)), np.atleast_1d(np.asarray(tokens, float))
    columns = [n_params, tokens] + ([np.zeros_like(n_params)] if "lr_excess" in fit.form.inputs else [])
    return np.column_stack(columns)


class _Law:
    """Shared plumbing of the laws: option storage, fitted check, target table."""

    mode: str
    selection: Selection
    task: Task

    @property
    def step1_data_(self) -> pd.DataFrame:
        """Step-1 points as a table (see :func:`~.selection.step1_points`).

        For step 1 on every checkpoint (``power_law_nd_lr``) each checkpoint's loss is carried to
        the end of its run, ``y = y_measured / (1 + c u)``, so that the points sit on the law at
        ``u = 0`` that figures and residuals compare them with.
        """
        frame = self.step1_points_.frame()
        fit = self.step1_
        if fit.form.name != "power_law_nd_lr":
            return frame
        frame = frame.copy()
        frame["y_measured"] = frame["y"]
        frame["y"] = frame["y_measured"] / (1.0 + fit.named_params["c"] * frame["lr_excess"])
        return frame

    @property
    def step2_data_(self) -> pd.DataFrame:
        """Step-2 points as a table (see :func:`~.selection.step2_points`)."""
        return self.step2_points_.frame()

    def _check_fitted(self) -> None:
        if not hasattr(self, "fitted_on_"):
            raise NotFittedError(f"{type(self).__name__} for task {self.task.name!r} is not fitted; call fit() first")

    def _target_row(self, target: RunData) -> dict:
        return {"target": target.name, "task": self.task.name, "n_params": int(target.n_params),
                "tokens": float(target.final_tokens)}

    def predict(self, targets: Sequence[RunData]) -> pd.DataFrame:
        """Predictions for each target: a table with :data:`PREDICTION_COLUMNS`."""
        self._check_fitted()
        rows = [self._predict_one(t) for t in targets]
        return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)

    def _predict_one(self, target: RunData) -> dict:  # pragma: no cover - overridden
        raise TypeError


class FailedLaw(_Law):
    """A law whose fit could not be carried out (singular or degenerate data): every prediction is
    missing, and its status says why. Stands in for the law so that the other tasks still come out.
    """

    def __init__(self, *, task: Task, variant: str, reason: str, mode: str = "default",
                 selection: Selection = Selection()):
        self.task = task
        self.variant = variant
        self.reason = reason
        self.mode = mode
        self.selection = selection

    def fit(self, ladder: Ladder) -> "FailedLaw":
        self.fitted_on_ = [r.name for r in ladder.train_runs]
        return self

    def _predict_one(self, target: RunData) -> dict:
        row = self._target_row(target)
        acc_actual = target_actual(target, self.task, "accuracy", self.selection.moving_avg)
        row.update(task_loss_pred=np.nan, task_loss_actual=np.nan, acc_pred=np.nan, acc_actual=acc_actual,
                   abs_error=np.nan, acc_from_actual_loss=np.nan, step1_status=f"failed: {self.reason}",
                   step2_status="")
        return row


class TwoStepLaw(_Law):
    """Two chained fits: step 1 (N, D) → task loss, step 2 task loss → accuracy.

    Parameters
    ----------
    task
        The task to fit.
    feature
        Intermediate feature: ``"bpb"`` (task loss, the paper's main method), ``"c4"`` (general
        LM loss) or ``"taskce"`` (−soft_log).
    step1_form
        ``"nd"``: ``L(N, D) = A/N^α + B/D^β + E`` on each run's final checkpoints; ``"nd_lr"``: the
        same law fitted on every checkpoint, each corrected for its learning rate
        (``× (1 + c u)``, ``u`` = LR/peak above its final value; not in the paper);
        ``"flops"``: ``L(C) = A/C^α + E``.
    step2_form
        ``"sigmoid"`` or ``"log_sigmoid"`` (default: log-sigmoid for TaskCE, else sigmoid).
    mode
        ``"paper"`` or ``"default"`` (see module docstring).
    selection
        Which checkpoints enter each step.

    Notes
    -----
    Prediction: ``Acc(N, D) = g(L(N, D))`` with ``L`` the step-1 law and ``g`` the step-2 curve.
    """

    def __init__(self, *, task: Task, feature: str = "bpb", step1_form: str = "nd",
                 step2_form: str | None = None, mode: str = "default", selection: Selection = Selection()):
        _check_mode(mode)
        if feature not in FEATURES:
            raise ConfigError(f"unknown intermediate feature {feature!r}; use one of {', '.join(FEATURES)}")
        self.task = task
        self.feature = feature
        self.step1_form = step1_form
        self.step2_form = step2_form
        self.mode = mode
        self.selection = selection

    @property
    def _step2_form(self) -> str:
        return self.step2_form or ("log_sigmoid" if self.feature == "taskce" else "sigmoid")

    def fit(self, ladder: Ladder) -> "TwoStepLaw":
        self.step1_points_, self.step1_ = _fit_step1_of(ladder, self.task, self.feature, self.selection,
                                                        self.step1_form, self.mode)
        self.step2_points_ = step2_arrays(ladder, self.task, self.feature, self.selection)
        self.step2_ = fit_step2(self.step2_points_, task=self.task, form=self._step2_form, mode=self.mode)
        self.fitted_on_ = [r.name for r in ladder.train_runs]
        return self

    def predict_task_loss(self, n_params: np.ndarray, tokens: np.ndarray, flops_per_token: np.ndarray | None = None) -> np.ndarray:
        """Step 1 at (N, D); ``flops_per_token`` is needed by the compute form."""
        self._check_fitted()
        n_params, tokens = np.atleast_1d(np.asarray(n_params, float)), np.atleast_1d(np.asarray(tokens, float))
        if self.step1_form == "flops":
            if flops_per_token is None:
                raise DataError("the compute form needs FLOPs per token of the target")
            return self.step1_.predict((np.asarray(flops_per_token, float) * tokens).reshape(-1, 1))
        return self.step1_.predict(step1_inputs(self.step1_, n_params, tokens))

    def predict_accuracy(self, task_loss: np.ndarray) -> np.ndarray:
        """Step 2 at the given task loss."""
        self._check_fitted()
        return self.step2_.predict(np.asarray(task_loss, float).reshape(-1, 1))

    def _predict_one(self, target: RunData) -> dict:
        row = self._target_row(target)
        ok1, ok2 = _usable(self.step1_, self.mode), _usable(self.step2_, self.mode)
        flops = target.spec.flops_per_token
        if self.step1_form == "flops" and flops is None:
            raise DataError(f"target {target.name!r}: the compute form needs its FLOPs per token "
                            "(give a known size label or flops_per_token)")
        loss = float(self.predict_task_loss(target.n_params, target.final_tokens, flops)[0]) if ok1 else np.nan
        acc = float(self.predict_accuracy(loss)[0]) if ok1 and ok2 else np.nan
        window = self.selection.moving_avg
        loss_actual = target_actual(target, self.task, self.feature, window)
        acc_actual = target_actual(target, self.task, "accuracy", window)
        from_actual = (float(self.predict_accuracy(loss_actual)[0])
                       if ok2 and loss_actual is not None else np.nan)
        row.update(task_loss_pred=loss, task_loss_actual=loss_actual, acc_pred=acc, acc_actual=acc_actual,
                   abs_error=abs(acc - acc_actual) if acc_actual is not None else np.nan,
                   acc_from_actual_loss=from_actual, step1_status=_status(self.step1_, self.mode),
                   step2_status=_status(self.step2_, self.mode))
        return row


#: Accepted steps the active set may take on a fit of the direct and compute laws before the bounded
#: solver takes over (instead of :data:`~.optimize.ACTIVE_SET_STEPS`). Most of its attempts never
#: settle (46 of 55 direct fits of taskladder predict on the open_lm rpj ladder), each costing the
#: full allowance first; where it does settle a fit on the rpj and OLMo paper ladders it takes at
#: most 71 steps (direct) and 68 but once 124 (direct-compute). Past 100 steps what it settles can
#: be a plateau: on the open_lm testbed's paper split, 6 of 99 direct-compute fits it settled after
#: 130 to 165 steps with the A/C^α term dead (no standard error for A and α), where the bounded
#: solver reaches a cost 1.2 to 9.4 times lower.
ACCURACY_ACTIVE_SET_STEPS = 100


class AccuracyLaw(_Law):
    """A law fitted straight from (N, D) to accuracy: one point per train run, its accuracy averaged
    over the last ``moving_avg`` checkpoints. Subclasses give the form and how to fit it."""

    form: Form
    description: str

    def __init__(self, *, task: Task, mode: str = "default", selection: Selection = Selection()):
        _check_mode(mode)
        self.task = task
        self.mode = mode
        self.selection = selection

    def _least_squares(self, X: np.ndarray, y: np.ndarray) -> dict | None:  # pragma: no cover - overridden
        """The fit as :func:`~.optimize.fit_least_squares`'s arguments besides the data (``form``,
        ``starts``, ``bounds`` and options); ``None`` where this mode fits otherwise (:meth:`_other_fit`)."""
        raise TypeError

    def _other_fit(self, X: np.ndarray, y: np.ndarray) -> FitResult:  # pragma: no cover - overridden
        """The fit where it is not the default least squares (the paper's Huber L-BFGS-B)."""
        raise TypeError

    def _fit(self, X: np.ndarray, y: np.ndarray) -> FitResult:
        spec = self._least_squares(X, y)
        if spec is None:
            return self._other_fit(X, y)
        return fit_least_squares(X=X, y=y, **spec)

    def bounds(self) -> tuple[list[float], list[float]]:  # pragma: no cover - overridden
        """Lower and upper bounds of the parameters in this law's mode (also used by the bootstrap)."""
        raise TypeError

    @property
    def residual(self) -> str:
        """The residual the fit minimises (``"log"``: relative error; paper mode's Huber is on logs)."""
        return "log" if self.mode == "paper" else "linear"

    def inputs(self, n_params: np.ndarray, tokens: np.ndarray, flops: np.ndarray) -> np.ndarray:
        """The fit's input matrix: ``(N, D)`` columns (the compute law: ``C``)."""
        return np.column_stack([n_params, tokens])

    def to_fitted(self, accuracy: np.ndarray) -> np.ndarray:
        """Accuracy to the quantity the form fits (itself; the compute law: ``−ln Acc``)."""
        return accuracy

    def from_fitted(self, value: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_fitted`."""
        return value

    def fit(self, ladder: Ladder) -> "AccuracyLaw":
        X, y, data = self._data(ladder)
        return self._fitted(ladder, data, self._fit(X, y))

    def _data(self, ladder: Ladder) -> tuple[np.ndarray, np.ndarray, Points]:
        """The fit's inputs, fitted quantity and points on ``ladder``."""
        data = step1_arrays(ladder, self.task, "accuracy", self.selection)
        X = self.inputs(data["n_params"], data["tokens"], data["flops"])
        if not np.all(np.isfinite(X)):
            raise DataError(f"{self.description} needs FLOPs per token of every train run (give size labels or "
                            "flops_per_token in the spec)")
        y = self.to_fitted(data["y"])
        _check_enough(len(y), self.form, self.description)
        return X, y, data

    def _fitted(self, ladder: Ladder, data: Points, fit: FitResult) -> "AccuracyLaw":
        self.fit_ = fit
        self.step1_points_ = data
        self.fitted_on_ = [r.name for r in ladder.train_runs]
        return self

    def _predict_one(self, target: RunData) -> dict:
        row = self._target_row(target)
        ok = _usable(self.fit_, self.mode)
        flops = np.nan if target.spec.flops_per_token is None else target.spec.flops_per_token * target.final_tokens
        X = self.inputs(np.array([float(target.n_params)]), np.array([target.final_tokens]), np.array([flops]))
        if ok and not np.all(np.isfinite(X)):
            raise DataError(f"target {target.name!r}: {self.description} needs its FLOPs per token")
        acc = float(self.from_fitted(self.fit_.predict(X))[0]) if ok else np.nan
        if self.mode == "paper" and self.form is single_step:
            acc = max(acc, 1e-6)  # the reference's clamp of the single-step form
        acc_actual = target_actual(target, self.task, "accuracy", self.selection.moving_avg)
        row.update(task_loss_pred=np.nan, task_loss_actual=np.nan, acc_pred=acc, acc_actual=acc_actual,
                   abs_error=abs(acc - acc_actual) if acc_actual is not None else np.nan,
                   acc_from_actual_loss=np.nan, step1_status=_status(self.fit_, self.mode), step2_status="")
        return row


#: Iterations of each start of a single-step fit. Many of this law's fits have no minimum (the
#: sigmoid of a power law slides along a flat valley), and their starts run to the cap whatever it
#: is, so the cap sets the law's time: ``taskladder predict`` with intervals on one open_lm dataset
#: (11 tasks) takes about 2.5 s at 500, 3.5 s at 1,000 and 3.8 s at 2,000 on this project's
#: machine. What the lower cap costs: of the 276 single-step fits of the five suites of
#: ``benchmarks/honesty.py`` (each task's, and its nested-backtest folds'), 2,000 iterations
#: converge 196 and 500 converge 186 (one of the ten a task's own fit: open_lm RedPajama's
#: CommonsenseQA, a flat curve at 27 %); in the in-ladder backtest of ``benchmarks/gadre.py``,
#: 145 of 374 held-out predictions get no number at 500, against 130 at 1,000 and 126 at 2,000
#: (those that do: 1.78 points MAE and 85 % coverage at 500, 1.90 and 88 % at 2,000). Each says
#: "max iterations" in its status.
SINGLE_STEP_ITERATIONS = 500


class SingleStepLaw(AccuracyLaw):
    """One fit from (N, D) straight to accuracy: ``Acc = s · σ(A/N^α + B/D^β + E) + q`` (method.md §1.7)."""

    form = single_step
    description = "single-step fit"

    def bounds(self) -> tuple[list[float], list[float]]:
        return [0.0, 0.0, 0.0, 0.0, -_INF, -1.0, 0.0], [_INF, _INF, _INF, _INF, _INF, 0.0, 1.0]

    def _start(self) -> list[float]:
        return [3.0, 5.0, 0.2, 0.3, 0.0, self.task.chance - 1.0, 1.0]

    def _other_fit(self, X: np.ndarray, y: np.ndarray) -> FitResult:
        return fit_huber_log_lbfgsb(single_step, X, y, self._start(), self.bounds(), floor=1e-6)

    def _least_squares(self, X: np.ndarray, y: np.ndarray) -> dict | None:
        if self.mode == "paper":
            return None
        starts = [np.array(self._start())] + [np.array([a, b, al, be, 0.0, self.task.chance - 1.0, 1.0])
                                              for a, b, al, be in ((2.0, 2.0, 0.1, 0.1), (5.0, 8.0, 0.3, 0.3),
                                                                   (1.0, 1.0, 0.05, 0.05))]
        # the fixed starts above miss the basin on many ladders: add starts read off the data
        starts += single_step_starts(X[:, 0], X[:, 1], y, floor=self.task.chance)
        # No active set: its unbounded solves drift along this law's flat valleys; they settled
        # none of the 145 single-step fits of taskladder predict on the OLMo and three open_lm
        # ladders within 100 steps, and only a few past that (as the bounded solver does).
        return {"form": single_step, "starts": starts, "bounds": self.bounds(), "max_iter": SINGLE_STEP_ITERATIONS,
                "active_set_steps": 0}


class DirectLaw(AccuracyLaw):
    """Accuracy as a negated power law in (N, D): ``Acc = E − A/N^α − B/D^β`` (method.md §1.3)."""

    form = negated_power_law_nd
    description = "direct accuracy fit"

    def bounds(self) -> tuple[list[float], list[float]]:
        if self.mode == "paper":  # the reference's bounds (method.md §1.3)
            return [0.0, 0.0, 0.0, -_INF, -_INF], [_INF] * 5
        return [-_INF, -_INF, 0.0, 0.0, 0.0], [_INF, _INF, 5.0, 5.0, 1.0]

    def _other_fit(self, X: np.ndarray, y: np.ndarray) -> FitResult:
        return fit_huber_log_lbfgsb(negated_power_law_nd, X, y, [2.0, 2.0, 0.2, 0.2, 1.0], self.bounds())

    def _least_squares(self, X: np.ndarray, y: np.ndarray) -> dict | None:
        if self.mode == "paper":
            return None
        starts = power_law_nd_starts(X[:, 0], X[:, 1], y, sign=-1.0)
        starts.append(np.array([2.0, 2.0, 0.2, 0.2, 1.0]))
        return {"form": negated_power_law_nd, "starts": starts, "bounds": self.bounds(),
                "active_set_steps": ACCURACY_ACTIVE_SET_STEPS}


class ComputeAccuracyLaw(AccuracyLaw):
    """Accuracy straight from training compute: ``−ln Acc(C) = A/C^α + E`` (after Krajewski et al. 2025).

    One point per train run (its final accuracy, averaged over the last ``moving_avg``
    checkpoints) against its compute ``C = D × FLOPs per token``; fitted in log space. Not in the
    paper, so both modes use the same multi-start least-squares fit.
    """

    form = power_law_c
    description = "compute-to-accuracy fit"

    def inputs(self, n_params: np.ndarray, tokens: np.ndarray, flops: np.ndarray) -> np.ndarray:
        return np.asarray(flops, float).reshape(-1, 1)

    def to_fitted(self, accuracy: np.ndarray) -> np.ndarray:
        return -np.log(np.clip(accuracy, 1e-6, 1.0))

    def from_fitted(self, value: np.ndarray) -> np.ndarray:
        return np.exp(-value)

    residual = "log"

    def bounds(self) -> tuple[list[float], list[float]]:
        return [-_INF, 0.0, 0.0], [_INF, 5.0, _INF]

    def _least_squares(self, X: np.ndarray, y: np.ndarray) -> dict | None:
        starts = power_law_c_starts(X[:, 0], y) + [np.array([3.0, 0.1, 0.5 * y.min()])]
        return {"form": power_law_c, "starts": starts, "bounds": self.bounds(), "residual": "log",
                "active_set_steps": ACCURACY_ACTIVE_SET_STEPS}


def fit_accuracy_laws(items: Sequence[tuple[AccuracyLaw, Ladder]]) -> list[AccuracyLaw | Exception | None]:
    """``law.fit(ladder)`` for each ``(law, ladder)``, the least-squares fits of one form solved together.

    Each law ends as fitting it alone leaves it, to the bit (:func:`~.optimize.fit_least_squares_many`);
    what is shared is the solver's per-iteration overhead, which is most of its cost on these
    sizes: the laws of every task, or of every task's nested-backtest folds, fitted one by one
    pay it once per fit. An entry is the fitted law, the exception its fit raised (fitting it
    alone raises the same), or ``None`` where a law is not fitted here: its data raised (fitting
    it alone says why), or its mode fits otherwise (paper mode's L-BFGS-B).
    """
    out: list[AccuracyLaw | Exception | None] = [None] * len(items)
    groups: dict[tuple, list] = {}
    others: list[tuple] = []
    with np.errstate(all="ignore"):
        for i, (law, ladder) in enumerate(items):
            try:
                X, y, data = law._data(ladder)
                spec = law._least_squares(X, y)
            except Exception:  # noqa: BLE001 - fitting it alone raises it where it belongs
                continue
            if spec is None:
                others.append((i, law, ladder, X, y, data))
                continue
            spec = dict(spec)
            form, starts, bounds = spec.pop("form"), spec.pop("starts"), spec.pop("bounds")
            key = (form.name, repr(bounds), repr(sorted(spec.items())))
            groups.setdefault(key, []).append((i, law, ladder, X, y, data, form, starts, bounds, spec))
        for members in groups.values():
            _, _, _, _, _, _, form, _, bounds, options = members[0]
            fits = fit_least_squares_many(form, [(X, y, starts) for _, _, _, X, y, _, _, starts, _, _ in members],
                                          bounds, **options)
            for (i, law, ladder, _, _, data, *_), fit in zip(members, fits):
                out[i] = fit if isinstance(fit, Exception) else law._fitted(ladder, data, fit)
    # The other fits (paper mode's L-BFGS-B, one problem at a time) on the machine's cores.
    fits = map_in_processes(_other_fit_of, [(law, X, y) for _, law, _, X, y, _ in others])
    for (i, law, ladder, _, _, data), fit in zip(others, fits):
        if not isinstance(fit, Exception):
            # a fit from another process names its form (a form's functions do not travel): the form itself
            fit = replace(fit, form=FORMS.get(fit.form, law.form) if isinstance(fit.form, str) else fit.form)
            out[i] = law._fitted(ladder, data, fit)
        else:
            out[i] = fit
    return out


def _other_fit_of(law: AccuracyLaw, X: np.ndarray, y: np.ndarray) -> FitResult:
    """``law._other_fit(X, y)`` with its form named rather than held, for another process to run."""
    with np.errstate(all="ignore"):
        fit = law._other_fit(X, y)
    return replace(fit, form=fit.form.name)


class LossToLossLaw(_Law):
    """Three chained fits through a general LM loss (after Brandfonbrener et al. 2024).

    1. ``L_C4(N, D) = A/N^α + B/D^β + E`` (one point per run, as step 1; with
       ``step1_form="nd_lr"`` every checkpoint, corrected for its learning rate, see
       :class:`TwoStepLaw`);
    2. loss-to-loss: ``L_task = K · L_C4^κ + E'`` over every selected checkpoint (the task loss
       as a shifted power of the general loss, κ > 0);
    3. ``Acc(L_task)``: the step-2 sigmoid of the paper's law (task bpb → accuracy).

    The general loss is measured on far more text than any task, so step 1 is less noisy; the
    transfer map carries it to the task. Not in the paper: both modes use the default fits for
    the C4 law and the transfer map.

    The paper's two-step law on task bpb (``companion_``, fitted on first use) shares its step 2;
    the reliability verdict compares it with the two-step law through C4 loss; and on a ladder
    without a C4 loss it *is* the prediction (the status says so).

    Attributes
    ----------
    step1_, general_points_
        The C4 law and its points (per run, or per checkpoint with ``step1_form="nd_lr"``).
    step1_points_
        Each run's task bpb (the paper's step-1 points), which the chained C4 law and transfer
        map predict.
    transfer_, transfer_points_
        The loss-to-loss map and its checkpoints (C4 loss → task bpb).
    step2_, step2_points_
        Task bpb → accuracy.
    """

    feature = "bpb"  # the task loss it predicts and step 2 reads

    def __init__(self, *, task: Task, mode: str = "default", selection: Selection = Selection(),
                 step1_form: str = "nd"):
        _check_mode(mode)
        if step1_form not in ("nd", "nd_lr"):
            raise ConfigError(f"the loss-to-loss law's C4 law is in (N, D): step1_form 'nd' or 'nd_lr', not {step1_form!r}")
        self.task = task
        self.mode = mode
        self.selection = selection
        self.step1_form = step1_form

    @property
    def uses_c4_(self) -> bool:
        """Whether the C4 route is fitted (``False``: the ladder has no C4 loss; the bpb law predicts)."""
        return "transfer_" in self.__dict__

    def fit(self, ladder: Ladder) -> "LossToLossLaw":
        for name in ("general_points_", "transfer_", "transfer_points_", "_companion"):
            self.__dict__.pop(name, None)
        self._ladder = ladder
        missing = [r.name for r in ladder.train_runs if not r.has_column(C4_LOSS_COLUMN)]
        if missing:
            self.skipped_ = (f"no C4 loss ({C4_LOSS_COLUMN!r}) in run(s) {', '.join(missing[:3])}"
                             f"{' …' if len(missing) > 3 else ''}: the paper's two-step law predicts instead")
            companion = self.companion_
            self.step1_ = companion.step1_
            self.step2_points_, self.step2_ = companion.step2_points_, companion.step2_
            self.fitted_on_ = companion.fitted_on_
            return self
        self.skipped_ = ""
        self.general_points_, self.step1_ = _fit_step1_of(ladder, self.task, "c4", self.selection, self.step1_form,
                                                          "default")
        pairs = step2_arrays(ladder, self.task, "c4", self.selection, target_metric="bpb")
        self.transfer_points_ = pairs
        x, y = pairs["x"], pairs["y"]
        # For a fixed κ the map is linear in (K, E'): solve each κ of a grid in relative error,
        # refine from the best (the others are the fallback), as for step 1.
        starts = (power_law_c_starts(x, y, n_best=3, exponents=-np.geomspace(0.25, 8.0, 16))
                  or [np.array([0.0, -1.0, 0.0])])
        self.transfer_ = _grid_first(power_law_c, x.reshape(-1, 1), y, starts, TRANSFER_BOUNDS, residual="log")
        self.step2_points_ = step2_arrays(ladder, self.task, "bpb", self.selection)
        self.step2_ = fit_step2(self.step2_points_, task=self.task, form="sigmoid", mode="default")
        self.fitted_on_ = [r.name for r in ladder.train_runs]
        return self

    @property
    def companion_(self) -> TwoStepLaw:
        """The two-step law on task bpb (the paper's, with this law's step-1 form), fitted on the same ladder
        (on first use)."""
        if "_companion" not in self.__dict__:
            if "_ladder" not in self.__dict__:
                self._check_fitted()
            law = TwoStepLaw(task=self.task, feature="bpb", mode=self.mode, selection=self.selection,
                             step1_form=self.step1_form)
            self._companion = law.fit(self._ladder)
            if self.mode == "default" and self.uses_c4_:
                # The very same step 2 (same points, same default fit): share it.
                law.step2_points_, law.step2_ = self.step2_points_, self.step2_
        return self._companion

    @property
    def step1_points_(self) -> Points:
        """Each run's task bpb (the paper's step-1 points), which the chained C4 law and transfer map predict."""
        return self.companion_.step1_points_

    @property
    def step1_data_(self) -> pd.DataFrame:
        """The task-bpb step-1 points as a table (the companion law's, which it fitted)."""
        return self.companion_.step1_data_

    def predict_task_loss(self, n_params: np.ndarray, tokens: np.ndarray, flops_per_token: np.ndarray | None = None) -> np.ndarray:
        """Task loss at (N, D): the C4 law, then the transfer map."""
        self._check_fitted()
        if not self.uses_c4_:
            return self.companion_.predict_task_loss(n_params, tokens, flops_per_token)
        X = step1_inputs(self.step1_, n_params, tokens)
        return self.transfer_.predict(self.step1_.predict(X).reshape(-1, 1))

    def predict_accuracy(self, task_loss: np.ndarray) -> np.ndarray:
        """Step 2 at the given task loss."""
        self._check_fitted()
        return self.step2_.predict(np.asarray(task_loss, float).reshape(-1, 1))

    def _predict_one(self, target: RunData) -> dict:
        if not self.uses_c4_:
            row = self.companion_._predict_one(target)
            row["step1_status"] = f"bpb: {row['step1_status']}; C4 law skipped (no C4 loss in the data)"
            return row
        row = self._target_row(target)
        fits = (self.step1_, self.transfer_, self.step2_)
        ok = all(_usable(f, self.mode) for f in fits)
        loss = float(self.predict_task_loss(target.n_params, target.final_tokens)[0]) if ok else np.nan
        acc = float(self.predict_accuracy(loss)[0]) if ok else np.nan
        window = self.selection.moving_avg
        loss_actual = target_actual(target, self.task, "bpb", window)
        acc_actual = target_actual(target, self.task, "accuracy", window)
        from_actual = float(self.step2_.predict(np.array([[loss_actual]]))[0]) if loss_actual is not None else np.nan
        row.update(task_loss_pred=loss, task_loss_actual=loss_actual, acc_pred=acc, acc_actual=acc_actual,
                   abs_error=abs(acc - acc_actual) if acc_actual is not None else np.nan,
                   acc_from_actual_loss=from_actual,
                   step1_status=f"C4: {_status(self.step1_, self.mode)}; transfer: {_status(self.transfer_, self.mode)}",
                   step2_status=_status(self.step2_, self.mode))
        return row


class EnsembleLaw(_Law):
    """The mean of two-step laws that use different intermediate features.

    By default the members are the task-bpb law (the paper's) and the C4-loss law. Chosen as the
    default by backtests on the ladder (``docs/backtests.md``): its held-out error ties the best
    single law while its interval also spans the members' disagreement. A member whose feature
    is missing from the data (a ladder without C4 loss) is skipped, and the status says so.

    Notes
    -----
    ``Acc(N, D) = (1/M) Σ_m g_m(L_m(N, D))``; the reported task loss is the first member's.
    """

    def __init__(self, *, task: Task, features: tuple[str, ...] = ("bpb", "c4"), mode: str = "default",
                 selection: Selection = Selection()):
        _check_mode(mode)
        self.task = task
        self.features = features
        self.mode = mode
        self.selection = selection

    def fit(self, ladder: Ladder) -> "EnsembleLaw":
        self.members_: list[TwoStepLaw] = []
        self.skipped_: dict[str, str] = {}
        for i, feature in enumerate(self.features):
            try:
                member = TwoStepLaw(task=self.task, feature=feature, mode=self.mode, selection=self.selection)
                self.members_.append(member.fit(ladder))
            except DataError as exc:
                if i == 0:
                    raise
                self.skipped_[feature] = str(exc)
        self.fitted_on_ = [r.name for r in ladder.train_runs]
        return self

    @property
    def primary_(self) -> TwoStepLaw:
        return self.members_[0]

    def member_predictions(self, target: RunData) -> list[dict]:
        """Each member's prediction row for ``target`` (members without target data are left out)."""
        rows = []
        for i, member in enumerate(self.members_):
            try:
                rows.append(member._predict_one(target))
            except DataError:
                if i == 0:
                    raise
        return rows

    def _predict_one(self, target: RunData) -> dict:
        rows = self.member_predictions(target)
        row = dict(rows[0])
        accs = [r["acc_pred"] for r in rows]
        acc = float(np.mean(accs)) if all(np.isfinite(accs)) else np.nan
        row["acc_pred"] = acc
        row["abs_error"] = abs(acc - row["acc_actual"]) if row["acc_actual"] is not None else np.nan
        names = [m.feature for m in self.members_][: len(rows)]
        row["step1_status"] = "; ".join(f"{n}: {r['step1_status']}" for n, r in zip(names, rows))
        row["step2_status"] = "; ".join(f"{n}: {r['step2_status']}" for n, r in zip(names, rows))
        for feature in self.skipped_:
            # The full reason stays in ``skipped_``; the status only says which member is out.
            row["step1_status"] += f"; {feature} law skipped (its feature is not in the data)"
        return row
