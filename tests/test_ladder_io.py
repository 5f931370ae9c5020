"""Reading run CSVs into a ladder: errors that name file, column and row; tokens; MMLU weighting."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.errors import DataError
from taskladder.io.runs import read_run_csv, tokens_seen
from taskladder.ladder import load_ladder
from taskladder.tasks import C4_LOSS_COLUMN, get_task

HELLASWAG = get_task("hellaswag")
MMLU = get_task("mmlu")


def _ladder(tmp_path: Path, frame: pd.DataFrame, *, extra_runs: str = "") -> object:
    """A one-run ladder over ``frame`` (written as run.csv)."""
    frame.to_csv(tmp_path / "run.csv", index=False)
    spec = tmp_path / "spec.toml"
    spec.write_text('[[run]]\nfile = "run.csv"\nn_params = 1000000\n' + extra_runs, encoding="utf-8")
    return load_ladder(spec)


def _frame(n: int = 4, **columns: object) -> pd.DataFrame:
    base = {"_step": np.arange(1, n + 1) * 100, "throughput/total_tokens": np.arange(1, n + 1) * 1e6}
    base.update(columns)
    return pd.DataFrame(base)


# --- read_run_csv --------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'x.csv'}: file not found")):
        read_run_csv(tmp_path / "x.csv")


def test_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        read_run_csv(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("_step,throughput/total_tokens\n")
    with pytest.raises(DataError, match=r"header\.csv: no rows"):
        read_run_csv(tmp_path / "header.csv")


def test_unreadable_file(tmp_path):
    (tmp_path / "binary.csv").write_bytes(b"_step,x\n\xff\xfe\x00\x81,1\n")
    with pytest.raises(DataError, match=r"binary\.csv: not a readable CSV"):
        read_run_csv(tmp_path / "binary.csv")


def test_text_in_numeric_column_names_row(tmp_path):
    (tmp_path / "run.csv").write_text("_step,acc\n1,0.5\n2,0.6\n3,oops\n4,0.7\n")
    with pytest.raises(DataError) as info:
        read_run_csv(tmp_path / "run.csv")
    # Line 4 of the file: the header is line 1.
    assert str(info.value) == f"{tmp_path / 'run.csv'}: column 'acc' row 4 holds 'oops' (expected a number)"


def test_empty_cells_become_nan(tmp_path):
    (tmp_path / "run.csv").write_text("_step,acc,note\n1,0.5,\n2,,\n")
    frame = read_run_csv(tmp_path / "run.csv")
    assert np.isnan(frame["acc"].iloc[1]) and frame["note"].isna().all()
    assert all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns)


# --- tokens --------------------------------------------------------------------------------------

def test_tokens_from_token_column():
    frame = pd.DataFrame({"_step": [1, 2], "throughput/total_tokens": [10.0, 20.0], "batch_size_in_tokens": [3, 3]})
    np.testing.assert_array_equal(tokens_seen(frame), [10.0, 20.0])


def test_tokens_from_steps_times_batch(tmp_path):
    # The 13B target file has no token column: D = _step × batch_size_in_tokens.
    frame = pd.DataFrame({"_step": [557000, 596057], "batch_size_in_tokens": [8388608, 8388608]})
    np.testing.assert_array_equal(tokens_seen(frame), [557000 * 8388608, 596057 * 8388608])
    assert tokens_seen(frame)[-1] == 5000088518656
    # A token column with holes falls back to the same product.
    frame["throughput/total_tokens"] = [np.nan, 1.0]
    np.testing.assert_array_equal(tokens_seen(frame), [557000 * 8388608, 596057 * 8388608])


def test_tokens_unknown():
    with pytest.raises(DataError, match=r"run\.csv: cannot tell tokens seen: needs column 'throughput/total_tokens'"):
        tokens_seen(pd.DataFrame({"_step": [1, 2]}), "run.csv")
    with pytest.raises(DataError, match="without empty cells"):
        tokens_seen(pd.DataFrame({"_step": [1, 2], "batch_size_in_tokens": [4, np.nan]}), "run.csv")


def test_ladder_reads_tokens_without_token_column(tmp_path):
    frame = pd.DataFrame({"_step": [10, 20], "batch_size_in_tokens": [1000, 1000]})
    run = _ladder(tmp_path, frame).runs["run"]
    np.testing.assert_array_equal(run.tokens, [10000, 20000])
    assert run.final_tokens == 20000
    np.testing.assert_array_equal(run.steps, [10, 20])


# --- metrics -------------------------------------------------------------------------------------

def test_missing_metric_column_names_task_and_file(tmp_path):
    run = _ladder(tmp_path, _frame(**{HELLASWAG.columns("bpb")[0]: [1.0, 0.9, 0.8, 0.7]})).runs["run"]
    with pytest.raises(DataError) as info:
        run.metric(HELLASWAG, "accuracy")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'run.csv'}: no column 'eval/downstream/hellaswag_val_rc_5shot_len_norm'")
    assert "task hellaswag needs it for accuracy" in message
    assert "'eval/downstream_bpb/hellaswag_val_rc_5shot_bpb'" in message  # an example of what is there


def test_nan_in_used_column_names_row(tmp_path):
    bpb = HELLASWAG.columns("bpb")[0]
    run = _ladder(tmp_path, _frame(**{bpb: [1.0, 0.9, np.nan, 0.7]})).runs["run"]
    with pytest.raises(DataError, match=re.escape(f"column {bpb!r} row 4 is empty or not a finite number "
                                                  "(task hellaswag needs it for bpb)")):
        run.metric(HELLASWAG, "bpb")


def test_rows_out_of_order_are_read_in_step_order(tmp_path):
    bpb = HELLASWAG.columns("bpb")[0]
    frame = _frame(**{bpb: [1.0, 0.9, 0.8, 0.7]}).iloc[[2, 0, 3, 1]]
    run = _ladder(tmp_path, frame).runs["run"]
    np.testing.assert_array_equal(run.steps, [100, 200, 300, 400])
    np.testing.assert_array_equal(run.metric(HELLASWAG, "bpb"), [1.0, 0.9, 0.8, 0.7])
    assert run.final_tokens == 4e6


def test_rows_of_one_step_are_merged_later_values_winning(tmp_path):
    """As W&B exports them: metrics logged in separate rows, and a resumed run logging a step again."""
    bpb, acc = HELLASWAG.columns("bpb")[0], HELLASWAG.columns("accuracy")[0]
    frame = pd.DataFrame({"_step": [100, 200, 200, 300, 200],
                          "throughput/total_tokens": [1e6, 2e6, 2e6, 3e6, 2e6],
                          bpb: [1.0, 0.95, np.nan, 0.8, 0.9],
                          acc: [0.30, np.nan, 0.40, 0.50, np.nan]})
    run = _ladder(tmp_path, frame).runs["run"]
    np.testing.assert_array_equal(run.steps, [100, 200, 300])
    np.testing.assert_array_equal(run.metric(HELLASWAG, "bpb"), [1.0, 0.9, 0.8])   # the re-logged 0.9 wins
    np.testing.assert_array_equal(run.metric(HELLASWAG, "accuracy"), [0.30, 0.40, 0.50])


def test_tokens_that_do_not_grow_name_the_row(tmp_path):
    """Steps in order but tokens going back (e.g. a counter reset on resume) would misplace every fit."""
    frame = _frame(**{HELLASWAG.columns("bpb")[0]: [1.0, 0.9, 0.8, 0.7]})
    frame.loc[2, "throughput/total_tokens"] = 1.5e6
    with pytest.raises(DataError, match=re.escape("tokens seen (throughput/total_tokens) must be positive and grow "
                                                  "with the steps; row 4 has 1.5e+06 after 2e+06")):
        _ladder(tmp_path, frame)


def test_nan_after_reordering_names_the_files_row(tmp_path):
    bpb = HELLASWAG.columns("bpb")[0]
    frame = _frame(**{bpb: [1.0, np.nan, 0.8, 0.7]}).iloc[[3, 2, 1, 0]]  # the NaN is on line 4 of the file
    run = _ladder(tmp_path, frame).runs["run"]
    with pytest.raises(DataError, match=re.escape(f"column {bpb!r} row 4 is empty")):
        run.metric(HELLASWAG, "bpb")


def test_nan_in_unused_column_is_fine(tmp_path):
    bpb = HELLASWAG.columns("bpb")[0]
    run = _ladder(tmp_path, _frame(**{bpb: [1.0, 0.9, 0.8, 0.7], "eval/other": [np.nan] * 4})).runs["run"]
    np.testing.assert_array_equal(run.metric(HELLASWAG, "bpb"), [1.0, 0.9, 0.8, 0.7])


def test_mmlu_is_weighted_over_its_areas(tmp_path):
    # Areas stem, humanities, social sciences, other with weights 0.215, 0.335, 0.219, 0.231.
    values = {"stem": [0.4, 0.5], "humanities": [0.6, 0.7], "social_sciences": [0.8, 0.9], "other": [1.0, 1.1]}
    columns = {f"eval/downstream_bpb/mmlu_{area}_test_rc_5shot_bpb": v for area, v in values.items()}
    run = _ladder(tmp_path, _frame(n=2, **columns)).runs["run"]
    total = 0.215 + 0.335 + 0.219 + 0.231  # = 1.0
    expected_0 = (0.215 * 0.4 + 0.335 * 0.6 + 0.219 * 0.8 + 0.231 * 1.0) / total
    expected_1 = (0.215 * 0.5 + 0.335 * 0.7 + 0.219 * 0.9 + 0.231 * 1.1) / total
    np.testing.assert_allclose(run.metric(MMLU, "bpb"), [expected_0, expected_1], rtol=1e-14)
    assert expected_0 == pytest.approx(0.6932)


def test_taskce_is_minus_soft_log_and_c4(tmp_path):
    soft_log = HELLASWAG.columns("soft_log")[0]
    run = _ladder(tmp_path, _frame(n=2, **{soft_log: [-0.9, -0.7], C4_LOSS_COLUMN: [3.1, 3.0]})).runs["run"]
    np.testing.assert_array_equal(run.metric(HELLASWAG, "taskce"), [0.9, 0.7])
    np.testing.assert_array_equal(run.metric(HELLASWAG, "soft_log"), [-0.9, -0.7])
    np.testing.assert_array_equal(run.metric(None, "c4"), [3.1, 3.0])
    with pytest.raises(DataError, match="unknown metric 'ppl'"):
        run.metric(HELLASWAG, "ppl")
    with pytest.raises(DataError, match="needs a task"):
        run.metric(None, "bpb")


def test_metric_values_are_read_only(tmp_path):
    bpb = HELLASWAG.columns("bpb")[0]
    run = _ladder(tmp_path, _frame(**{bpb: [1.0, 0.9, 0.8, 0.7]})).runs["run"]
    with pytest.raises(ValueError):
        run.metric(HELLASWAG, "bpb")[0] = 5.0


def test_target_without_file(tmp_path):
    ladder = _ladder(tmp_path, _frame(), extra_runs='[[run]]\nname = "t"\nn_params = 5\ntokens = 1e9\nrole = "target"\n')
    target = ladder.targets[0]
    assert not target.has_data and target.n_checkpoints == 0 and target.final_tokens == 1e9
    with pytest.raises(DataError, match="run 't' has no file"):
        target.metric(HELLASWAG, "bpb")


def test_missing_csv_of_a_run(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[[run]]\nfile = "gone.csv"\nn_params = 1000000\n')
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'gone.csv'}: file not found")):
        load_ladder(spec)


def test_observations_and_runs_table(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, n_checkpoints=6, sizes=(100_000_000, 200_000_000),
                                                multiples=(1, 2), flops_per_token=True))
    obs = ladder.observations([HELLASWAG])
    assert list(obs.columns) == ["run", "role", "n_params", "step", "tokens", "task", "metric", "value"]
    # 4 train runs × 6 checkpoints + the target's 5, for 2 metrics.
    assert len(obs) == (4 * 6 + 5) * 2
    one = obs[(obs["run"] == "100M-2xC") & (obs["metric"] == "bpb")]
    np.testing.assert_array_equal(one["value"], ladder.runs["100M-2xC"].metric(HELLASWAG, "bpb"))
    table = ladder.runs_table
    row = table.set_index("run").loc["200M-1xC"]
    assert row["n_params"] == 200_000_000 and row["role"] == "train" and row["n_checkpoints"] == 6
    assert row["compute"] == pytest.approx(6 * 200_000_000 * row["tokens"])
    assert row["tokens"] == pytest.approx(20 * 200_000_000, rel=1e-3)
