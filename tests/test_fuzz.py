"""Property-based fuzzing of the loaders and the command line (Hypothesis).

Random and mutated specs, run CSVs, tidy tables, W&B exports, lm-eval sample logs and plan flags
are fed in; the only allowed outcomes are a result or a clean error: a
:class:`~taskladder.errors.TaskLadderError` from the library, or from the CLI exit status 2 with
one line on stderr and nothing left in the output folder. Any other exception fails the test
(Hypothesis shrinks it to a small example). A result must also be sane: no metric the loaders
accept may be infinite or out of its range.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from synthetic import write_synthetic_ladder  # noqa: E402
from taskladder.cli import main  # noqa: E402
from taskladder.errors import TaskLadderError  # noqa: E402
from taskladder.tasks import get_task  # noqa: E402

HS = get_task("hellaswag")
BPB, ACC = HS.columns("bpb")[0], HS.columns("accuracy")[0]
SAMPLES = Path(__file__).parent / "data" / "lm_eval" / "samples_arc_easy_2024-06-01T12-00-00.000000.jsonl"
# The suite's default is small, fixed examples (the same every run, well under a minute on 2 cores);
# TASKLADDER_FUZZ_EXAMPLES=2000 fuzzes deeper and with fresh random examples.
_DEEP = int(os.environ.get("TASKLADDER_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_DEEP or 40, deadline=None, derandomize=not _DEEP,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values that break naive parsers: specials, huge and tiny numbers, text, control characters.
NASTY_TEXT = st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e300", "-1", "0", "1e-300",
                              "65", "abc", "1,5", "\x00", "\x1b[31m", "\n", '"', "'", "é", "1e999", "None",
                              "true", "[]", "{}"])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20))
JSON_SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS.filter(lambda v: not isinstance(v, float) or math.isfinite(v)),
                         st.text(max_size=8), NASTY_TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=8)


def run_cli(argv: list[str], output: Path | None = None) -> tuple[int, str, str]:
    """``main(argv)`` with its output captured; a clean error must be one line and leave no output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    assert code in (0, 2), (code, err.getvalue())
    # a numpy warning from taskladder's own code (an overflowing cast, a division by zero) is a wrong number
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in seen
            if issubclass(w.category, RuntimeWarning) and "taskladder" in w.filename]
    assert not ours, ours
    if code == 2:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("taskladder"), err.getvalue()
        assert "Traceback" not in err.getvalue()
        if output is not None:
            assert not output.exists(), f"{output} left behind by a failed command"
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def good_ladder(tmp_path_factory) -> Path:
    return write_synthetic_ladder(tmp_path_factory.mktemp("fuzz") / "good", n_checkpoints=6, noise=0.002)


# --- specs -------------------------------------------------------------------------------------------

def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a TOML basic string is a JSON string for these characters


RUN_KEYS = st.sampled_from(["name", "file", "size", "n_params", "flops_per_token", "tokens", "role", "colour"])
RUN_VALUES = st.one_of(NUMBERS, NASTY_TEXT, st.sampled_from(["190M", "7B", "train", "target", "runs/150M-1xC.csv",
                                                            "runs/missing.csv", "runs", "42M"]))


@FUZZ
@given(tables=st.lists(st.dictionaries(RUN_KEYS, RUN_VALUES, max_size=6), max_size=5),
       keep=st.integers(0, 16), junk=st.sampled_from(["", "[[run]\n", "name = 1\nname = 2\n", "x = \n", "\x00"]))
