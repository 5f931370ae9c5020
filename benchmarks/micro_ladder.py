"""Facts of the embedded micro-ladder, from its shipped files: design, scaling, step-1 laws, budget.

Prints what docs/micro-ladder.md and the README quote: the ladder's sizes, token budgets and
compute, the time its regeneration took (``provenance.json``), each task's accuracy at the
smallest and the largest run, and each task's step-1 law fitted the default way (two-step,
N and D → task bits per byte) with its status. ``--table`` prints one Markdown table instead:
``design`` (sizes and recipe), ``losses`` (task loss per size and token multiple) or
``timings`` (seconds per step of the regeneration) or ``corpus`` (the documentation packages).

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/micro_ladder.py [--table design|losses|timings|corpus] [--spec LADDER.toml]
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import numpy as np

#: A run's task loss and accuracy are the mean of its last evaluations, like the fitter's step-1 point.
WINDOW = 5


def _final(run, task, metric: str) -> float:
    return float(np.mean(run.metric(task, metric)[-WINDOW:]))


def _ordered(values):
    return sorted(set(values))


def design(plan: dict) -> str:
    from taskladder.sizes import get_size

    runs = plan["run"]
    multiples = _ordered(r["multiple"] for r in runs)
    head = ("| size | d_model | heads | layers | N | FLOPs/token | batch (seqs × 256) | peak LR | warmup | steps at "
            + " / ".join(f"{m:g}" for m in multiples) + " × 20N |")
    lines = [head, "|---|" + "---:|" * 8 + "---|"]
    for size in dict.fromkeys(r["size"] for r in runs):
        mine = [r for r in runs if r["size"] == size]
        model = get_size(size)
        first = mine[0]
        lines.append(f"| {size} | {model.d_model} | {model.n_heads} | {model.n_layers} | {first['n_params']:,} | "
                     f"{first['flops_per_token']:,} | {first['batch_sequences']} | {first['peak_lr']:.4g} | "
                     f"{first['warmup_steps']} | {' / '.join(str(r['steps']) for r in mine)} |")
    return "\n".join(lines) + "\n"


def losses(ladder, tasks, plan: dict) -> str:
    # The plan's multiple of each run: the ladder's own estimate rounds to 0.5, merging 0.25 and 0.5.
    multiple = {r["name"]: r["multiple"] for r in plan["run"]}
    runs = ladder.train_runs
    sizes = list(dict.fromkeys(r.spec.size for r in sorted(runs, key=lambda r: r.n_params)))
    multiples = _ordered(multiple.values())
    out = []
    for task in tasks:
        grid = {(r.spec.size, multiple[r.name]): _final(r, task, "bpb") for r in runs}
        out.append(f"| {task.name} | " + " | ".join(f"{m:g} × 20N" for m in multiples) + " |")
        out.append("|---|" + "---:|" * len(multiples))
        for size in sizes:
            cells = [f"{grid[(size, m)]:.3f}" if (size, m) in grid else "—" for m in multiples]
            out.append(f"| {size} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def corpus(provenance: dict) -> str:
    lines = ["| package | version used | licence | pages | characters |", "|---|---|---|---:|---:|"]
    for source in provenance["corpus"]["sources"]:
        lines.append(f"| {source['package']} | {source['version']} | {source['licence']} | {source['documents']:,} | "
                     f"{source['characters'] / 1e6:.1f} M |")
    return "\n".join(lines) + "\n"


def timings(provenance: dict) -> str:
    seconds = provenance["seconds"]
    names = {"corpus": "corpus (HTML → text)", "data": "data (BPE, tokenization)", "tasks": "tasks",
             "train": "training and in-loop evaluation"}
    lines = ["| step | seconds |", "|---|---:|"]
    lines += [f"| {label} | {seconds[key]:.1f} |" for key, label in names.items() if key in seconds]
    lines.append(f"| **total** | **{seconds['total']:.1f}** |")
    return "\n".join(lines) + "\n"


def facts(ladder, tasks, plan: dict, provenance: dict, folder: Path) -> str:
    from taskladder.predict import predict_ladder
    from taskladder.report.fits import fits_table

    runs = sorted(ladder.train_runs, key=lambda r: (r.n_params, r.final_tokens))
    n = [r.n_params for r in runs]
    tokens = [r["trained_tokens"] for r in plan["run"]]
    ladder_info = plan["ladder"]
    train_tokens = provenance["corpus"]["train_tokens"]
    lines = [
        f"runs: {len(runs)}",
        f"sizes: {len(set(n))} ({', '.join(dict.fromkeys(r.spec.size for r in runs))})",
        f"N: {min(n):,} to {max(n):,} ({max(n) / min(n):.1f}× from smallest to largest)",
        f"multiples: {', '.join(f'{m:g}' for m in _ordered(r['multiple'] for r in plan['run']))}",
        f"tokens: {min(tokens) / 1e6:.2f}M to {max(tokens) / 1e6:.2f}M",
        f"compute: {ladder_info['compute_percent']:.1f} % of the largest target ({ladder_info['target_size']} on "
        f"{ladder_info['target_tokens']:,} tokens)",
        f"passes over the corpus, largest run: {max(tokens) / train_tokens:.2f}",
        f"corpus tokens: {train_tokens / 1e6:.2f}M train, {provenance['corpus']['val_tokens'] / 1e6:.2f}M validation",
        f"corpus pages: {provenance['corpus']['train_documents'] + provenance['corpus']['val_documents']:,} "
        f"({provenance['corpus']['val_documents']} held out)",
        f"regeneration: {provenance['seconds']['total'] / 60:.1f} minutes ({provenance['seconds']['total']:.0f} s, "
        f"{provenance['machine']['cpus']} CPUs, {provenance['machine']['parallel']} runs at a time)",
        f"shipped files: {sum(p.stat().st_size for p in folder.rglob('*') if p.is_file()) / 1024:.0f} KB",
    ]
    smallest, largest = runs[0], runs[-1]
    for task in tasks:
        lines.append(f"accuracy {task.name}: {100 * _final(smallest, task, 'accuracy'):.1f} % ({smallest.name}) to "
                     f"{100 * _final(largest, task, 'accuracy'):.1f} % ({largest.name}); chance {100 * task.chance:g} %")
    result = predict_ladder(ladder, tasks=tasks, variant="two-step", intervals=False, reliability=False)
    table = fits_table(result.laws)
    for row in table.itertuples():
        lines.append(f"{row.step} {row.task}: {row.formula}; {row.status}"
                     + (f"; at bound: {row.at_bounds.replace(',', ', ')}" if row.at_bounds else ""))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=["design", "losses", "timings", "corpus"], default=None)
    parser.add_argument("--spec", type=Path, default=None, help="a regenerated ladder's export/ladder.toml")
    args = parser.parse_args()
    from taskladder.commands.demo import embedded_spec
    from taskladder.ladder import load_ladder

    spec = args.spec or embedded_spec()
    folder = spec.parent
    plan = tomllib.loads((folder / "plan.toml").read_text(encoding="utf-8"))
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    if args.table == "design":
        print(design(plan), end="")
        return
    if args.table == "timings":
        print(timings(provenance), end="")
        return
    if args.table == "corpus":
        print(corpus(provenance), end="")
        return
    ladder = load_ladder(spec)
    tasks = ladder.available_tasks()
    if args.table == "losses":
        print(losses(ladder, tasks, plan), end="")
        return
    print(facts(ladder, tasks, plan, provenance, folder), end="")


if __name__ == "__main__":
    main()
