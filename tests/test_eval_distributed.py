"""Under torchrun (2 CPU processes, gloo), documents are sharded and the metrics equal one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("olmo_eval")

from eval_helpers import olmo1_tokenizer, tiny_olmo2  # noqa: E402

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
