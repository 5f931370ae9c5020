"""A fit the data do not determine says so in its status: never plain "converged"."""

from __future__ import annotations

import numpy as np

from taskladder.fit.forms import power_law_nd, sigmoid
from taskladder.fit.optimize import fit_least_squares
from taskladder.fit.result import degeneracy

SIGMOID_BOUNDS = ([-1.0, 0.0, 0.0, 0.0], [0.0, np.inf, np.inf, 1.0])


def test_a_step_sigmoid_through_flat_noise_is_degenerate():
    # Accuracy at chance (noise around 25 %) at task losses far above a steep step: the step's
    # position and slope no longer change the residuals, so nothing determines them.
    rng = np.random.default_rng(0)
    loss = np.linspace(2.9, 3.4, 30)
    acc = 0.25 + 0.01 * rng.standard_normal(loss.size)
    fit = fit_least_squares(sigmoid, loss.reshape(-1, 1), acc, [[-0.75, 2.38, 61.0, 1.0]], SIGMOID_BOUNDS,
                            fixed={"b": 1.0})
    assert fit.converged  # the optimizer stopped at a stationary point ...
    assert fit.status.startswith("degenerate (") and "no standard error" in fit.status  # ... that says nothing


def test_a_well_posed_sigmoid_converges():
    loss = np.linspace(0.6, 1.6, 30)
    truth = np.array([-0.7, 1.1, 6.0, 1.0])
    acc = sigmoid.function(loss.reshape(-1, 1), truth)
    fit = fit_least_squares(sigmoid, loss.reshape(-1, 1), acc + 1e-3 * np.sin(7 * loss), [[-0.5, 1.0, 3.0, 1.0]],
                            SIGMOID_BOUNDS, fixed={"b": 1.0})
    assert fit.status == "converged"
    np.testing.assert_allclose(fit.params, truth, atol=0.05 * np.abs(truth).max())


def test_a_power_law_term_at_zero_leaves_its_exponent_undetermined():
    # Task loss that depends on D only: the N term's coefficient goes to its bound 0, and then its
    # exponent multiplies nothing.
    n = np.repeat([2.5e4, 4.3e4, 6.6e4, 1.6e5], 3)
    d = n * 20 * np.tile([0.5, 1.0, 2.0], 4) * np.array([1.0, 1.3, 0.8, 1.1] * 3)
    loss = 14.0 / d ** 0.125
    starts = [[1.0, 10.0, 0.3, 0.1, 0.1]]
    bounds = ([0.0, 0.0, 0.0, 0.0, 0.0], [np.inf, np.inf, 5.0, 5.0, np.inf])
    fit = fit_least_squares(power_law_nd, np.column_stack([n, d]), loss, starts, bounds, residual="log")
    if "a" in fit.at_bounds:
        assert fit.status.startswith("degenerate") and "alpha" in fit.status


def test_degeneracy_reasons():
    names = ("a", "b", "c")
    full_rank = np.eye(3)
    assert degeneracy(full_rank, names=names, n_iterations=4) == ""
    assert degeneracy(full_rank, names=names, n_iterations=0) == "0 iterations"
    flat = np.array([[1.0, 0.0, 2.0], [0.5, 1e-15, 1.0], [0.1, 0.0, 3.0]])
    assert degeneracy(flat, names=names, n_iterations=3) == "no standard error: b"
    # a held parameter has no column; the remaining ones map to their own names
    assert degeneracy(flat[:, [0, 1]], names=names, n_iterations=3, free=np.array([True, True, False])) == \
        "no standard error: b"
    assert degeneracy(None, names=names, n_iterations=0, free=np.zeros(3, bool)) == ""
