"""Command-line defaults that must mean what their help says, and flags that must not be ignored.

Each test is a user-facing defect seen once: ``compute-error`` without ``--variant`` failed every
subset; ``--tasks all`` asked for MMLU on ladders without it; the micro-ladder's default showed
HellaSwag alone; ``ladder run --preset`` dropped ``--device``; a spec's ``size`` and ``n_params``
could disagree; flag messages named internal fields or stated different ranges; and the docs
quoted budgets, statuses and laws that the shipped files and the code do not have. Commands run
in-process (``taskladder.cli.main``), on the embedded micro-ladder, a synthetic ladder or the
real OLMo ladder in ../shared.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from synthetic import write_synthetic_ladder
from taskladder.cli import main
from taskladder.commands.demo import embedded_spec
from taskladder.errors import ConfigError
from taskladder.io.spec import load_spec
from taskladder.io.toml_file import read_toml
from taskladder.ladder import load_ladder
from taskladder.predict import predict_ladder
from taskladder.sizes import get_size
from taskladder.tasks import PAPER_TASKS, TASKS, get_task
from taskladder.variants import VARIANT_HELP, default_variant

REPO = Path(__file__).resolve().parents[1]
PAPER_SPEC = REPO / "specs" / "olmo-paper.toml"
HS_ACC = get_task("hellaswag").columns("accuracy")[0]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A good synthetic ladder with HellaSwag columns only."""
    return write_synthetic_ladder(tmp_path_factory.mktemp("synthetic"), n_checkpoints=8, noise=0.002)


