"""Fitting routines: the reference's two (for ``method="paper"``) and the robust default.

Paper routines (method.md §1.1)
    :func:`fit_huber_log_lbfgsb`: sum of Huber losses (δ = 1e-3) of log residuals
    ``u = ln ŷ − ln y``, minimised by L-BFGS-B from one starting point with ``ftol = 0``,
    ``gtol = 1e-10``. Used for every power law.
    :func:`fit_curve_fit`: ``scipy.optimize.curve_fit`` (unweighted least squares, TRF with bounds).
    Used for the sigmoids.

Default routine
    :func:`fit_least_squares`: least squares on log or linear residuals from several starting
    points, with the analytic Jacobian (:mod:`.lm`): Levenberg-Marquardt with an active set for
    the bounds, or, where that does not reach a Karush-Kuhn-Tucker point, the batched bounded
    solver from every start at once; the best converged start wins. Its covariance is
    ``s² (JᵀJ)⁻¹``. Pure numpy: SciPy is imported only by the paper's routines.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .forms import Form
from .lm import LMResult, batched_lm, solve_lm
from .result import FitResult, degeneracy

__all__ = ["fit_huber_log_lbfgsb", "fit_curve_fit", "fit_least_squares", "fit_least_squares_many", "Bounds"]

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
    # The optimizer calls this a thousand times per fit: one fused pass gives the values and the
    # Jacobian (the same numbers as form.function and form.jacobian).
    evaluate = form.evaluate_on(X)

    def loss_and_gradient(p: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            pred, jacobian = evaluate(p, True)
            if floor is not None:
                pred = np.maximum(pred, floor)
            u = np.log(pred) - log_y
            abs_u = np.abs(u)
            small = abs_u < delta
            loss = float(np.sum(np.where(small, 0.5 * u * u, delta * (abs_u - 0.5 * delta))))
            psi = np.where(small, u, delta * np.sign(u))
            return loss, (psi / pred) @ jacobian

    lower, upper = bounds
    scipy_bounds = list(zip([None if not np.isfinite(v) else v for v in lower],
                            [None if not np.isfinite(v) else v for v in upper]))
    from scipy import optimize  # only the paper's routines need SciPy's optimizers (a 0.25 s import)

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


def fit_huber_irls(form: Form, X: np.ndarray, y: np.ndarray, start: FitResult, bounds: Bounds, *,
                   delta: float = 1e-3, max_rounds: int = 500, rtol: float = 1e-9, ftol: float = 1e-6) -> FitResult:
    """A Huber loss on log residuals, minimised by iteratively reweighted least squares.

    Objective ``Σ_i H_δ(u_i)``, ``u_i = ln f(X_i; p) − ln y_i``, as the reference's fit
    (:func:`fit_huber_log_lbfgsb`); with ``δ = 10⁻³`` it is nearly the absolute relative error, so
    a run whose loss sits off the law pulls the fit far less than under least squares. Each round
    solves the weighted least squares ``Σ w_i u_i²`` with ``w_i = min(1, δ/|u_i|)`` (``ψ(u)/u`` of
    the Huber loss) by the bounded Levenberg-Marquardt of :mod:`.lm`, warm-started at the last
    round, from the least-squares fit ``start``; a fixed point of the rounds is a stationary
    point of the Huber objective. Converged when no parameter moves by more than ``rtol``
    (relative) in a round, or when the objective has stopped falling (by less than ``ftol`` of
    itself over ten rounds): near its kinks the nearly-absolute loss can be flat along a
    direction in which the rounds creep without end (a fit whose exponent three sizes barely
    pin moves its prediction by 0.04 % over hundreds of such rounds).
    """
    from dataclasses import replace

    if not (start.converged and np.all(np.isfinite(start.params))):
        return start
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    lower, upper = (np.asarray(b, dtype=float) for b in bounds)
    def huber(u: np.ndarray) -> float:
        return float(np.sum(np.where(np.abs(u) < delta, 0.5 * u * u, delta * (np.abs(u) - 0.5 * delta))))

    params, converged, rounds, solved, history = np.asarray(start.params, float), False, 0, None, []
    for rounds in range(1, max_rounds + 1):
        with np.errstate(all="ignore"):
            u = np.log(form.function(X, params)) - np.log(y)
        history.append(huber(u))
        if len(history) > 10 and history[-11] - history[-1] <= ftol * history[-1]:
            converged = True
            break
        weights = np.minimum(1.0, delta / np.maximum(np.abs(u), 1e-300))
        solved = batched_lm(form, X, y, params[None, :], lower=lower, upper=upper, weights=weights[None, :],
                            residual="log", max_iter=100)
        new = solved.params[0]
        if not np.all(np.isfinite(new)):
            return replace(start, converged=False, status="failed", message="a reweighted round left the domain")
        step = np.max(np.abs(new - params) / np.maximum(np.abs(params), 1e-12))
        params = new
        if step <= rtol:
            converged = True
            break
    r, J = solved.residuals[0], solved.jacobian[0]
    w = np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    dof = len(y) - len(params)
    covariance = None
    if dof > 0:
        # The weighted least-squares covariance at the fixed point (the usual IRLS estimate).
        Jw = J * np.sqrt(w)[:, None]
        covariance = float(np.sum(w * r * r)) / dof * np.linalg.pinv(Jw.T @ Jw)
    return FitResult(form=form, params=params, covariance=covariance, converged=converged,
                     status="converged" if converged else "max iterations",
                     message=f"{rounds} reweighted rounds from the least-squares fit", n_points=len(y),
                     n_iterations=rounds, loss=huber(r), at_bounds=_at_bounds(form, params, (lower, upper)),
                     optimizer="Huber (iteratively reweighted Levenberg-Marquardt)", n_starts=start.n_starts)


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

    from scipy import optimize

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


#: Accepted steps :func:`_active_set_lm` allows each unbounded solve, unless the caller says
#: otherwise (``active_set_steps``): a solve still short of its strict tolerance after this many
#: gives the problem to the bounded batched solver.
ACTIVE_SET_STEPS = 500


def _active_set_lm(form: Form, X: np.ndarray, y: np.ndarray, P0: np.ndarray, lower: np.ndarray,
                   upper: np.ndarray, free: np.ndarray, residual: str, max_steps: int = ACTIVE_SET_STEPS):
    """Fast path: unbounded Levenberg-Marquardt (:func:`.lm.solve_lm`) from each start, with an active set.

    From each start, pin the parameters that sit on a bound with the cost gradient pointing out
    of the box and solve for the rest without bounds; a parameter that leaves the box is pinned
    at the bound it crossed, and a pinned one whose gradient turns inward is released; repeat.
    The answer is accepted only at a Karush-Kuhn-Tucker point: every unpinned parameter strictly
    inside its bounds and, for every pinned one, ``∂S/∂p_j ≥ 0`` on a lower bound (``≤ 0`` on an
    upper one), so moving it inward cannot lower the cost.
    Otherwise (or when a solve needs more than ``max_steps`` accepted steps) ``None``, and the
    bounded batched solver takes over. Returns the same structure as :func:`batched_lm`
    (Jacobian columns of every parameter in ``free``).
    """
    log_y = np.log(y) if residual == "log" else None
    evaluate = form.evaluate_on(X)

    def residuals_and_jacobian(p: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value, J = evaluate(p, True)
        J = J[:, mask]
        if residual == "log":
            return np.log(np.maximum(value, 1e-300)) - log_y, J / np.maximum(value, 1e-300)[:, None]
        return value - y, J

    every = np.ones(len(lower), bool)

    def gradient(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r, J = residuals_and_jacobian(p, every)
            return J.T @ r

    def outward(p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Parameters on a bound whose cost gradient points out of the box."""
        return free & (((p <= lower) & (g >= 0)) | ((p >= upper) & (g <= 0)))

    solutions = []
    for p0 in P0:
        p = np.clip(p0, lower, upper)
        pinned = outward(p, gradient(p))
        n_iterations = 0
        for _ in range(2 * int(free.sum()) + 1):
            solve = free & ~pinned
            if len(y) < int(solve.sum()):
                return None
            if solve.any():
                template = p.copy()

                def solved(q: np.ndarray, template=template, solve=solve) -> tuple[np.ndarray, np.ndarray]:
                    full = template.copy()
                    full[solve] = q
                    return residuals_and_jacobian(full, solve)

                q, ok, iterations = solve_lm(solved, p[solve], max_iter=max_steps)
                if not (ok and np.all(np.isfinite(q))):
                    return None
                p = p.copy()
                p[solve] = q
                n_iterations += iterations
            outside = solve & ((p <= lower) | (p >= upper))
            if outside.any():
                pinned |= outside
                p = np.clip(p, lower, upper)
                continue
            g = gradient(p)
            release = pinned & ~outward(p, g)
            if not release.any():
                break
            pinned &= ~release
        else:
            return None
        with np.errstate(all="ignore"):
            r, J = residuals_and_jacobian(p, free)
        if not np.all(np.isfinite(r)):
            return None
        solutions.append((p, r, J, n_iterations))
    return LMResult(params=np.array([s[0] for s in solutions]),
                    cost=np.array([float(s[1] @ s[1]) for s in solutions]),
                    converged=np.ones(len(solutions), bool), iterations=np.array([s[3] for s in solutions]),
                    residuals=np.array([s[1] for s in solutions]), jacobian=np.array([s[2] for s in solutions]))


