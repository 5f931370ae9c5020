"""RC metrics from hand-computed per-choice tables; invariance to choice order; column names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from taskladder.errors import DataError
from taskladder.eval.metrics import CHOICE_COLUMNS, component_metrics, ladder_columns
from taskladder.tasks import TASKS


def _row(doc, choice, gold, loglik, tokens, text):
    return ("toy", doc, choice, gold, loglik, tokens, len(text), len(text.encode()), len(text) - 1,
            len(text[1:].encode()))


def _toy() -> pd.DataFrame:
    rows = [
        _row(0, 0, True, -2.0, 1, " ab"),
        _row(0, 1, False, -3.0, 2, " abcd"),
        _row(1, 0, False, -1.0, 1, " x"),
        _row(1, 1, False, -1.5, 1, " yy"),
        _row(1, 2, True, -0.9, 2, " é"),   # one character, two UTF-8 bytes
    ]
    return pd.DataFrame(rows, columns=list(CHOICE_COLUMNS))


def _softmax_gold(scores, gold):
    z = sum(math.exp(s) for s in scores)
    return math.exp(scores[gold]) / z


def test_hand_computed_paper_convention():
    m = component_metrics(_toy(), "len_norm").iloc[0]
    # Per-character scores (leading space not counted): doc 0 (-2/2, -3/4) -> choice 1 (wrong);
    # doc 1 (-1/1, -1.5/2, -0.9/1) -> choice 1 (wrong).
    assert m.acc_per_char == 0.0
    assert m.accuracy == 0.0
    # Raw sums: doc 0 -> choice 0 (right); doc 1 -> choice 2 (right).
    assert m.acc_raw == 1.0
    # Per token: doc 0 (-2, -1.5) -> 1 (wrong); doc 1 (-1, -1.5, -0.45) -> 2 (right).
    assert m.acc_per_token == 0.5
    log2e = 1 / math.log(2)
    assert m.bpb == pytest.approx((2.0 / 2 * log2e + 0.9 / 2 * log2e) / 2, abs=1e-12)
    soft = (_softmax_gold([-1.0, -0.75], 0) + _softmax_gold([-1.0, -0.75, -0.9], 2)) / 2
    assert m.soft == pytest.approx(soft, abs=1e-12)
    soft_log = (math.log(_softmax_gold([-1.0, -0.75], 0)) + math.log(_softmax_gold([-1.0, -0.75, -0.9], 2))) / 2
    assert m.soft_log == pytest.approx(soft_log, abs=1e-12)
    assert m.n_docs == 2


def test_hand_computed_olmes_convention_and_raw_ranking():
    m = component_metrics(_toy(), "len_norm", length_norm="olmes").iloc[0]
    # Leading space counted: doc 0 (-2/3, -3/5) -> 1 (wrong); doc 1 (-1/2, -1.5/3, -0.9/2) -> 2 (right).
    assert m.acc_per_char == 0.5
    log2e = 1 / math.log(2)
    assert m.bpb == pytest.approx((2.0 / 3 * log2e + 0.9 / 3 * log2e) / 2, abs=1e-12)
    raw = component_metrics(_toy(), "acc").iloc[0]
    assert raw.accuracy == raw.acc_raw == 1.0
    # soft over raw sums for 'acc' tasks
    soft = (_softmax_gold([-2.0, -3.0], 0) + _softmax_gold([-1.0, -1.5, -0.9], 2)) / 2
    assert raw.soft == pytest.approx(soft, abs=1e-12)


def test_ties_go_to_the_first_choice():
    table = _toy()
    table.loc[table.doc_id == 0, "loglik"] = [-2.0, -2.0]
    assert component_metrics(table, "acc").iloc[0].acc_raw == 1.0


def _random_table(seed: int, docs: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(docs):
        k = int(rng.integers(2, 6))
        gold = int(rng.integers(k))
        for j in range(k):
            text = " " + "w" * int(rng.integers(1, 30))
            rows.append(("lab", d, j, j == gold, float(-rng.gamma(2.0, 5.0)), int(rng.integers(1, 9)),
                         len(text), len(text), len(text) - 1, len(text) - 1))
    return pd.DataFrame(rows, columns=list(CHOICE_COLUMNS))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_unchanged_when_choices_are_reordered(seed):
    table = _random_table(seed)
    rng = np.random.default_rng(100 + seed)
    shuffled = []
    for _, doc in table.groupby("doc_id"):
        doc = doc.copy()
        doc["choice"] = rng.permutation(len(doc))
        shuffled.append(doc.sample(frac=1.0, random_state=seed))
    shuffled = pd.concat(shuffled, ignore_index=True)
    for metric in ("len_norm", "acc"):
        a = component_metrics(table, metric).iloc[0]
        b = component_metrics(shuffled, metric).iloc[0]
        for name in ("accuracy", "acc_raw", "acc_per_char", "acc_per_token", "bpb", "soft", "soft_log"):
            assert a[name] == pytest.approx(b[name], abs=1e-12), name


def test_ladder_columns_are_task_columns():
    for task in TASKS.values():
        rows = pd.DataFrame([{"label": f"{label}_rc_5shot", "accuracy": 0.5, "bpb": 1.0, "soft": 0.3,
                              "soft_log": -1.2} for label in task.labels])
        columns = ladder_columns(rows, task.accuracy_metric)
        expected = [c for m in ("bpb", "accuracy", "soft", "soft_log") for c in task.columns(m)]
        assert sorted(columns) == sorted(expected)


def test_two_gold_choices_is_an_error():
    table = _toy()
    table.loc[1, "is_gold"] = True
    with pytest.raises(DataError, match="document 0 of toy has 2 gold choices"):
        component_metrics(table)
