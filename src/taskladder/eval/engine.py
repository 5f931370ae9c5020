"""Evaluate a model on RC tasks: load documents, tokenize, score (sharded under torchrun), compute metrics.

:func:`evaluate_model` is the entry point of both the ``taskladder eval`` command and the
trainer's in-loop evaluation; :func:`evaluate_tasks` returns the per-choice table as well.

Under ``torch.distributed`` (e.g. ``torchrun``), each rank scores every ``world_size``-th
document of each component and the per-choice rows are gathered to every rank before the
metrics are computed, so all ranks return the same numbers as a single process would (to
floating-point summation order within a forward pass).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import ConfigError
from .metrics import CHOICE_COLUMNS, component_metrics, ladder_columns
from .requests import Component, load_component, load_jsonl_task, resolve_components
from .tokenization import EncodedDocument, encode_component

__all__ = ["evaluate_model", "evaluate_tasks", "EvalResult", "load_components", "choice_table"]


@dataclass(frozen=True)
class EvalResult:
    """Output of :func:`evaluate_tasks`.

    Attributes
    ----------
    columns
        ``{ladder CSV column: value}`` for every metric of every component.
    metrics
        One row per component with every metric (see :func:`~taskladder.eval.metrics.component_metrics`).
    choices
        The per-choice table (see :mod:`taskladder.eval.metrics`).
    """

    columns: dict[str, float]
    metrics: pd.DataFrame
    choices: pd.DataFrame


def load_components(tasks: list[str] | tuple[str, ...], *, limit: int | None = None) -> list[Component]:
    """Documents of the requested tasks (names such as ``"mmlu"``, ``"arc_easy:val"``, or JSONL paths)."""
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    components = []
    for kind, key, metric in resolve_components(list(tasks)):
        if kind == "file":
            components.append(load_jsonl_task(key, limit=limit))
        else:
            components.append(load_component(str(key), accuracy_metric=metric, limit=limit))
    labels = [c.label for c in components]
    duplicates = sorted({lab for lab in labels if labels.count(lab) > 1})
    if duplicates:
        raise ConfigError(f"task list names {', '.join(duplicates)} more than once")
    return components


# Tokenized components per tokenizer, so that repeated in-loop evaluations tokenize once.
_ENCODED: "weakref.WeakKeyDictionary[Any, dict[tuple[str, int], list[EncodedDocument]]]" = weakref.WeakKeyDictionary()


def _encoded(component: Component, tokenizer: Any) -> list[EncodedDocument]:
    key = (component.label + "|" + component.source, len(component.documents))
    try:
        cache = _ENCODED.setdefault(tokenizer, {})
    except TypeError:  # not weak-referenceable: no caching
        return encode_component(component, tokenizer)
    if key not in cache:
        cache[key] = encode_component(component, tokenizer)
    return cache[key]


def choice_table(component: Component, encoded: list[EncodedDocument], logliks: list[list[float]],
                 positions: list[int] | None = None) -> pd.DataFrame:
    """Per-choice table of one component from scored documents (``positions`` index ``component.documents``)."""
    positions = list(range(len(encoded))) if positions is None else positions
    rows = []
    for pos, enc, values in zip(positions, encoded, logliks):
        doc = component.documents[pos]
        for j, (cont, tokens, value) in enumerate(zip(doc.continuations, enc.continuations, values)):
            rows.append((component.label, doc.doc_id, j, j == doc.gold, value, len(tokens), len(cont),
                         len(cont.encode("utf-8")), len(cont) - 1, len(cont[1:].encode("utf-8"))))
    return pd.DataFrame(rows, columns=list(CHOICE_COLUMNS))


def _dist() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(frame: pd.DataFrame, world: int) -> pd.DataFrame:
    if world == 1:
        return frame
    import torch.distributed as dist

    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, frame)
    return pd.concat(parts, ignore_index=True)


def resolve_device(device: str | None) -> "Any":
    """A ``torch.device`` for ``device``; a CUDA request on a machine without CUDA is a :class:`ConfigError`."""
    import torch

    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {device!r} (expected e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine "
                              "(use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} requested but MPS is not available on this machine")
    return dev


def _max_length(model: Any, max_length: int | None) -> int | None:
    if max_length is not None:
        if max_length < 2:
            raise ConfigError(f"max_length must be at least 2 tokens, got {max_length}")
        return max_length
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if value else None


def evaluate_tasks(model: Any, tokenizer: Any, tasks: list[str] | tuple[str, ...] | list[Component], *,
                   limit: int | None = None, batch_size: int = 32, device: str | None = None,
                   max_length: int | None = None, progress: bool = False, length_norm: str = "paper",
                   share_prefix: bool = True) -> EvalResult:
    """Evaluate ``model`` on RC tasks; returns ladder columns, per-component metrics and per-choice rows.

    Parameters are those of :func:`evaluate_model`, plus ``length_norm`` (``"paper"`` or
    ``"olmes"``, see :mod:`taskladder.eval.metrics`) and ``share_prefix`` (``False`` forces the
    full-sequence scoring path). ``tasks`` may also hold already loaded :class:`Component` objects.
    """
    import torch

    from .scoring import score_documents

    if batch_size < 1:
        raise ConfigError(f"batch_size must be a positive number of sequences, got {batch_size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of documents, got {limit}")
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    dev = resolve_device(device)
    if dev is not None and next(model.parameters()).device != dev:
        model.to(dev)
    vocab = len(tokenizer)
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is not None and vocab > embeddings.num_embeddings:
        raise ConfigError(f"tokenizer has {vocab} tokens but the model's embedding has only "
                          f"{embeddings.num_embeddings} rows; use the model's own tokenizer")
    max_length = _max_length(model, max_length)
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    components = [t for t in tasks if isinstance(t, Component)]
    names = [t for t in tasks if not isinstance(t, Component)]
    if names:
        components += load_components(names, limit=limit)
    rank, world = _dist()
    work = []
    for component in components:
        encoded = _encoded(component, tokenizer)
        positions = list(range(rank, len(encoded), world))
        work.append((component, positions, [encoded[p] for p in positions]))
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(w[1]) for w in work) * world, unit="doc", dynamic_ncols=True,
                   desc="evaluating")
    was_training = model.training
    model.eval()
    tables = []
    try:
        for component, positions, encoded in work:
            if bar is not None:
                bar.set_postfix_str(component.label)
            logliks = score_documents(model, encoded, batch_size=batch_size, max_length=max_length,
                                      share_prefix=share_prefix,
                                      tick=(lambda n: bar.update(n * world)) if bar is not None else None)
            tables.append(choice_table(component, encoded, logliks, positions))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    table = _gather(pd.concat(tables, ignore_index=True), world)
    table = table.sort_values(["label", "doc_id", "choice"], kind="stable").reset_index(drop=True)
    metric_of = {c.label: c.accuracy_metric for c in components}
    metrics = component_metrics(table, metric_of, length_norm=length_norm)
    order = {c.label: i for i, c in enumerate(components)}
    metrics = metrics.sort_values("label", key=lambda s: s.map(order)).reset_index(drop=True)
    return EvalResult(columns=ladder_columns(metrics, metric_of), metrics=metrics, choices=table)


def evaluate_model(model: Any, tokenizer: Any, tasks: list[str], *, limit: int | None = None,
                   batch_size: int = 32, device: str | None = None, max_length: int | None = None,
                   progress: bool = False) -> dict[str, float]:
    """Evaluate a causal LM on RC tasks; returns ``{ladder CSV column: value}``.

    Parameters
    ----------
    model
        A torch causal LM returning logits: a Hugging Face model (fast shared-prefix path) or
        any module mapping token ids to logits. It is put in eval mode for the call and its
        training mode is restored afterwards.
    tokenizer
        A Hugging Face tokenizer matching the model.
    tasks
        Task names of :mod:`taskladder.tasks` (``"hellaswag"``, ``"mmlu"``, ``"arc_easy:val"``
        for another split) or paths of JSONL task files.
    limit
        Only the first ``limit`` documents of each component.
    batch_size
        Sequences per forward pass.
    device
        Where to run (the model is moved there); ``None`` keeps the model's device.
    max_length
        Context length for left truncation; ``None`` reads ``model.config.max_position_embeddings``.
    progress
        Show a progress bar (documents per second, time left) on rank 0.

    Returns
    -------
    dict
        For every component of every task: bpb, accuracy (``len_norm``, BoolQ ``acc``), soft and
        soft_log, keyed exactly as the ladder CSV columns (:meth:`taskladder.tasks.Task.columns`);
        MMLU gives its four areas separately. Metrics use the paper's length convention.

    Raises
    ------
    ConfigError
        Unknown task, CUDA requested without CUDA, tokenizer larger than the model's vocabulary.
    """
    return evaluate_tasks(model, tokenizer, tasks, limit=limit, batch_size=batch_size, device=device,
                          max_length=max_length, progress=progress).columns