#: A converged start costing more than 1/_PLATEAU_RATIO times an unconverged one is a plateau.
_PLATEAU_RATIO = 0.5


def best_start(cost: np.ndarray, converged: np.ndarray) -> int:
    """Index of the start whose solution the fit reports (some cost must be finite).

    The converged start of lowest cost, unless a start that has not converged already costs less
    than half of it: a converged start is only a stationary point, and one that much worse is a
    plateau (e.g. a saturated sigmoid, where every gradient vanishes), not the optimum. Then the
    lowest-cost start is reported, as not converged.
    """
    finite = np.isfinite(cost)
    pool = np.flatnonzero(converged & finite)
    lowest = np.flatnonzero(finite)[np.argmin(cost[finite])]
    if pool.size == 0 or cost[lowest] < _PLATEAU_RATIO * cost[pool].min():
        return int(lowest)
    return int(pool[np.argmin(cost[pool])])


def _unidentified(J: np.ndarray, max_condition: float = 1e12) -> bool:
    """Whether ``JᵀJ`` is singular to working precision (its condition number above ``max_condition``)."""
    with np.errstate(all="ignore"):
        singular = np.linalg.svd(J, compute_uv=False)
    return bool(singular.size and (singular[-1] == 0 or (singular[0] / singular[-1]) ** 2 > max_condition))


