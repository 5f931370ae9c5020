"""Under torchrun (2 CPU processes, gloo), documents are sharded and the metrics equal one process's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("olmo_eval")

from eval_helpers import olmo1_tokenizer, tiny_olmo2  # noqa: E402

from taskladder.cli import main  # noqa: E402
from taskladder.eval import evaluate_model  # noqa: E402

HERE = Path(__file__).parent


def test_two_processes_give_the_metrics_of_one(tmp_path):
    out = tmp_path / "dist.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(HERE / "eval_dist_worker.py"), str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    # 3 tasks x 5 documents, split 3 + 2 per task between the ranks
    assert result["docs_per_rank"] == [9, 6]
    single = evaluate_model(tiny_olmo2(max_positions=1024, seed=5), olmo1_tokenizer(),
                            ["arc_easy", "winogrande", "boolq"], limit=5, batch_size=4)
    assert result["columns"].keys() == single.keys()
    for column, value in single.items():
        # same per-choice log-likelihoods up to float32 summation order in differently shaped batches
        assert result["columns"][column] == pytest.approx(value, abs=1e-5), column


def test_cli_under_torchrun_writes_the_rows_of_one_process_and_exits_cleanly(tmp_path):
    model = tmp_path / "tiny"
    tiny_olmo2(max_positions=512, seed=3).save_pretrained(model)
    olmo1_tokenizer().save_pretrained(model)
    run = tmp_path / "tiny-1xC"
    for step in (10, 20):
        checkpoint = run / "checkpoints" / f"step{step:07d}"
        shutil.copytree(model, checkpoint)
        (checkpoint / "taskladder.json").write_text(json.dumps({"step": step, "tokens": step * 4096}))
    args = [str(run), "--tasks", "arc_easy,winogrande", "--limit", "3", "--no-progress", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "taskladder.cli", "eval", *args, "--output", str(tmp_path / "two.csv")],
                          capture_output=True, text=True, env=env, timeout=300)
    # every rank leaves the process group together: exit 0, no abort after the work is done
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "terminate called" not in proc.stderr
    assert main(["eval", *args, "--output", str(tmp_path / "one.csv")]) == 0
    two, one = pd.read_csv(tmp_path / "two.csv"), pd.read_csv(tmp_path / "one.csv")
    assert list(two.columns) == list(one.columns) and list(two["_step"]) == [10, 20]
    pd.testing.assert_frame_equal(two, one, check_exact=False, atol=1e-5)
