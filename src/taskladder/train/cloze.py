"""Multiple-choice cloze tasks built from held-out documents of a training corpus.

The paper's tasks sit at chance accuracy for models of a few hundred thousand parameters, so a
micro-ladder needs tasks on which such models rise above chance. :func:`build_cloze_items`
makes them from documents that were held out of training (never from any evaluation task's
text). An *item* is a prose paragraph of a held-out document, cut at a point drawn between its
``context_words``-th word and its end; the correct choice is the paragraph's next
``continuation_words`` words. The distractors come in two kinds:

``"other_documents"``
    spans of the same length cut in the same way from paragraphs of *other* documents: telling
    them apart takes following the topic of the context (hard for tiny models);
``"adjacent_swaps"``
    the correct continuation with two neighbouring words swapped (a different pair for each
    distractor): the same words and characters, so only word order tells them apart, which even
    a model that knows little more than which word follows which can learn.

With ``continuation_words=1`` and ``"other_documents"`` the task is a next-word cloze: the
paragraph's next word against words that follow the cut points of other documents' paragraphs,
which a model that has learnt which words follow which already tells apart.

Several tasks built from the same documents can be kept apart: ``exclude`` takes the paragraphs
of earlier tasks' items (:attr:`ClozeItem.paragraph`), and no item is cut from them, so no two
tasks share a context or an answer.

The gold position is drawn uniformly, so always answering the same slot scores chance.
Everything is drawn from ``numpy.random.default_rng(seed)``; the same documents and seed give the
same items. The items are written as the JSONL multiple-choice format of ``taskladder eval``
(``{"context", "choices", "gold"}``), so the evaluation engine scores them like any RC task:
bits per byte of the correct continuation (the task loss) and length-normalised accuracy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..report.tables import atomic_write_text

__all__ = ["ClozeItem", "build_cloze_items", "write_cloze_jsonl", "prose_paragraphs", "DISTRACTORS"]

#: Kinds of distractors (see the module docstring).
DISTRACTORS = ("other_documents", "adjacent_swaps")

# A prose paragraph: mostly letters and spaces, ends like a sentence, has no code-like lines.
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[,.;:]?")
_SENTENCE_END = re.compile(r"[.!?:][\"')\]]?$")


@dataclass(frozen=True, kw_only=True)
class ClozeItem:
    """One question: ``context`` + one of ``choices`` (``choices[gold]`` is the true continuation)."""

    context: str
    choices: tuple[str, ...]
    gold: int
    document: int
    paragraph: str = ""

    def record(self) -> dict[str, object]:
        return {"context": self.context, "choices": list(self.choices), "gold": self.gold}


def prose_paragraphs(document: str, *, min_words: int) -> list[list[str]]:
    """Paragraphs of ``document`` that read as prose, each as its list of words.

    A paragraph qualifies when it is one line, has at least ``min_words`` words, ends like a
    sentence, and at least 85 % of its whitespace-separated tokens are plain words (letters,
    apostrophes, hyphens, with trailing punctuation); this keeps code, tables and lists out.
    """
    out = []
    for paragraph in document.split("\n\n"):
        if "\n" in paragraph.strip():
            continue
        words = paragraph.split()
        if len(words) < min_words or not _SENTENCE_END.search(words[-1]):
            continue
        plain = sum(bool(_WORD.fullmatch(w)) for w in words)
        if plain >= 0.85 * len(words):
            out.append(words)
    return out


def build_cloze_items(documents: Sequence[str], *, n_items: int, n_choices: int = 4, context_words: int = 12,
                      continuation_words: int = 6, distractors: str = "other_documents",
                      seed: int = 0, exclude: Collection[str] = ()) -> list[ClozeItem]:
    """Build up to ``n_items`` cloze questions from ``documents`` (see the module docstring).

    Parameters
    ----------
    documents
        Held-out documents (never training documents, never evaluation-task text).
    n_items
        Questions to make; fewer if the documents hold fewer prose paragraphs.
    n_choices
        Choices per question (one correct).
    context_words, continuation_words
        Least words of context; words of every choice.
    distractors
        ``"other_documents"`` or ``"adjacent_swaps"``.
    seed
        Seed of every random draw.
    exclude
        Paragraphs (their words joined by single spaces, as in :attr:`ClozeItem.paragraph`) that
        no item may be cut from: those of another task's items. They still supply distractors.

    Raises
    ------
    ConfigError
        Invalid counts.
    DataError
        If fewer than two documents hold a usable paragraph (distractors need another document).
    """
    if n_items < 1 or n_choices < 2 or context_words < 1 or continuation_words < 1:
        raise ConfigError(f"cloze task: need n_items >= 1, n_choices >= 2 and positive word counts; got "
                          f"n_items={n_items}, n_choices={n_choices}, context_words={context_words}, "
                          f"continuation_words={continuation_words}")
    if distractors not in DISTRACTORS:
        raise ConfigError(f"cloze task: distractors must be one of {', '.join(DISTRACTORS)}, got {distractors!r}")
    if distractors == "adjacent_swaps" and continuation_words - 1 < n_choices - 1:
        raise ConfigError(f"cloze task: {continuation_words} words allow {continuation_words - 1} different adjacent "
                          f"swaps, fewer than the {n_choices - 1} distractors needed")
    rng = np.random.default_rng(seed)
    min_words = context_words + continuation_words
    excluded = set(exclude)
    # One span per paragraph: (document, context words, continuation words, paragraph).
    spans: list[tuple[int, list[str], list[str], str]] = []
    for doc_index, document in enumerate(documents):
        for words in prose_paragraphs(document, min_words=min_words):
            cut = int(rng.integers(context_words, len(words) - continuation_words + 1))
            spans.append((doc_index, words[:cut], words[cut:cut + continuation_words], " ".join(words)))
    if len({span[0] for span in spans}) < 2:
        raise DataError(f"cloze task: {len(spans)} prose paragraph(s) of at least {min_words} words in "
                        f"{len({span[0] for span in spans})} document(s); distractors need paragraphs from at "
                        "least two documents (hold out more documents)")
    order = rng.permutation(len(spans))
    items = []
    for index in order:
        if len(items) == n_items:
            break
        doc, context, gold_words, paragraph = spans[index]
        if paragraph in excluded:
            continue
        gold_text = " ".join(gold_words)
        if distractors == "other_documents":
            wrong = _other_documents(spans, doc, gold_text, n_choices - 1, rng)
        else:
            wrong = _adjacent_swaps(gold_words, n_choices - 1, rng)
        if len(wrong) < n_choices - 1:
            continue  # not enough distinct distractors (e.g. repeated words make swaps identical)
        gold = int(rng.integers(n_choices))
        choices = wrong[:gold] + [gold_text] + wrong[gold:]
        items.append(ClozeItem(context=" ".join(context), choices=tuple(choices), gold=gold, document=doc,
                               paragraph=paragraph))
    return items


def _other_documents(spans: list[tuple[int, list[str], list[str], str]], doc: int, gold: str, count: int,
                     rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for other in rng.permutation(len(spans)):
        other_doc, _, other_words, _ = spans[other]
        text = " ".join(other_words)
        if other_doc != doc and text != gold and text not in out:
            out.append(text)
            if len(out) == count:
                break
    return out


def _adjacent_swaps(words: list[str], count: int, rng: np.random.Generator) -> list[str]:
    gold = " ".join(words)
    out: list[str] = []
    for position in rng.permutation(len(words) - 1):
        swapped = list(words)
        swapped[position], swapped[position + 1] = swapped[position + 1], swapped[position]
        text = " ".join(swapped)
        if text != gold and text not in out:
            out.append(text)
            if len(out) == count:
                break
    return out


def write_cloze_jsonl(items: Sequence[ClozeItem], path: str | Path) -> Path:
    """Write ``items`` as ``taskladder eval``'s JSONL multiple-choice format, atomically."""
    if not items:
        raise DataError(f"cloze task {path}: no items to write")
    text = "".join(json.dumps(item.record(), ensure_ascii=False) + "\n" for item in items)
    atomic_write_text(path, text)
    return Path(path)
