"""The whole flow on what the project writes itself: 'ladder plan' → 'ladder run' → 'eval' on every
run folder → 'predict', with no manual step; re-running 'ladder run' rewrites nothing; a corrupt
checkpoint is named, and resume falls back to the last readable one."""

from __future__ import annotations

import json
import random
import shutil

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from taskladder.cli import main  # noqa: E402
from train_support import write_corpus  # noqa: E402

TASK_LABEL = "docs_order_val_rc_0shot"  # the columns of the registry's corpus task 'docs_order'
ACC = f"eval/downstream/{TASK_LABEL}_len_norm"
BPB = f"eval/downstream_bpb/{TASK_LABEL}_bpb"


def _task_file(folder, items: int = 8):
    """A small multiple-choice file in the corpus's words (gold: the order the corpus uses)."""
    rng = random.Random(0)
    words = "the cat dog sees likes ball apple river book garden box road lamp".split()
    path = folder / f"{TASK_LABEL}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(items):
            choices = [" ".join(rng.choice(words) for _ in range(3)) for _ in range(4)]
            handle.write(json.dumps({"context": " ".join(rng.choice(words) for _ in range(8)),
                                     "choices": choices, "gold": rng.randrange(4)}) + "\n")
    return path


def _snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ladder of four tiny runs (two sizes × two budgets), trained by the CLI, checkpoints kept."""
    from taskladder.train.data import prepare_data

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("flow")
    prepare_data([write_corpus(root / "raw", documents=200)], root / "data", bpe_vocab_size=300)
    assert main(["ladder", "plan", "--sizes", "micro-3xs,micro-2xs", "--multiples", "0.1,0.2",
                 "--batch-divisor", "1", "--out", str(root / "ladder")]) == 0
    assert main(["ladder", "run", str(root / "ladder" / "plan.toml"), "--data", str(root / "data"),
                 "--checkpoint-every", "12", "--keep-checkpoints", "0", "--eval-every", "12",
                 "--max-epochs", "10", "--no-progress"]) == 0
    return root


def test_ladder_run_then_eval_every_run_folder_then_predict(trained, tmp_path, capsys):
    ladder = trained / "ladder"
    task = _task_file(tmp_path)
    runs = sorted(p for p in (ladder / "runs").iterdir() if p.is_dir())
    assert len(runs) == 4
    for run in runs:
        assert (run / "config.json").is_file()  # the trainer's own config, beside the checkpoints
        assert main(["eval", str(run), "--tasks", str(task), "--no-progress"]) == 0, capsys.readouterr().err
        frame = pd.read_csv(run / f"{run.name}.csv")
        steps = sorted(int(p.name[4:]) for p in (run / "checkpoints").iterdir())
        assert list(frame["_step"]) == steps  # in-loop rows and checkpoint rows share their steps
        assert frame[ACC].between(0, 1).all() and (frame[BPB] > 0).all()
    # --output: the rows go to another file, the same numbers
    out = tmp_path / "elsewhere" / "run.csv"
    assert main(["eval", str(runs[0]), "--tasks", str(task), "--output", str(out), "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out)[["_step", ACC, BPB]],
                                  pd.read_csv(runs[0] / f"{runs[0].name}.csv")[["_step", ACC, BPB]])
    capsys.readouterr()

    # predict reads the spec 'ladder plan' wrote, on the CSVs 'ladder run' and 'eval' filled
    assert main(["predict", str(ladder / "ladder.toml"), "--tasks", "docs_order", "--variant", "two-step-lr",
                 "--target", "bigger:micro-s:2000000", "--json", "--bootstrap", "20"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["predictions"]
    assert row["target"] == "bigger" and row["task"] == "docs_order"
    assert 0.0 <= row["acc_pred"] <= 1.0 and row["task_loss_pred"] > 0

    # re-running the ladder (with or without --resume) and the evaluation rewrites nothing
    before = _snapshot(ladder)
    common = ["--data", str(trained / "data"), "--checkpoint-every", "12", "--keep-checkpoints", "0",
              "--eval-every", "12", "--max-epochs", "10", "--no-progress"]
    assert main(["ladder", "run", str(ladder / "plan.toml"), *common]) == 0
    assert main(["ladder", "run", str(ladder / "plan.toml"), "--resume", *common]) == 0
    assert capsys.readouterr().out.count("skipped (already finished)") == 8
    assert main(["eval", str(runs[0]), "--tasks", str(task), "--no-progress"]) == 0
    assert _snapshot(ladder) == before


def test_written_files_follow_the_umask(trained):
    import os

    mask = os.umask(0)
    os.umask(mask)
    expected = 0o666 & ~mask
    files = [trained / "ladder" / "plan.toml", trained / "ladder" / "ladder.toml"]
    run = next((trained / "ladder" / "runs").iterdir())
    files += [run / "config.json", run / f"{run.name}.csv", *next((run / "checkpoints").iterdir()).iterdir()]
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: oct(expected) for f in files}


@pytest.mark.parametrize("broken", ["model.safetensors", "taskladder.json"])
def test_eval_names_a_corrupt_checkpoint_before_evaluating(trained, tmp_path, capsys, broken):
    source = next((trained / "ladder" / "runs").iterdir())
    run = tmp_path / source.name
    shutil.copytree(source, run, ignore=shutil.ignore_patterns("*.csv", "eval-choices"))
    last = sorted((run / "checkpoints").iterdir())[-1]
    (last / broken).write_bytes((last / broken).read_bytes()[:40])
    capsys.readouterr()
    assert main(["eval", str(run), "--tasks", str(_task_file(tmp_path)), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{last.name}/{broken}" in err and "corrupt" in err
    assert not (run / f"{run.name}.csv").exists() and not (run / "eval-choices").exists()


@pytest.mark.parametrize("broken", ["trainer_state.pt", "model.safetensors", "taskladder.json"])
def test_resume_falls_back_to_the_last_good_checkpoint(trained, tmp_path, capsys, broken):
    from taskladder.train.config import TrainConfig

    source = sorted((trained / "ladder" / "runs").iterdir())[0]
    run = tmp_path / source.name
    shutil.copytree(source, run)
    config = TrainConfig.read(run / "config.json")
    config_path = run / "config.json"
    config_path.write_text(json.dumps({**config.to_dict(), "out": str(run)}))
    checkpoints = sorted((run / "checkpoints").iterdir())
    assert len(checkpoints) >= 3
    final, previous = checkpoints[-1], checkpoints[-2]
    expected = pd.read_csv(run / f"{run.name}.csv")
    (final / broken).write_bytes(b"\0" * 64)
    from taskladder.train.launch import run_from_config

    with pytest.warns(Warning, match=f"{final.name}/{broken}.*(corrupt|skipping)"):
        assert run_from_config(config_path, resume=True) == config.steps
    # trained again from the checkpoint before: the same rows as the uninterrupted run
    again = pd.read_csv(run / f"{run.name}.csv")
    pd.testing.assert_frame_equal(again[["_step", "train/CrossEntropyLoss"]],
                                  expected[["_step", "train/CrossEntropyLoss"]], atol=1e-5, rtol=0)
    assert json.loads((final / "taskladder.json").read_text())["step"] == config.steps
    assert previous.is_dir()
