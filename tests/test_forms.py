"""Functional forms: analytic Jacobians against finite differences, and values by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taskladder.errors import ConfigError
from taskladder.fit.forms import (FORMS, get_form, log_sigmoid, negated_power_law_nd, power_law_c, power_law_nd,
                                  sigmoid, single_step)

N_POINTS = 40


def _inputs(name: str, rng: np.random.Generator) -> np.ndarray:
    """Realistic inputs: N 1e8–1e10, D 1e9–1e12, C 1e18–1e23, task loss 0.3–2."""
    if name in ("power_law_nd", "negated_power_law_nd", "power_law_nd_shared", "single_step"):
        return np.column_stack([10 ** rng.uniform(8, 10, N_POINTS), 10 ** rng.uniform(9, 12, N_POINTS)])
    if name == "power_law_nd_lr":
        return np.column_stack([10 ** rng.uniform(8, 10, N_POINTS), 10 ** rng.uniform(9, 12, N_POINTS),
                                rng.uniform(0.0, 0.9, N_POINTS)])
    if name == "power_law_c":
        return (10 ** rng.uniform(18, 23, N_POINTS)).reshape(-1, 1)
    return rng.uniform(0.3, 2.0, N_POINTS).reshape(-1, 1)


def _params(name: str, rng: np.random.Generator) -> np.ndarray:
    """Parameters in the ranges the fits produce (log-coefficients a, b; exponents; asymptotes)."""
    u = rng.uniform
    if name in ("power_law_nd", "negated_power_law_nd"):
        return np.array([u(2, 8), u(3, 10), u(0.1, 0.5), u(0.1, 0.5), u(0.2, 1.5)])
    if name == "power_law_nd_shared":
        return np.array([u(2, 8), u(3, 10), u(0.1, 0.5), u(0.2, 1.5)])
    if name == "power_law_nd_lr":
        return np.array([u(2, 8), u(3, 10), u(0.1, 0.5), u(0.1, 0.5), u(0.2, 1.5), u(0.0, 0.2)])
    if name == "power_law_c":
        return np.array([u(5, 15), u(0.1, 0.4), u(0.2, 1.5)])
    if name == "sigmoid":
        return np.array([u(-1, -0.3), u(0.5, 1.5), u(1, 10), u(0.7, 1)])
    if name == "log_sigmoid":
        return np.array([u(-0.5, -0.05), u(0.5, 1.5), u(1, 8)])
    if name == "flat":
        return np.array([u(0.25, 0.9)])
    if name == "single_step":
        return np.array([u(2, 6), u(3, 8), u(0.1, 0.4), u(0.1, 0.4), u(-1, 0.5), u(-1, -0.3), u(0.7, 1)])
    raise AssertionError(f"no parameter ranges for form {name}")


def _central_differences(form, X: np.ndarray, p: np.ndarray) -> np.ndarray:
    J = np.empty((len(X), len(p)))
    for j in range(len(p)):
        h = 1e-6 * max(1.0, abs(p[j]))
        up, down = p.copy(), p.copy()
        up[j] += h
        down[j] -= h
        J[:, j] = (form(X, up) - form(X, down)) / (2 * h)
    return J


def test_every_form_has_parameter_ranges_here():
    rng = np.random.default_rng(0)
    for name, form in FORMS.items():
        assert len(_params(name, rng)) == len(form.params), name


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_jacobian_matches_central_differences(name, seed):
    rng = np.random.default_rng(seed)
    form = FORMS[name]
    X, p = _inputs(name, rng), _params(name, rng)
    analytic = form.jac(X, p)
    numeric = _central_differences(form, X, p)
    assert analytic.shape == (N_POINTS, len(form.params))
    # Relative to each column's scale: a column's entries can pass through zero, where a
    # pointwise relative test is meaningless; central differences are good to ~1e-8 here.
    scale = np.maximum(np.abs(numeric).max(axis=0), 1e-12)
    np.testing.assert_allclose(analytic / scale, numeric / scale, rtol=0, atol=1e-5)


def test_jacobian_test_can_fail():
    # A wrong sign in one column must be caught by the same comparison.
    rng = np.random.default_rng(0)
    X, p = _inputs("sigmoid", rng), _params("sigmoid", rng)
    wrong = sigmoid.jac(X, p).copy()
    wrong[:, 1] *= -1
    numeric = _central_differences(sigmoid, X, p)
    scale = np.abs(numeric).max(axis=0)
    assert np.abs(wrong / scale - numeric / scale).max() > 1e-2


@pytest.mark.parametrize("name", sorted(FORMS))
def test_forms_accept_one_dimensional_single_input(name):
    form = FORMS[name]
    rng = np.random.default_rng(7)
    X, p = _inputs(name, rng), _params(name, rng)
    if X.shape[1] == 1:
        np.testing.assert_array_equal(form(X[:, 0], p), form(X, p))
    assert form(X, p).shape == (N_POINTS,)


# --- values by hand ------------------------------------------------------------------------------

def test_power_law_nd_by_hand():
    # A = e^a = 100, α = 0.5, B = e^b = 1000, β = 0.5, E = 0.25 at N = 1e8, D = 1e10:
    # 100/1e4 + 1000/1e5 + 0.25 = 0.01 + 0.01 + 0.25.
    p = np.array([math.log(100), math.log(1000), 0.5, 0.5, 0.25])
    assert power_law_nd(np.array([[1e8, 1e10]]), p)[0] == pytest.approx(0.27, rel=1e-12)
    assert negated_power_law_nd(np.array([[1e8, 1e10]]), p)[0] == pytest.approx(0.23, rel=1e-12)


def test_negated_power_law_is_minus_the_terms_plus_e():
    rng = np.random.default_rng(1)
    X, p = _inputs("power_law_nd", rng), _params("power_law_nd", rng)
    E = p[4]
    np.testing.assert_allclose(negated_power_law_nd(X, p), -(power_law_nd(X, p) - E) + E, rtol=1e-12)
    np.testing.assert_allclose(negated_power_law_nd.jac(X, p)[:, :4], -power_law_nd.jac(X, p)[:, :4], rtol=1e-12)


def test_power_law_c_by_hand():
    p = np.array([math.log(1e4), 0.25, 0.5])  # 1e4 / (1e20)^0.25 + 0.5 = 1e4/1e5 + 0.5
    assert power_law_c(np.array([1e20]), p)[0] == pytest.approx(0.6, rel=1e-12)


def test_sigmoid_by_hand():
    a, x0, k, b = -0.75, 1.3, 4.0, 1.0
    p = np.array([a, x0, k, b])
    # At the midpoint the curve is halfway between its asymptotes.
    assert sigmoid(np.array([x0]), p)[0] == pytest.approx(a / 2 + b, rel=1e-15)
    # Low loss → b (upper asymptote); high loss → a + b (chance).
    assert sigmoid(np.array([-50.0]), p)[0] == pytest.approx(b, abs=1e-12)
    assert sigmoid(np.array([50.0]), p)[0] == pytest.approx(a + b, abs=1e-12)
    assert sigmoid(np.array([1.8]), p)[0] == pytest.approx(a / (1 + math.exp(-2.0)) + b, rel=1e-14)


def test_sigmoid_is_stable_far_from_its_midpoint():
    p = np.array([-0.75, 1.0, 1e4, 1.0])
    # Underflow to 0 is harmless; overflow or NaN would not be.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = sigmoid(np.array([0.0, 2.0]), p)
        J = sigmoid.jac(np.array([0.0, 2.0]), p)
    np.testing.assert_allclose(values, [1.0, 0.25])
    assert np.all(np.isfinite(J))


def test_log_sigmoid_equals_reference_formula():
    rng = np.random.default_rng(2)
    X, p = _inputs("log_sigmoid", rng), _params("log_sigmoid", rng)
    a, x0, k = p
    s = 1 / (1 + np.exp(-k * (X[:, 0] - x0)))
    reference = -a * np.log(1 - s) + 1
    np.testing.assert_allclose(log_sigmoid(X, p), reference, rtol=1e-10)
    # Where the reference overflows (1 − σ rounds to 0) the stable form is a·k·(L − x0) + 1.
    far = np.array([[40.0]])
    p_far = np.array([-0.1, 1.0, 10.0])
    assert log_sigmoid(far, p_far)[0] == pytest.approx(1 - 0.1 * 390.0, rel=1e-12)


def test_single_step_by_hand():
    p = np.array([math.log(100), math.log(1000), 0.5, 0.5, -0.02, -0.7, 0.95])
    loss = 0.01 + 0.01 - 0.02  # = 0, so σ = 1/2
    assert single_step(np.array([[1e8, 1e10]]), p)[0] == pytest.approx(-0.7 * 0.5 + 0.95, rel=1e-12)
    assert loss == 0


def test_describe_substitutes_values():
    p = np.array([math.log(100), math.log(1000), 0.5, 0.25, 0.75])
    text = power_law_nd.describe(p)
    assert text == "L(N, D) = 100 / N^0.5000 + 1000 / D^0.2500 + 0.7500"
    assert sigmoid.describe(np.array([-0.75, 1.3, 4.0, 1.0])) == \
        "Acc(L) = -0.7500 / (1 + exp(-4.0000 (L - 1.3000))) + 1.0000"


def test_get_form():
    assert get_form("sigmoid") is sigmoid
    with pytest.raises(ConfigError, match="unknown functional form 'cubic'; known: power_law_nd"):
        get_form("cubic")


def test_power_law_nd_lr_is_the_power_law_at_the_end_of_the_schedule():
    """u = 0 (the learning rate at its final value) gives step 1's power law; u scales it by 1 + c·u."""
    from taskladder.fit.forms import power_law_nd_lr

    rng = np.random.default_rng(3)
    X, p = _inputs("power_law_nd_lr", rng), _params("power_law_nd_lr", rng)
    at_end = X.copy()
    at_end[:, 2] = 0.0
    np.testing.assert_allclose(power_law_nd_lr(at_end, p), power_law_nd(X[:, :2], p[:5]), rtol=1e-12)
    np.testing.assert_allclose(power_law_nd_lr(X, p), power_law_nd(X[:, :2], p[:5]) * (1 + p[5] * X[:, 2]), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_fused_evaluator_gives_the_bits_of_function_and_jacobian(name):
    """The fitting loops use ``evaluate_on``; it must compute exactly what ``function`` and ``jacobian`` do,
    for one parameter vector and for a batch of them (``(k, B, 1)``)."""
    rng = np.random.default_rng(7)
    form = FORMS[name]
    X = _inputs(name, rng)
    evaluate = form.evaluate_on(X)
    one = _params(name, rng)
    batch = np.stack([_params(name, rng) for _ in range(5)]).T[:, :, None]
    for p in (one, batch):
        value, jac = evaluate(p, True)
        assert np.array_equal(value, form.function(X, p))
        assert np.array_equal(jac, form.jacobian(X, p))
        alone, none = evaluate(p, False)
        assert np.array_equal(alone, value) and none is None


@pytest.mark.parametrize("name", sorted(FORMS))
def test_evaluator_on_per_problem_inputs(name):
    """Inputs ``(B, n, m)`` (one matrix per problem, parameters ``(k, B, 1)``), and ``rows`` picking
    some problems, give each problem what its own inputs give."""
    rng = np.random.default_rng(8)
    form = FORMS[name]
    inputs = [_inputs(name, rng) for _ in range(3)]
    params = [_params(name, rng) for _ in range(3)]
    evaluate = form.evaluate_on(np.stack([X if X.ndim == 2 else X[:, None] for X in inputs]))
    rows = np.array([2, 0])
    value, jac = evaluate(np.stack([params[i] for i in rows]).T[:, :, None], True, rows)
    for j, i in enumerate(rows):
        assert np.array_equal(value[j], form.function(inputs[i], params[i]))
        assert np.array_equal(jac[j], form.jacobian(inputs[i], params[i]))
