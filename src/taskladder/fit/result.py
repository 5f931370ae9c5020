"""The immutable result of one curve fit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .forms import Form

__all__ = ["FitResult"]


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
        Short status: ``"converged"``, ``"line search failed"``, ``"max iterations"``, ….
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
