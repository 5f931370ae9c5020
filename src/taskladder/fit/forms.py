"""Functional forms of task scaling laws: pure, vectorized functions with analytic Jacobians.

Each form maps an input matrix ``X`` of shape ``(n, m)`` and a parameter vector ``p`` to
predictions of shape ``(n,)``; its Jacobian has shape ``(n, len(p))``. Passing parameters of
shape ``(len(p), B, 1)`` evaluates ``B`` parameter vectors at once (shape ``(B, n)``, Jacobian
``(B, n, len(p))``), which the bootstrap uses. ``tests/test_forms.py``
checks every Jacobian against central finite differences.

Forms
-----
``power_law_nd``   step 1 in (N, D):      ``L = exp(a − α ln N) + exp(b − β ln D) + E``
``power_law_nd_lr`` step 1 on every checkpoint: ``L = (exp(a − α ln N) + exp(b − β ln D) + E)(1 + c u)``,
                   ``u`` the learning rate's excess over its final value, as a fraction of the peak
``power_law_c``    step 1 in compute C:   ``L = exp(a − α ln C) + E``
``sigmoid``        step 2:                ``Acc = a / (1 + exp(−k (L − x0))) + b``
``log_sigmoid``    step 2 for TaskCE:     ``Acc = 1 + a · softplus(k (L − x0))``
``single_step``    (N, D) → accuracy:      ``Acc = s · σ(power_law_nd(N, D)) + q``

The negated accuracy power law of the paper (``Acc = −A/N^α − B/D^β + E``) is ``power_law_nd``
with ``sign=−1``: a constant of the form, not a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Form", "FORMS", "get_form", "power_law_nd", "negated_power_law_nd", "power_law_nd_lr", "power_law_c",
           "sigmoid", "log_sigmoid", "single_step"]

Array = np.ndarray


@dataclass(frozen=True)
class Form:
    """A functional form with named parameters.

    Attributes
    ----------
    name
        Identifier (``"power_law_nd"``).
    params
        Parameter names in the order of the parameter vector.
    inputs
        Names of the input columns of ``X`` (``("n_params", "tokens")``).
    function
        ``function(X, p) -> y``.
    jacobian
        ``jacobian(X, p) -> J`` with ``J[i, j] = ∂y_i / ∂p_j``.
    formula
        Human-readable formula with ``{param}`` placeholders for :meth:`describe`.
    """

    name: str
    params: tuple[str, ...]
    inputs: tuple[str, ...]
    function: Callable[[Array, Array], Array]
    jacobian: Callable[[Array, Array], Array]
    formula: str

    def __call__(self, X: Array, p: Array) -> Array:
        return self.function(np.asarray(X, dtype=float), np.asarray(p, dtype=float))

    def jac(self, X: Array, p: Array) -> Array:
        return self.jacobian(np.asarray(X, dtype=float), np.asarray(p, dtype=float))

    def describe(self, p: Array) -> str:
        """The formula with fitted values substituted."""
        values = {name: float(v) for name, v in zip(self.params, p)}
        for name in ("a", "b"):
            if name in values:
                values[f"exp_{name}"] = float(np.exp(values[name]))
        return self.formula.format(**values)


def _column(X: Array, j: int) -> Array:
    return X[:, j] if X.ndim == 2 else X


# --- step 1 -------------------------------------------------------------------------------------

def _power_law_nd_terms(X: Array, p: Array) -> tuple[Array, Array, Array, Array]:
    log_n, log_d = np.log(_column(X, 0)), np.log(_column(X, 1))
    a, b, alpha, beta = p[0], p[1], p[2], p[3]
    return np.exp(a - alpha * log_n), np.exp(b - beta * log_d), log_n, log_d


def _make_power_law_nd(sign: float) -> tuple[Callable[[Array, Array], Array], Callable[[Array, Array], Array]]:
    def function(X: Array, p: Array) -> Array:
        term_n, term_d, _, _ = _power_law_nd_terms(X, p)
        return sign * (term_n + term_d) + p[4]

    def jacobian(X: Array, p: Array) -> Array:
        term_n, term_d, log_n, log_d = _power_law_nd_terms(X, p)
        ones = np.ones_like(term_n)
        return np.stack([sign * term_n, sign * term_d, -sign * log_n * term_n,
                         -sign * log_d * term_d, ones], axis=-1)

    return function, jacobian


power_law_nd = Form(
    "power_law_nd", ("a", "b", "alpha", "beta", "E"), ("n_params", "tokens"),
    *_make_power_law_nd(+1.0),
    formula="L(N, D) = {exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{beta:.4f} + {E:.4f}",
)

negated_power_law_nd = Form(
    "negated_power_law_nd", ("a", "b", "alpha", "beta", "E"), ("n_params", "tokens"),
    *_make_power_law_nd(-1.0),
    formula="Acc(N, D) = {E:.4f} - {exp_a:.4g} / N^{alpha:.4f} - {exp_b:.4g} / D^{beta:.4f}",
)


def _power_law_nd_shared(X: Array, p: Array) -> Array:
    log_n, log_d = np.log(_column(X, 0)), np.log(_column(X, 1))
    return np.exp(p[0] - p[2] * log_n) + np.exp(p[1] - p[2] * log_d) + p[3]


def _power_law_nd_shared_jac(X: Array, p: Array) -> Array:
    log_n, log_d = np.log(_column(X, 0)), np.log(_column(X, 1))
    term_n, term_d = np.exp(p[0] - p[2] * log_n), np.exp(p[1] - p[2] * log_d)
    return np.stack([term_n, term_d, -log_n * term_n - log_d * term_d, np.ones_like(term_n)], axis=-1)


# One exponent for parameters and tokens (Gadre et al. 2024's loss law, reparameterised): four
# parameters instead of five, so a ladder that pins one exponent badly borrows from the other.
power_law_nd_shared = Form(
    "power_law_nd_shared", ("a", "b", "alpha", "E"), ("n_params", "tokens"),
    _power_law_nd_shared, _power_law_nd_shared_jac,
    formula="L(N, D) = {exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{alpha:.4f} + {E:.4f}",
)


def _power_law_nd_lr(X: Array, p: Array) -> Array:
    term_n, term_d, _, _ = _power_law_nd_terms(X, p)
    return (term_n + term_d + p[4]) * (1.0 + p[5] * _column(X, 2))


def _power_law_nd_lr_jac(X: Array, p: Array) -> Array:
    term_n, term_d, log_n, log_d = _power_law_nd_terms(X, p)
    u = _column(X, 2)
    factor = 1.0 + p[5] * u
    base = term_n + term_d + p[4]
    return np.stack([factor * term_n, factor * term_d, -factor * log_n * term_n, -factor * log_d * term_d,
                     factor * np.ones_like(term_n), base * u], axis=-1)


# Step 1 on every checkpoint: a checkpoint taken while the learning rate is still above its final
# value has a higher loss than the end of a run of that length would; ``u`` is how far above
# (LR/peak at the checkpoint − LR/peak at the run's end), so ``u = 0`` at every run's end and for
# the target.
power_law_nd_lr = Form(
    "power_law_nd_lr", ("a", "b", "alpha", "beta", "E", "c"), ("n_params", "tokens", "lr_excess"),
    _power_law_nd_lr, _power_law_nd_lr_jac,
    formula="L(N, D, u) = ({exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{beta:.4f} + {E:.4f}) (1 + {c:.4f} u)",
)


def _power_law_c(X: Array, p: Array) -> Array:
    return np.exp(p[0] - p[1] * np.log(_column(X, 0))) + p[2]


def _power_law_c_jac(X: Array, p: Array) -> Array:
    log_c = np.log(_column(X, 0))
    term = np.exp(p[0] - p[1] * log_c)
    return np.stack([term, -log_c * term, np.ones_like(term)], axis=-1)


power_law_c = Form(
    "power_law_c", ("a", "alpha", "E"), ("flops",), _power_law_c, _power_law_c_jac,
    formula="L(C) = {exp_a:.4g} / C^{alpha:.4f} + {E:.4f}",
)


# --- step 2 -------------------------------------------------------------------------------------

def _logistic(z: Array) -> Array:
    # exp(-|z|) never overflows; this is the numerically stable logistic.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid(X: Array, p: Array) -> Array:
    a, x0, k, b = p
    return a * _logistic(k * (_column(X, 0) - x0)) + b


def _sigmoid_jac(X: Array, p: Array) -> Array:
    a, x0, k, b = p
    shifted = _column(X, 0) - x0
    s = _logistic(k * shifted)
    ds = s * (1.0 - s)
    # ∂/∂x0 = −a k s(1−s): the reference's plotting gradient has the opposite sign (method.md §6.2).
    return np.stack([s, -a * k * ds, a * shifted * ds, np.ones_like(s)], axis=-1)


sigmoid = Form(
    "sigmoid", ("a", "x0", "k", "b"), ("task_loss",), _sigmoid, _sigmoid_jac,
    formula="Acc(L) = {a:.4f} / (1 + exp(-{k:.4f} (L - {x0:.4f}))) + {b:.4f}",
)


def _softplus(z: Array) -> Array:
    return np.logaddexp(0.0, z)


def _log_sigmoid(X: Array, p: Array) -> Array:
    a, x0, k = p
    # −a·ln(1 − σ(z)) = a·softplus(z): the stable way to evaluate the reference's log-sigmoid.
    return 1.0 + a * _softplus(k * (_column(X, 0) - x0))


def _log_sigmoid_jac(X: Array, p: Array) -> Array:
    a, x0, k = p
    shifted = _column(X, 0) - x0
    z = k * shifted
    s = _logistic(z)
    return np.stack([_softplus(z), -a * k * s, a * shifted * s], axis=-1)


log_sigmoid = Form(
    "log_sigmoid", ("a", "x0", "k"), ("task_loss",), _log_sigmoid, _log_sigmoid_jac,
    formula="Acc(L) = 1 + {a:.4f} * softplus({k:.4f} (L - {x0:.4f}))",
)


# --- single step --------------------------------------------------------------------------------

def _single_step(X: Array, p: Array) -> Array:
    loss = power_law_nd.function(X, p[:5])
    return p[5] * _logistic(loss) + p[6]


def _single_step_jac(X: Array, p: Array) -> Array:
    loss = power_law_nd.function(X, p[:5])
    s = _logistic(loss)
    inner = power_law_nd.jacobian(X, p[:5])
    outer = (p[5] * s * (1.0 - s))[..., None] * inner
    return np.concatenate([outer, s[..., None], np.ones_like(s)[..., None]], axis=-1)


single_step = Form(
    "single_step", ("a", "b", "alpha", "beta", "E", "s", "q"), ("n_params", "tokens"),
    _single_step, _single_step_jac,
    formula="Acc(N, D) = {s:.4f} * sigmoid({exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{beta:.4f} + {E:.4f}) + {q:.4f}",
)

FORMS: dict[str, Form] = {f.name: f for f in (power_law_nd, negated_power_law_nd, power_law_nd_lr,
                                              power_law_nd_shared, power_law_c,
                                              sigmoid, log_sigmoid, single_step)}


def get_form(name: str) -> Form:
    """Look up a form by name."""
    from ..errors import ConfigError

    if name not in FORMS:
        raise ConfigError(f"unknown functional form {name!r}; known: {', '.join(FORMS)}")
    return FORMS[name]
