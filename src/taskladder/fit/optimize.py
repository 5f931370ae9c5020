"""Fitting routines: the reference's two (for ``method="paper"``) and the robust default.

Paper routines (method.md §1.1)
    :func:`fit_huber_log_lbfgsb`: sum of Huber losses (δ = 1e-3) of log residuals
    ``u = ln ŷ − ln y``, minimised by L-BFGS-B from one starting point with ``ftol = 0``,
    ``gtol = 1e-10``. Used for every power law.
    :func:`fit_curve_fit`: ``scipy.optimize.curve_fit`` (unweighted least squares, TRF with bounds).
    Used for the sigmoids.

Default routine
    :func:`fit_least_squares`: least squares (optionally Huber) on log or linear residuals by
    ``scipy.optimize.least_squares`` (trust-region reflective, analytic Jacobian), run from several
    starting points; the best converged start wins. Its covariance is ``s² (JᵀJ)⁻¹``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import optimize

from .forms import Form
from .result import FitResult

__all__ = ["fit_huber_log_lbfgsb", "fit_curve_fit", "fit_least_squares", "Bounds"]

Bounds = tuple[Sequence[float], Sequence[float]]

_LBFGSB_STATUS = {0: "converged", 1: "max iterations", 2: "line search failed"}


def _at_bounds(form: Form, p: np.ndarray, bounds: Bounds, rtol: float = 1e-6) -> tuple[str, ...]:
    lower, upper = (np.asarray(b, dtype=float) for b in bounds)
    hit = []
    for name, value, lo, hi in zip(form.params, p, lower, upper):
        scale = max(1.0, abs(value))
        if (np.isfinite(lo) and abs(value - lo) <= rtol * scale) or (np.isfinite(hi) and abs(value - hi) <= rtol * scale):
            hit.append(name)
    return tuple(hit)


def fit_huber_log_lbfgsb(form: Form, X: np.ndarray, y: np.ndarray, p0: Sequence[float], bounds: Bounds,
                         *, delta: float = 1e-3, max_iter: int = 1_000_000,
                         floor: float | None = None) -> FitResult:
    """The reference's power-law fit: Huber loss on log residuals, L-BFGS-B, one start.

    Notes
    -----
    Objective ``Σ_i H_δ(u_i)`` with ``u_i = ln f(X_i; p) − ln y_i`` and
    ``H_δ(u) = u²/2`` for ``|u| < δ``, else ``δ(|u| − δ/2)``. Gradient
    ``Σ_i ψ(u_i) · ∂f_i/∂p / f_i`` with ``ψ(u) = u`` or ``δ·sign(u)``. The settings
    (``tol = ftol = 0``, ``gtol = 1e-10``, no restarts) are the reference's; many fits stop on a
    line-search failure, which is reported as ``status="line search failed"``. ``floor`` clamps
    predictions from below in the loss (not the gradient), as the reference's single-step form does.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    log_y = np.log(y)

    def predict(p: np.ndarray) -> np.ndarray:
        pred = form.function(X, p)
        return pred if floor is None else np.maximum(pred, floor)

    def loss_and_gradient(p: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            pred = predict(p)
            u = np.log(pred) - log_y
            abs_u = np.abs(u)
            small = abs_u < delta
            loss = float(np.sum(np.where(small, 0.5 * u * u, delta * (abs_u - 0.5 * delta))))
            psi = np.where(small, u, delta * np.sign(u))
            return loss, (psi / pred) @ form.jacobian(X, p)

    lower, upper = bounds
    scipy_bounds = list(zip([None if not np.isfinite(v) else v for v in lower],
                            [None if not np.isfinite(v) else v for v in upper]))
    res = optimize.minimize(loss_and_gradient, np.asarray(p0, dtype=float), method="L-BFGS-B", jac=True,
                            bounds=scipy_bounds, tol=0.0,
                            options={"ftol": 0.0, "gtol": 1e-10, "maxiter": max_iter})
    params = np.asarray(res.x, dtype=float)
    finite = bool(np.all(np.isfinite(params)) and np.isfinite(res.fun))
    status = _LBFGSB_STATUS.get(int(res.status), f"status {res.status}")
    message = res.message if isinstance(res.message, str) else res.message.decode()
    if "FACTR" in message:
        status = "converged (relative reduction)"
    if not finite:
        status = "non-finite"
    try:
        covariance = np.asarray(res.hess_inv.todense())
    except AttributeError:
        covariance = None
    return FitResult(form=form, params=params, covariance=covariance,
                     converged=finite and int(res.status) == 0, status=status, message=message,
                     n_points=len(y), n_iterations=int(res.nit), loss=float(res.fun),
                     at_bounds=_at_bounds(form, params, bounds), optimizer="huber-log L-BFGS-B")


def fit_curve_fit(form: Form, X: np.ndarray, y: np.ndarray, p0: Sequence[float], bounds: Bounds,
                  *, max_fev: int = 500_000, analytic_jacobian: bool = False) -> FitResult:
    """The reference's sigmoid fit: ``scipy.optimize.curve_fit`` with bounds (TRF).

    Like the reference, it differences the function numerically by default: on flat objectives
    (the TaskCE log-sigmoid) the analytic Jacobian stops at a different point, 0.8 % away.

    Notes
    -----
    Minimises ``Σ_i (f(x_i; p) − y_i)²``. The covariance is ``curve_fit``'s ``pcov``, scaled by
    the residual variance (``absolute_sigma=False``).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)

    def model(x_index: np.ndarray, *p: float) -> np.ndarray:
        return form.function(X, np.asarray(p))

    def jacobian(x_index: np.ndarray, *p: float) -> np.ndarray:
        return form.jacobian(X, np.asarray(p))

    converged, message = True, "converged"
    try:
        with np.errstate(all="ignore"):
            params, pcov, info, message, ier = optimize.curve_fit(
                model, np.arange(len(y)), y, p0=np.asarray(p0, dtype=float), bounds=bounds,
                jac=jacobian if analytic_jacobian else None, maxfev=max_fev, full_output=True)
        n_eval = int(info.get("nfev", 0))
    except (RuntimeError, ValueError) as exc:
        params, pcov, n_eval = np.asarray(p0, dtype=float), None, 0
        converged, message = False, str(exc)
    params = np.asarray(params, dtype=float)
    finite = bool(np.all(np.isfinite(params)))
    residual = form.function(X, params) - y
    cov = None if pcov is None or not np.all(np.isfinite(pcov)) else np.asarray(pcov)
    return FitResult(form=form, params=params, covariance=cov, converged=converged and finite,
                     status="converged" if converged and finite else "failed", message=str(message),
                     n_points=len(y), n_iterations=n_eval, loss=float(0.5 * residual @ residual),
                     at_bounds=_at_bounds(form, params, bounds), optimizer="curve_fit TRF")


def fit_least_squares(form: Form, X: np.ndarray, y: np.ndarray, starts: Sequence[Sequence[float]],
                      bounds: Bounds, *, residual: str = "linear", loss: str = "linear",
                      f_scale: float = 1.0, max_nfev: int | None = None,
                      fixed: dict[str, float] | None = None, min_converged: int | None = None) -> FitResult:
    """Multi-start least squares with analytic Jacobian; the best converged start wins.

    Each start is solved by Levenberg-Marquardt when that converges inside the bounds, and by the
    bounded trust-region reflective method otherwise.

    Starts are tried in order; once ``min_converged`` of them have converged the rest are
    skipped (grid starts come first and are usually already in the global basin).

    Parameters
    ----------
    fixed
        Parameters held at a given value (e.g. ``{"b": 1.0}`` pins the sigmoid's upper
        asymptote); they are recorded in ``extra["fixed"]`` and have zero variance.
    residual
        ``"linear"``: ``r = f(X; p) − y``; ``"log"``: ``r = ln f(X; p) − ln y`` (relative error).
    loss
        ``scipy.optimize.least_squares`` loss: ``"linear"`` (plain least squares), ``"huber"``,
        ``"soft_l1"``; ``f_scale`` is its scale.

    Notes
    -----
    Minimises ``½ Σ_i ρ(r_i²)``. The covariance ``s² (JᵀJ)⁻¹`` (with ``s² = Σ r_i² / (n − k)``
    and ``J = ∂r/∂p``) is the usual asymptotic estimate; it ignores the bounds. ``extra`` holds
    the parameter vectors of every converged start whose cost is within 1 % of the best, which
    measures how stable the optimum is.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    log_y = np.log(y) if residual == "log" else None
    fixed = dict(fixed or {})
    unknown = set(fixed) - set(form.params)
    if unknown:
        raise ValueError(f"cannot fix unknown parameter(s) {sorted(unknown)} of {form.name}")
    free = np.array([name not in fixed for name in form.params])
    template = np.array([fixed.get(name, np.nan) for name in form.params], dtype=float)
    lower_all, upper_all = (np.asarray(b, dtype=float) for b in bounds)
    lower, upper = lower_all[free], upper_all[free]

    def full(q: np.ndarray) -> np.ndarray:
        p = template.copy()
        p[free] = q
        return p

    def fun(q: np.ndarray) -> np.ndarray:
        pred = form.function(X, full(q))
        if residual == "log":
            with np.errstate(all="ignore"):
                r = np.log(np.maximum(pred, 1e-300)) - log_y
            return r
        return pred - y

    def jac(q: np.ndarray) -> np.ndarray:
        p = full(q)
        J = form.jacobian(X, p)[:, free]
        if residual == "log":
            return J / np.maximum(form.function(X, p), 1e-300)[:, None]
        return J

    results = []
    for start in starts:
        p0 = np.clip(np.asarray(start, dtype=float)[free], lower, upper)
        # least_squares needs a strictly feasible start.
        span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
        p0 = np.where(p0 <= lower, lower + 1e-6 * np.maximum(span, 1e-3), p0)
        p0 = np.where(p0 >= upper, upper - 1e-6 * np.maximum(span, 1e-3), p0)
        res = None
        if loss == "linear" and len(y) >= len(p0):
            # MINPACK's Levenberg-Marquardt is several times faster than TRF; its answer is kept
            # only when it converged inside the bounds, otherwise TRF handles the bounds.
            try:
                with np.errstate(all="ignore"):
                    res = optimize.least_squares(fun, p0, jac=jac, method="lm", x_scale="jac",
                                                 max_nfev=max_nfev, ftol=1e-12, xtol=1e-12, gtol=1e-10)
            except (ValueError, np.linalg.LinAlgError):
                res = None
            if res is not None and not (res.status > 0 and np.all(np.isfinite(res.x))
                                        and np.all(res.x >= lower) and np.all(res.x <= upper)):
                res = None
        if res is None:
            try:
                with np.errstate(all="ignore"):
                    res = optimize.least_squares(fun, p0, jac=jac, bounds=(lower, upper), method="trf",
                                                 loss=loss, f_scale=f_scale, x_scale="jac",
                                                 max_nfev=max_nfev, ftol=1e-12, xtol=1e-12, gtol=1e-10)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if np.all(np.isfinite(res.x)) and np.isfinite(res.cost):
            results.append(res)
            if min_converged is not None and sum(r.status > 0 for r in results) >= min_converged:
                break
    if not results:
        p = np.full(len(form.params), np.nan)
        return FitResult(form=form, params=p, covariance=None, converged=False, status="failed",
                         message="no start gave a finite result", n_points=len(y), n_iterations=0,
                         loss=float("nan"), optimizer="least-squares TRF", n_starts=len(starts))
    converged = [r for r in results if r.status > 0]
    pool = converged or results
    best = min(pool, key=lambda r: r.cost)
    near = [full(r.x) for r in converged if r.cost <= best.cost * 1.01 + 1e-15]
    params = full(best.x)
    # Plain residuals and Jacobian at the optimum (least_squares returns loss-scaled ones).
    r = fun(best.x)
    J = jac(best.x)
    dof = len(y) - len(best.x)
    covariance = None
    if dof > 0:
        covariance = np.zeros((len(params), len(params)))
        covariance[np.ix_(free, free)] = float(r @ r) / dof * np.linalg.pinv(J.T @ J)
    status = "converged" if best.status > 0 else ("max iterations" if best.status == 0 else "failed")
    return FitResult(form=form, params=params, covariance=covariance,
                     converged=best.status > 0, status=status, message=str(best.message),
                     n_points=len(y), n_iterations=int(best.nfev), loss=float(best.cost),
                     at_bounds=tuple(n for n in _at_bounds(form, params, (lower_all, upper_all)) if n not in fixed),
                     optimizer="least-squares (LM/TRF)",
                     n_starts=len(starts), extra={"near_optimal_params": np.array(near), "fixed": fixed})
