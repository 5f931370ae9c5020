"""Metrics from lm-evaluation-harness sample logs (hand-made fixtures in tests/data/lm_eval)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from taskladder.cli import main
from taskladder.errors import DataError
from taskladder.eval.lm_eval import read_lm_eval_samples, task_name_of
from taskladder.eval.metrics import component_metrics, ladder_columns

DATA = Path(__file__).parent / "data" / "lm_eval"
ARC = DATA / "samples_arc_easy_2024-06-01T12-00-00.000000.jsonl"
BOOLQ = DATA / "samples_boolq_2024-06-01T12-00-00.000000.jsonl"
LOG2E = 1 / math.log(2)


def test_task_name_from_file_name():
    assert task_name_of(ARC) == "arc_easy"
    assert task_name_of("samples_mmlu_high_school_biology_2024-06-01T12-00-00.000000.jsonl") == "mmlu_high_school_biology"
    assert task_name_of("mine.jsonl") == "mine"


def test_hand_computed_metrics():
    table, metric_of = read_lm_eval_samples(DATA)
    assert metric_of == {"arc_easy": "len_norm", "boolq": "acc"}
    metrics = component_metrics(table, metric_of).set_index("label")
    arc = metrics.loc["arc_easy"]
    # doc 0: per char (leading space not counted) -6/5, -5/5, -7.5/5 -> whale (gold); doc 1: -8/5, -6/4 -> wrong
    assert arc.accuracy == 0.5 and arc.acc_raw == 0.5
    assert math.isnan(arc.acc_per_token)  # the harness logs no token counts
    assert arc.bpb == pytest.approx((5.0 / 5 + 8.0 / 5) / 2 * LOG2E)
    soft0 = math.exp(-1.0) / (math.exp(-1.2) + math.exp(-1.0) + math.exp(-1.5))
    soft1 = math.exp(-1.6) / (math.exp(-1.6) + math.exp(-1.5))
    assert arc.soft == pytest.approx((soft0 + soft1) / 2)
    boolq = metrics.loc["boolq"]
    assert boolq.accuracy == 1.0  # target "yes" is choice 1, the larger raw log-likelihood
    assert boolq.bpb == pytest.approx(1.5 / 3 * LOG2E)
    assert boolq.soft == pytest.approx(1 / (1 + math.exp(-1.0)))
    columns = ladder_columns(component_metrics(table, metric_of), metric_of)
    assert "eval/downstream/boolq_acc" in columns and "eval/downstream/arc_easy_len_norm" in columns


def test_cli_reads_sample_logs(capsys, tmp_path):
    out = tmp_path / "external.csv"
    code = main(["eval", "--from-lm-eval", str(ARC), str(BOOLQ), "--format", "csv", "--output", str(out),
                 "--step", "1000", "--tokens", "4000000"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines()[0].startswith("label,accuracy")
    assert out.read_text().startswith("_step,throughput/total_tokens,eval/downstream_bpb/arc_easy_bpb")


def test_mismatched_responses_and_unknown_target(tmp_path):
    record = json.loads(ARC.read_text().splitlines()[0])
    record["filtered_resps"] = record["filtered_resps"][:2]
    bad = tmp_path / "samples_x_2024-06-01T12-00-00.000000.jsonl"
    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataError, match=r":1: 3 requests but 2 responses"):
        read_lm_eval_samples(bad)
    record = json.loads(ARC.read_text().splitlines()[0])
    record["target"] = "dolphin"
    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(DataError, match="target 'dolphin' matches none of the 3 choices"):
        read_lm_eval_samples(bad)
    bad.write_text("")
    with pytest.raises(DataError, match="sample file is empty"):
        read_lm_eval_samples(bad)