def test_random_specs_load_or_fail_cleanly(good_ladder, tables, keep, junk):
    from taskladder.io.spec import load_spec
    from taskladder.ladder import load_ladder

    good = good_ladder.read_text().split("[[run]]")
    text = "[[run]]".join(good[: keep + 1]) + junk
    text += "".join("\n[[run]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in t.items()) for t in tables)
    spec_path = good_ladder.parent / "fuzzed.toml"
    spec_path.write_text(text, encoding="utf-8")
    try:
        ladder = load_ladder(load_spec(spec_path))
    except TaskLadderError:
        return
    for run in ladder.runs.values():
        assert 1 <= run.n_params <= 1e15
        if run.has_data:
            assert np.all(np.isfinite(run.tokens)) and np.all(np.diff(run.tokens) > 0)


# --- run CSVs ----------------------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_mutated_run_csvs_load_or_fail_cleanly(good_ladder, data):
    from taskladder.ladder import load_ladder

    source = good_ladder.parent / "runs" / "300M-2xC.csv"
    frame = pd.read_csv(source, dtype=str)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["cell", "drop_row", "dup_row", "drop_col", "swap_rows"]), label="kind")
        if kind == "cell" and len(frame):
            row = data.draw(st.integers(0, len(frame) - 1))
            column = data.draw(st.sampled_from(list(frame.columns)))
            frame.loc[frame.index[row], column] = data.draw(st.one_of(NASTY_TEXT, NUMBERS.map(str)))
        elif kind == "drop_row" and len(frame):
            frame = frame.drop(frame.index[data.draw(st.integers(0, len(frame) - 1))])
        elif kind == "dup_row" and len(frame):
            frame = pd.concat([frame, frame.iloc[[data.draw(st.integers(0, len(frame) - 1))]]])
        elif kind == "drop_col" and len(frame.columns) > 1:
            frame = frame.drop(columns=[data.draw(st.sampled_from(list(frame.columns)))])
        elif kind == "swap_rows" and len(frame) > 1:
            frame = frame.iloc[::-1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "runs").mkdir()
        for csv in (good_ladder.parent / "runs").glob("*.csv"):
            (root / "runs" / csv.name).write_bytes(csv.read_bytes())
        frame.to_csv(root / "runs" / "300M-2xC.csv", index=False)
        (root / "spec.toml").write_text(good_ladder.read_text())
        try:
            ladder = load_ladder(root / "spec.toml")
            run = ladder.runs["300M-2xC"]
            loss, acc = run.metric(HS, "bpb"), run.metric(HS, "accuracy")
        except TaskLadderError:
            return
        assert np.all(np.isfinite(loss)) and np.all(loss > 0)
        assert np.all((acc >= 0) & (acc <= 1))
        assert np.all(np.diff(run.tokens) > 0)


# --- tidy tables through the CLI ---------------------------------------------------------------------

TIDY_CELLS = {
    "run": st.one_of(st.sampled_from(["a", "b", "c"]), NASTY_TEXT),
    "N": st.one_of(st.sampled_from(["150000000", "300000000", "600000000"]), NASTY_TEXT),
    "D": st.one_of(st.sampled_from(["1e9", "2e9", "3e9", "4e9"]), NASTY_TEXT),
    "step": st.one_of(st.sampled_from(["1", "2", "3", "4"]), NASTY_TEXT),
    "task": st.one_of(st.sampled_from(["hellaswag", "", "piqa"]), NASTY_TEXT),
    "metric": st.one_of(st.sampled_from(["bpb", "accuracy", "acc_norm", "c4", "soft"]), NASTY_TEXT),
    "value": st.one_of(st.sampled_from(["0.5", "1.2", "0.3"]), NASTY_TEXT, NUMBERS.map(str)),
}


@FUZZ
@given(rows=st.lists(st.fixed_dictionaries(TIDY_CELLS), min_size=0, max_size=12),
       drop=st.sets(st.sampled_from(list(TIDY_CELLS)), max_size=2))
def test_random_tidy_tables_import_or_fail_cleanly(rows, drop):
    columns = [c for c in TIDY_CELLS if c not in drop]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "tidy.csv"
        pd.DataFrame(rows, columns=list(TIDY_CELLS))[columns].to_csv(path, index=False)
        out = root / "out"
        code, _, _ = run_cli(["import", "tidy", str(path), "-o", str(out)], output=out)
        if code == 0:
            _check_imported(out)