def fit_least_squares(form: Form, X: np.ndarray, y: np.ndarray, starts: Sequence[Sequence[float]],
                      bounds: Bounds, *, residual: str = "linear", fixed: dict[str, float] | None = None,
                      max_iter: int = 300, active_set_steps: int = ACTIVE_SET_STEPS) -> FitResult:
    """Multi-start bounded least squares; the best converged start wins.

    When every start converges under unbounded Levenberg-Marquardt with an active set (bounds
    either inactive or pinned with a gradient pointing out of the box), that answer is used
    (fast); otherwise all starts are solved
    together by the bounded batched Levenberg-Marquardt of :mod:`.lm`, which reports convergence
    only at a point of first-order optimality within the bounds.

    Parameters
    ----------
    residual
        ``"linear"``: ``r = f(X; p) − y``; ``"log"``: ``r = ln f(X; p) − ln y`` (relative error).
    fixed
        Parameters held at a given value (e.g. ``{"b": 1.0}`` pins the sigmoid's upper
        asymptote); they are recorded in ``extra["fixed"]`` and have zero variance.
    active_set_steps
        Accepted steps the active set's unbounded solves may take before the bounded solver takes
        over; 0 skips it. A law whose fits it settles quickly or never can save the wait.

    Notes
    -----
    Minimises ``Σ_i r_i²``. The covariance ``s² (JᵀJ)⁻¹`` (with ``s² = Σ r_i² / (n − k)`` and
    ``J = ∂r/∂p``) is the usual asymptotic estimate; it ignores the bounds. ``extra`` holds the
    parameter vectors of every converged start whose cost is within 1 % of the best, which shows
    how stable the optimum is.
    """
    fit = fit_least_squares_many(form, [(X, y, starts)], bounds, residual=residual, fixed=fixed,
                                 max_iter=max_iter, active_set_steps=active_set_steps)[0]
    if isinstance(fit, Exception):
        raise fit
    return fit


