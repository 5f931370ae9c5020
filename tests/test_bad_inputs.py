"""Every entry point fed bad input: one line on stderr naming the file, row or flag and what was
expected, exit status 2, no traceback, nothing written or changed.

Each case runs ``taskladder`` in-process in a folder of its own, prepared from a good synthetic
ladder and a good lm-eval sample log; after the call the folder must be byte for byte as it was
(a failing command removes the output folders it created and writes nothing half-way).
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.cli import main
from taskladder.tasks import get_task

HS = get_task("hellaswag")
BPB, ACC = HS.columns("bpb")[0], HS.columns("accuracy")[0]
SAMPLES = Path(__file__).parent / "data" / "lm_eval" / "samples_arc_easy_2024-06-01T12-00-00.000000.jsonl"


@dataclass(frozen=True)
class Case:
    """``prepare(folder)`` lays out the inputs and returns the argv; ``fragments`` must be in the one line."""

    prepare: Callable[[Path], list[str]]
    fragments: tuple[str, ...]


# --- inputs ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ladders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ladders")
    return {
        "good": write_synthetic_ladder(root / "good", n_checkpoints=8, noise=0.002),
        "small": write_synthetic_ladder(root / "small", sizes=(150_000_000, 300_000_000, 600_000_000),
                                        multiples=(1, 2), n_checkpoints=8),
        "one": write_synthetic_ladder(root / "one", n_checkpoints=1),
    }


LADDERS: dict[str, Path] = {}


def _ladder(name: str, folder: Path) -> Path:
    """A copy of ladder ``name`` inside ``folder``; returns the spec."""
    source = LADDERS[name]
    shutil.copytree(source.parent, folder / name)
    return folder / name / source.name


def _spec(edit: Callable[[str], str], ladder: str = "good") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        spec = _ladder(ladder, folder)
        spec.write_text(edit(spec.read_text()))
        return spec
    return make


def _edited_csv(run: str, column: str, row: int, value) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        spec = _ladder("good", folder)
        path = spec.parent / "runs" / f"{run}.csv"
        frame = pd.read_csv(path)
        frame.loc[row, column] = value
        frame.to_csv(path, index=False)
        return spec
    return make


def _same_file_as_train(text: str) -> str:
    blocks = text.split("[[run]]")
    first = blocks[1].split('file = "')[1].split('"')[0]
    head, _, rest = blocks[-1].partition('file = "')
    blocks[-1] = head + f'file = "{first}"' + rest.split('"', 1)[1]
    return "[[run]]".join(blocks)


def _samples(edit: Callable[[list[dict]], list[dict] | str], name: str = "samples_arc_easy_2024-06-01T12-00-00.000000.jsonl"):
    """A sample log made from the good one by ``edit`` (records in, records or raw text out)."""
    def make(folder: Path) -> Path:
        records = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
        out = edit(records)
        path = folder / name
        path.write_text(out if isinstance(out, str) else "".join(json.dumps(r) + "\n" for r in out))
        return path
    return make


def _set_resp(doc: int, choice: int, value) -> Callable[[list[dict]], list[dict]]:
    def edit(records):
        records[doc]["filtered_resps"][choice] = [value, False]
        return records
    return edit


def _set_cont(doc: int, choice: int, text: str) -> Callable[[list[dict]], list[dict]]:
    def edit(records):
        records[doc]["arguments"][f"gen_args_{choice}"]["arg_1"] = text
        return records
    return edit


def _set_field(doc: int, key: str, value) -> Callable[[list[dict]], list[dict]]:
    def edit(records):
        records[doc][key] = value
        return records
    return edit


def _lm_eval(make, *extra: str) -> Callable[[Path], list[str]]:
    return lambda folder: ["eval", "--from-lm-eval", str(make(folder)), *extra]


TIDY_HEADER = "run,N,D,step,task,metric,value\n"


def _tidy_rows(run: str = "r1", *, n: str = "150000000", acc: str = "0.5", tokens=(1e9, 2e9, 3e9),
               task: str = "hellaswag") -> str:
    lines = []
    for step, d in enumerate(tokens, start=1):
        lines.append(f"{run},{n},{d:.0f},{step},{task},bpb,{1.2 - 0.1 * step}")
        lines.append(f"{run},{n},{d:.0f},{step},{task},accuracy,{acc}")
    return "\n".join(lines) + "\n"


def _tidy(text: str) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        path = folder / "results.csv"
        path.write_text(TIDY_HEADER + _tidy_rows("good-run") + text, encoding="utf-8")
        return ["import", "tidy", str(path), "-o", str(folder / "imported")]
    return prepare


def _wandb(frame: dict, *extra: str) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        path = folder / "run-a.csv"
        pd.DataFrame(frame).to_csv(path, index=False)
        return ["import", "wandb-csv", str(path), "--n-params", "150000000", "-o", str(folder / "imported"), *extra]
    return prepare


def _history(**overrides) -> dict:
    frame = {"_step": [10, 20, 30], "throughput/total_tokens": [1e9, 2e9, 3e9], BPB: [1.3, 1.2, 1.1],
             ACC: [0.30, 0.32, 0.35]}
    frame.update(overrides)
    return frame


def _model_config(config: dict) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        model = folder / "model"
        model.mkdir()
        (model / "config.json").write_text(json.dumps(config))
        return ["eval", str(model), "--tasks", "arc_easy", "--limit", "2"]
    return prepare


def _png_folder(folder: Path) -> list[str]:
    docs = folder / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Some text to train on. " * 20)
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return ["data", "prepare", str(docs), "--bpe-vocab", "300", "--out", str(folder / "data")]


def _trainer_folder_without_checkpoints(folder: Path) -> list[str]:
    run = folder / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"name": "run", "size": "micro-xs", "steps": 4, "batch_sequences": 2,
                                                 "peak_lr": 0.01, "warmup_steps": 1}))
    return ["eval", str(run), "--tasks", "arc_easy"]


def _predict(spec_maker, *args: str) -> Callable[[Path], list[str]]:
    return lambda folder: ["predict", str(spec_maker(folder)), *args]


def _on(ladder: str, command: str, *args: str) -> Callable[[Path], list[str]]:
    return lambda folder: [command, str(_ladder(ladder, folder)), *args]


def _file_in_the_way(argv: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    def prepare(folder: Path) -> list[str]:
        (folder / "afile").write_text("not a folder\n")
        return argv(folder)
    return prepare


CASES: dict[str, Case] = {
    # flags, the same in every command
    "--tasks empty": Case(_on("good", "predict", "--tasks", ""), ("--tasks ''", "names nothing")),
    "--tasks only commas": Case(_on("good", "backtest", "--tasks", ",,"), ("--tasks ',,'", "names nothing")),
    "--seed -1": Case(_on("good", "predict", "--tasks", "hellaswag", "--seed", "-1"),
                      ("--seed must be between 0 and 4,294,967,295", "got -1")),
    "--seed too large": Case(_on("good", "backtest", "--seed", str(2**40)), ("--seed must be between",)),
    "--bootstrap 1e9": Case(_on("good", "predict", "--tasks", "hellaswag", "--bootstrap", "1000000000"),
                            ("--bootstrap must be between 10 and 100,000", "got 1000000000")),
    "--tasks repeated": Case(_on("good", "backtest", "--tasks", "docs_order,docs_order"),
                             ("--tasks names docs_order more than once",)),
    "--tasks with a control character": Case(_on("good", "predict", "--tasks", "hella\x1bswag"),
                                             ("--tasks", "control character")),
    "eval --tasks empty": Case(lambda f: ["eval", str(f / "nowhere"), "--tasks", ""], ("--tasks ''", "names nothing")),
    "eval --limit 0": Case(lambda f: ["eval", str(f / "nowhere"), "--limit", "0"], ("--limit must be at least 1",)),
    "ladder run --parallel 0": Case(lambda f: ["ladder", "run", str(f / "plan.toml"), "--data", str(f), "--parallel", "0",
                                               "--out", str(f / "out")], ("--parallel must be at least 1",)),
    "ladder run --seed -5": Case(lambda f: ["ladder", "run", str(f / "plan.toml"), "--data", str(f), "--seed", "-5",
                                            "--out", str(f / "out")], ("--seed must be between",)),
    # specs and targets
    "n_params 1e300": Case(_predict(_spec(lambda t: t.replace("n_params = 150000000", "n_params = 1e300", 1)),
                                    "--no-intervals"), ("run '150M-1xC': n_params", "is not a parameter count",
                                                        "expected 1 to 1e+15")),
    "target reads a train run's file": Case(_predict(_spec(_same_file_as_train), "--no-intervals"),
                                            ("runs '150M-1xC' and 'target-7B' read the same file", "150M-1xC.csv")),
    "target of 4 tokens": Case(_on("good", "predict", "--target", "tiny:7B:4", "--only-cli-targets"),
                               ("--target 'tiny:7B:4': run 'tiny': tokens 4 is less than one batch", "N = 6,887,575,552")),
    "target N 1e300": Case(_on("good", "predict", "--target", "huge:1e300:4T", "--only-cli-targets"),
                           ("--target 'huge:1e300:4T'", "not a parameter count")),
    "spec target tokens 1e30": Case(_predict(_spec(lambda t: re.sub(r"tokens = [0-9.e+]+", "tokens = 1e30", t)),
                                             "--no-intervals"), ("run 'target-7B': tokens", "not a token count")),
    "run CSV tokens below one batch": Case(_predict(_edited_csv("300M-2xC", "throughput/total_tokens", 0, 1000.0),
                                                    "--tasks", "hellaswag", "--no-intervals"),
                                           ("300M-2xC.csv: row 2 has 1000 tokens seen", "less than one batch of 1.04858e+06")),
    "run CSV accuracy in percent": Case(_predict(_edited_csv("150M-2xC", ACC, 3, 61.5), "--tasks", "hellaswag",
                                                 "--no-intervals"), ("150M-2xC.csv", "in percent? divide by 100")),
    "predict -o under a file": Case(_file_in_the_way(lambda f: ["predict", str(_ladder("good", f)), "-o",
                                                                str(f / "afile" / "out")]),
                                    ("afile", "Not a directory")),
    "predict -o with a missing spec": Case(lambda f: ["predict", str(f / "nope.toml"), "-o", str(f / "new" / "out")],
                                           ("nope.toml: spec file not found",)),
    # plans
    "plan --multiples 1e300": Case(lambda f: ["ladder", "plan", "--sizes", "190M", "--multiples", "1e300", "--out",
                                              str(f / "plan")], ("token multiples must be positive numbers of at most",
                                                                 "'1e300'")),
    "plan --multiples inf": Case(lambda f: ["ladder", "plan", "--sizes", "190M", "--multiples", "1,inf", "--out",
                                            str(f / "plan")], ("'inf'",)),
    "plan --target-tokens 1e300": Case(lambda f: ["ladder", "plan", "--sizes", "190M", "--target", "7B",
                                                  "--target-tokens", "1e300", "--out", str(f / "plan")],
                                       ("token count must be between 1 and 1e+17",)),
    # training data
    "data prepare on a folder holding a PNG": Case(_png_folder, ("logo.png", "not UTF-8 text")),
    # lm-eval sample logs
    "lm-eval log-likelihood above 0": Case(_lm_eval(_samples(_set_resp(0, 1, 2.5))),
                                           (":1: log-likelihood 2.5 is above 0",)),
    "lm-eval log-likelihood inf": Case(_lm_eval(_samples(_set_resp(1, 0, "inf"))),
                                       (":2: log-likelihood inf is not a finite number",)),
    "lm-eval log-likelihood -inf": Case(_lm_eval(_samples(_set_resp(0, 2, "-Infinity"))),
                                        (":1: log-likelihood -inf is not a finite number",)),
    "lm-eval empty continuation": Case(_lm_eval(_samples(_set_cont(0, 2, ""))),
                                       (":1: choice 2 has an empty continuation",)),
    "lm-eval pretty-printed results file": Case(_lm_eval(_samples(lambda r: json.dumps(
        {"results": {"arc_easy": {"acc,none": 0.5}}, "config": {}}, indent=2), name="results_2024.json")),
        ("results_2024.json: an lm-evaluation-harness results file", "--log_samples")),
    "lm-eval one JSON array": Case(_lm_eval(_samples(lambda r: json.dumps(r, indent=1))),
                                   ("one JSON document over several lines, not a sample log",)),
    "lm-eval duplicate documents": Case(_lm_eval(_samples(lambda r: r + r)),
                                        (":3: document 0 again (first on line 1)",)),
    "lm-eval doc_id not a number": Case(_lm_eval(_samples(_set_field(1, "doc_id", "abc"))),
                                        (":2: 'doc_id' must be a whole number",)),
    "lm-eval unnumbered request key": Case(_lm_eval(_samples(lambda r: [
        {**r[0], "arguments": {"gen_args_x": r[0]["arguments"]["gen_args_0"]}}])),
        (":1: 'arguments' must hold (context, continuation) string pairs",)),
    "lm-eval empty response": Case(_lm_eval(_samples(_set_field(0, "filtered_resps", [[], [], []]))),
                                   (":1: response [] is not a log-likelihood",)),
    "lm-eval target a dict": Case(_lm_eval(_samples(_set_field(0, "target", {"a": 1}))),
                                  (":1: target", "matches none of the 3 choices")),
    "lm-eval not UTF-8": Case(lambda f: (f / "samples_x.jsonl").write_bytes(SAMPLES.read_bytes().splitlines(True)[0] + b"\xff\xfe\n") and
                              ["eval", "--from-lm-eval", str(f / "samples_x.jsonl")], ("samples_x.jsonl:2: not UTF-8",)),
    "lm-eval --output under a file": Case(_file_in_the_way(lambda f: ["eval", "--from-lm-eval", str(SAMPLES), "--output",
                                                                      str(f / "afile" / "x.csv"), "--step", "1"]),
                                          ("--output", "afile is a file, not a folder")),
    "lm-eval --output a folder": Case(lambda f: ["eval", "--from-lm-eval", str(SAMPLES), "--output", str(f),
                                                 "--step", "1"], ("--output", "is a folder, expected a file path")),
    "lm-eval --output without --step": Case(lambda f: ["eval", "--from-lm-eval", str(SAMPLES), "--output",
                                                       str(f / "x.csv")], ("--output needs --step",)),
    # model folders
    "eval an encoder model": Case(_model_config({"model_type": "bert", "vocab_size": 300, "hidden_size": 16,
                                                 "num_hidden_layers": 1, "num_attention_heads": 2,
                                                 "intermediate_size": 32}),
                                  ("holds a 'bert' encoder (masked language) model", "not a causal language model")),
    "eval a seq2seq model": Case(_model_config({"model_type": "bart", "vocab_size": 300, "d_model": 16}),
                                 ("holds a 'bart' encoder-decoder (seq2seq) model",)),
    "eval --val-tokens missing": Case(lambda f: _model_config({"model_type": "gpt2", "vocab_size": 300, "n_embd": 8,
                                                              "n_layer": 1, "n_head": 1})(f)
                                      + ["--val-tokens", str(f / "nothing.bin")],
                                      ("validation token file", "nothing.bin does not exist")),
    "eval a run folder with no checkpoint": Case(_trainer_folder_without_checkpoints,
                                                 ("holds no checkpoint folders",)),
    # tidy imports
    "tidy run name with a control character": Case(_tidy(_tidy_rows("bad\x07run")),
                                                   ("results.csv: run name 'bad\\x07run'", "control character")),
    "tidy task name with a control character": Case(_tidy(_tidy_rows("r2", task="hella\x1bswag")),
                                                    ("results.csv: row", "control characters")),
    "tidy tokens decreasing": Case(_tidy(_tidy_rows("r2", tokens=(1e9, 3e9, 2e9))),
                                   ("run 'r2': tokens seen must grow with the steps", "step 3 has 2,000,000,000")),
    "tidy accuracy in percent": Case(_tidy(_tidy_rows("r2", acc="65")),
                                     ("run 'r2', column", ACC, "65 is not an accuracy", "in percent? divide by 100")),
    "tidy infinite value": Case(_tidy(_tidy_rows("r2", acc="inf")), ("row", "'inf' is not a number",)),
    "tidy N 1e300": Case(_tidy(_tidy_rows("r2", n="1e300")), ("run 'r2': N", "not a parameter count")),
    "tidy -o under a file": Case(_file_in_the_way(lambda f: (f / "r.csv").write_text(TIDY_HEADER + _tidy_rows())
                                                  and ["import", "tidy", str(f / "r.csv"), "-o", str(f / "afile" / "o")]),
                                 ("afile", "is a file, not a folder")),
    # W&B exports
    "wandb inf": Case(_wandb(_history(**{BPB: [1.3, float("inf"), 1.1]})),
                      ("run-a.csv: run 'run-a', column", BPB, "step 20 holds inf, not a finite number")),
    "wandb accuracy in percent": Case(_wandb(_history(**{ACC: [30.0, 32.0, 35.0]})),
                                      ("column", ACC, "30 is not an accuracy", "in percent? divide by 100")),
    "wandb tokens decreasing": Case(_wandb(_history(**{"throughput/total_tokens": [1e9, 3e9, 2e9]})),
                                    ("tokens seen must grow with the steps", "step 30")),
    "wandb negative loss": Case(_wandb(_history(**{BPB: [1.3, -0.2, 1.1]})),
                                ("step 20 holds -0.2, expected a positive loss",)),
    # commands that would compute nothing
    "backtest with no fit": Case(_on("small", "backtest", "--tasks", "hellaswag", "--variants", "two-step"),
                                 ("no backtest fit succeeded", "3 train run(s), needs 5")),
    "backtest a task without data": Case(_on("good", "backtest", "--tasks", "piqa"),
                                         ("no column 'eval/downstream/piqa_val_rc_5shot_len_norm'", "task piqa",
                                          "tasks this ladder has data for: hellaswag")),
    "noise on one checkpoint per run": Case(_on("one", "noise", "--tasks", "hellaswag"),
                                            ("has 1 checkpoint(s); checkpoint noise needs at least 3",)),
    "variance on one checkpoint per run": Case(_on("one", "variance", "--tasks", "hellaswag"),
                                               ("has 1 checkpoint(s)", "needs at least 3")),
}


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(name, ladders, tmp_path, capsys, monkeypatch):
    LADDERS.update(ladders)
    case = CASES[name]
    folder = tmp_path / "case"
    folder.mkdir()
    argv = case.prepare(folder)
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith(f"taskladder {argv[0]}: error: "), err
    for fragment in case.fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert out == ""
    assert _snapshot(folder) == before, "the failing command left files behind or changed them"
    ours = [w for w in caught if issubclass(w.category, (RuntimeWarning, UserWarning))
            and "taskladder" in str(w.filename)]
    assert not ours, [str(w.message) for w in ours]


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_demo_with_a_spec_of_runs_given_by_n_params(ladders, tmp_path, capsys):
    """A spec without size labels was a traceback in demo's summary line."""
    assert main(["demo", "--spec", str(ladders["good"]), "-o", str(tmp_path / "demo"), "--bootstrap", "10",
                 "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "sizes N=150,000,000, N=300,000,000" in out
    assert (tmp_path / "demo" / "predictions.csv").is_file()


def test_a_failed_import_leaves_an_existing_ladder_as_it_was(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(TIDY_HEADER + _tidy_rows("a") + _tidy_rows("b", n="300000000"))
    out = tmp_path / "ladder"
    assert main(["import", "tidy", str(good), "-o", str(out)]) == 0
    before = _snapshot(out)
    bad = tmp_path / "bad.csv"
    bad.write_text(TIDY_HEADER + _tidy_rows("c") + _tidy_rows("d", acc="65"))
    assert main(["import", "tidy", str(bad), "-o", str(out)]) == 2
    assert _snapshot(out) == before


def test_lm_eval_tiny_rounding_above_zero_is_read_as_zero(tmp_path):
    """A float32 sum of log-probabilities of ~0 can land a hair above zero: that is rounding, not data."""
    from taskladder.eval.lm_eval import read_lm_eval_samples

    path = _samples(_set_resp(0, 1, 3e-7))(tmp_path)
    table, _ = read_lm_eval_samples(path)
    assert table["loglik"].max() == 0.0 and np.isfinite(table["loglik"]).all()


def test_a_failed_write_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    """A write that fails late (a full disk) must name the output, not the hidden temporary file."""
    import errno
    import os

    from taskladder.io.files import atomic_write_text

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write_text(tmp_path / "table.csv", "a,b\n")
    assert info.value.filename == str(tmp_path / "table.csv") and info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_umask_mode(tmp_path):
    import os

    from taskladder.io.files import atomic_write_text

    old = os.umask(0o027)
    try:
        import taskladder.io.files as files

        files._MODE = None  # the mode is read once per process; this test changes the umask
        atomic_write_text(tmp_path / "a.txt", "x")
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
        files._MODE = None


SUBPROCESS_CASES = ("lm-eval log-likelihood above 0", "tidy accuracy in percent", "plan --multiples 1e300",
                    "target of 4 tokens")


def test_as_real_processes_the_same_cases_print_one_line(ladders, tmp_path):
    """A few cases as separate ``python -m taskladder.cli`` processes, with every warning shown: what a
    user sees is exactly one line and exit status 2."""
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    LADDERS.update(ladders)
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    jobs = {}
    for i, name in enumerate(SUBPROCESS_CASES):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        jobs[name] = (folder, [sys.executable, "-m", "taskladder.cli", *CASES[name].prepare(folder)])
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {name: pool.submit(subprocess.run, argv, cwd=folder, capture_output=True, text=True, env=env,
                                  timeout=300) for name, (folder, argv) in jobs.items()}
        for name, future in done.items():
            proc = future.result()
            assert proc.returncode == 2, (name, proc.stderr)
            assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, (name, proc.stderr)
            assert all(f in proc.stderr for f in CASES[name].fragments), (name, proc.stderr)
