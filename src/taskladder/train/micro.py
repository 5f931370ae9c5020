"""The embedded micro-ladder: a preset that builds a whole ladder from scratch on a laptop CPU.

:func:`run_preset` does every step, each writing files the next one reads, under one folder:

1. **corpus** — the HTML pages of the preset's Debian documentation packages
   (:mod:`taskladder.train.corpus`), one document per page, written to ``corpus/documents.jsonl``;
2. **data** — ``taskladder data prepare`` on it: a seeded train/validation split of pages and a
   byte-level BPE trained on the training pages only (``data/``);
3. **tasks** — the cloze tasks built from the held-out pages (:mod:`taskladder.train.cloze`),
   e.g. ``tasks/docs_order_val_rc_0shot.jsonl``, each from paragraphs no earlier task used;
4. **plan** — the ladder plan of the preset's sizes and token multiples (``plan.toml``);
5. **train** — every run with in-loop evaluation (``runs/NAME/``), several at once (longest
   first), each with a fixed number of threads;
6. **export** — ``export/``: the run CSVs, the plan, a spec with the train runs and the
   targets (paths relative to itself) and ``provenance.json`` (package versions, input hashes,
   token counts, the time of every step). This folder is what the package ships in
   ``taskladder/data/micro`` and what ``taskladder demo`` fits.

The preset itself is a TOML file (:func:`load_preset`; the packaged one is
``taskladder/data/presets/micro.toml``). Every random draw is seeded, so the same preset on the
same machine gives the same numbers. Re-running with ``resume=True`` skips the finished steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..io.files import write_if_changed
from ..report.tables import atomic_write_text
from ..io.toml_file import read_toml
from ..sizes import get_size
from ..tasks import CORPUS_TASKS, get_task
from . import _toml

__all__ = ["CorpusSource", "CorpusTaskSpec", "TargetSpec", "MicroPreset", "load_preset", "packaged_preset", "run_preset", "PresetResult",
           "PRESETS", "cloze_file_name"]

#: Presets shipped in the package: name -> file under taskladder/data/presets.
PRESETS = {"micro": "micro.toml"}


@dataclass(frozen=True, kw_only=True)
class CorpusSource:
    """One folder of HTML pages and the Debian package that installs it.

    Parameters
    ----------
    package
        Debian package providing ``path`` (named in the error when it is missing).
    path
        Folder searched recursively for ``pattern``.
    pattern
        File name pattern of the pages.
    licence
        Licence of the text (recorded in the provenance).
    """

    package: str
    path: str
    pattern: str = "*.html"
    licence: str = ""


@dataclass(frozen=True, kw_only=True)
class CorpusTaskSpec:
    """A cloze task built from the held-out documents (see :func:`taskladder.train.cloze.build_cloze_items`).

    ``name`` is a task of :data:`taskladder.tasks.CORPUS_TASKS`, whose columns its metrics fill.
    """

    name: str
    distractors: str = "other_documents"
    items: int = 200
    choices: int = 4
    context_words: int = 12
    continuation_words: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        task = get_task(self.name)
        if task.n_choices != self.choices:
            raise ConfigError(f"corpus task {self.name}: the registered task has {task.n_choices} choices (chance "
                              f"{task.chance:g}) but the preset builds {self.choices}")


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """A target to predict: a size at a token multiple (no data)."""

    size: str
    multiple: float

    @property
    def name(self) -> str:
        return f"{self.size}-{self.multiple:g}xC"


@dataclass(frozen=True, kw_only=True)
class MicroPreset:
    """Everything that determines a micro-ladder (see ``taskladder/data/presets/micro.toml``).

    Parameters
    ----------
    name, description
        Label and one line for the spec.
    sources
        Documentation folders of the corpus.
    corpus_name
        Corpus label in loss column names.
    min_chars
        Pages with fewer characters of text are dropped.
    val_fraction, bpe_vocab, data_seed
        Held-out share of pages, BPE vocabulary size, seed of the split.
    corpus_tasks
        Cloze tasks built from the held-out documents.
    sizes, multiples, batch_divisor
        The ladder plan.
    batch_sequences, peak_lr
        One batch (sequences) and one peak learning rate for every run instead of the reference
        heuristics' (``None``: the heuristics). The heuristics grow the batch as N^(2/3) and
        shrink the rate as N^(-1/3); at tens of thousands of parameters and a few million tokens
        that leaves the larger sizes so few steps that, at equal tokens, they end behind the
        smaller ones, and step 1 cannot tell N from D.
    max_run_tokens
        Leave out the runs whose token budget exceeds this (``None``: keep all): a wide range of
        multiples then stays affordable, the largest sizes skipping the largest multiples.
    evals_per_run
        In-loop evaluations per run (every ``ceil(steps / evals_per_run)`` steps and at the end).
    eval_tasks
        Tasks evaluated in-loop: names of corpus tasks and of registered tasks.
    eval_limit
        Questions per task.
    val_sequences, max_epochs, seed
        Validation windows, allowed passes over the corpus, seed of initialisation and data order.
    parallel, threads
        Runs trained at once, and threads per run (fixed so that results do not depend on cores).
    targets
        Larger runs to predict.
    """

    name: str
    description: str = ""
    sources: tuple[CorpusSource, ...]
    corpus_name: str = "debian-docs"
    min_chars: int = 200
    val_fraction: float = 0.05
    bpe_vocab: int = 1024
    data_seed: int = 0
    corpus_tasks: tuple[CorpusTaskSpec, ...] = ()
    sizes: tuple[str, ...]
    multiples: tuple[float, ...]
    batch_divisor: int = 1
    batch_sequences: int | None = None
    peak_lr: float | None = None
    max_run_tokens: int | None = None
    evals_per_run: int = 12
    eval_tasks: tuple[str, ...] = ()
    eval_limit: int | None = None
    val_sequences: int = 64
    max_epochs: float = 1.0
    seed: int = 0
    parallel: int = 1
    threads: int | None = None
    targets: tuple[TargetSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError(f"preset {self.name!r}: no corpus sources")
        if not self.sizes or not self.multiples:
            raise ConfigError(f"preset {self.name!r}: give at least one size and one token multiple")
        if self.batch_sequences is not None and self.batch_sequences < 1:
            raise ConfigError(f"preset {self.name!r}: batch_sequences must be positive, got {self.batch_sequences}")
        if self.max_run_tokens is not None and self.max_run_tokens < 1:
            raise ConfigError(f"preset {self.name!r}: max_run_tokens must be positive, got {self.max_run_tokens}")
        if self.peak_lr is not None and not self.peak_lr > 0:
            raise ConfigError(f"preset {self.name!r}: peak_lr must be positive, got {self.peak_lr}")
        if self.evals_per_run < 1:
            raise ConfigError(f"preset {self.name!r}: evals_per_run must be positive, got {self.evals_per_run}")
        built = {t.name for t in self.corpus_tasks}
        for name in self.eval_tasks:
            get_task(name)
            if name in CORPUS_TASKS and name not in built:
                raise ConfigError(f"preset {self.name!r}: in-loop task {name} is a corpus task but no [[task]] builds it")


_SECTIONS = {"name", "description", "corpus", "task", "ladder", "target"}
_CORPUS_KEYS = {"name": "corpus_name", "min_chars": "min_chars", "val_fraction": "val_fraction",
                "bpe_vocab": "bpe_vocab", "seed": "data_seed", "source": None}
_LADDER_KEYS = {"sizes", "multiples", "batch_divisor", "batch_sequences", "peak_lr", "max_run_tokens", "evals_per_run", "eval_tasks", "eval_limit", "val_sequences",
                "max_epochs", "seed", "parallel", "threads"}


def _check_keys(table: Any, allowed: set[str] | dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return table


def _dataclass_tables(tables: Any, cls: type, where: str) -> list:
    """Build one ``cls`` per TOML table of an array, checking keys; errors name the table's number."""
    built = []
    for i, table in enumerate(tables, start=1):
        table = _check_keys(table, set(cls.__dataclass_fields__), f"{where} #{i}")
        try:
            built.append(cls(**table))
        except TypeError as exc:
            raise ConfigError(f"{where} #{i}: {exc}") from None
    return built