def fit_least_squares_many(form: Form, problems: Sequence[tuple[np.ndarray, np.ndarray, Sequence[Sequence[float]]]],
                           bounds: Bounds, *, residual: str = "linear", fixed: dict[str, float] | None = None,
                           max_iter: int = 300, active_set_steps: int = ACTIVE_SET_STEPS
                           ) -> list[FitResult | Exception]:
    """:func:`fit_least_squares` of several data sets ``(X, y, starts)`` to one form, at once.

    Each fit is exactly (to the bit) the one :func:`fit_least_squares` makes of its data alone;
    what is shared is the work: the fits the active set does not settle go to one batched solve
    per data size, so numpy's per-call overhead, which is what the solver's iterations cost at
    these sizes, is paid once per iteration for all of them instead of once per fit (the
    nested-backtest folds of every task share sizes).

    Returns
    -------
    list
        One entry per problem: its :class:`FitResult`, or the exception fitting it raised (the
        caller raises it where it would have).
    """
    fixed = dict(fixed or {})
    unknown = set(fixed) - set(form.params)
    if unknown:
        raise ValueError(f"cannot fix unknown parameter(s) {sorted(unknown)} of {form.name}")
    free = np.array([name not in fixed for name in form.params])
    lower, upper = (np.asarray(b, dtype=float) for b in bounds)
    data, solved = [], []
    for X, y, starts in problems:
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        P0 = np.array([np.asarray(s, dtype=float) for s in starts])
        for name, value in fixed.items():
            P0[:, form.params.index(name)] = value
        data.append((X, y, P0))
        try:
            solved.append(_active_set_lm(form, X, y, P0, lower, upper, free, residual, active_set_steps)
                          if active_set_steps > 0 else None)
        except Exception as exc:  # noqa: BLE001 - raised for this problem alone, by the caller
            solved.append(exc)
    # The others from every start, in one batched solve per data size.
    sizes: dict[tuple, list[int]] = {}
    for i, result in enumerate(solved):
        if result is None:
            sizes.setdefault(data[i][0].shape, []).append(i)
    for members in sizes.values():
        for i, result in zip(members, _batched_together(form, [data[i] for i in members], lower, upper, free,
                                                        residual, max_iter)):
            solved[i] = result
    fits: list[FitResult | Exception] = []
    for (X, y, P0), result in zip(data, solved):
        if isinstance(result, Exception):
            fits.append(result)
            continue
        try:
            fits.append(_best_fit(form, y, P0, result, lower, upper, free, fixed, max_iter))
        except Exception as exc:  # noqa: BLE001 - as above
            fits.append(exc)
    return fits


