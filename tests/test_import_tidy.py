"""Tidy-CSV import: values land in the right ladder columns, predictions recover the known truth,
and every malformed file is one stderr line naming the file, row and column, with exit status 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic import run_tokens, sigmoid_acc, step1_loss
from taskladder.cli import main
from taskladder.io.tidy import metric_for, read_tidy_csv, write_ladder
from taskladder.ladder import load_ladder
from taskladder.tasks import C4_LOSS_COLUMN, get_task

FIXTURE = Path(__file__).parent / "fixtures" / "tidy" / "ladder.csv"


def test_fixture_round_trips_into_the_ladder_format(tmp_path):
    runs = read_tidy_csv(FIXTURE, targets=["target-7B"])
    assert [r.name for r in runs][:3] == ["150M-1xC", "150M-2xC", "150M-5xC"]
    assert sum(r.role == "target" for r in runs) == 1
    spec = write_ladder(runs, tmp_path / "out", name="tidy")
    ladder = load_ladder(spec)
    assert len(ladder.train_runs) == 9 and [t.name for t in ladder.targets] == ["target-7B"]
    run = ladder.runs["300M-2xC"]
    assert run.n_params == 300_000_000 and run.n_checkpoints == 8
    hellaswag = get_task("hellaswag")
    # The fixture holds the synthetic truth rounded to 6 decimals.
    np.testing.assert_allclose(run.metric(hellaswag, "bpb"), step1_loss(run.n_params, run.tokens), atol=1e-6)
    np.testing.assert_allclose(run.metric(hellaswag, "accuracy"),
                               sigmoid_acc(step1_loss(run.n_params, run.tokens)), atol=1e-6)
    np.testing.assert_allclose(run.metric(None, "c4"), step1_loss(run.n_params, run.tokens), atol=1e-6)
    assert run.final_tokens == run.tokens[-1] == run_tokens(2 * 20 * 300_000_000, 8)[-1]
    assert (tmp_path / "out" / "runs" / "300M-2xC.csv").is_file()


def test_predictions_from_the_import_recover_the_truth(tmp_path):
    from taskladder.predict import predict_ladder

    spec = write_ladder(read_tidy_csv(FIXTURE, targets=["target-7B"]), tmp_path, name="tidy")
    result = predict_ladder(load_ladder(spec), tasks=["hellaswag"], variant="two-step")
    row = result.predictions.iloc[0]
    truth = float(sigmoid_acc(step1_loss(row["n_params"], row["tokens"])))
    # Noise-free data from the forms the fit uses: the extrapolation lands on the truth.
    assert abs(row["acc_pred"] - truth) < 0.005
    assert abs(row["acc_actual"] - truth) < 0.005


def test_mmlu_value_goes_to_every_area_and_averages_back(tmp_path):
    rows = ["run,n_params,tokens,step,task,metric,value"]
    for k, step in enumerate((10, 20, 30)):
        rows.append(f"a,1000000,{step * 1000},{step},mmlu,bpb,{1.5 - 0.1 * k}")
    path = tmp_path / "mmlu.csv"
    path.write_text("\n".join(rows) + "\n")
    (run,) = read_tidy_csv(path)
    mmlu = get_task("mmlu")
    assert set(mmlu.columns("bpb")) <= set(run.frame.columns)
    for column in mmlu.columns("bpb"):
        np.testing.assert_allclose(run.frame[column], [1.5, 1.4, 1.3])
    assert run.frame["throughput/total_tokens"].tolist() == [10_000, 20_000, 30_000]


def test_metric_aliases_follow_each_tasks_scoring():
    assert metric_for("hellaswag", "acc_norm") == "accuracy"
    assert metric_for("hellaswag", "acc") is None          # raw accuracy is not the paper's number
    assert metric_for("boolq", "acc") == "accuracy"
    assert metric_for("boolq", "acc_norm") is None
    assert metric_for("piqa", "bits_per_byte") == "bpb"
    assert metric_for(None, "c4") == "c4"
    assert metric_for("piqa", "perplexity") is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


GOOD = "run,N,D,step,task,metric,value\n"
BAD_CASES = {
    "value not a number": (GOOD + "a,100,10,1,piqa,bpb,0.9\na,100,20,2,piqa,bpb,abc\n", "row 3, column 'value'"),
    "unknown task": (GOOD + "a,100,10,1,piqa,bpb,0.9\na,100,10,1,piqaa,bpb,0.9\n", "row 3, column 'task'"),
    "unknown metric": (GOOD + "a,100,10,1,piqa,perplexity,3\n", "row 2, column 'metric'"),
    "negative N": (GOOD + "a,-5,10,1,piqa,bpb,0.9\n", "row 2, column 'N'"),
    "N changes within a run": (GOOD + "a,100,10,1,piqa,bpb,0.9\na,200,20,2,piqa,bpb,0.8\n", "row 3, column 'N'"),
    "step not whole": (GOOD + "a,100,10,1.5,piqa,bpb,0.9\n", "row 2, column 'step'"),
    "conflicting duplicate": (GOOD + "a,100,10,1,piqa,bpb,0.9\na,100,10,1,piqa,bpb,0.7\n", "row 3, column 'value'"),
    "D changes within a step": (GOOD + "a,100,10,1,piqa,bpb,0.9\na,100,11,1,piqa,accuracy,0.6\n", "row 3, column 'D'"),
    "empty run": (GOOD + ",100,10,1,piqa,bpb,0.9\n", "row 2, column 'run'"),
    "bad role": ("run,N,D,step,task,metric,value,role\na,100,10,1,piqa,bpb,0.9,trian\n", "row 2, column 'role'"),
    "missing column": ("run,N,step,task,metric,value\na,100,1,piqa,bpb,0.9\n", "column 'D'"),
    "ragged row": (GOOD + "a,100,10,1,piqa,bpb,0.9\na,100,10,1,piqa,bpb,0.9,extra\n", "row 3 has 8 fields"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_malformed_tidy_csv_is_one_line_naming_file_row_and_column(case, tmp_path, capsys):
    text, expected = BAD_CASES[case]
    path = _write(tmp_path, text)
    status = main(["import", "tidy", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("taskladder import: error: ")
    assert str(path) in err and expected in err, err
    assert not (tmp_path / "out" / "ladder.toml").exists()


def test_cli_subprocess_error_and_success(tmp_path):
    bad = _write(tmp_path, GOOD + "a,100,10,1,piqa,bpb,0.9\na,100,20,2,piqa,bpb,n/a\n")
    exe = [sys.executable, "-m", "taskladder.cli"]
    proc = subprocess.run(exe + ["import", "tidy", str(bad), "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"taskladder import: error: {bad}: row 3, column 'value': 'n/a' is not a number "
                                   "(the metric's value)")
    shutil.copy(FIXTURE, tmp_path / "ladder.csv")
    ok = subprocess.run(exe + ["import", "tidy", "ladder.csv", "-o", "out", "--target", "target-7B"],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "wrote 10 runs (9 train, 1 target)" in ok.stdout
    frame = pd.read_csv(tmp_path / "out" / "runs" / "target-7B.csv")
    assert list(frame.columns[:2]) == ["_step", "throughput/total_tokens"] and C4_LOSS_COLUMN in frame.columns


def test_unknown_target_name_is_a_config_error(tmp_path, capsys):
    assert main(["import", "tidy", str(FIXTURE), "-o", str(tmp_path), "--target", "nope"]) == 2
    assert "--target 'nope': no such run" in capsys.readouterr().err
