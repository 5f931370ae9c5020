"""'ladder run' trains a plan in this process, in parallel subprocesses, and through submitit."""

from __future__ import annotations

import os
import tomllib

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from taskladder.cli import main  # noqa: E402
from taskladder.train.plan import LadderPlan, RunPlan, plan_toml  # noqa: E402
from train_support import write_corpus  # noqa: E402


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    from taskladder.train.data import prepare_data

    root = tmp_path_factory.mktemp("launch")
    prepare_data([write_corpus(root / "raw", documents=120)], root / "data", bpe_vocab_size=300)
    runs = tuple(RunPlan(name=f"micro-xs-{k}", size="micro-xs", multiple=k / 100, tokens=k * 512,
                         batch_sequences=2, peak_lr=1e-2, warmup_steps=1, steps=k) for k in (4, 6))
    (root / "plan.toml").write_text(plan_toml(LadderPlan(runs=runs, batch_divisor=1)))
    return root


def _losses(folder):
    return {name: pd.read_csv(folder / "runs" / name / f"{name}.csv")["train/CrossEntropyLoss"].to_numpy()
            for name in ("micro-xs-4", "micro-xs-6")}


@pytest.fixture()
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sequential_parallel_and_submitit_agree(ladder, tmp_path, capsys, one_thread):
    common = ["--data", str(ladder / "data"), "--eval-every", "2", "--max-epochs", "5", "--no-progress"]
    plan = str(ladder / "plan.toml")
    assert main(["ladder", "run", plan, "--out", str(tmp_path / "seq"), *common]) == 0
    assert main(["ladder", "run", plan, "--out", str(tmp_path / "par"), "--parallel", "2", *common]) == 0
    pytest.importorskip("submitit")
    assert main(["ladder", "run", plan, "--out", str(tmp_path / "slurm"), "--slurm-local", *common]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": done") == 6
    reference = _losses(tmp_path / "seq")
    assert list(map(len, reference.values())) == [2, 3]
    for mode in ("par", "slurm"):
        for name, values in _losses(tmp_path / mode).items():
            np.testing.assert_allclose(values, reference[name], rtol=0, atol=1e-6)
    spec = tomllib.loads((tmp_path / "seq" / "ladder.toml").read_text())
    for entry in spec["run"]:
        assert (tmp_path / "seq" / entry["file"]).is_file()
    # Re-running, with --resume or without, skips the finished runs and rewrites no file.
    files = sorted(p for p in (tmp_path / "seq").rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    for extra in (["--resume"], []):
        assert main(["ladder", "run", plan, "--out", str(tmp_path / "seq"), *extra, *common]) == 0
        assert capsys.readouterr().out.count("skipped (already finished)") == 2
    assert sorted(p for p in (tmp_path / "seq").rglob("*") if p.is_file()) == files
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    # Other settings on a folder that holds checkpoints: refused before anything is written.
    assert main(["ladder", "run", plan, "--out", str(tmp_path / "seq"), *common, "--seed", "1"]) == 2
    assert "cannot resume from" in capsys.readouterr().err
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before


def test_too_small_a_corpus_is_refused_before_anything_is_written(ladder, tmp_path, capsys, one_thread):
    code = main(["ladder", "run", str(ladder / "plan.toml"), "--data", str(ladder / "data"), "--out",
                 str(tmp_path / "small"), "--parallel", "2", "--max-epochs", "0.01", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corpus too small for run micro-xs-4" in err and "--max-epochs" in err
    assert not (tmp_path / "small").exists()


def test_an_unknown_eval_task_is_refused_before_anything_is_written(ladder, tmp_path, capsys):
    code = main(["ladder", "run", str(ladder / "plan.toml"), "--data", str(ladder / "data"), "--out",
                 str(tmp_path / "out"), "--eval-tasks", str(tmp_path / "nothing.jsonl"), "--max-epochs", "5"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing.jsonl: task file not found" in err
    assert not (tmp_path / "out").exists()


def test_truncated_data_is_named_before_anything_is_written(ladder, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ladder / "data", data)
    (data / "train.bin").write_bytes((data / "train.bin").read_bytes()[:1001])
    code = main(["ladder", "run", str(ladder / "plan.toml"), "--data", str(data), "--out", str(tmp_path / "out"),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.bin: 1,001 bytes, but meta.json records" in err
    assert not (tmp_path / "out").exists()


def test_failed_parallel_run_is_reported(ladder, tmp_path, one_thread):
    """A run that fails in its subprocess is reported with its last log line; the others go on."""
    import shutil

    from taskladder.train.launch import prepare_ladder, run_ladder
    from taskladder.train.plan import load_plan

    data = tmp_path / "data"
    shutil.copytree(ladder / "data", data)
    configs = prepare_ladder(load_plan(ladder / "plan.toml"), data=data, out=tmp_path / "broken", max_epochs=5.0)
    (data / "train.bin").write_bytes(b"")  # after the checks: found when the runs start
    statuses = run_ladder(configs, parallel=2)
    assert [s.state for s in statuses] == ["failed", "failed"]
    assert all("exit status 2; taskladder: error:" in s.message and "train.bin" in s.message for s in statuses)
    assert os.path.isfile(tmp_path / "broken" / "runs" / "micro-xs-4" / "train.log")


def test_cli_refuses_cuda_without_gpu(ladder, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code = main(["ladder", "run", str(ladder / "plan.toml"), "--data", str(ladder / "data"), "--out",
                 str(tmp_path / "c"), "--device", "cuda"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA was asked for" in err
    assert not (tmp_path / "c").exists()
