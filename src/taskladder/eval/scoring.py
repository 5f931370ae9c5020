"""Score RC requests with a causal LM: the summed log-likelihood of every choice's continuation.

Two paths compute the same numbers.

**Shared-prefix path** (Hugging Face causal LMs with a KV cache). Work that the straightforward
evaluator repeats is done once:

1. *Group prefix.* The OLMES prompts of a task start with the same five worked examples, so the
   documents are sorted by their context tokens and cut into groups that share a long common
   token prefix (MMLU: one group per subject). The prefix goes through the model once per
   group; its keys and values are cached.
2. *Document part.* The rest of each document's context, except its last token, runs once per
   document on top of the group cache (several documents per call, right-padded).
3. *Choices.* Each choice runs only its own tokens, ``[last context token] + continuation[:-1]``,
   on top of its document's cache; every one of those positions predicts a continuation token,
   so the LM head and the log-softmax are applied exactly where a token is scored.

Documents are sorted by length within a group so that calls carry little padding. Padding is
always on the right of real tokens, and the attention mask removes padded cache slots, so
results do not depend on how requests are batched (up to floating-point summation order).

**Full-sequence path** (any model; also the requests whose input is longer than the model's
context, which OLMo left-truncates differently for every choice): each request's
``(context + continuation[:-1])`` goes through the model, batched by length, and only the
continuation positions are scored.

Both paths compute ``log p`` in float32 from the model's logits (any parameter dtype).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .tokenization import EncodedDocument, scoring_window

__all__ = ["score_documents", "ModelRunner"]

# A group's shared prefix must be at least this long, and keep at least this share of the
# prefix the group started with, before a new group (with its own prefix pass) is cheaper.
_MIN_GROUP_PREFIX = 16
_GROUP_PREFIX_KEEP = 0.75
# Cached (row × token) slots per choice call; bounds the KV-cache copy of a batch.
_MAX_CACHE_SLOTS = 1 << 17
# Scored positions sent through the LM head at once (bounds the logits buffer).
_HEAD_CHUNK = 2048
# Tokens per full-sequence call when the model returns logits at every position (no split head).
_MAX_LOGIT_TOKENS = 4096

LayerKV = list[tuple[torch.Tensor, torch.Tensor]]


class ModelRunner:
    """Uniform access to a causal LM: hidden states (or logits) with an optional KV cache.

    ``mode`` is ``"split"`` for Hugging Face models whose logits are a plain linear head over
    the decoder's output (run the decoder, then the head only at scored positions), ``"forward"``
    for other Hugging Face models (their own forward, which may scale or cap the logits), and
    ``"plain"`` for any module that maps token ids to logits (no cache: full-sequence path only).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.mode = "plain"
        self.decoder = None
        self.head = None
        try:
            from transformers import PreTrainedModel
        except ImportError:  # pragma: no cover - transformers is part of the eval extra
            PreTrainedModel = ()  # type: ignore[assignment]
        if isinstance(model, PreTrainedModel):
            config = model.config
            attn = getattr(config, "_attn_implementation", "eager")
            self.mode = "forward"
            decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
            head = model.get_output_embeddings()
            rescaled = any(getattr(config, name, None) not in (None, 1.0)
                           for name in ("final_logit_softcapping", "logit_scale", "logits_scaling"))
            if (decoder is not None and decoder is not model and isinstance(head, torch.nn.Linear)
                    and not rescaled):
                self.mode = "split"
                self.decoder, self.head = decoder, head
            # Masks with holes in the cache need an attention that takes arbitrary masks.
            self.cache_ok = attn in ("sdpa", "eager")
        else:
            self.cache_ok = False

    def run(self, input_ids: torch.Tensor, *, attention_mask: torch.Tensor | None = None,
            position_ids: torch.Tensor | None = None, past: LayerKV | None = None,
            want_cache: bool = False) -> tuple[torch.Tensor, LayerKV | None]:
        """States at every position (hidden states in split mode, else logits) and the new cache."""
        if self.mode == "plain":
            out = self.model(input_ids)
            return (out if isinstance(out, torch.Tensor) else out.logits), None
        from transformers import DynamicCache

        kwargs: dict[str, Any] = {"attention_mask": attention_mask, "position_ids": position_ids,
                                  "use_cache": want_cache}
        if past is not None:
            kwargs["past_key_values"] = DynamicCache(ddp_cache_data=past)
        elif want_cache:
            kwargs["past_key_values"] = DynamicCache()
        if self.mode == "split":
            out = self.decoder(input_ids=input_ids, **kwargs)
            states = out.last_hidden_state
        else:
            out = self.model(input_ids=input_ids, **kwargs)
            states = out.logits
        cache = None
        if want_cache:
            cache = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return states, cache

    def token_logprobs(self, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``log p(target)`` for each row of ``states`` ([n, d] hidden or [n, V] logits)."""
        out = []
        for start in range(0, states.shape[0], _HEAD_CHUNK):
            chunk = states[start:start + _HEAD_CHUNK]
            logits = self.head(chunk) if self.mode == "split" else chunk
            logp = torch.log_softmax(logits.float(), dim=-1)
            out.append(logp.gather(1, targets[start:start + _HEAD_CHUNK, None])[:, 0])
        return torch.cat(out) if out else states.new_zeros(0, dtype=torch.float32)


@dataclass
class _Doc:
    index: int                 # position in the caller's list
    part: tuple[int, ...]      # context tokens shared by all choices, minus the last one
    suffixes: list[tuple[int, ...]]   # per choice: context rest + continuation[:-1]
    targets: list[tuple[int, ...]]    # per choice: continuation tokens
    offsets: list[int]         # per choice: first scored position within the suffix


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _plan_shared(doc_index: int, doc: EncodedDocument) -> _Doc | None:
    """Split a document into its shared part and per-choice suffixes; ``None`` if nothing is shared."""
    first = doc.contexts[0]
    shared = min(len(c) for c in doc.contexts) - 1
    for ctx in doc.contexts[1:]:
        shared = min(shared, _common_prefix_len(first, ctx))
    if shared < 1:
        return None
    suffixes, offsets = [], []
    for ctx, cont in zip(doc.contexts, doc.continuations):
        suffixes.append(tuple(ctx[shared:]) + tuple(cont[:-1]))
        offsets.append(len(ctx) - 1 - shared)
    return _Doc(index=doc_index, part=tuple(first[:shared]), suffixes=suffixes,
                targets=[tuple(c) for c in doc.continuations], offsets=offsets)


def _groups(docs: list[_Doc]) -> list[tuple[int, list[_Doc]]]:
    """Cut documents (sorted by tokens) into runs that share a long common prefix."""
    docs = sorted(docs, key=lambda d: d.part)
    groups: list[tuple[int, list[_Doc]]] = []
    start_len = prefix = 0
    current: list[_Doc] = []
    for doc in docs:
        if current:
            shared = min(prefix, _common_prefix_len(current[-1].part, doc.part))
            if shared >= max(_MIN_GROUP_PREFIX, _GROUP_PREFIX_KEEP * start_len):
                prefix = shared
                current.append(doc)
                continue
            groups.append((prefix, current))
        current, prefix, start_len = [doc], len(doc.part), len(doc.part)
    if current:
        groups.append((prefix, current))
    return groups


def _pad(rows: Sequence[Sequence[int]], width: int, device: torch.device) -> torch.Tensor:
    return torch.tensor([list(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long, device=device)


def _batches(docs: list[_Doc], batch_size: int, context_len: Callable[[_Doc], int]) -> list[list[_Doc]]:
    """Consecutive runs of documents with at most ``batch_size`` choices and bounded cache slots."""
    out: list[list[_Doc]] = []
    current: list[_Doc] = []
    rows = longest = 0
    for doc in docs:
        n, width = len(doc.suffixes), context_len(doc)
        if current and (rows + n > batch_size or (rows + n) * max(longest, width) > _MAX_CACHE_SLOTS):
            out.append(current)
            current, rows, longest = [], 0, 0
        current.append(doc)
        rows += n
        longest = max(longest, width)
    if current:
        out.append(current)
    return out


def _score_rows(runner: ModelRunner, states: torch.Tensor, starts: list[int], targets: list[tuple[int, ...]],
                ) -> list[float]:
    """Sum of ``log p`` of each row's targets, read at positions ``start, start+1, …`` of that row."""
    device = states.device
    rows = torch.cat([torch.full((len(t),), r, dtype=torch.long) for r, t in enumerate(targets)]).to(device)
    cols = torch.cat([torch.arange(s, s + len(t)) for s, t in zip(starts, targets)]).to(device)
    flat_targets = torch.tensor([tok for t in targets for tok in t], dtype=torch.long, device=device)
    logp = runner.token_logprobs(states[rows, cols], flat_targets).double().cpu()
    sums = torch.zeros(len(targets), dtype=torch.float64).index_add_(0, rows.cpu(), logp)
    return sums.tolist()


def _score_group(runner: ModelRunner, prefix_len: int, docs: list[_Doc], batch_size: int,
                 results: list[list[float]], tick: Callable[[int], None]) -> None:
    device = runner.device
    prefix: LayerKV | None = None
    if prefix_len > 0:
        ids = torch.tensor([docs[0].part[:prefix_len]], dtype=torch.long, device=device)
        _, prefix = runner.run(ids, want_cache=True)
    docs = sorted(docs, key=lambda d: (len(d.part), max(map(len, d.suffixes))))
    for batch in _batches(docs, batch_size, lambda d: len(d.part) + max(map(len, d.suffixes))):
        n = len(batch)
        rests = [d.part[prefix_len:] for d in batch]
        width = max(map(len, rests))
        doc_mask = torch.tensor([[1] * prefix_len + [1] * len(r) + [0] * (width - len(r)) for r in rests],
                                dtype=torch.long, device=device)
        cache = None if prefix is None else [(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1))
                                             for k, v in prefix]
        if width > 0:
            positions = torch.arange(prefix_len, prefix_len + width, device=device).expand(n, -1)
            _, cache = runner.run(_pad(rests, width, device), attention_mask=doc_mask, position_ids=positions,
                                  past=cache, want_cache=True)
        owner = [i for i, d in enumerate(batch) for _ in d.suffixes]
        suffixes = [s for d in batch for s in d.suffixes]
        span = max(map(len, suffixes))
        pick = torch.tensor(owner, dtype=torch.long, device=device)
        choice_cache = None if cache is None else [(k.index_select(0, pick), v.index_select(0, pick))
                                                   for k, v in cache]
        own_mask = torch.tensor([[1] * len(s) + [0] * (span - len(s)) for s in suffixes],
                                dtype=torch.long, device=device)
        mask = torch.cat([doc_mask.index_select(0, pick), own_mask], dim=1)
        start = torch.tensor([prefix_len + len(rests[i]) for i in owner], device=device)
        positions = start[:, None] + torch.arange(span, device=device)[None, :]
        states, _ = runner.run(_pad(suffixes, span, device), attention_mask=mask, position_ids=positions,
                               past=choice_cache)
        starts = [off for d in batch for off in d.offsets]
        targets = [t for d in batch for t in d.targets]
        sums = _score_rows(runner, states, starts, targets)
        k = 0
        for d in batch:
            results[d.index] = sums[k:k + len(d.suffixes)]
            k += len(d.suffixes)
        tick(n)


