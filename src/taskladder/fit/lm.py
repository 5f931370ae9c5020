"""A batched, bounded Levenberg-Marquardt solver for small least-squares problems.

One call solves ``B`` problems that share data and form but differ in starting point and point
weights: the multi-start fits (one problem per start) and the bootstrap (one problem per
resample). Everything is vectorized over ``B``, so the per-iteration cost is a few numpy calls
rather than a Python loop per problem, which is what makes 1,000 bootstrap refits cheap.

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
        The model ``f(X; p)`` and the data (shared by all problems).
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
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    free = np.ones(len(lower), bool) if free is None else np.asarray(free, bool)
    P = np.clip(np.array(P0, dtype=float), lower, upper)
    B = P.shape[0]
    lo, hi = lower[free], upper[free]
    # Where a parameter counts as sitting on its bound (infinite bounds are never reached).
    with np.errstate(invalid="ignore"):
        lo_edge = np.where(np.isfinite(lo), lo + 1e-12 * np.maximum(1.0, np.abs(lo)), -np.inf)
        hi_edge = np.where(np.isfinite(hi), hi - 1e-12 * np.maximum(1.0, np.abs(hi)), np.inf)
    log_y = np.log(y) if residual == "log" else None
    sw = np.ones((1, len(y))) if weights is None else np.sqrt(np.asarray(weights, dtype=float))

    def residuals(params: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            value = form.function(X, params.T[:, :, None])
            if residual == "log":
                return np.log(np.where(value > 0, value, np.nan)) - log_y
            return value - y

    def jacobian(params: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            jac = form.jacobian(X, params.T[:, :, None])[..., free]
            if residual == "log":
                jac = jac / form.function(X, params.T[:, :, None])[..., None]
        return jac

    def cost_of(r: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        with np.errstate(all="ignore"):  # a non-finite residual (a trial step off the form's domain) costs inf
            rw = r * sw[rows] if sw.shape[0] > 1 else r * sw
            value = np.sum(rw * rw, axis=1)
        return np.where(np.isfinite(value), value, np.inf)

    r = residuals(P)
    cost = cost_of(r)
    J = jacobian(P)
    lam = np.full(B, 1e-3)
    done = ~np.isfinite(cost)
    converged = np.zeros(B, bool)
    iterations = np.zeros(B, int)
    k = int(free.sum())
    eye = np.eye(k)
    for _ in range(max_iter):
        active_rows = np.flatnonzero(~done)
        if active_rows.size == 0:
            break
        w = sw[active_rows] if sw.shape[0] > 1 else sw
        Jw = J[active_rows] * w[..., None]
        rw = r[active_rows] * w
        Jw_t = np.swapaxes(Jw, 1, 2)
        g = (Jw_t @ rw[..., None])[..., 0]
        H = Jw_t @ Jw
        q = P[active_rows][:, free]
        held = ((q <= lo_edge) & (g > 0)) | ((q >= hi_edge) & (g < 0))
        keep = ~held
        mask = keep[:, :, None] & keep[:, None, :]
        H = np.where(mask, H, 0.0) + (~keep)[:, :, None] * eye
        g = np.where(keep, g, 0.0)
        diag = np.einsum("bkk->bk", H)
        scale = np.maximum(diag, 1e-300)
        # Convergence at the current point: the Gauss-Newton decrement on the free set.
        try:
            newton = np.linalg.solve(H + 1e-14 * scale[:, :, None] * eye, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            newton = np.einsum("bkl,bl->bk", np.linalg.pinv(H), g)
        decrement = np.einsum("bk,bk->b", g, newton)
        now = np.isfinite(decrement) & (decrement <= tol * cost[active_rows] + 1e-30)
        converged[active_rows[now]] = True
        done[active_rows[now]] = True
        step_rows = ~now
        if not step_rows.any():
            break
        rows = active_rows[step_rows]
        damped = H[step_rows] + lam[rows][:, None, None] * (scale[step_rows][:, :, None] * eye)
        try:
            step = -np.linalg.solve(damped, g[step_rows][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -np.einsum("bkl,bl->bk", np.linalg.pinv(damped), g[step_rows])
        trial = P[rows].copy()
        trial[:, free] = np.clip(trial[:, free] + step, lo, hi)
        r_new = residuals(trial)
        cost_new = cost_of(r_new, rows)
        better = cost_new < cost[rows]
        iterations[rows] += 1
        accepted = rows[better]
        if accepted.size:
            P[accepted] = trial[better]
            r[accepted] = r_new[better]
            cost[accepted] = cost_new[better]
            J[accepted] = jacobian(P[accepted])
        lam[rows] = np.where(better, lam[rows] / 3.0, lam[rows] * 4.0)
        # A step that cannot lower the cost even when tiny means we are at the optimum to
        # machine precision (or stuck); the decrement test decides which on the next pass.
        stuck = rows[(~better) & (lam[rows] > 1e12)]
        done[stuck] = True
    return LMResult(params=P, cost=cost, converged=converged, iterations=iterations, residuals=r, jacobian=J)


def solve_lm(residuals, jacobian, q0: np.ndarray, *, max_iter: int = 500,
             tol: float = 1e-12) -> tuple[np.ndarray, bool, int]:
    """Unbounded Levenberg-Marquardt for one small problem: ``min_q Σ r(q)²``.

    The lean single-problem counterpart of :func:`batched_lm` (no bounds, no weights, no batch
    bookkeeping), used from inside an active-set loop that handles the bounds. Steps solve
    ``(H + λ diag H) δ = −g``; convergence is the same Gauss-Newton decrement test,
    ``gᵀ H⁻¹ g ≤ tol · S``, at the current point.

    Returns
    -------
    tuple
        ``(q, converged, iterations)``.
    """
    q = np.asarray(q0, dtype=float).copy()
    with np.errstate(all="ignore"):
        r = residuals(q)
        cost = float(r @ r)
        if not np.isfinite(cost):
            return q, False, 0
        J = jacobian(q)
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
            while True:
                try:
                    step = -np.linalg.solve(H + lam * np.diag(scale), g)
                except np.linalg.LinAlgError:
                    step = -np.linalg.pinv(H + lam * np.diag(scale)) @ g
                trial = q + step
                r_new = residuals(trial)
                cost_new = float(r_new @ r_new)
                if np.isfinite(cost_new) and cost_new < cost:
                    q, r, cost = trial, r_new, cost_new
                    J = jacobian(q)
                    lam /= 3.0
                    break
                lam *= 4.0
                if lam > 1e12:
                    # No step lowers the cost even when tiny: optimal to machine precision, or stuck.
                    return q, bool(np.isfinite(decrement) and decrement <= 1e-6 * cost + 1e-30), iteration
    return q, False, max_iter
