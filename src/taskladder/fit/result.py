"""The immutable result of one curve fit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .forms import Form

__all__ = ["FitResult", "degeneracy"]


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """Parameters, covariance and convergence status of one fitted curve.

    Attributes
    ----------
    form
        The fitted functional form.
    params
        Fitted parameter vector (order of ``form.params``).
    covariance
        Parameter covariance, or ``None`` when it could not be estimated. For least-squares fits
        it is ``s² (JᵀJ)⁻¹`` with ``s²`` the residual variance; for the paper's Huber fits it is
        the optimizer's inverse-Hessian approximation, which is *not* a statistical covariance.
    converged
        Whether the optimizer reported convergence (and the result is finite).
    status
        Short status: ``"converged"``, ``"line search failed"``, ``"max iterations"``, ``"degenerate
        (...)"`` (the optimizer stopped, but the data do not determine the fit; see
        :func:`degeneracy`), ….
    message
        The optimizer's own message.
    n_points
        Number of data points fitted.
    n_iterations
        Optimizer iterations (or function evaluations where iterations are not reported).
    loss
        Final value of the objective.
    at_bounds
        Names of parameters that ended on a bound.
    optimizer
        Which routine produced it (``"huber-log L-BFGS-B"``, ``"least-squares TRF"``, …).
    n_starts
        How many starting points were tried (multi-start).
    """

    form: Form
    params: np.ndarray
    covariance: np.ndarray | None
    converged: bool
    status: str
    message: str
    n_points: int
    n_iterations: int
    loss: float
    at_bounds: tuple[str, ...] = ()
    optimizer: str = ""
    n_starts: int = 1
    extra: dict = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Evaluate the fitted form at ``X`` (shape ``(n, len(form.inputs))``, or 1-D for one input)."""
        X = np.asarray(X, dtype=float)
        if X.ndim < 2:
            X = X.reshape(-1, len(self.form.inputs))
        return self.form.function(X, self.params)

    @property
    def named_params(self) -> dict[str, float]:
        return {name: float(v) for name, v in zip(self.form.params, self.params)}

    def describe(self) -> str:
        """The fitted formula, e.g. ``L(N, D) = 32.1 / N^0.2310 + … + 0.4213``."""
        return self.form.describe(self.params)


def degeneracy(jacobian: np.ndarray | None, *, names: tuple[str, ...], n_iterations: int,
               free: np.ndarray | None = None) -> str:
    """Why a fit its optimizer calls converged is still not determined by the data ("" when it is).

    An optimizer reports convergence at any stationary point, including one where it never moved
    (a start on a flat objective, e.g. a near-vertical sigmoid through points all on one side of
    its step) or where some parameter no longer changes the residuals (a power-law term whose
    coefficient sits at zero leaves its exponent free). Such a fit must not read as "converged",
    so its status names the reason.

    Parameters
    ----------
    jacobian
        ``∂r/∂p`` at the solution, one column per *free* parameter (``None``: not available).
    names
        Parameter names, all of them, in the form's order.
    n_iterations
        Iterations the optimizer took from its start.
    free
        Mask of the parameters that were fitted (held ones are determined by design).

    Returns
    -------
    str
        ``""``, or the reasons joined with ``"; "``: ``"0 iterations"`` (the start came back
        unchanged) and ``"no standard error: k, x0"`` (free parameters whose Jacobian column is
        zero next to the largest one, so their variance ``s² (JᵀJ)⁻¹`` is undefined; the
        pseudo-inverse reports it as 0).

    Notes
    -----
    A column counts as zero when its norm is at most ``1e-10`` times the largest column norm. An
    exact fit (zero residuals) has zero standard errors too, but a full-rank Jacobian, so it is
    not degenerate.
    """
    free = np.ones(len(names), bool) if free is None else np.asarray(free, bool)
    reasons = []
    if n_iterations == 0 and free.any():
        reasons.append("0 iterations")
    if jacobian is not None and free.any():
        norms = np.linalg.norm(np.asarray(jacobian, dtype=float), axis=0)
        if norms.size and np.all(np.isfinite(norms)):
            free_names = [name for name, f in zip(names, free) if f]
            flat = [name for name, norm in zip(free_names, norms) if norm <= 1e-10 * norms.max()]
            if flat:
                reasons.append(f"no standard error: {', '.join(flat)}")
    return "; ".join(reasons)
