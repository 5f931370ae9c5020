"""W&B import: history CSV exports and the wandb API (through a stand-in for ``wandb.Api``).

The fixtures (tests/fixtures/wandb, made by tests/fixtures/make_fixtures.py) are history exports
with sparse training rows between evaluation rows and metric names of a user's own logging code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures.make_fixtures import ARC_SCALE, ARC_SIGMOID
from synthetic import BATCH_TOKENS, sigmoid_acc, step1_loss
from taskladder.cli import main
from taskladder.errors import ConfigError, DataError
from taskladder.io.tidy import write_ladder
from taskladder.io.wandb import import_wandb_api, import_wandb_csvs, match_column, parse_mapping, read_configs
from taskladder.ladder import load_ladder
from taskladder.tasks import C4_LOSS_COLUMN, get_task

FIXTURES = Path(__file__).parent / "fixtures" / "wandb"
CSVS = sorted(FIXTURES.glob("*.csv"))
MAP = {"val/c4_loss": ("", "c4")}


def test_column_names_map_to_ladder_columns():
    assert match_column("eval/hellaswag/acc_norm") == ("eval/downstream/hellaswag_val_rc_5shot_len_norm",)
    assert match_column("arc_easy/acc_norm,none") == ("eval/downstream/arc_easy_test_rc_5shot_len_norm",)
    assert match_column("piqa_bpb") == ("eval/downstream_bpb/piqa_val_rc_5shot_bpb",)
    assert match_column("eval/arc_challenge/bpb") == ("eval/downstream_bpb/arc_challenge_test_rc_5shot_bpb",)
    assert match_column("eval/downstream_bpb/csqa_val_rc_5shot_bpb") == ("eval/downstream_bpb/csqa_val_rc_5shot_bpb",)
    assert len(match_column("mmlu/bpb")) == 4               # every MMLU area
    assert match_column("train/loss") is None and match_column("hellaswag/acc") is None
    assert match_column("val/c4_loss") is None
    assert match_column("val/c4_loss", MAP) == (C4_LOSS_COLUMN,)
    assert match_column("eval/hellaswag/bpb", {"eval/hellaswag/bpb": None}) is None
    assert parse_mapping(["a/b=piqa:acc_norm", "x=c4", "y=-"]) == {"a/b": ("piqa", "acc_norm"), "x": ("", "c4"),
                                                                   "y": None}
    with pytest.raises(ConfigError, match="TASK:METRIC"):
        parse_mapping(["a=nosuchtask:bpb"])


def test_history_csvs_become_ladder_runs_with_known_values(tmp_path):
    configs = read_configs(FIXTURES / "runs.json")
    runs = import_wandb_csvs(CSVS, configs=configs, mapping=MAP, targets=["target-7B"])
    by_name = {r.name: r for r in runs}
    run = by_name["300M-4xC"]
    assert run.n_params == 300_000_000 and run.role == "train"
    assert len(run.frame) == 8                                  # training-only rows dropped
    assert run.ignored == ("_runtime", "train/loss", "optim/lr")
    tokens = run.frame["throughput/total_tokens"].to_numpy()
    np.testing.assert_array_equal(tokens, run.frame["_step"].to_numpy() * BATCH_TOKENS)
    loss = step1_loss(300_000_000, tokens)
    np.testing.assert_allclose(run.frame["eval/downstream_bpb/hellaswag_val_rc_5shot_bpb"], loss, atol=1e-6)
    np.testing.assert_allclose(run.frame["eval/downstream_bpb/arc_easy_test_rc_5shot_bpb"], ARC_SCALE * loss, atol=1e-6)
    np.testing.assert_allclose(run.frame["eval/downstream/arc_easy_test_rc_5shot_len_norm"],
                               sigmoid_acc(ARC_SCALE * loss, ARC_SIGMOID), atol=1e-6)
    np.testing.assert_allclose(run.frame[C4_LOSS_COLUMN], loss, atol=1e-6)
    assert by_name["target-7B"].role == "target"
    ladder = load_ladder(write_ladder(runs, tmp_path, name="wb"))
    assert len(ladder.train_runs) == 6
    np.testing.assert_allclose(ladder.runs["300M-4xC"].metric(get_task("hellaswag"), "bpb"), loss, atol=1e-6)


def test_explicit_n_and_batch_win_over_the_config():
    (run,) = import_wandb_csvs([FIXTURES / "150M-1xC.csv"], n_params={"": "123456789"}, batch_tokens="2048",
                               mapping=MAP)
    assert run.n_params == 123_456_789
    np.testing.assert_array_equal(run.frame["throughput/total_tokens"], run.frame["_step"] * 2048)
    with pytest.raises(DataError, match="N of run '150M-1xC' unknown"):
        import_wandb_csvs([FIXTURES / "150M-1xC.csv"], batch_tokens=2048)
    with pytest.raises(DataError, match="cannot tell tokens seen"):
        import_wandb_csvs([FIXTURES / "150M-1xC.csv"], n_params={"": 5})
    with pytest.raises(DataError, match="size label"):
        import_wandb_csvs([FIXTURES / "150M-1xC.csv"], n_params={"": "190M"}, batch_tokens=2048)
    (sized,) = import_wandb_csvs([FIXTURES / "150M-1xC.csv"], sizes={"": "190M"}, batch_tokens=2048)
    assert sized.size == "190M" and sized.n_params is None


class FakeRun:
    """What the import uses of a ``wandb`` run: id, name, config, scan_history()."""

    def __init__(self, path: Path, config: dict):
        self.id = "id-" + path.stem.lower().replace(".", "")
        self.name = path.stem
        self.config = {key: {"value": value, "desc": None} for key, value in config.items()}
        self._rows = pd.read_csv(path).to_dict("records")

    def scan_history(self):
        # W&B yields dicts without the keys a row did not log.
        for row in self._rows:
            yield {k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))}


class FakeApi:
    def __init__(self):
        configs = json.loads((FIXTURES / "runs.json").read_text())
        self._runs = [FakeRun(p, configs[p.stem]) for p in CSVS]
        self.calls: list[str] = []

    def runs(self, path: str):
        self.calls.append(f"runs {path}")
        return iter(self._runs)

    def run(self, path: str):
        self.calls.append(f"run {path}")
        return next(r for r in self._runs if path.endswith("/" + r.id))


def test_api_import_equals_the_csv_import():
    api = FakeApi()
    from_api = import_wandb_api("team/ladder", api=api, mapping=MAP, targets=["target-7B"])
    from_csv = import_wandb_csvs(CSVS, configs=read_configs(FIXTURES / "runs.json"), mapping=MAP,
                                 targets=["target-7B"])
    assert api.calls == ["runs team/ladder"]
    assert [r.name for r in from_api] == [r.name for r in from_csv]
    for a, c in zip(from_api, from_csv):
        assert (a.n_params, a.role) == (c.n_params, c.role)
        pd.testing.assert_frame_equal(a.frame, c.frame)
        assert a.source.startswith("wandb run team/ladder/id-")
    chosen = import_wandb_api("team/ladder", run_ids=["id-300m-4xc", "id-target-7b"], api=api, mapping=MAP,
                              targets=["id-target-7b"])
    assert api.calls[-2:] == ["run team/ladder/id-300m-4xc", "run team/ladder/id-target-7b"]
    assert [(r.name, r.role) for r in chosen] == [("300M-4xC", "train"), ("target-7B", "target")]


def test_api_without_wandb_installed_says_how_to_install():
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"pip install 'taskladder\[wandb\]'"):
            import_wandb_api("team/ladder")
    with pytest.raises(ConfigError, match="ENTITY/PROJECT"):
        import_wandb_api("just-a-project", api=FakeApi())


def test_api_command_end_to_end_with_a_stand_in_wandb_module(tmp_path):
    """``taskladder import wandb`` in a subprocess, with a ``wandb`` module that serves the fixtures."""
    module = tmp_path / "fake" / "wandb"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_import_wandb import FakeApi as Api
    """))
    env = {"PYTHONPATH": str(tmp_path / "fake"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "taskladder.cli", "import", "wandb", "team/ladder",
                           "--map", "val/c4_loss=c4", "--target", "target-7B", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 7 runs (6 train, 1 target)" in proc.stdout
    assert "ignored columns that are not task metrics: _runtime, optim/lr, train/loss" in proc.stderr
    assert len(load_ladder(tmp_path / "out" / "ladder.toml").train_runs) == 6


def _broken(tmp_path: Path, edit) -> Path:
    frame = pd.read_csv(FIXTURES / "150M-1xC.csv", dtype=str, keep_default_na=False)
    edited = edit(frame)
    frame = frame if edited is None else edited
    path = tmp_path / "150M-1xC.csv"
    frame.to_csv(path, index=False)
    return path


def _set(row: int, column: str, value: str):
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value
    return edit


BAD = {
    "metric cell": (_set(3, "eval/hellaswag/bpb", "oops"), "row 5, column 'eval/hellaswag/bpb': 'oops' is not a number"),
    "step cell": (_set(0, "_step", ""), "row 2, column '_step'"),
    "no _step": (lambda f: f.drop(columns=["_step"]), "column '_step' missing"),
    "chart export": (lambda f: f.rename(columns={"_step": "Step"}), "chart export"),
    "no metric": (lambda f: f.drop(columns=[c for c in f.columns if c.startswith(("eval", "val"))]),
                  "no column is a task metric"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_history_is_one_line_with_exit_2(case, tmp_path, capsys):
    edit, expected = BAD[case]
    path = _broken(tmp_path, edit)
    status = main(["import", "wandb-csv", str(path), "--config", str(FIXTURES / "runs.json"), "--map",
                   "val/c4_loss=c4", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith(f"taskladder import: error: {path}") and expected in err, err


def test_two_columns_for_one_metric_is_an_error(tmp_path, capsys):
    path = _broken(tmp_path, lambda f: f.insert(2, "hellaswag_bpb", f["eval/hellaswag/bpb"]))
    assert main(["import", "wandb-csv", str(path), "--n-params", "5", "--batch-tokens", "8", "-o", str(tmp_path)]) == 2
    assert "both map to 'eval/downstream_bpb/hellaswag_val_rc_5shot_bpb'" in capsys.readouterr().err
