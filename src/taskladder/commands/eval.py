"""Evaluate checkpoints on ranked-classification tasks: task loss (bits per byte of the correct answer),
accuracy, soft and soft_log, on the paper's OLMES 5-shot prompts, named as in the ladder CSVs.

PATH is one Hugging Face model folder, or a run directory (what 'taskladder ladder run' writes:
checkpoints/step*/ with taskladder.json sidecars, or any folder of model folders). For a run,
one row per checkpoint (step, tokens, all metrics, and the held-out LM loss with --val-tokens)
is added to the run's CSV (default RUN/RUN-NAME.csv, the file the trainer writes); checkpoints
already in it are skipped, so an interrupted evaluation resumes. Every write is atomic. The
per-choice scores are kept as Parquet files (RUN/eval-choices/, or --choices DIR).

Tasks: mmlu, hellaswag, arc_challenge, arc_easy, piqa, csqa, socialiqa, openbookqa (the
default, the paper's eight), boolq, winogrande, 'all'; 'arc_easy:val' picks another split; a
path to a .jsonl file of {"context": ..., "choices": [...], "gold": i} items adds your own.

With --from-lm-eval, PATH is instead one or more sample logs of EleutherAI's
lm-evaluation-harness (samples_*.jsonl from --log_samples, or a folder of them): the same
metrics are computed from its log-likelihoods, without a model.

Several processes (torchrun) shard the documents and give the same numbers as one.

Examples:
  taskladder eval runs/190M-1xC --tasks hellaswag,arc_easy
  taskladder eval path/to/hf-model --tasks all --limit 200 --device cuda --dtype bfloat16
  taskladder eval runs/190M-1xC --val-tokens data/micro --tokens-per-step 524288
  torchrun --nproc_per_node 8 -m taskladder.cli eval runs/1B-5xC --device cuda
  taskladder eval --from-lm-eval out/samples_arc_easy_2024-01-01.jsonl --format markdown
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="+", metavar="PATH",
                        help="model folder or run directory (with --from-lm-eval: sample files or folders)")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated task names or .jsonl files (default: the paper's eight; 'all')")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents of each task")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per forward pass (default 32)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="parameter dtype (default float32)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="context length for left truncation (default: the model's max_position_embeddings)")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer folder, tokenizer.json, or 'olmo1' (default: the model folder's own)")
    parser.add_argument("--length-norm", choices=["paper", "olmes"], default="paper",
                        help="'paper': leading space not counted in per-character/per-byte normalisation "
                             "(OLMo ladder); 'olmes': counted (default paper)")
    parser.add_argument("--output", default=None,
                        help="run CSV to add rows to (default for a run directory: RUN/RUN-NAME.csv)")
    parser.add_argument("--choices", default=None,
                        help="folder for per-choice tables (default for a run directory: RUN/eval-choices)")
    parser.add_argument("--val-tokens", default=None,
                        help="held-out tokens for the LM loss: a prepared data folder (val.bin), .npy or .bin")
    parser.add_argument("--val-max-tokens", type=int, default=1 << 20, help="validation tokens used (default 1048576)")
    parser.add_argument("--tokens-per-step", type=int, default=None,
                        help="tokens per optimizer step, when checkpoints have no sidecar with their tokens")
    parser.add_argument("--step", type=int, default=None, help="step of a single model folder (for --output)")
    parser.add_argument("--tokens", type=int, default=None, help="tokens seen by a single model folder (for --output)")
    parser.add_argument("--from-lm-eval", action="store_true",
                        help="PATH are lm-evaluation-harness sample logs; compute metrics from them")
    parser.add_argument("--format", choices=["text", "csv", "json", "markdown"], default="text",
                        help="format of the printed metrics table (default text)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _print_metrics(metrics, fmt: str) -> None:
    from ..report.tables import render_table

    shown = metrics.copy()
    shown["n_docs"] = shown["n_docs"].astype(int)
    print(render_table(shown, fmt), end="")


def _run_lm_eval(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..eval.checkpoints import merge_rows, write_choices
    from ..eval.lm_eval import read_lm_eval_samples
    from ..eval.metrics import component_metrics, ladder_columns

    if args.tasks is not None:
        raise ConfigError("--tasks does not apply with --from-lm-eval (the tasks are those in the sample files)")
    if args.output and args.step is None:
        raise ConfigError("--output needs --step (and --tokens) to key the row")
    _check_outputs(args)
    table, metric_of = read_lm_eval_samples(args.path)
    metrics = component_metrics(table, metric_of, length_norm=args.length_norm)
    _print_metrics(metrics, args.format)
    if args.choices:
        write_choices(table, Path(args.choices) / "lm-eval-choices.parquet")
    if args.output:
        merge_rows(args.output, [{"_step": args.step, "throughput/total_tokens": args.tokens,
                                  **ladder_columns(metrics, metric_of)}])
    return 0


def _check_outputs(args: argparse.Namespace, output: Path | None = None, choices: Path | None = None) -> None:
    """Fail before any evaluation when a file cannot be written where the results go."""
    from ..io.validate import check_output_file, check_output_folder

    output = output or (Path(args.output) if args.output else None)
    choices = choices or (Path(args.choices) if args.choices else None)
    if output is not None:
        check_output_file(output, "--output" if args.output else "run CSV")
    if choices is not None:
        check_output_folder(choices, "--choices" if args.choices else "per-choice folder")


def _tokenizer_key(spec: str | None, model_dir: Path) -> str:
    """Identity of the tokenizer a checkpoint uses: the ``--tokenizer`` given, or its files' contents."""
    import hashlib

    if spec is not None:
        return f"spec:{spec}"
    digest = hashlib.sha256()
    for item in sorted(model_dir.iterdir()):
        if item.is_file() and ("token" in item.name or item.name in ("vocab.json", "merges.txt")):
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return f"files:{digest.hexdigest()}"