def _score_full(runner: ModelRunner, requests: list[tuple[int, int, list[int], int, tuple[int, ...]]],
                batch_size: int, results: list[list[float]], tick: Callable[[int], None]) -> None:
    """Full-sequence path; ``requests`` are ``(doc index, choice, query, ctx_len, continuation)``."""
    requests = sorted(requests, key=lambda r: len(r[2]))
    remaining: dict[int, int] = {}
    for doc_index, *_ in requests:
        remaining[doc_index] = remaining.get(doc_index, 0) + 1
    lo = 0
    while lo < len(requests):
        rows = batch_size
        if runner.mode != "split":  # logits at every position: keep the [rows, width, vocab] buffer bounded
            rows = max(1, min(batch_size, _MAX_LOGIT_TOKENS // len(requests[min(lo + batch_size, len(requests)) - 1][2])))
        batch = requests[lo:lo + rows]
        lo += rows
        width = max(len(r[2]) for r in batch)
        # Right padding needs no attention mask: causal attention never looks right.
        states, _ = runner.run(_pad([r[2] for r in batch], width, runner.device))
        sums = _score_rows(runner, states, [r[3] - 1 for r in batch], [r[4] for r in batch])
        done = 0
        for (doc_index, choice, *_), value in zip(batch, sums):
            results[doc_index][choice] = value
            remaining[doc_index] -= 1
            done += remaining[doc_index] == 0
        tick(done)


def score_documents(model: Any, docs: Sequence[EncodedDocument], *, batch_size: int = 32,
                    max_length: int | None = None, share_prefix: bool = True,
                    tick: Callable[[int], None] | None = None) -> list[list[float]]:
    """Summed continuation log-likelihood (nats) of every choice of every document.

    Parameters
    ----------
    model
        A causal LM on its device, in eval mode: a Hugging Face ``PreTrainedModel`` (KV-cache
        path) or any module mapping ``[batch, seq]`` token ids to ``[batch, seq, vocab]`` logits.
    docs
        Tokenized documents.
    batch_size
        Sequences per forward call.
    max_length
        The model's context length; requests longer than it are left-truncated as OLMo does.
    share_prefix
        Use the shared-prefix path where possible (``False`` forces the full-sequence path;
        the two agree to float tolerance).
    tick
        Called with the number of documents finished after each call (progress bars).

    Returns
    -------
    list of list of float
        ``result[i][j]`` is ``Σ_t log p(continuation_t | context, continuation_<t)`` of choice
        ``j`` of ``docs[i]``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    tick = tick or (lambda n: None)
    runner = ModelRunner(model)
    results: list[list[float]] = [[float("nan")] * len(d.continuations) for d in docs]
    shared: list[_Doc] = []
    full: list[tuple[int, int, list[int], int, tuple[int, ...]]] = []
    for i, doc in enumerate(docs):
        too_long = max_length is not None and any(
            len(c) + len(t) - 1 > max_length for c, t in zip(doc.contexts, doc.continuations))
        plan = None if (too_long or not share_prefix or not runner.cache_ok) else _plan_shared(i, doc)
        if plan is not None:
            shared.append(plan)
            continue
        for j, (ctx, cont) in enumerate(zip(doc.contexts, doc.continuations)):
            query, ctx_len = scoring_window(ctx, cont, max_length)
            full.append((i, j, query, ctx_len, tuple(cont)))
    with torch.inference_mode():
        for prefix_len, group in _groups(shared):
            _score_group(runner, prefix_len, group, batch_size, results, tick)
        if full:
            _score_full(runner, full, batch_size, results, tick)
    return results
