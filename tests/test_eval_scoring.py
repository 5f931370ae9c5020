"""The context/continuation split, and the scorer: batched = unbatched = full-sequence = plain module."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("olmo_eval")

from eval_helpers import olmo1_tokenizer, tiny_olmo2  # noqa: E402

from taskladder.errors import DataError  # noqa: E402
from taskladder.eval import load_components  # noqa: E402
from taskladder.eval.scoring import _groups, _plan_shared, score_documents  # noqa: E402
from taskladder.eval.tokenization import EncodedDocument, bos_to_prepend, encode_component, scoring_window  # noqa: E402


def test_scoring_window_without_truncation():
    query, ctx_len = scoring_window([1, 2, 3, 4], [5, 6], None)
    assert query == [1, 2, 3, 4, 5] and ctx_len == 4  # positions 3, 4 predict 5, 6


def test_scoring_window_left_truncates_the_context_only():
    query, ctx_len = scoring_window([1, 2, 3, 4], [5, 6], 3)
    assert query == [3, 4, 5] and ctx_len == 2  # positions 1, 2 (tokens 4, 5) predict 5, 6
    query, ctx_len = scoring_window([1, 2, 3, 4], [5, 6, 7], 3)
    assert query == [4, 5, 6] and ctx_len == 1


def test_scoring_window_rejects_what_cannot_be_scored():
    with pytest.raises(DataError, match="continuation of 3 tokens does not fit"):
        scoring_window([1], [2, 3, 4], 2)
    with pytest.raises(DataError, match="at least one token"):
        scoring_window([1], [], None)


class _Tok:
    bos_token_id = 7

    def __init__(self, adds_bos):
        self.adds_bos = adds_bos

    def __call__(self, text, add_special_tokens=True):
        def enc(t):
            ids = [ord(c) % 50 + 10 for c in t]
            return ([7] if add_special_tokens and self.adds_bos else []) + ids
        return {"input_ids": [enc(t) for t in text] if isinstance(text, list) else enc(text)}


def test_bos_only_when_the_tokenizer_adds_it_itself():
    assert bos_to_prepend(_Tok(adds_bos=True)) == 7
    assert bos_to_prepend(_Tok(adds_bos=False)) is None
    assert bos_to_prepend(olmo1_tokenizer()) is None
    from taskladder.eval.requests import Component, Document

    comp = Component(label="t", accuracy_metric="len_norm", source="mem",
                     documents=(Document(doc_id=0, gold=0, contexts=("ab", "ab"), continuations=(" c", " d")),))
    enc = encode_component(comp, _Tok(adds_bos=True))[0]
    assert enc.contexts[0][0] == 7 and enc.continuations[0][0] != 7


def _manual(model, doc: EncodedDocument, max_length):
    """Straightforward reference: the full query through the model, log-softmax everywhere."""
    out = []
    for ctx, cont in zip(doc.contexts, doc.continuations):
        query, ctx_len = scoring_window(ctx, cont, max_length)
        with torch.no_grad():
            logits = model(torch.tensor([query])).logits[0, ctx_len - 1:ctx_len - 1 + len(cont)]
        logp = logits.double().log_softmax(-1)
        out.append(sum(float(logp[i, t]) for i, t in enumerate(cont)))
    return out


def _encoded(tasks, limit):
    tokenizer = olmo1_tokenizer()
    return [d for c in load_components(tasks, limit=limit) for d in encode_component(c, tokenizer)]


@pytest.fixture(scope="module")
def docs():
    # ARC-Easy and CommonsenseQA share one context per question; WinoGrande's differ per choice
    return _encoded(["arc_easy", "winogrande", "csqa"], 3)


@pytest.fixture(scope="module")
def model():
    return tiny_olmo2(max_positions=2048, seed=3)


def test_batched_equals_unbatched_equals_full_sequence(model, docs):
    reference = [_manual(model, d, None) for d in docs]
    for kwargs in ({"batch_size": 1}, {"batch_size": 5}, {"batch_size": 64},
                   {"batch_size": 4, "share_prefix": False}):
        got = score_documents(model, docs, **kwargs)
        for a, b in zip(got, reference):
            assert a == pytest.approx(b, abs=2e-4), kwargs


def test_a_plain_module_returning_logits_gives_the_same_scores(model, docs):
    class Plain(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids):
            return self.inner(ids).logits

    hf = score_documents(model, docs[:4], batch_size=8)
    plain = score_documents(Plain(model), docs[:4], batch_size=8)
    for a, b in zip(hf, plain):
        assert a == pytest.approx(b, abs=2e-4)


def test_truncated_requests_are_scored_like_olmo(model, docs):
    """A context length below the prompts' length: every request is left-truncated on its own."""
    short = 96
    got = score_documents(model, docs[:6], batch_size=4, max_length=short)
    for doc, values in zip(docs[:6], got):
        assert values == pytest.approx(_manual(model, doc, short), abs=2e-4)


def test_documents_are_grouped_by_shared_prefix():
    docs = _encoded(["arc_easy", "winogrande", "csqa", "mmlu"], 3)
    plans = [p for p in (_plan_shared(i, d) for i, d in enumerate(docs)) if p is not None]
    groups = _groups(plans)
    # arc_easy, winogrande and csqa each share one 5-shot prefix; each MMLU area's three documents
    # come from its first subject (one prefix each): seven groups, each prefix a 5-shot block
    assert len(groups) == 7
    assert all(prefix > 100 for prefix, _ in groups)
    assert sum(len(g) for _, g in groups) == len(docs)


def test_evaluate_model_restores_training_mode_and_returns_ladder_columns():
    from taskladder.eval import evaluate_model

    model = tiny_olmo2(max_positions=512, seed=4)
    model.train()
    columns = evaluate_model(model, olmo1_tokenizer(), ["piqa"], limit=2, batch_size=3)
    assert model.training
    assert sorted(columns) == sorted(["eval/downstream_bpb/piqa_val_rc_5shot_bpb",
                                      "eval/downstream/piqa_val_rc_5shot_len_norm",
                                      "eval/downstream_soft/piqa_val_rc_5shot_soft",
                                      "eval/downstream_soft_log/piqa_val_rc_5shot_soft_log"])
