"""Ladder plans reproduce the reference recipe (method.md §3.3) and the paper's logged runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from taskladder.cli import main
from taskladder.errors import ConfigError
from taskladder.sizes import get_size
from taskladder.train.plan import (
    batch_sequences, ladder_spec, load_plan, parse_multiples, parse_tokens, plan_ladder, plan_run, plan_toml)
from taskladder.train.schedule import learning_rate

# method.md §3.3: sequences per batch, peak LR (4 significant digits), warmup steps.
REFERENCE = {
    "190M": (128, 9.727e-4, 363),
    "370M": (192, 7.785e-4, 472),
    "760M": (320, 6.136e-4, 578),
    "1.3B": (384, 5.154e-4, 813),
    "3.2B": (768, 3.809e-4, 1008),
}
FILE_PREFIX = {"190M": "190M", "370M": "370M", "760M": "760M", "1.3B": "1B"}


@pytest.mark.parametrize("size", list(REFERENCE))
def test_recipe_matches_reference(size):
    seqs, lr, warmup = REFERENCE[size]
    run = plan_run(size, 1)
    assert run.batch_sequences == seqs
    assert run.batch_tokens == seqs * 4096
    assert run.peak_lr == pytest.approx(lr, rel=5e-4)
    assert run.warmup_steps == warmup


@pytest.mark.parametrize("multiple", [0.5, 1, 2, 5, 10])
def test_token_budgets_are_multiples_of_20n(multiple):
    for size in REFERENCE:
        run = plan_run(size, multiple)
        n = get_size(size).n_params
        assert run.tokens == round(multiple * 20 * n)
        assert run.steps == math.ceil(run.tokens / run.batch_tokens)
        assert run.trained_tokens >= run.tokens > run.trained_tokens - run.batch_tokens


@pytest.mark.shared_data
@pytest.mark.parametrize("size", list(FILE_PREFIX))
@pytest.mark.parametrize("multiple", ["0.5", "1", "2", "5", "10"])
def test_plan_reproduces_logged_runs(olmo_data, size, multiple):
    """Batch, peak LR and every logged learning rate of the paper's runs come out of the plan."""
    frame = pd.read_csv(olmo_data / "ladder-runs" / f"{FILE_PREFIX[size]}-{multiple}xC.csv")
    run = plan_run(size, float(multiple))
    assert (frame["batch_size_in_tokens"] == run.batch_tokens).all()
    assert frame["learning_rate_peak"].iloc[0] == pytest.approx(run.peak_lr, rel=1e-12)
    assert (frame["throughput/total_tokens"] == frame["_step"] * run.batch_tokens).all()
    predicted = [learning_rate(int(s), peak=run.peak_lr, warmup_steps=run.warmup_steps, total_steps=run.steps)
                 for s in frame["_step"]]
    np.testing.assert_allclose(predicted, frame["optim/learning_rate_group0"], rtol=1e-12)
    # The reference trainer ran 10 steps past the planned end, at the floor learning rate.
    assert frame["_step"].iloc[-1] == run.steps + 10


def test_schedule_by_hand():
    kw = dict(peak=1.0, warmup_steps=10, total_steps=110, final_fraction=0.1)
    assert learning_rate(5, **kw) == 0.5
    assert learning_rate(10, **kw) == 1.0
    assert learning_rate(60, **kw) == pytest.approx(0.55)  # half-way down the cosine
    assert learning_rate(110, **kw) == pytest.approx(0.1)
    assert learning_rate(500, **kw) == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="warmup_steps"):
        learning_rate(1, peak=1.0, warmup_steps=5, total_steps=5)


def test_compute_share_of_target():
    plan = plan_ladder(sizes=["190M", "370M", "760M", "1.3B"], multiples=[1, 2, 5, 10],
                       target_size="7B", target_tokens=parse_tokens("4T"))
    total = sum(r.steps * r.batch_tokens * get_size(r.size).flops_per_token for r in plan.runs)
    assert plan.total_flops == total
    assert plan.target_flops == 4 * 10**12 * 49_412_071_424
    assert plan.compute_percent == pytest.approx(100 * total / plan.target_flops)
    assert 3 < plan.compute_percent < 4