def _check_imported(out: Path) -> None:
    """What an import wrote reads back, with every value in range."""
    from taskladder.io.spec import load_spec
    from taskladder.ladder import load_ladder

    ladder = load_ladder(load_spec(out / "ladder.toml"))
    for run in ladder.runs.values():
        frame = run.frame
        assert np.all(np.diff(run.tokens) > 0)
        for column in frame.columns[2:]:
            values = frame[column].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            assert np.all(np.isfinite(values)), column
            if column.startswith("eval/downstream/"):
                assert np.all((values >= 0) & (values <= 1)), column


# --- W&B exports through the CLI ---------------------------------------------------------------------

@FUZZ
@given(steps=st.lists(st.one_of(st.integers(-5, 50).map(str), NASTY_TEXT), min_size=1, max_size=6),
       data=st.data())
def test_random_wandb_exports_import_or_fail_cleanly(steps, data):
    n = len(steps)
    cells = st.one_of(NUMBERS.map(str), NASTY_TEXT, st.floats(0, 1).map(str))
    frame = {"_step": steps,
             "throughput/total_tokens": data.draw(st.lists(cells, min_size=n, max_size=n)),
             BPB: data.draw(st.lists(cells, min_size=n, max_size=n)),
             ACC: data.draw(st.lists(cells, min_size=n, max_size=n))}
    n_params = data.draw(st.one_of(st.sampled_from(["150000000", "190M"]), NASTY_TEXT))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "run-a.csv"
        pd.DataFrame(frame).to_csv(path, index=False)
        out = root / "out"
        code, _, _ = run_cli(["import", "wandb-csv", str(path), "--n-params", n_params, "-o", str(out)], output=out)
        if code == 0:
            _check_imported(out)


# --- lm-eval sample logs through the CLI -------------------------------------------------------------

RECORD_KEYS = st.sampled_from(["doc_id", "target", "arguments", "filtered_resps", "resps"])


@FUZZ
@given(data=st.data())
def test_mutated_lm_eval_logs_give_sane_metrics_or_fail_cleanly(data):
    records = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        record = records[data.draw(st.integers(0, len(records) - 1))]
        kind = data.draw(st.sampled_from(["replace", "drop", "loglik", "continuation", "duplicate"]))
        if kind == "replace":
            record[data.draw(RECORD_KEYS)] = data.draw(JSON_VALUES)
        elif kind == "drop":
            record.pop(data.draw(RECORD_KEYS), None)
        elif kind == "loglik" and isinstance(record.get("filtered_resps"), list) and record["filtered_resps"]:
            j = data.draw(st.integers(0, len(record["filtered_resps"]) - 1))
            record["filtered_resps"][j] = [data.draw(st.one_of(NUMBERS, NASTY_TEXT)), False]
        elif kind == "continuation" and isinstance(record.get("arguments"), dict) and record["arguments"]:
            key = data.draw(st.sampled_from(sorted(record["arguments"])))
            if isinstance(record["arguments"][key], dict):
                record["arguments"][key]["arg_1"] = data.draw(st.text(max_size=4))
        elif kind == "duplicate":
            records.append(json.loads(json.dumps(record)))
    layout = data.draw(st.sampled_from(["lines", "pretty", "truncated"]))
    text = "".join(json.dumps(r) + "\n" for r in records)
    if layout == "pretty":
        text = json.dumps(records, indent=2)
    elif layout == "truncated":
        text = text[: data.draw(st.integers(0, len(text)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples_arc_easy_2024-06-01T12-00-00.000000.jsonl"
        path.write_text(text, encoding="utf-8")
        out = Path(tmp) / "rows" / "run.csv"
        code, stdout, _ = run_cli(["eval", "--from-lm-eval", str(path), "--format", "json", "--output", str(out),
                                   "--step", "1", "--tokens", "1000"], output=out.parent)
        if code == 0:
            for row in json.loads(stdout):
                assert math.isfinite(row["bpb"]) and row["bpb"] > 0
                assert 0.0 <= row["accuracy"] <= 1.0
                assert row["soft_log"] <= 0.0


# --- plan flags through the CLI ----------------------------------------------------------------------

@FUZZ
@given(sizes=st.lists(st.one_of(st.sampled_from(["micro-xs", "190M", "7B", "micro-3xs"]), NASTY_TEXT), min_size=1,
                      max_size=3),
       multiples=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), NASTY_TEXT), min_size=1,
                          max_size=3),
       divisor=st.integers(-2, 128), target=st.one_of(st.none(), st.sampled_from(["7B:4T", "7B:1e300", "x:1", "7B:"])))
