"""Starting points for the default (multi-start) fits, by variable projection on a grid.

For fixed exponents the power laws are linear in their coefficients, and for a fixed midpoint and
slope the sigmoid is linear in its two asymptote parameters. So a grid over the nonlinear
parameters, each point solved exactly for the linear ones, finds the basin of the global optimum
cheaply; the best few grid points then start the nonlinear refinement.
"""

from __future__ import annotations

import numpy as np

__all__ = ["power_law_nd_starts", "power_law_c_starts", "sigmoid_starts", "single_step_starts"]

_EXPONENTS = np.geomspace(0.02, 2.0, 22)


def _best(cost: np.ndarray, n_best: int) -> np.ndarray:
    order = np.argsort(np.where(np.isfinite(cost), cost, np.inf))
    return order[:n_best]


def _relative_lstsq(columns: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched least squares of ``columns @ c ≈ y`` in relative error (rows scaled by 1/y).

    ``columns`` has shape ``(G, n, k)``; returns coefficients ``(G, k)`` and costs ``(G,)``.
    """
    M = columns / y[None, :, None]
    scale = np.linalg.norm(M, axis=1, keepdims=True)
    scale[scale == 0] = 1.0
    Ms = M / scale
    gram = np.swapaxes(Ms, 1, 2) @ Ms + 1e-12 * np.eye(M.shape[2])
    rhs = Ms.sum(axis=1)
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0] / scale[:, 0, :]
    resid = np.einsum("gnk,gk->gn", M, coef) - 1.0
    return coef, np.sum(resid**2, axis=1)


def _unit_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit Euclidean norm (zero rows left as they are), and the norms."""
    norms = np.linalg.norm(rows, axis=-1)
    norms = np.where(norms > 0, norms, 1.0)
    return rows / norms[..., None], norms


def power_law_nd_starts(n_params: np.ndarray, tokens: np.ndarray, y: np.ndarray, *, sign: float = 1.0,
                        n_best: int = 2) -> list[np.ndarray]:
    """Starts ``[ln A, ln B, α, β, E]`` for ``y = sign·(A N^−α + B D^−β) + E``.

    Notes
    -----
    For each grid point ``(α, β)`` the coefficients solve ``min Σ_i (M_i · c − 1)²`` with the
    columns ``M = [sign N^−α, sign D^−β, 1] / y`` (relative error), each scaled to unit norm for
    conditioning. The Gram matrix of a grid point only needs inner products of an α-column
    with a β-column, so all ``G²`` systems are built from one ``G × G`` matrix product.
    """
    inv_y = 1.0 / np.asarray(y, float)
    with np.errstate(over="ignore", under="ignore"):
        term_n = np.exp(-_EXPONENTS[:, None] * np.log(n_params)[None, :]) * inv_y
        term_d = np.exp(-_EXPONENTS[:, None] * np.log(tokens)[None, :]) * inv_y
    A, norm_n = _unit_rows(sign * term_n)
    B, norm_d = _unit_rows(sign * term_d)
    ones, norm_1 = _unit_rows(inv_y)
    G = len(_EXPONENTS)
    gram = np.empty((G, G, 3, 3))
    gram[..., 0, 0] = gram[..., 1, 1] = gram[..., 2, 2] = 1.0 + 1e-12
    gram[..., 0, 1] = gram[..., 1, 0] = A @ B.T
    gram[..., 0, 2] = gram[..., 2, 0] = (A @ ones)[:, None]
    gram[..., 1, 2] = gram[..., 2, 1] = (B @ ones)[None, :]
    rhs = np.empty((G, G, 3))
    rhs[..., 0] = A.sum(axis=1)[:, None]
    rhs[..., 1] = B.sum(axis=1)[None, :]
    rhs[..., 2] = ones.sum()
    coef = np.linalg.solve(gram.reshape(-1, 3, 3), rhs.reshape(-1, 3, 1))[..., 0]
    alpha, beta = (grid.ravel() for grid in np.meshgrid(_EXPONENTS, _EXPONENTS, indexing="ij"))
    # Residual of the normal equations' solution: ‖M c − 1‖² = n − cᵀ Mᵀ1.
    cost = len(inv_y) - np.einsum("gk,gk->g", coef, rhs.reshape(-1, 3))
    coef = coef / np.column_stack([np.repeat(norm_n, G), np.tile(norm_d, G), np.full(G * G, norm_1)])
    feasible = (coef[:, 0] > 0) & (coef[:, 1] > 0)
    cost = np.where(feasible, cost, np.inf)
    starts = []
    for g in _best(cost, n_best):
        if not np.isfinite(cost[g]):
            continue
        starts.append(np.array([np.log(coef[g, 0]), np.log(coef[g, 1]), alpha[g], beta[g],
                                max(coef[g, 2], 0.0) if sign > 0 else coef[g, 2]]))
    return starts


def power_law_c_starts(flops: np.ndarray, y: np.ndarray, *, n_best: int = 2,
                       exponents: np.ndarray = _EXPONENTS) -> list[np.ndarray]:
    """Starts ``[ln A, α, E]`` for ``y = A C^−α + E``, from a grid of ``α`` (``exponents``; a
    negative α makes it a growing power, as the loss-to-loss map ``K · x^κ + E'`` with α = −κ)."""
    alpha = np.asarray(exponents, float)
    with np.errstate(over="ignore", under="ignore"):
        term = np.exp(-alpha[:, None] * np.log(flops)[None, :])
    columns = np.stack([term, np.ones_like(term)], axis=2)
    coef, cost = _relative_lstsq(columns, y)
    cost = np.where(coef[:, 0] > 0, cost, np.inf)
    return [np.array([np.log(coef[g, 0]), alpha[g], max(coef[g, 1], 0.0)])
            for g in _best(cost, n_best) if np.isfinite(cost[g])]


def sigmoid_starts(x: np.ndarray, y: np.ndarray, *, top: float | None = None, n_best: int = 2) -> list[np.ndarray]:
    """Starts ``[a, x0, k, b]`` for ``y = a σ(k (x − x0)) + b`` (``b`` fixed to ``top`` if given)."""
    if len(x) > 128:
        # Starting values need the curve's shape, not every point: an even subsample suffices.
        order = np.argsort(x)
        pick = order[np.linspace(0, len(x) - 1, 128).astype(int)]
        x, y = x[pick], y[pick]
    lo, hi = np.min(x), np.max(x)
    span = max(hi - lo, 1e-6)
    x0 = np.linspace(lo - span, hi + span, 15)
    k = np.geomspace(0.3 / span, 60.0 / span, 15)
    X0, K = np.meshgrid(x0, k, indexing="ij")
    X0, K = X0.ravel(), K.ravel()
    z = K[:, None] * (x[None, :] - X0[:, None])
    s = 0.5 * (1.0 + np.tanh(0.5 * z))
    if top is None:
        s_mean = s.mean(axis=1, keepdims=True)
        y_mean = y.mean()
        var = np.sum((s - s_mean) ** 2, axis=1)
        a = np.sum((s - s_mean) * (y - y_mean)[None, :], axis=1) / np.maximum(var, 1e-300)
        b = y_mean - a * s_mean[:, 0]
    else:
        # y − top = a s: one-parameter least squares.
        a = np.sum(s * (y - top)[None, :], axis=1) / np.maximum(np.sum(s**2, axis=1), 1e-300)
        b = np.full_like(a, top)
    a = np.clip(a, -1.0, 0.0)
    b = np.clip(b, 0.0, 1.0)
    cost = np.sum((a[:, None] * s + b[:, None] - y[None, :]) ** 2, axis=1)
    return [np.array([a[g], X0[g], K[g], b[g]]) for g in _best(cost, n_best)]


def single_step_starts(n_params: np.ndarray, tokens: np.ndarray, y: np.ndarray, *, floor: float,
                       n_best: int = 2) -> list[np.ndarray]:
    """Starts ``[ln A, ln B, α, β, E, s, q]`` for ``y = s σ(A N^−α + B D^−β + E) + q``.

    Notes
    -----
    For a fixed floor ``f = q + s`` (chance) and top ``q``, ``σ(z) = (q − y)/(q − f)``, so
    ``z = logit((q − y)/(q − f))`` is a power law in (N, D) plus a constant: its starts come from
    :func:`power_law_nd_starts` on ``z`` shifted to be positive (the grid works in relative error).
    Tops tried: 1 and halfway between the best accuracy and 1.
    """
    y = np.asarray(y, float)
    floor = min(floor, float(y.min()) - 0.01)
    starts = []
    for top in sorted({1.0, 0.5 * (1.0 + float(y.max()))}):
        frac = np.clip((top - y) / (top - floor), 0.02, 0.98)
        z = np.log(frac / (1.0 - frac))
        shift = 1.0 - z.min()
        for a, b, alpha, beta, _ in power_law_nd_starts(n_params, tokens, z + shift, n_best=n_best):
            # the offset may be negative here (the grid clips it at 0): solve for it directly
            terms = np.exp(a - alpha * np.log(n_params)) + np.exp(b - beta * np.log(tokens))
            starts.append(np.array([a, b, alpha, beta, float(np.mean(z - terms)), floor - top, top]))
    return starts