def _init_distributed(device: str | None) -> tuple[int, int, str | None]:
    """Join the torchrun process group (gloo on CPU, NCCL on CUDA); returns rank, world size, device."""
    from ..distributed import join_process_group, world_size

    if world_size() <= 1:
        return 0, 1, device
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    rank, world, _ = join_process_group(use_cuda=device.startswith("cuda"))
    return rank, world, device


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if args.from_lm_eval:
        return _run_lm_eval(args)
    if len(args.path) != 1:
        raise ConfigError(f"give one model folder or run directory, got {len(args.path)} paths")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be a positive number of documents, got {args.limit}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {args.batch_size}")

    import torch

    from ..eval.checkpoints import (check_validation_tokens, check_weights, evaluated_steps, find_checkpoints, load_model, load_tokenizer,
                                    merge_rows, validation_loss, write_choices)
    from ..eval.engine import evaluate_tasks, load_components, resolve_device
    from ..eval.metrics import ladder_column_names
    from ..tasks import PAPER_TASKS

    device = args.device
    resolve_device(device)  # a CUDA request without CUDA fails before anything is loaded
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    path = Path(args.path[0])
    tasks = args.tasks.split(",") if args.tasks is not None else list(PAPER_TASKS)
    components = load_components(tasks, limit=args.limit)  # an unknown task fails before the folder scan
    checkpoints, is_run = find_checkpoints(path, tokens_per_step=args.tokens_per_step)
    expected = [col for c in components for col in ladder_column_names(c.label, c.accuracy_metric).values()]
    output = Path(args.output) if args.output else (path / f"{path.name}.csv" if is_run else None)
    choices_dir = Path(args.choices) if args.choices else (path / "eval-choices" if is_run else None)
    _check_outputs(args, output, choices_dir)
    done = evaluated_steps(output, expected) if output is not None else set()
    rank, world, device = _init_distributed(device)
    progress = not args.no_progress and sys.stderr.isatty()
    todo = [c for c in checkpoints if c.step is None or c.step not in done]
    check_weights([c.path for c in todo])  # a corrupt checkpoint is named before hours of evaluation
    if args.val_tokens:
        check_validation_tokens(args.val_tokens)
    if rank == 0 and is_run:
        print(f"{path}: {len(checkpoints)} checkpoints, {len(checkpoints) - len(todo)} already in {output}",
              file=sys.stderr)
    tokenizers: dict[str, object] = {}
    for checkpoint in todo:
        step = checkpoint.step if checkpoint.step is not None else args.step
        tokens = checkpoint.tokens if checkpoint.tokens is not None else args.tokens
        if output is not None and step is None:
            raise ConfigError(f"{checkpoint.path}: unknown step; pass --step to add its row to {output}")
        if output is not None and tokens is None:
            raise ConfigError(f"{checkpoint.path}: unknown token count (no taskladder.json sidecar); "
                              "pass --tokens-per-step (or --tokens for one model folder)")
        started = time.perf_counter()
        model = load_model(checkpoint.path, device=device, dtype=args.dtype)
        key = _tokenizer_key(args.tokenizer, checkpoint.path)
        if key not in tokenizers:  # one tokenizer object per distinct tokenizer: prompts are tokenized once
            tokenizers[key] = load_tokenizer(args.tokenizer, checkpoint.path)
        tokenizer = tokenizers[key]
        result = evaluate_tasks(model, tokenizer, components, batch_size=args.batch_size, device=device,
                                max_length=args.max_length, progress=progress, length_norm=args.length_norm)
        row: dict[str, object] = {"_step": step, "throughput/total_tokens": tokens}
        if args.val_tokens:
            sequence = args.max_length or getattr(model.config, "max_position_embeddings", None) or 2048
            column, loss = validation_loss(model, args.val_tokens, sequence_length=int(sequence),
                                           max_tokens=args.val_max_tokens)
            row[column] = loss
        row.update(result.columns)
        del model
        if rank != 0:
            continue
        if output is not None:
            merge_rows(output, [row])
        if choices_dir is not None:
            name = f"step{step:07d}" if step is not None else checkpoint.path.name
            write_choices(result.choices, choices_dir / f"{name}.parquet")
        if is_run:
            print(f"step {step}: {len(components)} components in {time.perf_counter() - started:.1f} s -> {output}",
                  file=sys.stderr)
        else:
            _print_metrics(result.metrics, args.format)
    return 0
