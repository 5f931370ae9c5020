"""``taskladder eval``: run directories with resume and atomic CSV rows; bad input is one line and exit 2."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("olmo_eval")

from eval_helpers import olmo1_tokenizer, tiny_olmo2  # noqa: E402

from taskladder.cli import main  # noqa: E402

TASKS = "arc_easy,winogrande"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny"
    tiny_olmo2(max_positions=512).save_pretrained(path)
    olmo1_tokenizer().save_pretrained(path)
    return path


@pytest.fixture
def run_dir(tmp_path, model_dir):
    run = tmp_path / "tiny-1xC"
    for step in (10, 20):
        ckpt = run / "checkpoints" / f"step{step:07d}"
        shutil.copytree(model_dir, ckpt)
        (ckpt / "taskladder.json").write_text(json.dumps({"step": step, "tokens": step * 4096}))
    return run


def _eval(args, capsys):
    capsys.readouterr()  # drop what the test's own setup printed
    code = main(["eval", *args, "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_directory_rows_resume_and_match_the_library(run_dir, model_dir, capsys):
    code, _, err = _eval([str(run_dir), "--tasks", TASKS, "--limit", "2"], capsys)
    assert code == 0, err
    csv = run_dir / "tiny-1xC.csv"
    frame = pd.read_csv(csv)
    assert list(frame["_step"]) == [10, 20]
    assert list(frame["throughput/total_tokens"]) == [40960, 81920]
    for column in ("eval/downstream_bpb/arc_easy_test_rc_5shot_bpb",
                   "eval/downstream/winogrande_val_rc_5shot_len_norm",
                   "eval/downstream_soft_log/winogrande_val_rc_5shot_soft_log"):
        assert frame[column].notna().all()
    assert sorted(p.name for p in (run_dir / "eval-choices").iterdir()) == ["step0000010.parquet",
                                                                          "step0000020.parquet"]
    # the same numbers as the library on the same checkpoint
    from taskladder.eval import evaluate_model
    from taskladder.eval.checkpoints import load_model, load_tokenizer

    ckpt = run_dir / "checkpoints" / "step0000010"
    direct = evaluate_model(load_model(ckpt), load_tokenizer(None, ckpt), TASKS.split(","), limit=2)
    for column, value in direct.items():
        assert frame.loc[0, column] == pytest.approx(value, abs=1e-12)

    before = csv.read_text()
    code, _, err = _eval([str(run_dir), "--tasks", TASKS, "--limit", "2"], capsys)
    assert code == 0 and "2 already in" in err
    assert csv.read_text() == before

    # drop one row: only that checkpoint is evaluated again, and the file is the same as before
    frame.iloc[[0]].to_csv(csv, index=False)
    code, _, err = _eval([str(run_dir), "--tasks", TASKS, "--limit", "2"], capsys)
    assert code == 0 and "1 already in" in err
    assert pd.read_csv(csv).equals(pd.read_csv(pd.io.common.StringIO(before)))


def test_interrupted_evaluation_leaves_a_complete_csv_and_resumes(run_dir, capsys, monkeypatch):
    import taskladder.eval.engine as engine

    real = engine.evaluate_tasks
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "evaluate_tasks", crash_on_second)
    code, _, _ = _eval([str(run_dir), "--tasks", TASKS, "--limit", "2"], capsys)
    assert code == 130
    csv = run_dir / "tiny-1xC.csv"
    assert list(pd.read_csv(csv)["_step"]) == [10]
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.setattr(engine, "evaluate_tasks", real)
    code, _, err = _eval([str(run_dir), "--tasks", TASKS, "--limit", "2"], capsys)
    assert code == 0 and "1 already in" in err
    assert list(pd.read_csv(csv)["_step"]) == [10, 20]


def test_single_model_prints_metrics_and_keeps_existing_cells(model_dir, tmp_path, capsys):
    out = tmp_path / "run.csv"
    out.write_text("_step,throughput/total_tokens,train/CrossEntropyLoss\n5,20480,7.123456789012345\n")
    code, stdout, err = _eval([str(model_dir), "--tasks", "csqa", "--limit", "2", "--format", "csv",
                               "--output", str(out), "--step", "5", "--tokens", "20480"], capsys)
    assert code == 0, err
    assert stdout.startswith("label,accuracy,acc_raw")
    text = out.read_text().splitlines()
    assert text[0].startswith("_step,throughput/total_tokens,train/CrossEntropyLoss,eval/downstream_bpb/csqa_val")
    assert text[1].startswith("5,20480,7.123456789012345,")


def _one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_task(model_dir, capsys):
    code, _, err = _eval([str(model_dir), "--tasks", "arc_easy,hellaswagg"], capsys)
    _one_line_error(code, err, "unknown task 'hellaswagg'", "valid tasks: mmlu, hellaswag")


def test_missing_model_directory(tmp_path, capsys):
    code, _, err = _eval([str(tmp_path / "nope"), "--tasks", "piqa"], capsys)
    _one_line_error(code, err, "does not exist")


def test_not_a_causal_lm(tmp_path, capsys):
    from transformers import T5Config

    path = tmp_path / "t5"
    T5Config(d_model=8, d_ff=8, num_layers=1, num_heads=1, vocab_size=16).save_pretrained(path)
    code, _, err = _eval([str(path), "--tasks", "piqa"], capsys)
    _one_line_error(code, err, "'t5' model", "not a causal language model")


def test_folder_without_models(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = _eval([str(tmp_path / "empty"), "--tasks", "piqa"], capsys)
    _one_line_error(code, err, "no config.json")


def test_tokenizer_larger_than_the_model(tmp_path, capsys):
    path = tmp_path / "small-vocab"
    tiny_olmo2(vocab_size=1000, max_positions=256).save_pretrained(path)
    code, _, err = _eval([str(path), "--tasks", "piqa", "--limit", "1", "--tokenizer", "olmo1"], capsys)
    _one_line_error(code, err, "tokenizer has 50280 tokens", "only 1000 rows")


def test_empty_task_file(model_dir, tmp_path, capsys):
    empty = tmp_path / "mine.jsonl"
    empty.write_text("\n")
    code, _, err = _eval([str(model_dir), "--tasks", str(empty)], capsys)
    _one_line_error(code, err, "mine.jsonl", "task file is empty")


def test_malformed_task_file(model_dir, tmp_path, capsys):
    bad = tmp_path / "mine.jsonl"
    bad.write_text(json.dumps({"context": "Q: 2+2?\nA:", "choices": ["4", "5"], "gold": 7}) + "\n")
    code, _, err = _eval([str(model_dir), "--tasks", str(bad)], capsys)
    _one_line_error(code, err, "mine.jsonl:1", "'gold' must be an integer index in 0..1, got 7")


def test_cuda_without_cuda(model_dir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = _eval([str(model_dir), "--tasks", "piqa", "--device", "cuda"], capsys)
    _one_line_error(code, err, "CUDA is not available")


def test_user_task_file_is_evaluated(model_dir, tmp_path, capsys):
    mine = tmp_path / "capitals.jsonl"
    items = [{"context": "The capital of France is", "choices": ["Paris", "Rome", "Berlin"], "gold": 0},
             {"context": "The capital of Italy is", "choices": [" Paris", " Rome"], "gold": 1}]
    mine.write_text("".join(json.dumps(i) + "\n" for i in items))
    code, stdout, err = _eval([str(model_dir), "--tasks", str(mine), "--format", "csv"], capsys)
    assert code == 0, err
    row = pd.read_csv(pd.io.common.StringIO(stdout)).iloc[0]
    assert row["label"] == "capitals" and row["n_docs"] == 2


def test_validation_loss_of_a_token_file(model_dir, tmp_path):
    import numpy as np
    import torch

    from taskladder.eval.checkpoints import load_model, validation_loss

    tokens = np.random.default_rng(0).integers(0, 50000, size=3 * 33 + 5).astype(np.uint16)
    np.save(tmp_path / "c4_en.npy", tokens)
    model = load_model(model_dir)
    column, loss = validation_loss(model, tmp_path / "c4_en.npy", sequence_length=32, batch_size=2)
    assert column == "eval/c4_en-validation/CrossEntropyLoss"
    windows = torch.from_numpy(tokens[:99].astype(np.int64).reshape(3, 33))
    with torch.no_grad():
        logits = model(windows[:, :-1]).logits
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
    assert loss == pytest.approx(float(expected), abs=1e-5)
