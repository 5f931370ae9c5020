"""Noise diagnostics: seed noise from rerun pairs and checkpoint noise, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskladder.analysis.noise import find_rerun_pairs, noise_table
from taskladder.analysis.paper import paper_spec
from taskladder.fit.uncertainty import checkpoint_noise
from taskladder.ladder import load_ladder
from taskladder.tasks import get_task


def test_checkpoint_noise_ignores_a_linear_trend():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 4000)
    trend = np.linspace(0, 5, 4000)
    assert checkpoint_noise(trend + noise) == pytest.approx(0.01, rel=0.05)
    assert checkpoint_noise(trend) == pytest.approx(0.0, abs=1e-12)


def test_seed_noise_from_the_olmo_rerun_pairs_by_hand(olmo_data):
    ladder = load_ladder(paper_spec(olmo_data))
    pairs = find_rerun_pairs(ladder)
    assert sorted(a.name for a, _ in pairs) == ["1.3B-1xC", "190M-1xC", "370M-1xC", "760M-1xC"]
    table = noise_table(ladder, [get_task("hellaswag")]).iloc[0]
    column = "eval/downstream/hellaswag_val_rc_5shot_len_norm"
    diffs = []
    for prefix in ("190M", "370M", "760M", "1B"):
        a = pd.read_csv(olmo_data / "ladder-runs" / f"{prefix}-1xC.csv")
        b = pd.read_csv(olmo_data / "ladder-runs" / f"{prefix}-1xC-rerun.csv")
        common = np.intersect1d(a["_step"], b["_step"])[-5:]
        diffs.append(a.loc[a["_step"].isin(common), column].mean() - b.loc[b["_step"].isin(common), column].mean())
    assert table["acc_seed_sd"] == pytest.approx(np.sqrt(np.mean(np.square(diffs)) / 2), rel=1e-12)
    assert table["n_rerun_pairs"] == 4
    noise = np.hypot(table["acc_ckpt_sd"], table["acc_seed_sd"])
    assert table["acc_snr"] == pytest.approx(table["acc_signal"] / noise)


def test_noise_command_writes_table_and_figure(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "specs" / "olmo-paper.toml"
    proc = subprocess.run([sys.executable, "-m", "taskladder.cli", "noise", str(spec), "--tasks", "piqa,boolq",
                           "-o", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "snr.png").stat().st_size > 0 and (tmp_path / "snr.csv").is_file()
    assert list(pd.read_csv(tmp_path / "noise.csv")["task"]) == ["piqa", "boolq"]


@pytest.mark.parametrize("command, last_n, fragment", [("noise", "2", "--last-n must be at least 3"),
                                                        ("variance", "1", "--last-n must be at least 2")])
def test_too_few_checkpoints_for_a_spread_is_one_line(tmp_path, capsys, command, last_n, fragment):
    from synthetic import write_synthetic_ladder
    from taskladder.cli import main

    spec = write_synthetic_ladder(tmp_path, n_checkpoints=8)
    assert main([command, str(spec), "--tasks", "hellaswag", "--last-n", last_n]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err
