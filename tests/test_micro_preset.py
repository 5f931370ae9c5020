"""'taskladder ladder run --preset': the whole pipeline on a tiny slice (a few synthetic pages, a few steps).

The packaged preset trains for many minutes (docs/micro-ladder.md); these tests run the same
code path with a preset file of the same layout whose corpus is a folder of generated HTML pages,
two sizes and a few dozen steps, so CI proves that corpus extraction, tokenizer, cloze tasks,
plan, training with in-loop evaluation and export still work together.
"""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from taskladder.cli import main
from taskladder.io.spec import load_spec
from taskladder.tasks import get_task
from taskladder.train.micro import load_preset, packaged_preset

pytest.importorskip("torch")
pytest.importorskip("tokenizers")

WORDS = ("the server reads each table row and writes a new value to the log when the client asks for it "
         "while python keeps one list of names for every module that a function imports at run time").split()


def _write_pages(folder, n_pages: int = 24, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for page in range(n_pages):
        paragraphs = []
        for _ in range(6):
            words = [WORDS[i] for i in rng.integers(len(WORDS), size=int(rng.integers(24, 40)))]
            paragraphs.append(f"<p>{' '.join(words).capitalize()}.</p>")
        html = (f"<html><body><div class='related'><a>next</a></div><h1>Page {page}</h1>"
                f"{''.join(paragraphs)}<pre>x = {page}</pre></body></html>")
        (folder / f"page{page:02d}.html").write_text(html, encoding="utf-8")


def _preset(tmp_path, source) -> str:
    text = f"""
name = "tiny"
description = "test slice"
[corpus]
name = "tiny-docs"
min_chars = 100
val_fraction = 0.25
bpe_vocab = 300
seed = 0
[[corpus.source]]
package = "fake-doc-package"
path = "{source}"
licence = "test"
[[task]]
name = "docs_order"
distractors = "adjacent_swaps"
items = 12
[[task]]
name = "docs_cloze"
distractors = "other_documents"
items = 12
[ladder]
sizes = ["micro-3xs", "micro-2xs"]
multiples = [0.06]
batch_sequences = 4
peak_lr = 0.03
evals_per_run = 2
eval_tasks = ["docs_order", "docs_cloze"]
val_sequences = 4
max_epochs = 50.0
seed = 0
[[target]]
size = "micro-xs"
multiple = 10
"""
    path = tmp_path / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_packaged_preset_is_found_and_valid():
    preset = load_preset(packaged_preset("micro"))
    assert len(preset.sizes) >= 4 and len(preset.multiples) >= 3
    assert {t.name for t in preset.corpus_tasks} <= set(preset.eval_tasks)
    assert all(t.size not in preset.sizes for t in preset.targets)
    assert {s.package for s in preset.sources} >= {"python3.11-doc"}


@pytest.fixture
def one_thread():
    """Train in-process on one thread: on a busy 2-core machine two threads are several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_preset_pipeline_end_to_end_on_a_tiny_slice(tmp_path, capsys, one_thread):
    source = tmp_path / "pages"
    _write_pages(source)
    preset = _preset(tmp_path, source)
    out = tmp_path / "ladder"
    assert main(["ladder", "run", "--preset-config", preset, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "micro-3xs-0.06xC: done" in printed.out and "corpus:" in printed.err
    export = out / "export"
    spec = load_spec(export / "ladder.toml")
    assert [r.name for r in spec.train_runs] == ["micro-3xs-0.06xC", "micro-2xs-0.06xC"]
    assert [(t.name, t.size) for t in spec.targets] == [("micro-xs-10xC", "micro-xs")]
    for run in spec.train_runs:
        assert run.file.parent == export / "runs"
        frame = pd.read_csv(run.file)
        assert len(frame) == 2 and frame["throughput/total_tokens"].iloc[-1] == run.tokens
        for name in ("docs_order", "docs_cloze"):
            task = get_task(name)
            for column in task.columns("bpb") + task.columns("accuracy"):
                assert column in frame and np.isfinite(frame[column]).all()
        assert "eval/tiny-docs-validation/CrossEntropyLoss" in frame
    provenance = json.loads((export / "provenance.json").read_text())
    assert provenance["corpus"]["sources"][0]["package"] == "fake-doc-package"
    assert [t["items"] for t in provenance["corpus_tasks"]] == [12, 12]
    plan = tomllib.loads((export / "plan.toml").read_text())
    assert plan["run"][0]["size"] == "micro-3xs"
    assert {(r["batch_sequences"], r["peak_lr"]) for r in plan["run"]} == {(4, 0.03)}  # the preset's, for every size
    # no two tasks share a context
    contexts = [{json.loads(line)["context"] for line in path.read_text().splitlines()}
                for path in sorted((out / "tasks").glob("*.jsonl"))]
    assert len(contexts) == 2 and not contexts[0] & contexts[1]

    # Same preset and seeds, fresh folder: the same numbers.
    again = tmp_path / "again"
    assert main(["ladder", "run", "--preset-config", preset, "--out", str(again), "--no-progress"]) == 0
    for run in spec.train_runs:
        assert (again / "export" / "runs" / run.file.name).read_text() == run.file.read_text()

    # Re-running with --resume reuses the data and skips the finished runs.
    capsys.readouterr()
    assert main(["ladder", "run", "--preset-config", preset, "--out", str(out), "--resume", "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "data: reusing" in printed.err and printed.out.count(": skipped") == 2


def test_missing_corpus_package_is_one_line_naming_the_package(tmp_path, capsys):
    preset = _preset(tmp_path, tmp_path / "not-installed")
    assert main(["ladder", "run", "--preset-config", preset, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install fake-doc-package" in err
    assert not (tmp_path / "x").exists()


def test_preset_and_plan_options_conflict(tmp_path, capsys):
    assert main(["ladder", "run", "plan.toml", "--preset", "micro"]) == 2
    assert "drop the plan file" in capsys.readouterr().err
    assert main(["ladder", "run"]) == 2
    assert "--preset micro" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[ladder]\nsizes = ["micro-xs"]\nmultiples = [1]\nspeed = 3\n', encoding="utf-8")
    assert main(["ladder", "run", "--preset-config", str(bad)]) == 2
    assert "unknown key(s) speed" in capsys.readouterr().err
