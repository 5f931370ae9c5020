"""Shared helpers of the training tests: a small synthetic corpus and a prepared data folder."""

from __future__ import annotations

import random
from pathlib import Path

_SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the teacher", "a small bird", "the farmer",
             "our neighbour", "the child", "a red fox"]
_VERBS = ["sees", "likes", "follows", "finds", "helps", "watches", "calls", "carries"]
_OBJECTS = ["the ball", "a green apple", "the river", "an old book", "the garden", "a wooden box",
            "the long road", "a bright lamp"]
_ENDS = ["every morning", "in the rain", "after dinner", "near the house", "with great care", "at night"]


def write_corpus(folder: Path, *, documents: int = 120, seed: int = 0) -> Path:
    """JSONL file of ``documents`` short documents of templated English sentences."""
    import json

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(documents):
            sentences = [f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                         f"{rng.choice(_ENDS)}." for _ in range(rng.randint(4, 12))]
            handle.write(json.dumps({"text": " ".join(sentences)}) + "\n")
    return path