def load_preset(path: str | Path) -> MicroPreset:
    """Read a preset TOML file (the layout of ``taskladder/data/presets/micro.toml``).

    Raises
    ------
    ConfigError
        Missing file, TOML syntax error, unknown key, or invalid values.
    """
    path = Path(path)
    document = read_toml(path, "preset file")
    _check_keys(document, _SECTIONS, str(path))
    corpus = _check_keys(document.get("corpus", {}), _CORPUS_KEYS, f"{path}: [corpus]")
    ladder = _check_keys(document.get("ladder", {}), _LADDER_KEYS, f"{path}: [ladder]")
    sources = _dataclass_tables(corpus.get("source", []), CorpusSource, f"{path}: [[corpus.source]]")
    corpus_tasks = _dataclass_tables(document.get("task", []), CorpusTaskSpec, f"{path}: [[task]]")
    targets = []
    for i, table in enumerate(document.get("target", []), start=1):
        table = _check_keys(table, {"size", "multiple"}, f"{path}: [[target]] #{i}")
        if "size" not in table or "multiple" not in table:
            raise ConfigError(f"{path}: [[target]] #{i}: needs size and multiple")
        targets.append(TargetSpec(size=str(table["size"]), multiple=float(table["multiple"])))
    values: dict[str, Any] = {"name": document.get("name", path.stem), "description": document.get("description", "")}
    values.update({_CORPUS_KEYS[k]: v for k, v in corpus.items() if k != "source"})
    values.update(ladder)
    for key in ("sizes", "eval_tasks"):
        if key in values:
            values[key] = tuple(values[key])
    if "multiples" in values:
        values["multiples"] = tuple(float(m) for m in values["multiples"])
    try:
        return MicroPreset(**values, sources=tuple(sources), corpus_tasks=tuple(corpus_tasks),
                           targets=tuple(targets))
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def packaged_preset(name: str) -> Path:
    """Path of a preset shipped in the package (``"micro"``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return Path(str(resources.files("taskladder") / "data" / "presets" / PRESETS[name]))


def cloze_file_name(task: str) -> str:
    """File name of a corpus task's items, whose stem is the label of its metric columns."""
    label = get_task(task).columns("bpb")[0].removeprefix("eval/downstream_bpb/").removesuffix("_bpb")
    return f"{label}.jsonl"


