"""The embedded micro-ladder: the shipped files load, scale the right way, and 'taskladder demo' runs on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from taskladder.commands.demo import embedded_spec
from taskladder.io.spec import load_spec
from taskladder.ladder import load_ladder
from taskladder.tasks import get_task
from taskladder.train.micro import load_preset, packaged_preset

MICRO = Path(str(resources.files("taskladder") / "data" / "micro"))
#: Tasks whose task loss must fall with N and with D (every in-loop task of the preset).
TASKS = ("docs_order", "docs_cloze", "hellaswag")
#: A run's task loss is the mean of its last 5 evaluations (the fitter's step-1 point). Between
#: neighbouring rungs it must fall; a rise of at most this many bits per byte is tolerated as
#: evaluation noise (100-200 questions per task).
TOLERANCE_BPB = 0.01


def test_shipped_spec_matches_the_preset_and_is_small():
    spec = load_spec(embedded_spec())
    preset = load_preset(packaged_preset("micro"))
    assert spec.path.parent == MICRO
    train = spec.train_runs
    # every (size, multiple) pair, less those over the preset's token cap
    assert len(train) == len(tomllib.loads((MICRO / "plan.toml").read_text())["run"]) >= 9
    assert len({r.size for r in train}) == len(preset.sizes) >= 4
    assert {r.size for r in train} == set(preset.sizes)
    assert [(t.name, t.size, t.file) for t in spec.targets] == [
        (t.name, t.size, None) for t in preset.targets]
    plan = tomllib.loads((MICRO / "plan.toml").read_text())
    assert [r["name"] for r in plan["run"]] == [r.name for r in train]
    for run in train:
        assert run.file.is_file() and run.file.stat().st_size < 20_000
        assert run.tokens == next(r["trained_tokens"] for r in plan["run"] if r["name"] == run.name)
    provenance = json.loads((MICRO / "provenance.json").read_text())
    # regenerating the whole ladder takes well under an hour here, even on a shared machine
    assert provenance["seconds"]["total"] < 30 * 60
    assert not list(MICRO.rglob("*.safetensors")) and not list(MICRO.rglob("*.pt"))


def _final(run, task, window: int = 5) -> float:
    return float(np.mean(run.metric(task, "bpb")[-window:]))


@pytest.mark.parametrize("task_name", TASKS)
def test_task_loss_falls_with_n_and_with_d(task_name):
    ladder = load_ladder(embedded_spec())
    task = get_task(task_name)
    runs = ladder.train_runs
    # The plan's multiple of each run (the ladder's own estimate rounds to 0.5, merging 0.25 and 0.5).
    multiple = {r["name"]: r["multiple"] for r in tomllib.loads((MICRO / "plan.toml").read_text())["run"]}
    sizes = sorted({r.n_params for r in runs})
    multiples = sorted(set(multiple.values()))
    grid = {(r.n_params, multiple[r.name]): _final(r, task) for r in runs}
    for k in multiples:  # larger models are better at the same token multiple
        losses = [grid[(n, k)] for n in sizes if (n, k) in grid]
        assert all(b < a + TOLERANCE_BPB for a, b in zip(losses, losses[1:])), (k, losses)
    for n in sizes:  # more tokens are better at the same size
        losses = [grid[(n, k)] for k in multiples if (n, k) in grid]
        assert all(b < a + TOLERANCE_BPB for a, b in zip(losses, losses[1:])), (n, losses)
    # and over the whole ladder the fall is real, not within noise
    assert grid[max(grid)] < grid[min(grid)] - 5 * TOLERANCE_BPB


def test_two_tasks_rise_well_above_chance_at_the_largest_run():
    ladder = load_ladder(embedded_spec())
    assert [t.name for t in ladder.available_tasks()] == list(TASKS)
    largest = max(ladder.train_runs, key=lambda r: r.n_params * r.final_tokens)
    smallest = min(ladder.train_runs, key=lambda r: r.n_params * r.final_tokens)
    above = {}
    for name in TASKS:
        task = get_task(name)
        above[name] = float(np.mean(largest.metric(task, "accuracy")[-5:])) - task.chance
        # and the rise is across the ladder, not a task the smallest model already solves
        if above[name] >= 0.10:
            assert float(np.mean(smallest.metric(task, "accuracy")[-5:])) < task.chance + above[name] - 0.05
    assert sum(v >= 0.10 for v in above.values()) >= 2, above


def test_tasks_have_distinct_losses():
    """Each task has its own questions: no two tasks' task losses coincide on any run."""
    ladder = load_ladder(embedded_spec())
    for run in ladder.train_runs:
        losses = [tuple(np.round(run.metric(get_task(name), "bpb"), 6)) for name in TASKS]
        assert len(set(losses)) == len(losses), run.name


@pytest.mark.parametrize("task_name", TASKS)
def test_step1_law_is_well_posed_and_larger_is_better(task_name):
    """The fitted step 1 has a real N term: at equal tokens a larger model reaches a lower task loss,
    neither parameter of the N term sits on a bound, and the fit is not degenerate. (The
    irreducible loss E may end on its bound, 0; the status says so.)"""
    from taskladder.predict import predict_ladder

    ladder = load_ladder(embedded_spec())
    law = predict_ladder(ladder, tasks=[get_task(task_name)], variant="two-step", intervals=False,
                         reliability=False).laws[task_name]
    fit = law.step1_
    assert fit.status == "converged" and not {"a", "alpha"} & set(fit.at_bounds), (fit.status, fit.at_bounds,
                                                                                      fit.describe())
    assert set(fit.at_bounds) <= {"E"}
    runs = ladder.train_runs
    n_small, n_large = min(r.n_params for r in runs), max(r.n_params for r in runs)
    for tokens in sorted({r.final_tokens for r in runs})[::3]:
        small, large = fit.predict(np.array([[n_small, tokens], [n_large, tokens]]))
        assert large < small - 0.01, (tokens, small, large, fit.describe())


def test_demo_runs_offline_without_torch_and_writes_its_outputs(tmp_path):
    out = tmp_path / "demo"
    script = ("import sys; from taskladder.cli import main; code = main(['demo', '-o', sys.argv[1], "
              "'--bootstrap', '50']); assert 'torch' not in sys.modules, 'demo imported torch'; sys.exit(code)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "micro-m-10xC" in done.stdout and "micro-l-10xC" in done.stdout and "docs_order" in done.stdout
    for name in ("predictions.csv", "predictions.md", "fits.csv", "runs.csv", "config.json",
                 "figures/step1.png", "figures/step2.png", "figures/chained.png", "figures/step1.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    import pandas as pd

    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions["target"]) == {"micro-m-10xC", "micro-l-10xC"}
    order = predictions[predictions["task"] == "docs_order"].set_index("target")
    assert np.isfinite(order["acc_pred"]).all()
    # the larger target is predicted no worse than the smaller one
    assert order.loc["micro-l-10xC", "task_loss_pred"] <= order.loc["micro-m-10xC", "task_loss_pred"]
