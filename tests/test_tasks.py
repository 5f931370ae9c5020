"""Task registry: column names, MMLU weights, unknown names."""

import pytest

from taskladder.errors import ConfigError
from taskladder.tasks import PAPER_TASKS, get_task, get_tasks


def test_single_component_columns():
    task = get_task("hellaswag")
    assert task.columns("bpb") == ("eval/downstream_bpb/hellaswag_val_rc_5shot_bpb",)
    assert task.columns("accuracy") == ("eval/downstream/hellaswag_val_rc_5shot_len_norm",)
    assert task.columns("soft_log") == ("eval/downstream_soft_log/hellaswag_val_rc_5shot_soft_log",)
    assert task.reference_name == "hellaswag_val_5shot"


def test_boolq_uses_raw_accuracy():
    assert get_task("boolq").columns("accuracy") == ("eval/downstream/boolq_val_rc_5shot_acc",)


def test_mmlu_areas_and_weights():
    task = get_task("mmlu")
    assert task.labels == ("mmlu_stem_test", "mmlu_humanities_test", "mmlu_social_sciences_test",
                           "mmlu_other_test")
    assert sum(task.label_weights) == pytest.approx(1.0)
    assert task.label_weights[1] == pytest.approx(0.335)
    assert task.reference_name == "mmlu_avg_test_5shot"


def test_split_variant():
    assert get_task("arc_easy:val").columns("bpb") == ("eval/downstream_bpb/arc_easy_val_rc_5shot_bpb",)


def test_paper_tasks_and_all():
    assert [t.name for t in get_tasks(None)] == list(PAPER_TASKS)
    assert len(get_tasks("all")) == 10
    assert [t.name for t in get_tasks("piqa,csqa")] == ["piqa", "csqa"]


def test_unknown_task_lists_valid_names():
    with pytest.raises(ConfigError, match="valid tasks: mmlu, hellaswag"):
        get_task("lambada")
