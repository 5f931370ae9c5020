"""Worker for tests/test_eval_distributed.py: run under torchrun, evaluate a seeded tiny model.

Rank 0 writes the ladder columns and how many documents each rank scored to the JSON file
named on the command line.
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from eval_helpers import olmo1_tokenizer, tiny_olmo2  # noqa: E402

import taskladder.eval.scoring as scoring  # noqa: E402
from taskladder.distributed import leave_process_group  # noqa: E402
from taskladder.eval import evaluate_model  # noqa: E402

TASKS = ["arc_easy", "winogrande", "boolq"]
LIMIT = 5


def main() -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    scored = []
    real = scoring.score_documents

    def counting(model, docs, **kwargs):
        scored.append(len(docs))
        return real(model, docs, **kwargs)

    scoring.score_documents = counting
    columns = evaluate_model(tiny_olmo2(max_positions=1024, seed=5), olmo1_tokenizer(), TASKS, limit=LIMIT,
                             batch_size=4)
    counts = [None] * dist.get_world_size()
    dist.all_gather_object(counts, sum(scored))
    if dist.get_rank() == 0:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump({"columns": columns, "docs_per_rank": counts}, handle)
    leave_process_group()


if __name__ == "__main__":
    main()
