"""A target's interval is its own (no other target moves it), and a target far outside the ladder is
called unreliable with the reason."""

from __future__ import annotations

import pytest

from synthetic import write_synthetic_ladder
from taskladder.io.spec import load_spec, parse_target
from taskladder.ladder import load_ladder
from taskladder.predict import predict_ladder


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return load_spec(write_synthetic_ladder(tmp_path_factory.mktemp("honest"), noise=0.003, seed=7))


@pytest.mark.parametrize("variant", ["loss-to-loss", "two-step", "direct-compute"])
def test_a_targets_interval_does_not_depend_on_the_other_targets(spec, variant):
    alone = predict_ladder(load_ladder(spec), variant=variant, intervals=True, n_bootstrap=100).predictions
    more = spec.with_targets([parse_target("big:30B:6T"), parse_target("small:1e9:2e10")])
    together = predict_ladder(load_ladder(more), variant=variant, intervals=True, n_bootstrap=100).predictions
    columns = [c for c in alone.columns if c.startswith(("acc_lo", "acc_hi", "task_loss_lo", "task_loss_hi"))]
    assert columns
    row = together[together["target"] == alone["target"].iloc[0]][columns].reset_index(drop=True)
    assert row.equals(alone[columns].reset_index(drop=True))


def test_a_target_outside_the_ladder_is_unreliable_with_the_reason(spec):
    far = spec.with_targets([parse_target("low:7B:1e9"), parse_target("huge:7B:4000T")], replace=True)
    pred = predict_ladder(load_ladder(far), intervals=True, reliability=True, n_bootstrap=50).predictions
    verdicts = dict(zip(pred["target"], zip(pred["reliability"], pred["reliability_reason"])))
    assert verdicts["low"][0] == "unreliable" and "fewer tokens" in verdicts["low"][1]
    assert verdicts["huge"][0] == "unreliable" and "beyond the ladder's largest run" in verdicts["huge"][1]