def _batched_together(form: Form, data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], lower: np.ndarray,
                      upper: np.ndarray, free: np.ndarray, residual: str, max_iter: int) -> list[LMResult | Exception]:
    """:func:`.lm.batched_lm` of each ``(X, y, P0)`` (all of one size): one call with every
    problem's starts as rows and its data beside them. Should the shared call raise, each problem
    is solved alone, so that an error belongs to the fit that raised it."""
    if len(data) > 1:
        counts = [len(P0) for _, _, P0 in data]
        # Fits of one ladder's runs (every task's) share their inputs; only the data differ.
        shared = all(np.array_equal(X, data[0][0]) for X, _, _ in data[1:])
        try:
            together = batched_lm(form, data[0][0] if shared else
                                  np.concatenate([np.repeat(X[None], len(P0), axis=0) for X, _, P0 in data]),
                                  np.concatenate([np.repeat(y[None], len(P0), axis=0) for _, y, P0 in data]),
                                  np.concatenate([P0 for _, _, P0 in data]), lower=lower, upper=upper, free=free,
                                  residual=residual, max_iter=max_iter)
        except Exception:  # noqa: BLE001 - retried one by one below
            pass
        else:
            edges = np.cumsum([0, *counts])
            return [LMResult(**{name: getattr(together, name)[a:b] for name in LMResult.__dataclass_fields__})
                    for a, b in zip(edges[:-1], edges[1:])]
    out: list[LMResult | Exception] = []
    for X, y, P0 in data:
        try:
            out.append(batched_lm(form, X, y, P0, lower=lower, upper=upper, free=free, residual=residual,
                                  max_iter=max_iter))
        except Exception as exc:  # noqa: BLE001 - this problem's own error
            out.append(exc)
    return out


def _best_fit(form: Form, y: np.ndarray, P0: np.ndarray, solved: LMResult, lower: np.ndarray, upper: np.ndarray,
              free: np.ndarray, fixed: dict[str, float], max_iter: int) -> FitResult:
    """The fit a multi-start solve reports: the best start (:func:`best_start`), its covariance and status."""
    finite = np.isfinite(solved.cost) & np.all(np.isfinite(solved.params), axis=1)
    if not finite.any():
        return FitResult(form=form, params=np.full(len(form.params), np.nan), covariance=None, converged=False,
                         status="failed", message="no start gave a finite result", n_points=len(y), n_iterations=0,
                         loss=float("nan"), optimizer="Levenberg-Marquardt (batched, bounded)", n_starts=len(P0))
    best = best_start(solved.cost, solved.converged)
    near = solved.params[[i for i in np.flatnonzero(solved.converged)
                          if solved.cost[i] <= solved.cost[best] * 1.01 + 1e-15]]
    params = solved.params[best]
    r, J = solved.residuals[best], solved.jacobian[best]
    dof = len(y) - int(free.sum())
    covariance = None
    if dof > 0:
        covariance = np.zeros((len(params), len(params)))
        covariance[np.ix_(free, free)] = float(r @ r) / dof * np.linalg.pinv(J.T @ J)
    converged = bool(solved.converged[best])
    status = "converged" if converged else (
        "max iterations" if solved.iterations[best] >= max_iter else "stalled (no step lowers the cost)")
    if not converged and solved.iterations[best] < max_iter and _unidentified(J):
        # No step lowers the cost and JᵀJ is singular: a minimum along which some parameters are
        # not identified by the data (e.g. two terms that only one point tells apart). The curve is
        # pinned where the data are; the status says that its parameters are not.
        converged, status = True, "converged, degenerate (parameters not identified by the data)"
    flat = degeneracy(J, names=form.params, n_iterations=int(solved.iterations[best]), free=free)
    if converged and flat and "degenerate" not in status:
        status = f"degenerate ({flat})"
    return FitResult(form=form, params=params, covariance=covariance, converged=converged, status=status,
                     message=f"{solved.iterations[best]} iterations; best of {len(P0)} starts "
                             f"({int(solved.converged.sum())} converged)",
                     n_points=len(y), n_iterations=int(solved.iterations[best]), loss=float(solved.cost[best] / 2),
                     at_bounds=tuple(n for n in _at_bounds(form, params, (lower, upper)) if n not in fixed),
                     optimizer="Levenberg-Marquardt", n_starts=len(P0),
                     extra={"near_optimal_params": near, "fixed": fixed})
