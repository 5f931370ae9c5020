"""Tokenize RC requests and decide which tokens each request scores (the context/continuation split).

The split is the one OLMo's in-loop evaluator uses, so that log-likelihoods match it exactly:

* context and continuation are tokenized *separately* (no special tokens), so the boundary
  between them is a token boundary even where joint tokenization would merge across it;
* a BOS token is put in front of the context when the tokenizer itself starts every encoding
  with one (Llama-style tokenizers); the OLMo tokenizers have none;
* the model input is ``context + continuation[:-1]``, left-truncated to ``max_length`` tokens;
  the continuation's tokens are predicted at the ``len(continuation)`` positions that end the
  input, i.e. from position ``ctx_len − 1`` on, where ``ctx_len`` is the number of context
  tokens that survive truncation.

Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from .requests import Component

__all__ = ["EncodedDocument", "encode_component", "scoring_window", "bos_to_prepend"]


@dataclass(frozen=True)
class EncodedDocument:
    """Token ids of one document: one context and one continuation per choice."""

    doc_id: int
    gold: int
    contexts: tuple[tuple[int, ...], ...]
    continuations: tuple[tuple[int, ...], ...]


def bos_to_prepend(tokenizer: Any) -> int | None:
    """The BOS id to put before every context, or ``None``.

    A tokenizer that adds BOS to its own encodings (``tokenizer("a")`` starts with
    ``bos_token_id``) was used that way in training, so contexts get it too; otherwise none.
    """
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return None
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bos if ids and ids[0] == bos else None


def _encode(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return list(tokenizer(texts, add_special_tokens=False)["input_ids"])


def encode_component(component: Component, tokenizer: Any) -> list[EncodedDocument]:
    """Tokenize every request of a component (contexts shared by choices are encoded once).

    Raises
    ------
    DataError
        If a continuation encodes to no tokens (it would have no likelihood to score).
    """
    contexts = sorted({c for doc in component.documents for c in doc.contexts})
    continuations = sorted({c for doc in component.documents for c in doc.continuations})
    bos = bos_to_prepend(tokenizer)
    ctx_ids = {}
    for text, ids in zip(contexts, _encode(tokenizer, contexts)):
        ids = tuple(ids)
        if bos is not None and (not ids or ids[0] != bos):
            ids = (bos,) + ids
        if not ids:
            raise DataError(f"{component.source}: {component.label} has an empty context "
                            "(the first continuation token needs a token to be predicted from)")
        ctx_ids[text] = ids
    cont_ids = {text: tuple(ids) for text, ids in zip(continuations, _encode(tokenizer, continuations))}
    out = []
    for doc in component.documents:
        conts = tuple(cont_ids[c] for c in doc.continuations)
        for text, ids in zip(doc.continuations, conts):
            if not ids:
                raise DataError(f"{component.source}: document {doc.doc_id} of {component.label}: "
                                f"continuation {text!r} encodes to no tokens")
        out.append(EncodedDocument(doc_id=doc.doc_id, gold=doc.gold,
                                   contexts=tuple(ctx_ids[c] for c in doc.contexts), continuations=conts))
    return out


def scoring_window(context: tuple[int, ...] | list[int], continuation: tuple[int, ...] | list[int],
                   max_length: int | None) -> tuple[list[int], int]:
    """Model input of one request and where its scored positions start.

    Parameters
    ----------
    context, continuation
        Token ids (the continuation non-empty).
    max_length
        The model's context length; ``None`` means no truncation.

    Returns
    -------
    query, ctx_len
        ``query = (context + continuation[:-1])[-max_length:]``; the logits at positions
        ``ctx_len − 1 … ctx_len + len(continuation) − 2`` of ``query`` predict the continuation.

    Notes
    -----
    ``ctx_len = len(query) − len(continuation) + 1``, which is ``len(context)`` unless the
    query was truncated: truncation removes context tokens from the left and never shortens
    the continuation.
    """
    if not continuation:
        raise DataError("a continuation must have at least one token")
    query = list(context) + list(continuation[:-1])
    if max_length is not None:
        if len(continuation) > max_length:
            raise DataError(f"a continuation of {len(continuation)} tokens does not fit the model's "
                            f"maximum length {max_length}")
        query = query[-max_length:]
    ctx_len = len(query) - len(continuation) + 1
    return query, ctx_len
