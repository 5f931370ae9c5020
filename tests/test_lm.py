"""The batched Levenberg-Marquardt solver against a plain reference that recomputes everything
every iteration: keeping what depends only on a problem's point while its steps are rejected
must not change a single iterate."""

from __future__ import annotations

import numpy as np
import pytest

from taskladder.fit.forms import power_law_nd, sigmoid, single_step
from taskladder.fit.lm import batched_lm


def reference_lm(form, X, y, P0, *, lower, upper, free=None, weights=None, residual="linear", max_iter=200,
                 tol=1e-9):
    """The solver as first written: gradient, JᵀWJ, free set and convergence test recomputed at
    every iteration for every unfinished problem (Marquardt steps, λ ÷ 3 on success, × 4 on failure)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    free = np.ones(len(lower), bool) if free is None else np.asarray(free, bool)
    P = np.clip(np.array(P0, dtype=float), lower, upper)
    B = P.shape[0]
    lo, hi = lower[free], upper[free]
    with np.errstate(invalid="ignore"):
        lo_edge = np.where(np.isfinite(lo), lo + 1e-12 * np.maximum(1.0, np.abs(lo)), -np.inf)
        hi_edge = np.where(np.isfinite(hi), hi - 1e-12 * np.maximum(1.0, np.abs(hi)), np.inf)
    log_y = np.log(y) if residual == "log" else None
    sw = np.ones((1, len(y))) if weights is None else np.sqrt(np.asarray(weights, dtype=float))

    def residuals(params):
        value = form.function(X, params.T[:, :, None])
        return np.log(np.where(value > 0, value, np.nan)) - log_y if residual == "log" else value - y

    def jacobian(params):
        jac = form.jacobian(X, params.T[:, :, None])[..., free]
        return jac / form.function(X, params.T[:, :, None])[..., None] if residual == "log" else jac

    def cost_of(r, rows=slice(None)):
        rw = r * sw[rows] if sw.shape[0] > 1 else r * sw
        value = np.sum(rw * rw, axis=1)
        return np.where(np.isfinite(value), value, np.inf)

    with np.errstate(all="ignore"):
        r = residuals(P)
        cost = cost_of(r)
        J = jacobian(P)
        lam = np.full(B, 1e-3)
        done = ~np.isfinite(cost)
        converged = np.zeros(B, bool)
        iterations = np.zeros(B, int)
        eye = np.eye(int(free.sum()))
        for _ in range(max_iter):
            active = np.flatnonzero(~done)
            if active.size == 0:
                break
            w = sw[active] if sw.shape[0] > 1 else sw
            Jw, rw = J[active] * w[..., None], r[active] * w
            g = (np.swapaxes(Jw, 1, 2) @ rw[..., None])[..., 0]
            H = np.swapaxes(Jw, 1, 2) @ Jw
            q = P[active][:, free]
            keep = ~(((q <= lo_edge) & (g > 0)) | ((q >= hi_edge) & (g < 0)))
            H = np.where(keep[:, :, None] & keep[:, None, :], H, 0.0) + (~keep)[:, :, None] * eye
            g = np.where(keep, g, 0.0)
            scale = np.maximum(np.einsum("bkk->bk", H), 1e-300)
            newton = np.linalg.solve(H + 1e-14 * scale[:, :, None] * eye, g[..., None])[..., 0]
            decrement = np.einsum("bk,bk->b", g, newton)
            now = np.isfinite(decrement) & (decrement <= tol * cost[active] + 1e-30)
            converged[active[now]] = done[active[now]] = True
            if now.all():
                break
            rows = active[~now]
            damped = H[~now] + lam[rows][:, None, None] * (scale[~now][:, :, None] * eye)
            step = -np.linalg.solve(damped, g[~now][..., None])[..., 0]
            trial = P[rows].copy()
            trial[:, free] = np.clip(trial[:, free] + step, lo, hi)
            r_new = residuals(trial)
            cost_new = cost_of(r_new, rows)
            better = cost_new < cost[rows]
            iterations[rows] += 1
            accepted = rows[better]
            P[accepted], r[accepted], cost[accepted] = trial[better], r_new[better], cost_new[better]
            J[accepted] = jacobian(P[accepted])
            lam[rows] = np.where(better, lam[rows] / 3.0, lam[rows] * 4.0)
            done[rows[(~better) & (lam[rows] > 1e12)]] = True
    return P, cost, converged, iterations


def _problems():
    rng = np.random.default_rng(11)
    n = 10 ** rng.uniform(8, 9.5, 24)
    d = n * 20 * rng.choice([1, 2, 5, 10], 24)
    X = np.column_stack([n, d])
    truth = np.array([5.7, 6.0, 0.3, 0.3, 0.5])
    loss = power_law_nd(X, truth) * np.exp(0.01 * rng.standard_normal(24))
    starts = np.array([[3.0, 6.0, 0.1, 0.2, 0.5], [8.0, 4.0, 0.5, 0.1, 0.1], [2.0, 2.0, 0.05, 0.05, 1.0]])
    weights = rng.multinomial(24, np.full(24, 1 / 24), size=3).astype(float)
    yield power_law_nd, X, loss, starts, dict(lower=[-np.inf, -np.inf, 0, 0, 0], upper=[np.inf, np.inf, 2, 2, np.inf],
                                              residual="log", weights=weights, max_iter=300)
    acc = single_step(X, np.array([4.0, 5.0, 0.3, 0.3, -0.5, -0.7, 0.95])) + 0.005 * rng.standard_normal(24)
    starts = np.array([[3.0, 5.0, 0.2, 0.3, 0.0, -0.75, 1.0], [2.0, 2.0, 0.1, 0.1, 0.0, -0.75, 1.0],
                       [5.0, 8.0, 0.3, 0.3, 0.0, -0.75, 1.0]])
    yield single_step, X, acc, starts, dict(lower=[0, 0, 0, 0, -np.inf, -1, 0], upper=[np.inf] * 5 + [0, 1],
                                            max_iter=400)
    x = rng.uniform(0.8, 1.6, 30)
    y = sigmoid(x.reshape(-1, 1), np.array([-0.75, 1.3, 4.0, 1.0])) + 0.01 * rng.standard_normal(30)
    starts = np.array([[-0.5, 1.0, 2.0, 1.0], [-0.9, 1.5, 8.0, 1.0]])
    yield sigmoid, x.reshape(-1, 1), y, starts, dict(lower=[-1, 0, 0, 0], upper=[0, 5, 50, 1],
                                                     free=np.array([True, True, True, False]), max_iter=200)


@pytest.mark.parametrize("problem", list(_problems()), ids=["log-weighted", "single-step-bounded", "fixed-param"])
def test_iterates_equal_the_reference(problem):
    form, X, y, starts, options = problem
    solved = batched_lm(form, X, y, starts, **options)
    params, cost, converged, iterations = reference_lm(form, X, y, starts, **options)
    assert np.array_equal(solved.params, params)
    assert np.array_equal(solved.cost, cost)
    assert np.array_equal(solved.converged, converged)
    assert np.array_equal(solved.iterations, iterations)
    assert iterations.max() > 5  # the problems exercise rejected steps, not only a first-step convergence


def test_problems_solved_together_get_what_each_gets_alone():
    """Per-problem data ``X (B, n, m)``, ``y (B, n)``: each problem's iterates are its own, to the bit."""
    rng = np.random.default_rng(5)
    problems = []
    for _ in range(3):
        n = 10 ** rng.uniform(8, 9.5, 20)
        X = np.column_stack([n, n * 20 * rng.choice([1, 2, 5, 10], 20)])
        acc = single_step(X, np.array([4.0, 5.0, 0.3, 0.3, -0.5, -0.7, 0.95])) + 0.005 * rng.standard_normal(20)
        starts = np.array([[3.0, 5.0, 0.2, 0.3, 0.0, -0.75, 1.0], [5.0, 8.0, 0.3, 0.3, 0.0, -0.75, 1.0]])
        problems.append((X, acc, starts))
    options = dict(lower=[0, 0, 0, 0, -np.inf, -1, 0], upper=[np.inf] * 5 + [0, 1], max_iter=300)
    together = batched_lm(single_step, np.concatenate([np.repeat(X[None], len(P0), 0) for X, _, P0 in problems]),
                          np.concatenate([np.repeat(y[None], len(P0), 0) for _, y, P0 in problems]),
                          np.concatenate([P0 for _, _, P0 in problems]), **options)
    for i, (X, y, P0) in enumerate(problems):
        alone = batched_lm(single_step, X, y, P0, **options)
        rows = slice(2 * i, 2 * i + 2)
        for name in ("params", "cost", "converged", "iterations", "residuals", "jacobian"):
            assert np.array_equal(getattr(together, name)[rows], getattr(alone, name)), name


def test_a_singular_system_falls_back_alone():
    """LAPACK refusing one system of a stack gives that one the pseudo-inverse; the others keep their solve."""
    from taskladder.fit.lm import _solve

    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 4, 4))
    A = A @ np.swapaxes(A, 1, 2) + np.eye(4)
    A[1] = 0.0
    A[1, 0, 0] = 2.0
    b = rng.standard_normal((3, 4))
    x = _solve(A, b, A)
    for i in (0, 2):
        assert np.array_equal(x[i], np.linalg.solve(A[i], b[i]))
    assert np.allclose(x[1], np.linalg.pinv(A[1]) @ b[1])