def _error(argv: list[str], capsys) -> str:
    """Run ``argv``; it must fail as a user error: exit 2, one line on stderr, nothing on stdout."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert out == ""
    return lines[0]


def _json_tasks(argv: list[str], capsys) -> list[str]:
    """The tasks of ``predict --json`` rows, in order of first appearance."""
    capsys.readouterr()
    assert main([*argv, "--json", "--no-intervals"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    return list(dict.fromkeys(row["task"] for row in rows))


# --- 1. compute-error without --variant -------------------------------------------------------------

def test_compute_error_without_variant_fits_predicts_default_law(olmo_data, capsys):
    assert main(["compute-error", str(PAPER_SPEC), "--target", "7B-4T", "--tasks", "hellaswag",
                 "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    fitted = table[table["status"] != "too few runs"]
    assert len(fitted) >= 2 and not fitted["status"].str.startswith("failed").any(), table["status"].tolist()
    assert fitted["chained_abs_error"].notna().all()
    # the law predict runs, with predict's selection: on the whole ladder the same number
    result = predict_ladder(load_ladder(PAPER_SPEC), tasks="hellaswag")
    assert set(table["variant"]) == {result.variants["hellaswag"]} == {default_variant("default")}
    expected = result.predictions.set_index("target").loc["7B-4T", "abs_error"]
    assert table["chained_abs_error"].iloc[-1] == pytest.approx(expected, rel=1e-9)


# --- 2. and 3. which tasks ----------------------------------------------------------------------------

def test_tasks_all_means_every_task_the_ladder_has_data_for(synthetic, capsys):
    assert _json_tasks(["predict", str(embedded_spec()), "--tasks", "all"], capsys) == \
        ["docs_order", "docs_cloze", "hellaswag"]
    assert _json_tasks(["predict", str(synthetic), "--tasks", "all"], capsys) == ["hellaswag"]


def test_tasks_all_on_the_olmo_ladder_is_still_every_built_in_task(olmo_data):
    assert [t.name for t in load_ladder(PAPER_SPEC).resolve_tasks("all")] == list(TASKS)


def test_default_tasks_include_the_ladders_corpus_tasks(capsys):
    assert _json_tasks(["predict", str(embedded_spec())], capsys) == ["docs_order", "docs_cloze", "hellaswag"]


def test_default_tasks_of_the_olmo_ladder_are_the_papers_eight(olmo_data):
    assert [t.name for t in load_ladder(PAPER_SPEC).default_tasks()] == list(PAPER_TASKS)


def test_default_tasks_include_a_declared_task(synthetic, tmp_path, capsys):
    spec = tmp_path / "declared.toml"
    spec.write_text(synthetic.read_text().replace('file = "runs/', f'file = "{synthetic.parent}/runs/')
                    + f'\n[[task]]\nname = "my_hs"\naccuracy = "{HS_ACC}"\n')
    assert _json_tasks(["predict", str(spec)], capsys) == ["hellaswag", "my_hs"]


def test_tasks_command_lists_the_corpus_tasks_a_spec_uses(capsys):
    assert main(["tasks", "--spec", str(embedded_spec()), "--format", "csv"]) == 0
    listed = pd.read_csv(io.StringIO(capsys.readouterr().out))["task"].tolist()
    assert {"docs_order", "docs_cloze", "hellaswag"} <= set(listed)


# --- 4. ladder run --preset ---------------------------------------------------------------------------

@pytest.mark.parametrize("flags, named", [(["--device", "cuda"], "--device"), (["--parallel", "4"], "--parallel"),
                                          (["--seed", "7"], "--seed"), (["--only", "micro-xs-1xC"], "--only"),
                                          (["--eval-every", "5", "--max-epochs", "3"], "--eval-every, --max-epochs")])
def test_preset_refuses_training_flags_it_would_ignore(flags, named, tmp_path, capsys):
    line = _error(["ladder", "run", "--preset", "micro", "--out", str(tmp_path / "out"), *flags], capsys)
    assert f"{named}: not used with a preset" in line and "--preset-config" in line, line
    assert not (tmp_path / "out").exists()


def test_preset_accepts_the_flags_it_honours():
    from taskladder.commands.ladder import _ignored_by_preset, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["run", "--preset", "micro", "--out", "x", "--resume", "--no-progress"])
    assert _ignored_by_preset(args) == []


# --- 5. size and n_params ------------------------------------------------------------------------------

def _run_spec(tmp_path: Path, n_params: int) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(f'[[run]]\nfile = "train.csv"\nsize = "190M"\n\n'
                    f'[[run]]\nname = "a"\nsize = "190M"\nn_params = {n_params}\ntokens = 4e9\nrole = "target"\n')
    return path


def test_n_params_that_disagrees_with_the_size_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_spec(_run_spec(tmp_path, 123_456_789))
    message = str(caught.value)
    assert "spec.toml: run 'a'" in message and "123,456,789" in message and "'190M'" in message
    assert f"{get_size('190M').n_params:,}" in message


def test_n_params_equal_to_the_sizes_is_accepted(tmp_path):
    (run,) = load_spec(_run_spec(tmp_path, get_size("190M").n_params)).targets
    assert run.n_params == get_size("190M").n_params and run.size == "190M"


# --- 6., 7. and 8. flag messages -----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["-5", "0", "3", "1000000"])
def test_bootstrap_out_of_range_states_one_range(value, synthetic, capsys):
    line = _error(["predict", str(synthetic), "--tasks", "hellaswag", "--bootstrap", value], capsys)
    assert f"--bootstrap must be between 10 and 100,000 (bootstrap resamples), got {value}" in line, line


def test_format_json_prints_the_same_document_as_json(synthetic, capsys):
    """``--format json`` used to print the terminal table's columns as a bare list, ``--json`` the
    full prediction records under ``predictions``: one flag, two documents."""
    documents = []
    for flag in (["--json"], ["--format", "json"]):
        capsys.readouterr()
        assert main(["predict", str(synthetic), "--tasks", "hellaswag", "--no-intervals", *flag]) == 0
        documents.append(json.loads(capsys.readouterr().out))
    assert documents[0] == documents[1]
    assert {"acc_pred", "task_loss_pred", "step1_status"} <= set(documents[0]["predictions"][0])


def test_only_cli_targets_needs_a_target(synthetic, tmp_path, capsys):
    line = _error(["predict", str(synthetic), "--only-cli-targets", "-o", str(tmp_path / "out")], capsys)
    assert "--only-cli-targets needs at least one --target" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag, value, expected", [("--moving-avg", "0", "--moving-avg must be at least 1"),
                                                   ("--last-n", "0", "--last-n must be at least 1"),
                                                   ("--skip-fraction", "1.5", "--skip-fraction must be between 0 and 1"),
                                                   ("--skip-fraction", "nan", "--skip-fraction must be between 0 and 1")])
def test_selection_flags_are_named_as_typed(flag, value, expected, synthetic, capsys):
    line = _error(["predict", str(synthetic), "--tasks", "hellaswag", flag, value], capsys)
    assert expected in line and flag.strip("-").replace("-", "_") not in line, line


# --- 9. a declared task whose column is missing ------------------------------------------------------

def test_declared_task_with_a_typo_in_its_column_is_named(synthetic, tmp_path, capsys):
    spec = tmp_path / "typo.toml"
    spec.write_text(synthetic.read_text().replace('file = "runs/', f'file = "{synthetic.parent}/runs/')
                    + '\n[[task]]\nname = "my_qa"\naccuracy = "eval/my_qa/acuracy"\n')
    line = _error(["predict", str(spec)], capsys)
    assert "task 'my_qa'" in line and "'eval/my_qa/acuracy'" in line and "typo.toml" in line, line


def test_no_task_in_every_run_names_the_declared_tasks_column(synthetic, tmp_path, capsys):
    import shutil

    folder = tmp_path / "ladder"
    shutil.copytree(synthetic.parent, folder)
    run = folder / "runs" / "600M-5xC.csv"
    pd.read_csv(run).drop(columns=[HS_ACC]).to_csv(run, index=False)
    spec = folder / synthetic.name
    spec.write_text(spec.read_text() + f'\n[[task]]\nname = "my_hs"\naccuracy = "{HS_ACC}"\n')
    line = _error(["predict", str(spec)], capsys)
    assert "task 'my_hs' needs column" in line and HS_ACC in line and "600M-5xC.csv" in line, line
    assert "nearest" not in line


# --- 10. docs that quote the shipped ladder and the code ---------------------------------------------

def _shipped_ladder() -> tuple[int, set[float]]:
    """Train runs and token multiples of the shipped micro-ladder (from its spec and preset)."""
    runs = load_spec(embedded_spec()).train_runs
    preset = read_toml(REPO / "src" / "taskladder" / "data" / "presets" / "micro.toml", "preset")
    return len(runs), {float(m) for m in preset["ladder"]["multiples"]}


def test_docs_describe_the_shipped_micro_ladder():
    from taskladder.commands import demo

    n_runs, multiples = _shipped_ladder()
    for name, text in (("demo --help", demo.__doc__), ("quickstart.sh", (REPO / "scripts" / "quickstart.sh").read_text())):
        for match in re.finditer(r"(\d+) small models", text):
            assert int(match.group(1)) == n_runs, (name, match.group(0))
        for match in re.finditer(r"token budgets \(([^)]*)x 20 N\)", " ".join(text.split())):
            quoted = {float(x) for x in re.findall(r"[0-9.]+", match.group(1))}
            assert quoted == multiples, (name, match.group(0))


def test_micro_ladder_doc_names_hellaswags_fit_status_as_the_demo_prints_it():
    text = " ".join((REPO / "docs" / "micro-ladder.md").read_text().split())
    word = re.search(r"HellaSwag's step 2, fitted to accuracies at chance, is (\w+)", text).group(1)
    rows = [line for line in (REPO / "docs" / "generated" / "demo.txt").read_text().splitlines()
            if re.search(r"\shellaswag\s", line)]
    assert rows and all(word in row for row in rows), (word, rows)


def test_micro_ladder_doc_names_predicts_default_law():
    text = " ".join((REPO / "docs" / "micro-ladder.md").read_text().split())
    named = re.search(r"The default law of `predict` (?:is the |averages )([\w-]+)", text).group(1)
    assert named == default_variant("default") and named in VARIANT_HELP, named


def test_data_prepare_examples_read_text_files_that_exist():
    from taskladder.commands import ladder

    examples = [line for text in (ladder.__doc__, (REPO / "docs" / "training.md").read_text())
                for line in text.splitlines() if "taskladder data prepare" in line and "--bpe-vocab" in line]
    assert examples
    for example in examples:
        words = shlex.split(example.split("taskladder data prepare", 1)[1])
        inputs = [w for w in words[:next(i for i, w in enumerate(words) if w.startswith("--"))]]
        for pattern in inputs:
            if pattern.startswith("/"):
                continue  # a system folder (Debian's documentation), not part of the repository
            paths = [Path(p) for p in glob.glob(str(REPO / pattern))]
            assert paths, (example, pattern)
            files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
            binary = [f.name for f in files if b"\x00" in f.read_bytes()[:4096] or f.suffix == ".png"]
            assert not binary, (example, binary[:3])


def test_the_shipped_olmo_specs_name_each_run_as_the_paper_ladder_does(olmo_data):
    """specs/olmo-paper.toml named its runs after their files (``1B-10xC``) while the watch spec and
    the built-in paper ladder say ``1.3B-10xC``: one run, two names across the shipped specs."""
    from taskladder.analysis.paper import paper_spec

    builtin = {run.file.name: run.name for run in paper_spec(olmo_data).runs}
    for spec in ("olmo-paper.toml", "olmo-watch.toml"):
        for run in load_spec(REPO / "specs" / spec).runs:
            assert run.name == builtin[Path(run.file).name], (spec, run.name)
