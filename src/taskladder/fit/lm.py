"""A batched, bounded Levenberg-Marquardt solver for small least-squares problems.

One call solves ``B`` problems of one form that differ in starting point and point weights: the
multi-start fits (one problem per start) and the bootstrap (one problem per resample); and, with
one data set per problem, independent fits of one data size (every task's, every fold's: see
:func:`~.optimize.fit_least_squares_many`). Everything is vectorized over ``B``, so the
per-iteration cost is a few numpy calls rather than a Python loop per problem, which is what
makes 1,000 bootstrap refits cheap; at these sizes those calls' overhead, not the arithmetic, is
most of the cost, which is why problems are solved together where they can be.

Algorithm
---------
Minimise ``S(p) = Σ_i w_i r_i(p)²`` with ``r = f − y`` (or ``ln f − ln y``) subject to
``lower ≤ p ≤ upper``. Each iteration takes the Marquardt step
``(H + λ diag H) δ = −g`` with ``g = Jᵀ W r`` and ``H = Jᵀ W J`` on the *free* set — parameters on a
bound whose gradient points out of the box are held there — and clips the step to the box. A step
that lowers ``S`` is accepted and λ shrinks; otherwise λ grows.

Convergence is tested at the current point by the Gauss-Newton decrement on the free set,
``gᵀ H⁻¹ g ≤ tol · S`` — the reduction a full Gauss-Newton step could still achieve is negligible —
so a reported convergence means first-order optimality within the bounds, not just a stalled
optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .forms import Form

__all__ = ["LMResult", "batched_lm"]


def _solve(A: np.ndarray, b: np.ndarray, singular: np.ndarray) -> np.ndarray:
    """``A⁻¹ b`` for a stack of systems ``(B, k, k)``, ``(B, k)``; a system LAPACK finds singular
    gets ``pinv(singular) b`` instead. Each problem's answer depends on its own system only, so
    problems solved together get what they would get alone."""
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.empty_like(b)
        for i in range(len(b)):
            try:
                out[i] = np.linalg.solve(A[i], b[i])
            except np.linalg.LinAlgError:
                out[i] = np.linalg.pinv(singular[i]) @ b[i]
        return out


@dataclass(frozen=True)
class LMResult:
    """Solutions of ``B`` problems: parameters ``(B, k)``, costs, convergence and iterations."""

    params: np.ndarray
    cost: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    residuals: np.ndarray
    jacobian: np.ndarray


def batched_lm(form: Form, X: np.ndarray, y: np.ndarray, P0: np.ndarray, *, lower: np.ndarray,
               upper: np.ndarray, free: np.ndarray | None = None, weights: np.ndarray | None = None,
               residual: str = "linear", max_iter: int = 200, tol: float = 1e-9) -> LMResult:
    """Solve ``B = len(P0)`` bounded weighted least-squares problems at once.

    Parameters
    ----------
    form, X, y
        The model ``f(X; p)`` and the data: shared by all problems (``X`` ``(n, m)``, ``y``
        ``(n,)``), or one data set per problem (``y`` ``(B, n)``, with ``X`` shared or ``(B, n, m)``),
        to solve independent fits of one form and size together.
    P0
        Starting points ``(B, k)`` (clipped into the bounds).
    lower, upper
        Bounds ``(k,)``; ``±inf`` for none.
    free
        Mask ``(k,)`` of the parameters to fit; the others stay at their ``P0`` values.
    weights
        Point weights ``(B, n)`` (e.g. bootstrap multiplicities); ``None`` for all ones.
    residual
        ``"linear"`` or ``"log"``.

    Returns
    -------
    LMResult
        ``residuals`` ``(B, n)`` and ``jacobian`` ``(B, n, k_free)`` are unweighted, at the solution.

    Notes
    -----
    Everything that depends only on a problem's current point (its gradient, ``JᵀWJ``, the free
    set and the convergence test) is computed when the point changes and kept while steps are
    rejected: a rejected step only raises λ, so the next iteration solves the same system with
    more damping. The iterates are those of recomputing it all every iteration. No problem's
    iterates depend on the others': solving problems together gives each, to the bit, what
    solving it alone gives, only with numpy's per-call overhead paid once per iteration for all.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    free = np.ones(len(lower), bool) if free is None else np.asarray(free, bool)
    all_free = bool(free.all())
    P = np.clip(np.array(P0, dtype=float), lower, upper)
    B = P.shape[0]
    lo, hi = lower[free], upper[free]
    # Where a parameter counts as sitting on its bound (infinite bounds are never reached).
    with np.errstate(invalid="ignore"):
        lo_edge = np.where(np.isfinite(lo), lo + 1e-12 * np.maximum(1.0, np.abs(lo)), -np.inf)
        hi_edge = np.where(np.isfinite(hi), hi - 1e-12 * np.maximum(1.0, np.abs(hi)), np.inf)
    log_y = np.log(y) if residual == "log" else None
    per_problem = y.ndim == 2
    # Unweighted problems skip the weights altogether (multiplying by ones changes no bit).
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    per_row_weights = sw is not None and sw.shape[0] > 1

    evaluate = form.evaluate_on(X)

    def residuals_and_jacobian(params: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Residuals and their Jacobian (free columns) at ``params``, one row per problem
        (``rows``: which problems, for data of their own; ``None``: all).

        The Jacobian is computed for every trial point, accepted or not: one fused pass over the
        form costs less than a second pass for the accepted ones.
        """
        value, jac = evaluate(params.T[:, :, None], True, rows)
        # (selecting the columns also when all are free fixes the memory layout, and with it the
        # rounding of the products below)
        jac = jac[..., free]
        if residual == "log":
            target = log_y[rows] if per_problem and rows is not None else log_y
            return np.log(np.where(value > 0, value, np.nan)) - target, jac / value[..., None]
        return value - (y[rows] if per_problem and rows is not None else y), jac

    def cost_of(r: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        # a non-finite residual (a trial step off the form's domain) costs inf
        rw = r if sw is None else r * sw[rows] if per_row_weights else r * sw
        value = np.sum(rw * rw, axis=1)
        return np.where(np.isfinite(value), value, np.inf)

    k = int(free.sum())
    eye = np.eye(k)
    with np.errstate(all="ignore"):
        r, J = residuals_and_jacobian(P)
        cost = cost_of(r, slice(None))
        lam = np.full(B, 1e-3)
        done = ~np.isfinite(cost)
        converged = np.zeros(B, bool)
        iterations = np.zeros(B, int)
        # Per problem, at its current point: the free-set gradient, JᵀWJ and its diagonal scale.
        grad = np.zeros((B, k))
        hess = np.zeros((B, k, k))
        scale = np.ones((B, k))
        fresh = ~done  # the point moved since these were computed (or never computed)
        for _ in range(max_iter):
            tested = np.flatnonzero(fresh)
            if tested.size:
                if sw is None:
                    Jw, rw = J[tested], r[tested]
                else:
                    w = sw[tested] if per_row_weights else sw
                    Jw = J[tested] * w[..., None]
                    rw = r[tested] * w
                Jw_t = np.swapaxes(Jw, 1, 2)
                g = (Jw_t @ rw[..., None])[..., 0]
                H = Jw_t @ Jw
                q = P[tested] if all_free else P[tested][:, free]
                held = ((q <= lo_edge) & (g > 0)) | ((q >= hi_edge) & (g < 0))
                keep = ~held
                H = np.where(keep[:, :, None] & keep[:, None, :], H, 0.0) + held[:, :, None] * eye
                g = np.where(keep, g, 0.0)
                sc = np.maximum(np.einsum("bkk->bk", H), 1e-300)
                # Convergence at the current point: the Gauss-Newton decrement on the free set.
                newton = _solve(H + 1e-14 * sc[:, :, None] * eye, g, H)
                decrement = np.einsum("bk,bk->b", g, newton)
                now = np.isfinite(decrement) & (decrement <= tol * cost[tested] + 1e-30)
                converged[tested[now]] = True
                done[tested[now]] = True
                grad[tested], hess[tested], scale[tested] = g, H, sc
                fresh[tested] = False
            rows = np.flatnonzero(~done)
            if rows.size == 0:
                break
            damped = hess[rows] + lam[rows][:, None, None] * (scale[rows][:, :, None] * eye)
            step = -_solve(damped, grad[rows], damped)
            if all_free:
                trial = np.clip(P[rows] + step, lo, hi)
            else:
                trial = P[rows].copy()
                trial[:, free] = np.clip(trial[:, free] + step, lo, hi)
            r_new, J_new = residuals_and_jacobian(trial, rows)
            cost_new = cost_of(r_new, rows)
            better = cost_new < cost[rows]
            iterations[rows] += 1
            if better.any():
                accepted = rows[better]
                P[accepted] = trial[better]
                r[accepted] = r_new[better]
                cost[accepted] = cost_new[better]
                J[accepted] = J_new[better]
                fresh[accepted] = True
            lam[rows] = np.where(better, lam[rows] / 3.0, lam[rows] * 4.0)
            # A step that cannot lower the cost even when tiny means we are at the optimum to
            # machine precision, or stuck: the problem stops unconverged, and the caller tells
            # the two apart (fit_least_squares: a singular JᵀJ at the point).
            stuck = rows[(~better) & (lam[rows] > 1e12)]
            done[stuck] = True
    return LMResult(params=P, cost=cost, converged=converged, iterations=iterations, residuals=r, jacobian=J)


def solve_lm(residuals_and_jacobian, q0: np.ndarray, *, max_iter: int = 500,
             tol: float = 1e-12) -> tuple[np.ndarray, bool, int]:
    """Unbounded Levenberg-Marquardt for one small problem: ``min_q Σ r(q)²``.

    The lean single-problem counterpart of :func:`batched_lm` (no bounds, no weights, no batch
    bookkeeping), used from inside an active-set loop that handles the bounds. Steps solve
    ``(H + λ diag H) δ = −g``; convergence is the same Gauss-Newton decrement test,
    ``gᵀ H⁻¹ g ≤ tol · S``, at the current point. ``residuals_and_jacobian(q)`` returns
    ``(r, ∂r/∂q)``: one pass over the form gives both, which costs less than asking for the
    Jacobian of an accepted step separately (numpy's per-call overhead dominates at this size).

    Returns
    -------
    tuple
        ``(q, converged, iterations)``; ``iterations`` counts accepted steps.
    """
    q = np.asarray(q0, dtype=float).copy()
    with np.errstate(all="ignore"):
        r, J = residuals_and_jacobian(q)
        cost = float(r @ r)
        if not np.isfinite(cost):
            return q, False, 0
        lam = 1e-3
        for iteration in range(1, max_iter + 1):
            g = J.T @ r
            H = J.T @ J
            scale = np.maximum(np.diag(H), 1e-300)
            try:
                newton = np.linalg.solve(H + 1e-14 * np.diag(scale), g)
            except np.linalg.LinAlgError:
                newton = np.linalg.pinv(H) @ g
            decrement = float(g @ newton)
            if np.isfinite(decrement) and decrement <= tol * cost + 1e-30:
                return q, True, iteration - 1
            damping = np.diag(scale)
            while True:
                try:
                    step = -np.linalg.solve(H + lam * damping, g)
                except np.linalg.LinAlgError:
                    step = -np.linalg.pinv(H + lam * damping) @ g
                trial = q + step
                r_new, J_new = residuals_and_jacobian(trial)
                cost_new = float(r_new @ r_new)
                if np.isfinite(cost_new) and cost_new < cost:
                    q, r, J, cost = trial, r_new, J_new, cost_new
                    lam /= 3.0
                    break
                lam *= 4.0
                if lam > 1e12:
                    # No step lowers the cost even when tiny: optimal to machine precision, or stuck.
                    return q, bool(np.isfinite(decrement) and decrement <= 1e-6 * cost + 1e-30), iteration
    return q, False, max_iter
