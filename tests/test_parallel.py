"""Independent fits spread over processes give, to the bit, what they give one after another."""

from __future__ import annotations

import os

import numpy as np
import pytest

from taskladder.fit import parallel
from taskladder.fit.laws import fit_accuracy_laws
from taskladder.predict import make_law

from test_intervals import TASK, accuracy_ladder, direct_truth


def _square_or_raise(x: float) -> float:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


def test_map_in_processes_keeps_order_and_hands_back_errors(monkeypatch):
    monkeypatch.delenv("TASKLADDER_WORKERS", raising=False)
    calls = [(float(x),) for x in (3, -1, 2, 5, 7, -4, 1, 0)]
    out = parallel.map_in_processes(_square_or_raise, calls)
    assert out[0] == 9.0 and out[2] == 4.0 and out[-1] == 0.0
    assert isinstance(out[1], ValueError) and "negative: -1.0" in str(out[1])
    assert isinstance(out[5], ValueError)


def test_workers_follow_the_setting_and_the_call_count(monkeypatch):
    monkeypatch.setenv("TASKLADDER_WORKERS", "1")
    assert parallel.workers(100) == 1
    monkeypatch.setenv("TASKLADDER_WORKERS", "not a number")
    assert parallel.workers(100) >= 1
    monkeypatch.delenv("TASKLADDER_WORKERS")
    assert parallel.workers(parallel.MIN_CALLS - 1) == 1


@pytest.mark.parametrize("variant", ["single-step", "direct"])
def test_paper_mode_fits_in_processes_are_the_fits_made_alone(monkeypatch, variant):
    """Paper mode's L-BFGS-B fits of several ladders, spread over processes, equal each law's own fit."""
    monkeypatch.setenv("TASKLADDER_WORKERS", "2")
    # Other tests may leave idle threads behind (a report's web server); these fits take no lock
    # of theirs, so fork here as a single-threaded process would.
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    ladders = [accuracy_ladder(seed, direct_truth) for seed in range(5)]
    if len(os.sched_getaffinity(0)) >= 2:
        assert parallel.workers(len(ladders)) == 2  # the fits below do run in other processes
    together = fit_accuracy_laws([(make_law(variant, TASK, mode="paper"), ladder) for ladder in ladders])
    finite = 0
    for law, ladder in zip(together, ladders):
        alone = make_law(variant, TASK, mode="paper").fit(ladder)
        np.testing.assert_array_equal(law.fit_.params, alone.fit_.params)
        np.testing.assert_array_equal(law.fit_.loss, alone.fit_.loss)
        assert law.fit_.status == alone.fit_.status
        assert law.fit_.form is alone.fit_.form
        finite += bool(np.isfinite(alone.fit_.loss))
    if variant == "single-step":
        assert finite == len(ladders)  # the comparison is of real fits, not of failures


def test_a_process_with_other_threads_fits_in_process(monkeypatch):
    monkeypatch.delenv("TASKLADDER_WORKERS", raising=False)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert parallel.workers(100) == 1