def test_plan_file_round_trip_and_checks(tmp_path):
    plan = plan_ladder(sizes=["190M", "micro-s"], multiples=[0.5, 1], batch_divisor=1)
    path = tmp_path / "plan.toml"
    path.write_text(plan_toml(plan))
    assert load_plan(path) == plan
    path.write_text(plan_toml(plan).replace("n_params = 190354176", "n_params = 190000000", 1))
    with pytest.raises(ConfigError, match="n_params is 190000000 in the file but 190354176"):
        load_plan(path)
    path.write_text(plan_toml(plan) + "colour = 1\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_plan(path)


def test_spec_names_sizes_and_files():
    import tomllib

    spec = tomllib.loads(ladder_spec(plan_ladder(sizes=["190M"], multiples=[1, 2])))
    assert [r["file"] for r in spec["run"]] == ["runs/190M-1xC/190M-1xC.csv", "runs/190M-2xC/190M-2xC.csv"]
    assert all(r["role"] == "train" and r["size"] == "190M" for r in spec["run"])
    assert spec["run"][0]["tokens"] == 7262 * 524288
    other = tomllib.loads(ladder_spec(plan_ladder(sizes=["190M"], multiples=[1]), builtin_sizes=frozenset()))
    assert other["run"][0]["n_params"] == 190_354_176 and "size" not in other["run"][0]


def test_bad_plans():
    with pytest.raises(ConfigError, match="unknown size '5B'"):
        plan_run("5B", 1)
    with pytest.raises(ConfigError, match="smaller than one batch"):
        plan_run("micro-xs", 0.001, batch_divisor=1)
    with pytest.raises(ConfigError, match="rounds to 0"):
        batch_sequences(65_824, 256, divisor=64)
    with pytest.raises(ConfigError, match="cannot read a token count"):
        parse_tokens("four trillion")
    assert parse_tokens("4T") == 4 * 10**12 and parse_tokens("3945065873408") == 3_945_065_873_408
    assert parse_multiples("0.5,1,2") == [0.5, 1.0, 2.0]
    with pytest.raises(ConfigError, match="positive"):
        parse_multiples("1,-2")


def test_cli_plan_writes_files_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "ladder"
    assert main(["ladder", "plan", "--sizes", "190M,370M", "--multiples", "1,2", "--target", "7B",
                 "--target-tokens", "4T", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "190M-1xC" in printed and "% of the target 7B" in printed
    assert load_plan(out / "plan.toml").run("370M-2xC").steps == 18884
    assert (out / "ladder.toml").is_file()
    assert main(["ladder", "plan", "--sizes", "5B", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown size '5B'" in err
    assert main(["ladder", "plan", "--sizes", "micro-xs", "--multiples", "0.001", "--batch-divisor", "1",
                 "--out", str(out)]) == 2
    assert "smaller than one batch" in capsys.readouterr().err
    # the target as predict's SIZE:D form gives the same share; a size without tokens is one line
    assert main(["ladder", "plan", "--sizes", "190M,370M", "--multiples", "1,2", "--target", "7B:4T",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == printed.splitlines()[-2]
    assert main(["ladder", "plan", "--sizes", "190M", "--target", "7B", "--out", str(out)]) == 2
    assert "--target SIZE --target-tokens D" in capsys.readouterr().err


@pytest.mark.parametrize("multiples, sizes, expected", [
    ("10", "190M,370M,760M,1.3B", "4 run(s)"),
    ("10", "190M,370M,760M,1.3B,3.2B", "one token multiple per size"),
    ("1,2,5,10", "190M,370M,760M,1.3B", None),
])
def test_cli_plan_says_when_only_the_checkpoint_law_can_fit_it(tmp_path, capsys, multiples, sizes, expected):
    assert main(["ladder", "plan", "--sizes", sizes, "--multiples", multiples, "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    if expected is None:
        assert "note:" not in out
    else:
        assert expected in out and "--variant loss-to-loss-lr" in out
