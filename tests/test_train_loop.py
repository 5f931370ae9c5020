"""The training loop: loss falls, rows land in the ladder format, checkpoints load and resume exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from taskladder.errors import ConfigError, DataError  # noqa: E402
from taskladder.train.config import TrainConfig  # noqa: E402
from taskladder.train.schedule import learning_rate  # noqa: E402
from taskladder.train.trainer import resolve_device, train  # noqa: E402
from train_support import write_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny models gain nothing from two threads, and on a shared CPU the spinning threads cost seconds.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from taskladder.train.data import prepare_data

    root = tmp_path_factory.mktemp("loop")
    prepare_data([write_corpus(root / "raw", documents=160)], root / "data", bpe_vocab_size=300, name="toy")
    return root / "data"


def _config(data_dir: Path, out: Path, **changes) -> TrainConfig:
    base = TrainConfig(name="toy-run", size="micro-xs", data=str(data_dir), out=str(out), steps=12,
                       batch_sequences=4, micro_batch_sequences=2, peak_lr=1e-2, warmup_steps=2,
                       eval_every=4, checkpoint_every=4, val_sequences=4, device="cpu")
    return replace(base, **changes)


def test_loss_falls_and_rows_follow_the_ladder_format(data_dir, tmp_path):
    seen = []

    def hook(model, step):
        seen.append((step, model.training))
        return {"eval/downstream_bpb/toy_val_rc_5shot_bpb": 1.0 / step}

    result = train(_config(data_dir, tmp_path, z_loss=1e-4), eval_hook=hook)
    assert result.losses[12] < result.losses[1] - 1.0
    assert seen == [(4, False), (8, False), (12, False)]
    frame = pd.read_csv(result.csv)
    assert list(frame.columns[:6]) == ["_step", "throughput/total_tokens", "optim/learning_rate_group0",
                                       "learning_rate_peak", "batch_size_in_tokens", "train/CrossEntropyLoss"]
    assert list(frame["_step"]) == [4, 8, 12]
    assert list(frame["throughput/total_tokens"]) == [4 * 1024, 8 * 1024, 12 * 1024]
    expected = [learning_rate(s, peak=1e-2, warmup_steps=2, total_steps=12) for s in (4, 8, 12)]
    np.testing.assert_allclose(frame["optim/learning_rate_group0"], expected, rtol=1e-12)
    assert frame["optim/learning_rate_group0"].iloc[-1] == pytest.approx(1e-3)
    np.testing.assert_allclose(frame["train/CrossEntropyLoss"], [result.losses[s] for s in (4, 8, 12)], rtol=1e-6)
    assert frame["eval/toy-validation/CrossEntropyLoss"].iloc[-1] < frame["eval/toy-validation/CrossEntropyLoss"].iloc[0]
    assert frame["eval/downstream_bpb/toy_val_rc_5shot_bpb"].iloc[0] == 0.25
    # The final checkpoint is a standard HF folder with the tokenizer beside the model.
    folder = result.checkpoint
    sidecar = json.loads((folder / "taskladder.json").read_text())
    assert sidecar["step"] == 12 and sidecar["tokens"] == 12 * 1024 and sidecar["data_position"] == 48
    assert sidecar["config"]["peak_lr"] == 1e-2
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("The cat sees the ball", return_tensors="pt")["input_ids"]
    assert model(ids).logits.shape[-1] == 1024
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step0000008", "step0000012"]


def test_accumulation_matches_one_big_batch(data_dir, tmp_path):
    whole = train(_config(data_dir, tmp_path / "a", micro_batch_sequences=0, steps=4, eval_every=0))
    split = train(_config(data_dir, tmp_path / "b", micro_batch_sequences=1, steps=4, eval_every=0))
    np.testing.assert_allclose(list(whole.losses.values()), list(split.losses.values()), rtol=1e-5)


def test_refusals(data_dir, tmp_path):
    train(_config(data_dir, tmp_path, steps=4, eval_every=0))
    with pytest.raises(ConfigError, match="already holds checkpoints .*pass --resume"):
        train(_config(data_dir, tmp_path, steps=4))
    with pytest.raises(ConfigError, match=r"different configuration \(peak_lr: checkpoint 0.01, now 0.02\)"):
        train(_config(data_dir, tmp_path, steps=4, peak_lr=2e-2), resume=True)
    with pytest.raises(DataError, match=r"corpus too small .* i\.e\. [0-9.]+ epochs; allow that with --max-epochs"):
        train(_config(data_dir, tmp_path / "big", steps=400))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA was asked for"):
            resolve_device("cuda")


_DRIVER = textwrap.dedent("""
    import sys, time
    from taskladder.train.config import TrainConfig
    from taskladder.train.trainer import train

    config, pause, resume = TrainConfig.read(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"

    def hook(model, step):
        time.sleep(pause)  # slow the run down so that the test can kill it mid-way
        return {"weights/sum": float(sum(p.double().sum() for p in model.parameters()))}

    train(config, resume=resume, eval_hook=hook)
""")


def _launch(tmp_path: Path, config: TrainConfig, pause: float, resume: bool) -> subprocess.Popen:
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    path = Path(config.out) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    config.write(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(driver), str(path), str(pause), "1" if resume else "0"],
                            env=env, stderr=subprocess.PIPE)


def test_sigkill_then_resume_gives_the_same_run(data_dir, tmp_path):
    steps = 16
    reference = _config(data_dir, tmp_path / "ref", steps=steps, eval_every=1, checkpoint_every=3)
    killed = replace(reference, out=str(tmp_path / "killed"))
    ref_process = _launch(tmp_path, reference, 0.0, False)
    victim = _launch(tmp_path, killed, 0.25, False)
    target = Path(killed.out) / "checkpoints" / "step0000006"
    deadline = time.time() + 60
    while not target.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.05)
    assert target.exists(), victim.stderr.read().decode()[-2000:]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    partial = pd.read_csv(Path(killed.out) / "toy-run.csv")  # never half-written
    assert 6 <= partial["_step"].iloc[-1] < steps
    for folder in (Path(killed.out) / "checkpoints").iterdir():
        assert folder.name.startswith(".") or (folder / "taskladder.json").is_file()

    resumed = _launch(tmp_path, killed, 0.0, True)
    assert resumed.wait() == 0, resumed.stderr.read().decode()[-2000:]
    assert ref_process.wait() == 0, ref_process.stderr.read().decode()[-2000:]
    a = pd.read_csv(Path(reference.out) / "toy-run.csv")
    b = pd.read_csv(Path(killed.out) / "toy-run.csv")
    assert list(a["_step"]) == list(b["_step"]) == list(range(1, steps + 1))
    for column in ("train/CrossEntropyLoss", "eval/toy-validation/CrossEntropyLoss", "weights/sum"):
        np.testing.assert_allclose(b[column], a[column], rtol=0, atol=1e-6)


def test_in_loop_task_evaluation_with_the_engine(data_dir, tmp_path):
    pytest.importorskip("taskladder.eval.engine")
    task = tmp_path / "toy_animals.jsonl"
    items = [{"context": "The cat sees", "choices": ["the ball", "quantum flux"], "gold": 0},
             {"context": "A dog likes", "choices": ["zebra crossing", "a green apple"], "gold": 1},
             {"context": "The farmer finds", "choices": ["the garden", "seventeen"], "gold": 0}]
    task.write_text("".join(json.dumps(item) + "\n" for item in items))
    result = train(_config(data_dir, tmp_path / "run", steps=6, eval_every=3, eval_tasks=(str(task),)))
    frame = pd.read_csv(result.csv)
    bpb = [c for c in frame.columns if "toy_animals" in c and c.endswith("_bpb")]
    assert len(bpb) == 1 and list(frame["_step"]) == [3, 6]
    assert np.isfinite(frame[bpb[0]]).all() and frame[bpb[0]].iloc[1] < frame[bpb[0]].iloc[0]
    # The final checkpoint evaluates the same way after a round trip through from_pretrained.
    from taskladder.eval import evaluate_model

    model = transformers.AutoModelForCausalLM.from_pretrained(result.checkpoint)
    tokenizer = transformers.AutoTokenizer.from_pretrained(result.checkpoint)
    again = evaluate_model(model, tokenizer, [str(task)], max_length=256)
    assert again[bpb[0]] == pytest.approx(frame[bpb[0]].iloc[1], rel=1e-5)
