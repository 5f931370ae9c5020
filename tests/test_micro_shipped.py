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
    assert len(train) == len(preset.sizes) * len(preset.multiples) >= 12
    assert {r.size for r in train} == set(preset.sizes)
    assert [(t.name, t.size, t.file) for t in spec.targets] == [
        (t.name, t.size, None) for t in preset.targets]
    plan = tomllib.loads((MICRO / "plan.toml").read_text())
    assert [r["name"] for r in plan["run"]] == [r.name for r in train]
    for run in train:
        assert run.file.is_file() and run.file.stat().st_size < 20_000
        assert run.tokens == next(r["trained_tokens"] for r in plan["run"] if r["name"] == run.name)
    provenance = json.loads((MICRO / "provenance.json").read_text())
    assert provenance["seconds"]["total"] < 3600  # the budget: the whole ladder within an hour
    assert not list(MICRO.rglob("*.safetensors")) and not list(MICRO.rglob("*.pt"))


def _final(run, task, window: int = 5) -> float:
    return float(np.mean(run.metric(task, "bpb")[-window:]))


@pytest.mark.parametrize("task_name", TASKS)
def test_task_loss_falls_with_n_and_with_d(task_name):
    ladder = load_ladder(embedded_spec())
    task = get_task(task_name)
    runs = ladder.train_runs
    sizes = sorted({r.n_params for r in runs})
    multiples = sorted({r.token_multiple for r in runs})
    grid = {(r.n_params, r.token_multiple): _final(r, task) for r in runs}
    for k in multiples:  # larger models are better at the same token multiple
        losses = [grid[(n, k)] for n in sizes]
        assert all(b < a + TOLERANCE_BPB for a, b in zip(losses, losses[1:])), (k, losses)
    for n in sizes:  # more tokens are better at the same size
        losses = [grid[(n, k)] for k in multiples]
        assert all(b < a + TOLERANCE_BPB for a, b in zip(losses, losses[1:])), (n, losses)
    # and over the whole ladder the fall is real, not within noise
    assert grid[(sizes[-1], multiples[-1])] < grid[(sizes[0], multiples[0])] - 5 * TOLERANCE_BPB


def test_the_word_order_task_rises_above_chance():
    ladder = load_ladder(embedded_spec())
    task = get_task("docs_order")
    best = max(float(np.mean(r.metric(task, "accuracy")[-5:])) for r in ladder.train_runs)
    assert best > task.chance + 0.2
    assert [t.name for t in ladder.available_tasks()] == ["docs_order", "docs_cloze", "hellaswag"]


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
