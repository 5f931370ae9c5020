"""Our RC metrics equal olmo_eval's own (its dataset classes, its ICLMetric) on all ten tasks."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("olmo_eval")

from eval_helpers import olmo1_tokenizer, tiny_olmo2  # noqa: E402

from taskladder.eval import component_metrics, evaluate_tasks  # noqa: E402
from taskladder.eval.reference import olmo_eval_reference  # noqa: E402
from taskladder.tasks import TASKS  # noqa: E402

TOLERANCE = 1e-4
LIMIT = 2
# Long enough for every 5-shot prompt except the longest (MMLU history passages, BoolQ), which
# are then left-truncated the same way on both sides.
MAX_LENGTH = 768


@pytest.fixture(scope="module")
def model():
    return tiny_olmo2(max_positions=MAX_LENGTH)


@pytest.fixture(scope="module")
def ours(model):
    result = evaluate_tasks(model, olmo1_tokenizer(), list(TASKS), limit=LIMIT, batch_size=8)
    metric_of = {label: ("acc" if label.startswith("boolq") else "len_norm") for label in result.metrics.label}
    # the other length convention from the same per-choice table (a metric-only change)
    olmes = component_metrics(result.choices, metric_of, length_norm="olmes")
    return {"paper": result.metrics, "olmes": olmes, "columns": result.columns}


def _labels():
    return [f"{label}_rc_5shot" for task in TASKS.values() for label in task.labels]


@pytest.mark.parametrize("label", _labels())
def test_metrics_match_olmo_eval(model, ours, label):
    ref = olmo_eval_reference(model, label, limit=LIMIT, max_length=MAX_LENGTH, batch_size=2,
                              full_log_softmax=False)
    for norm in ("paper", "olmes"):
        row = ours[norm].set_index("label").loc[label]
        assert row.n_docs == ref["n_docs"] == LIMIT
        for name in ("accuracy", "bpb", "soft", "soft_log"):
            assert row[name] == pytest.approx(ref[f"{name}_{norm}"], abs=TOLERANCE), (label, norm, name)


def test_columns_are_the_ladder_columns(ours):
    columns = set(ours["columns"])
    expected = {c for task in TASKS.values() for m in ("bpb", "accuracy", "soft", "soft_log")
                for c in task.columns(m)}
    assert columns == expected


def test_truncation_matches_olmo_eval():
    """With a context length far below the 5-shot prompts, both sides left-truncate identically."""
    short = 160
    model = tiny_olmo2(max_positions=short, seed=1)
    tokenizer = olmo1_tokenizer()
    result = evaluate_tasks(model, tokenizer, ["arc_easy", "winogrande"], limit=3, batch_size=4)
    for label in ("arc_easy_test_rc_5shot", "winogrande_val_rc_5shot"):
        ref = olmo_eval_reference(model, label, limit=3, max_length=short, batch_size=4, full_log_softmax=False)
        row = result.metrics.set_index("label").loc[label]
        for name in ("accuracy", "bpb", "soft", "soft_log"):
            assert row[name] == pytest.approx(ref[f"{name}_paper"], abs=TOLERANCE), (label, name)