def test_random_plan_flags_plan_or_fail_cleanly(sizes, multiples, divisor, target):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan"
        argv = ["ladder", "plan", "--sizes", ",".join(sizes), "--multiples", ",".join(multiples),
                "--batch-divisor", str(divisor), "--out", str(out), "--format", "csv"]
        if target is not None:
            argv += ["--target", target]
        code, stdout, _ = run_cli(argv, output=out)
        if code == 0:
            plan = pd.read_csv(io.StringIO(stdout))
            assert (plan["steps"] >= 1).all() and np.isfinite(plan["total_flops"]).all()
            assert (out / "plan.toml").is_file() and (out / "ladder.toml").is_file()


# --- flags of the commands that read a ladder --------------------------------------------------------

@settings(max_examples=_DEEP or 25, deadline=None, derandomize=not _DEEP, suppress_health_check=[HealthCheck.too_slow])
@given(tasks=st.one_of(st.none(), st.lists(st.one_of(st.sampled_from(["hellaswag", "piqa", "all", "docs_order"]),
                                                     NASTY_TEXT), max_size=3).map(",".join)),
       fmt=st.sampled_from(["text", "csv", "json", "markdown", "latex", "html"]),
       last_n=st.one_of(st.none(), st.integers(-2, 12).map(str), NASTY_TEXT),
       command=st.sampled_from(["noise", "variance"]))
def test_random_flags_of_ladder_commands_run_or_fail_cleanly(good_ladder, tasks, fmt, last_n, command):
    argv = [command, str(good_ladder), "--format", fmt]
    if tasks is not None:
        argv += ["--tasks", tasks]
    if last_n is not None:
        argv += ["--last-n", last_n]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        code, stdout, _ = run_cli([*argv, "-o", str(out)], output=out)
        if code == 0:
            assert stdout.strip()


# --- targets and counts typed on the command line ----------------------------------------------------

COUNT_TEXT = st.one_of(NASTY_TEXT, NUMBERS.map(str), st.sampled_from(["4T", "150B", "3.9e12", "7B", "1e300T", "0.5K"]),
                       st.text(alphabet="0123456789.eE+-KMBGTP x", max_size=8))


@settings(max_examples=_DEEP or 200, deadline=None, derandomize=not _DEEP)
@given(name=st.one_of(st.sampled_from(["big", "7B-4T"]), NASTY_TEXT), n=COUNT_TEXT, d=COUNT_TEXT,
       extra=st.sampled_from(["", ":", ":x"]))
def test_typed_targets_parse_in_bounds_or_fail_cleanly(name, n, d, extra):
    from taskladder.io.spec import parse_target

    try:
        run = parse_target(f"{name}:{n}:{d}{extra}")
    except TaskLadderError:
        return
    assert 1 <= run.n_params <= 1e15 and math.isfinite(run.tokens) and 1 <= run.tokens <= 1e17


@settings(max_examples=_DEEP or 200, deadline=None, derandomize=not _DEEP)
@given(text=st.one_of(COUNT_TEXT, st.lists(COUNT_TEXT, max_size=4).map(",".join)))
def test_typed_multiples_and_token_counts_parse_in_bounds_or_fail_cleanly(text):
    from taskladder.train.plan import parse_multiples, parse_tokens

    try:
        multiples = parse_multiples(text)
    except TaskLadderError:
        multiples = None
    if multiples is not None:
        assert all(0 < m <= 1e6 for m in multiples)
    try:
        tokens = parse_tokens(text)
    except TaskLadderError:
        return
    assert 1 <= tokens <= 1e17