@dataclass(frozen=True, kw_only=True)
class PresetResult:
    """What :func:`run_preset` produced: the export folder, run outcomes and timings (seconds)."""

    out: Path
    export: Path
    statuses: list[Any]
    timings: dict[str, float]


def _check_sources(preset: MicroPreset) -> None:
    for source in preset.sources:
        if not Path(source.path).is_dir():
            raise ConfigError(f"the micro-ladder corpus needs the Debian package {source.package} "
                              f"({source.path} does not exist); install it with: apt-get install {source.package}")


def _package_version(package: str) -> str | None:
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                              check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_corpus(preset: MicroPreset, out: Path) -> tuple[Path, list[str], list[dict[str, Any]]]:
    from .corpus import html_documents, html_files

    documents: list[str] = []
    sources = []
    for source in preset.sources:
        files = html_files([source.path], pattern=source.pattern)
        pages = html_documents(files, min_chars=preset.min_chars)
        documents += pages
        sources.append({"package": source.package, "version": _package_version(source.package),
                        "licence": source.licence, "path": source.path, "pattern": source.pattern,
                        "files": len(files), "documents": len(pages), "characters": sum(map(len, pages))})
    if len(documents) < 2:
        raise DataError(f"the corpus holds {len(documents)} page(s) of at least {preset.min_chars} characters; "
                        "need at least 2")
    path = out / "corpus" / "documents.jsonl"
    atomic_write_text(path, "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in documents))
    return path, documents, sources


def _prepared(data_dir: Path, corpus: Path) -> bool:
    meta = data_dir / "meta.json"
    if not meta.is_file():
        return False
    sources = json.loads(meta.read_text(encoding="utf-8")).get("sources", [])
    return [s.get("sha256") for s in sources] == [_sha256(corpus)]


def run_preset(preset: MicroPreset, out: str | Path, *, resume: bool = False, progress: bool = False,
               log: Callable[[str], None] = lambda message: None) -> PresetResult:
    """Build the micro-ladder of ``preset`` under ``out`` (see the module docstring).

    Parameters
    ----------
    preset
        The preset (:func:`load_preset`).
    out
        Working folder (corpus, data, task, runs, export).
    resume
        Continue a previous call: prepared data is reused when the corpus is unchanged, finished
        runs are skipped and interrupted ones continue from their latest checkpoint.
    progress
        Progress bars when runs train in this process.
    log
        Called with one line per step (the library never prints).

    Raises
    ------
    ConfigError
        A corpus package is missing (the message names the package to install), or the folder
        holds checkpoints and ``resume`` is false.
    """
    from .config import config_from_plan
    from .data import prepare_data, split_documents
    from .launch import run_dir, run_ladder
    from .plan import plan_ladder, plan_toml

    out = Path(out)
    _check_sources(preset)
    timings: dict[str, float] = {}
    began = time.perf_counter()

    log("corpus: extracting text from " + ", ".join(s.package for s in preset.sources))
    corpus, documents, sources = _build_corpus(preset, out)
    timings["corpus"] = time.perf_counter() - began

    step = time.perf_counter()
    data_dir = out / "data"
    if resume and _prepared(data_dir, corpus):
        log(f"data: reusing {data_dir}")
    else:
        log(f"data: {len(documents):,} pages -> BPE {preset.bpe_vocab} tokenizer and token files")
        prepare_data([corpus], data_dir, bpe_vocab_size=preset.bpe_vocab, val_fraction=preset.val_fraction,
                     seed=preset.data_seed, name=preset.corpus_name)
    meta = json.loads((data_dir / "meta.json").read_text(encoding="utf-8"))
    timings["data"] = time.perf_counter() - step

    step = time.perf_counter()
    from .cloze import build_cloze_items, write_cloze_jsonl

    _, held_out = split_documents(documents, val_fraction=preset.val_fraction, seed=preset.data_seed)
    task_files: dict[str, Path] = {}
    task_records = []
    used: set[str] = set()  # paragraphs of earlier tasks' items: every task gets contexts of its own
    for spec in preset.corpus_tasks:
        items = build_cloze_items(held_out, n_items=spec.items, n_choices=spec.choices,
                                  context_words=spec.context_words, continuation_words=spec.continuation_words,
                                  distractors=spec.distractors, seed=spec.seed, exclude=used)
        used |= {item.paragraph for item in items}
        path = write_cloze_jsonl(items, out / "tasks" / cloze_file_name(spec.name)).resolve()
        task_files[spec.name] = path
        task_records.append({"task": spec.name, "distractors": spec.distractors, "items": len(items),
                             "sha256": _sha256(path)})
        log(f"task: {len(items)} {spec.name} items ({spec.distractors}) from {len(held_out)} held-out pages -> {path}")
    timings["tasks"] = time.perf_counter() - step

    # The plan compares the ladder's compute with the largest target's.
    largest = max(preset.targets, key=lambda t: get_size(t.size).n_params, default=None)
    plan = plan_ladder(sizes=list(preset.sizes), multiples=list(preset.multiples),
                       batch_divisor=preset.batch_divisor, target_size=largest.size if largest else None,
                       target_tokens=get_size(largest.size).tokens_for_multiple(largest.multiple) if largest else None)
    plan = _with_recipe(plan, batch_sequences=preset.batch_sequences, peak_lr=preset.peak_lr,
                        max_tokens=preset.max_run_tokens)
    write_if_changed(out / "plan.toml", plan_toml(plan))
    eval_tasks = tuple(str(task_files[t]) if t in task_files else t for t in preset.eval_tasks)
    configs = []
    for run in plan.runs:
        every = math.ceil(run.steps / preset.evals_per_run)
        config = config_from_plan(
            run, data=data_dir.resolve(), out=run_dir(out, run.name).resolve(), eval_every=every,
            eval_tasks=eval_tasks, eval_limit=preset.eval_limit, val_sequences=preset.val_sequences,
            checkpoint_every=every, keep_checkpoints=1, max_epochs=preset.max_epochs, seed=preset.seed,
            device="cpu")
        Path(config.out).mkdir(parents=True, exist_ok=True)
        config.write(Path(config.out) / "config.json")
        configs.append(config)

    step = time.perf_counter()
    log(f"train: {len(configs)} runs, {preset.parallel} at a time"
        + (f", {preset.threads} thread(s) each" if preset.threads else ""))
    # Longest runs first, so that the last runs to finish are short ones and the workers stay busy.
    order = sorted(configs, key=lambda c: -c.steps * c.batch_tokens * get_size(c.size).flops_per_token)
    statuses = run_ladder(order, resume=resume, parallel=preset.parallel, threads=preset.threads,
                          progress=progress)
    statuses = sorted(statuses, key=lambda s: [c.name for c in configs].index(s.name))
    timings["train"] = time.perf_counter() - step
    failed = [s for s in statuses if s.state == "failed"]
    timings["total"] = time.perf_counter() - began
    export = out / "export"
    if not failed:
        _export(preset, plan, out, export, meta=meta, sources=sources, corpus=corpus, tasks=task_records,
                statuses=statuses, timings=timings)
        log(f"export: {export}")
    return PresetResult(out=out, export=export, statuses=statuses, timings=timings)


def _with_recipe(plan: Any, *, batch_sequences: int | None, peak_lr: float | None,
                 max_tokens: int | None = None) -> Any:
    """``plan`` with one batch and one peak rate for every run, without the runs above ``max_tokens``.

    Steps cover each run's token budget at the new batch; warmup stays about N tokens (the
    heuristics' rule).
    """
    from dataclasses import replace

    from .plan import warmup_steps

    kept = [run for run in plan.runs if max_tokens is None or run.tokens <= max_tokens]
    if not kept:
        raise ConfigError(f"max_run_tokens = {max_tokens:,} leaves no run of the plan (smallest budget "
                          f"{min(r.tokens for r in plan.runs):,} tokens)")
    runs = []
    for run in kept:
        batch = batch_sequences or run.batch_sequences
        batch_tokens = batch * run.sequence_length
        if run.tokens < batch_tokens:
            raise ConfigError(f"run {run.name}: token budget {run.tokens:,} is smaller than one batch of {batch} "
                              f"sequences ({batch_tokens:,} tokens)")
        if batch_sequences is None:
            runs.append(replace(run, peak_lr=peak_lr or run.peak_lr))
            continue
        runs.append(replace(run, batch_sequences=batch, peak_lr=peak_lr or run.peak_lr,
                            steps=math.ceil(run.tokens / batch_tokens),
                            warmup_steps=warmup_steps(run.n_params, batch_tokens)))
    return replace(plan, runs=tuple(runs))


def _export(preset: MicroPreset, plan: Any, out: Path, export: Path, *, meta: dict[str, Any],
            sources: list[dict[str, Any]], corpus: Path, tasks: list[dict[str, Any]], statuses: list[Any],
            timings: dict[str, float]) -> None:
    """Write the shippable folder: runs/*.csv, plan.toml, ladder.toml (train runs + targets), provenance.json."""
    from .plan import plan_toml

    runs_dir = export / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    for run in plan.runs:
        source = out / "runs" / run.name / f"{run.name}.csv"
        write_if_changed(runs_dir / f"{run.name}.csv", source.read_text(encoding="utf-8"))
        entries.append({"name": run.name, "file": f"runs/{run.name}.csv", "size": run.size, "role": "train",
                        "tokens": run.trained_tokens})
    for target in preset.targets:
        entries.append({"name": target.name, "size": target.size, "role": "target",
                        "tokens": get_size(target.size).tokens_for_multiple(target.multiple)})
    header = (f"Ladder spec of the '{preset.name}' preset, written by 'taskladder ladder run --preset {preset.name}'.\n"
              "Train runs are the in-loop evaluation CSVs in runs/; targets have no data (predictions only).")
    spec = _toml.dumps({"name": preset.name, "description": preset.description, "run": entries}, header=header)
    write_if_changed(export / "ladder.toml", spec)
    write_if_changed(export / "plan.toml", plan_toml(plan))
    import torch

    provenance = {
        "preset": preset.name,
        "command": f"taskladder ladder run --preset {preset.name}",
        "corpus": {"name": preset.corpus_name, "sources": sources, "documents_sha256": _sha256(corpus),
                   "train_documents": meta["train_documents"], "val_documents": meta["val_documents"],
                   "train_tokens": meta["train_tokens"], "val_tokens": meta["val_tokens"],
                   "tokenizer": meta["tokenizer"]},
        "corpus_tasks": tasks,
        "eval_tasks": list(preset.eval_tasks), "eval_limit": preset.eval_limit,
        "runs": {s.name: s.state for s in statuses},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "parallel": preset.parallel, "threads": preset.threads},
    }
    atomic_write_text(export / "provenance.json", json.dumps(provenance, indent=2) + "\n")

