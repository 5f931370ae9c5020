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
           "sigmoid", "log_sigmoid", "flat", "single_step"]

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
    evaluator
        Optional ``evaluator(X) -> evaluate``, with ``evaluate(p, with_jacobian, rows)`` returning
        ``(function(X, p), jacobian(X, p) or None)`` computed in one pass: the input transforms
        (``ln N``) once per ``X`` and the intermediate terms once per ``p``. It must give exactly
        (bit for bit) what ``function`` and ``jacobian`` give; see :meth:`evaluate_on`.
    """

    name: str
    params: tuple[str, ...]
    inputs: tuple[str, ...]
    function: Callable[[Array, Array], Array]
    jacobian: Callable[[Array, Array], Array]
    formula: str
    evaluator: Callable[[Array], Callable[[Array, bool], tuple[Array, Array | None]]] | None = None

    def __call__(self, X: Array, p: Array) -> Array:
        return self.function(np.asarray(X, dtype=float), np.asarray(p, dtype=float))

    def jac(self, X: Array, p: Array) -> Array:
        return self.jacobian(np.asarray(X, dtype=float), np.asarray(p, dtype=float))

    def evaluate_on(self, X: Array) -> Callable[..., tuple[Array, Array | None]]:
        """``evaluate(p, with_jacobian=False, rows=None) -> (value, jacobian or None)`` on fixed inputs ``X``.

        The fitting loops evaluate the same inputs thousands of times, where numpy's per-call
        overhead, not arithmetic, is the cost: the fused evaluator does the shared work once.
        ``X`` is the inputs ``(n, m)`` of every parameter vector, or one input matrix per problem
        ``(B, n, m)`` when ``B`` problems with data of their own are solved together (parameters
        ``(k, B, 1)``; unlike :attr:`function`'s 3-D convention); then ``rows`` picks the
        problems ``p`` holds. Forms without an evaluator fall back to :attr:`function` and
        :attr:`jacobian` (shared inputs only).
        """
        X = np.asarray(X, dtype=float)
        if self.evaluator is not None:
            return self.evaluator(X)
        if X.ndim == 3:
            raise ValueError(f"form {self.name} has no evaluator for per-problem inputs")

        def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
            return self.function(X, p), (self.jacobian(X, p) if with_jacobian else None)

        return evaluate

    def describe(self, p: Array) -> str:
        """The formula with fitted values substituted."""
        values = {name: float(v) for name, v in zip(self.params, p)}
        for name in ("a", "b"):
            if name in values:
                values[f"exp_{name}"] = float(np.exp(values[name]))
        return self.formula.format(**values)


def _column(X: Array, j: int) -> Array:
    return X[:, j] if X.ndim == 2 else X


def _input(X: Array, j: int) -> Array:
    """Input column ``j`` for an evaluator: of shared inputs ``(n, m)`` (or the single input
    ``(n,)``), or of per-problem inputs ``(B, n, m)`` (then ``(B, n)``, one row per problem)."""
    return X[..., j] if X.ndim >= 2 else X


def _rows(arrays: tuple[Array, ...], rows) -> tuple[Array, ...]:
    """The evaluator's per-problem input transforms for the problems ``rows`` (shared ones as they are)."""
    if rows is None:
        return arrays
    return tuple(a[rows] if a.ndim == 2 else a for a in arrays)


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


def _make_power_law_nd_evaluator(sign: float):
    """Fused ``(value, Jacobian)`` of the (N, D) power law, the same operations as ``function``
    and ``jacobian`` of :func:`_make_power_law_nd` in the same order (so the same bits)."""
    def evaluator(X: Array):
        log_n, log_d = np.log(_input(X, 0)), np.log(_input(X, 1))
        inputs = (log_n, log_d, -sign * log_n, -sign * log_d)

        def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
            log_n, log_d, dn, dd = _rows(inputs, rows)
            term_n, term_d = np.exp(p[0] - p[2] * log_n), np.exp(p[1] - p[3] * log_d)
            value = sign * (term_n + term_d) + p[4]
            if not with_jacobian:
                return value, None
            jac = np.empty(term_n.shape + (5,))
            jac[..., 0] = sign * term_n
            jac[..., 1] = sign * term_d
            jac[..., 2] = dn * term_n
            jac[..., 3] = dd * term_d
            jac[..., 4] = 1.0
            return value, jac

        return evaluate

    return evaluator


power_law_nd = Form(
    "power_law_nd", ("a", "b", "alpha", "beta", "E"), ("n_params", "tokens"),
    *_make_power_law_nd(+1.0),
    formula="L(N, D) = {exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{beta:.4f} + {E:.4f}",
    evaluator=_make_power_law_nd_evaluator(+1.0),
)

negated_power_law_nd = Form(
    "negated_power_law_nd", ("a", "b", "alpha", "beta", "E"), ("n_params", "tokens"),
    *_make_power_law_nd(-1.0),
    formula="Acc(N, D) = {E:.4f} - {exp_a:.4g} / N^{alpha:.4f} - {exp_b:.4g} / D^{beta:.4f}",
    evaluator=_make_power_law_nd_evaluator(-1.0),
)


def _power_law_nd_shared(X: Array, p: Array) -> Array:
    log_n, log_d = np.log(_column(X, 0)), np.log(_column(X, 1))
    return np.exp(p[0] - p[2] * log_n) + np.exp(p[1] - p[2] * log_d) + p[3]


def _power_law_nd_shared_jac(X: Array, p: Array) -> Array:
    log_n, log_d = np.log(_column(X, 0)), np.log(_column(X, 1))
    term_n, term_d = np.exp(p[0] - p[2] * log_n), np.exp(p[1] - p[2] * log_d)
    return np.stack([term_n, term_d, -log_n * term_n - log_d * term_d, np.ones_like(term_n)], axis=-1)


def _power_law_nd_shared_evaluator(X: Array):
    """Fused ``(value, Jacobian)`` of the one-exponent law: the operations of
    :func:`_power_law_nd_shared` and its Jacobian in the same order (so the same bits)."""
    inputs = (np.log(_input(X, 0)), np.log(_input(X, 1)))

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        log_n, log_d = _rows(inputs, rows)
        term_n, term_d = np.exp(p[0] - p[2] * log_n), np.exp(p[1] - p[2] * log_d)
        value = term_n + term_d + p[3]
        if not with_jacobian:
            return value, None
        jac = np.empty(term_n.shape + (4,))
        jac[..., 0] = term_n
        jac[..., 1] = term_d
        jac[..., 2] = -log_n * term_n - log_d * term_d
        jac[..., 3] = 1.0
        return value, jac

    return evaluate


# One exponent for parameters and tokens (Gadre et al. 2024's loss law, reparameterised): four
# parameters instead of five, so a ladder that pins one exponent badly borrows from the other.
power_law_nd_shared = Form(
    "power_law_nd_shared", ("a", "b", "alpha", "E"), ("n_params", "tokens"),
    _power_law_nd_shared, _power_law_nd_shared_jac,
    evaluator=_power_law_nd_shared_evaluator,
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


def _power_law_nd_lr_evaluator(X: Array):
    inputs = (np.log(_input(X, 0)), np.log(_input(X, 1)), _input(X, 2))

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        log_n, log_d, u = _rows(inputs, rows)
        term_n, term_d = np.exp(p[0] - p[2] * log_n), np.exp(p[1] - p[3] * log_d)
        factor = 1.0 + p[5] * u
        base = term_n + term_d + p[4]
        value = base * factor
        if not with_jacobian:
            return value, None
        jac = np.empty(term_n.shape + (6,))
        jac[..., 0] = factor * term_n
        jac[..., 1] = factor * term_d
        jac[..., 2] = -factor * log_n * term_n
        jac[..., 3] = -factor * log_d * term_d
        jac[..., 4] = factor * 1.0
        jac[..., 5] = base * u
        return value, jac

    return evaluate


# Step 1 on every checkpoint: a checkpoint taken while the learning rate is still above its final
# value has a higher loss than the end of a run of that length would; ``u`` is how far above
# (LR/peak at the checkpoint − LR/peak at the run's end), so ``u = 0`` at every run's end and for
# the target.
power_law_nd_lr = Form(
    "power_law_nd_lr", ("a", "b", "alpha", "beta", "E", "c"), ("n_params", "tokens", "lr_excess"),
    _power_law_nd_lr, _power_law_nd_lr_jac,
    formula="L(N, D, u) = ({exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{beta:.4f} + {E:.4f}) (1 + {c:.4f} u)",
    evaluator=_power_law_nd_lr_evaluator,
)


def _power_law_c(X: Array, p: Array) -> Array:
    return np.exp(p[0] - p[1] * np.log(_column(X, 0))) + p[2]


def _power_law_c_jac(X: Array, p: Array) -> Array:
    log_c = np.log(_column(X, 0))
    term = np.exp(p[0] - p[1] * log_c)
    return np.stack([term, -log_c * term, np.ones_like(term)], axis=-1)


def _power_law_c_evaluator(X: Array):
    log_c = np.log(_input(X, 0))
    inputs = (log_c, -log_c)

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        log_c, neg_log_c = _rows(inputs, rows)
        term = np.exp(p[0] - p[1] * log_c)
        value = term + p[2]
        if not with_jacobian:
            return value, None
        jac = np.empty(term.shape + (3,))
        jac[..., 0] = term
        jac[..., 1] = neg_log_c * term
        jac[..., 2] = 1.0
        return value, jac

    return evaluate


power_law_c = Form(
    "power_law_c", ("a", "alpha", "E"), ("flops",), _power_law_c, _power_law_c_jac,
    formula="L(C) = {exp_a:.4g} / C^{alpha:.4f} + {E:.4f}",
    evaluator=_power_law_c_evaluator,
)


# --- step 2 -------------------------------------------------------------------------------------

def _logistic(z: Array) -> Array:
    # exp(-|z|) never overflows; this is the numerically stable logistic.
    e = np.exp(-np.abs(z))
    d = 1.0 + e
    return np.where(z >= 0, 1.0 / d, e / d)


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


def _sigmoid_evaluator(X: Array):
    inputs = (_input(X, 0),)

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        x, = _rows(inputs, rows)
        a, x0, k, b = p
        shifted = x - x0
        s = _logistic(k * shifted)
        value = a * s + b
        if not with_jacobian:
            return value, None
        ds = s * (1.0 - s)
        jac = np.empty(s.shape + (4,))
        jac[..., 0] = s
        jac[..., 1] = -a * k * ds
        jac[..., 2] = a * shifted * ds
        jac[..., 3] = 1.0
        return value, jac

    return evaluate


sigmoid = Form(
    "sigmoid", ("a", "x0", "k", "b"), ("task_loss",), _sigmoid, _sigmoid_jac,
    formula="Acc(L) = {a:.4f} / (1 + exp(-{k:.4f} (L - {x0:.4f}))) + {b:.4f}",
    evaluator=_sigmoid_evaluator,
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


def _log_sigmoid_evaluator(X: Array):
    inputs = (_input(X, 0),)

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        x, = _rows(inputs, rows)
        a, x0, k = p
        shifted = x - x0
        z = k * shifted
        soft = _softplus(z)
        value = 1.0 + a * soft
        if not with_jacobian:
            return value, None
        s = _logistic(z)
        jac = np.empty(s.shape + (3,))
        jac[..., 0] = soft
        jac[..., 1] = -a * k * s
        jac[..., 2] = a * shifted * s
        return value, jac

    return evaluate


log_sigmoid = Form(
    "log_sigmoid", ("a", "x0", "k"), ("task_loss",), _log_sigmoid, _log_sigmoid_jac,
    formula="Acc(L) = 1 + {a:.4f} * softplus({k:.4f} (L - {x0:.4f}))",
    evaluator=_log_sigmoid_evaluator,
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


def _single_step_evaluator(X: Array):
    log_n, log_d = np.log(_input(X, 0)), np.log(_input(X, 1))
    inputs = (log_n, log_d, -1.0 * log_n, -1.0 * log_d)

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        log_n, log_d, dn, dd = _rows(inputs, rows)
        term_n, term_d = np.exp(p[0] - p[2] * log_n), np.exp(p[1] - p[3] * log_d)
        s = _logistic(1.0 * (term_n + term_d) + p[4])
        value = p[5] * s + p[6]
        if not with_jacobian:
            return value, None
        outer = p[5] * s * (1.0 - s)
        jac = np.empty(s.shape + (7,))
        jac[..., 0] = outer * term_n
        jac[..., 1] = outer * term_d
        jac[..., 2] = outer * (dn * term_n)
        jac[..., 3] = outer * (dd * term_d)
        jac[..., 4] = outer * 1.0
        jac[..., 5] = s
        jac[..., 6] = 1.0
        return value, jac

    return evaluate


single_step = Form(
    "single_step", ("a", "b", "alpha", "beta", "E", "s", "q"), ("n_params", "tokens"),
    _single_step, _single_step_jac,
    formula="Acc(N, D) = {s:.4f} * sigmoid({exp_a:.4g} / N^{alpha:.4f} + {exp_b:.4g} / D^{beta:.4f} + {E:.4f}) + {q:.4f}",
    evaluator=_single_step_evaluator,
)

def _flat(X: Array, p: Array) -> Array:
    c, = p
    return c + np.zeros_like(_column(X, 0))


def _flat_jac(X: Array, p: Array) -> Array:
    return np.ones(np.broadcast_shapes(np.shape(p[0]), np.shape(_column(X, 0))) + (1,))


def _flat_evaluator(X: Array):
    inputs = (_input(X, 0),)

    def evaluate(p: Array, with_jacobian: bool = False, rows=None) -> tuple[Array, Array | None]:
        x, = _rows(inputs, rows)
        c, = p
        value = c + np.zeros_like(x)
        return value, (np.ones(value.shape + (1,)) if with_jacobian else None)

    return evaluate


#: Step 2 of a task whose accuracy does not rise as the loss falls across the ladder's runs: one
#: level, ``Acc = c`` (the mean of the points), where a sigmoid's rise would be the shape's
#: assumption rather than the data's (see :func:`~taskladder.fit.laws.fit_step2`).
flat = Form(
    "flat", ("c",), ("task_loss",), _flat, _flat_jac,
    formula="Acc(L) = {c:.4f}",
    evaluator=_flat_evaluator,
)

FORMS: dict[str, Form] = {f.name: f for f in (power_law_nd, negated_power_law_nd, power_law_nd_lr,
                                              power_law_nd_shared, power_law_c,
                                              sigmoid, log_sigmoid, flat, single_step)}


def get_form(name: str) -> Form:
    """Look up a form by name."""
    from ..errors import ConfigError

    if name not in FORMS:
        raise ConfigError(f"unknown functional form {name!r}; known: {', '.join(FORMS)}")
    return FORMS[name]
