"""Plan and train a model ladder.

'ladder plan' computes, per run (size × token multiple), N and FLOPs per token (from the
architecture), the token budget k × 20 × N, the global batch (sequences and tokens), the peak
learning rate, the warmup and total steps and the training FLOPs, with the heuristics of the
reference ladder (batch ∝ N^(2/3), LR ∝ N^(-1/3), warmup ≈ N tokens, cosine to 10 %). It
prints the plan and writes OUT/plan.toml and OUT/ladder.toml (the spec 'predict' reads).

'ladder run' trains the runs of a plan with the reference recipe (AdamW 0.9/0.95, weight decay
0.1, clipping 1.0, bf16 on CUDA), evaluates in-loop and appends one row per evaluation to
OUT/runs/NAME/NAME.csv in the ladder format. Runs go one after another, several at once
(--parallel), or to Slurm as a job array (--slurm, needs submitit). One run on several GPUs is
torchrun with DDP, same command.

Examples:
  taskladder ladder plan --sizes 190M,370M,760M,1.3B --multiples 1,2,5,10 --target 7B --target-tokens 4T
  taskladder ladder plan --sizes micro-xs,micro-s --multiples 1,2 --batch-divisor 1 --out micro
  taskladder data prepare docs/*.md --paragraphs --bpe-vocab 1024 --out micro/data
  taskladder ladder run micro/plan.toml --data micro/data --eval-every 50 --parallel 2
  taskladder ladder run micro/plan.toml --data micro/data --resume            # continue after a crash
  torchrun --nproc_per_node 8 -m taskladder.cli ladder run ladder/plan.toml --only 1.3B-5xC --data DATA
  taskladder ladder run ladder/plan.toml --data DATA --slurm --slurm-partition gpu --slurm-gpus 8
  taskladder ladder run --preset micro --out micro-ladder     # the embedded micro-ladder, from scratch

'ladder run --preset micro' needs the Debian packages python3.11-doc, postgresql-doc-15 and
debian-reference-en (its corpus) and writes micro-ladder/export/ (CSVs, plan, spec); see
docs/micro-ladder.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ladder_command", metavar="SUBCOMMAND", required=True,
                                parser_class=type(parser))
    plan = sub.add_parser("plan", help="plan sizes, budgets, batch sizes and learning rates",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("--sizes", required=True, help="comma-separated size labels (see 'taskladder sizes')")
    plan.add_argument("--multiples", default="1,2,5,10",
                      help="token budgets in multiples of 20·N (default: 1,2,5,10)")
    plan.add_argument("--target", help="target size label (with --target-tokens, or as SIZE:D, e.g. 7B:4T), to "
                                       "report the ladder's share of its compute")
    plan.add_argument("--target-tokens", help="target training tokens, e.g. 4T or 3945065873408")
    plan.add_argument("--batch-divisor", type=int, default=64,
                      help="round batch sizes to multiples of this many sequences (default: 64)")
    plan.add_argument("--out", default="ladder", help="folder for plan.toml and ladder.toml (default: ladder)")
    plan.add_argument("--format", choices=["text", "csv", "json", "markdown"], default="text",
                      help="format of the printed table (default: text)")

    run = sub.add_parser("run", help="train the runs of a plan", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("plan", nargs="?", help="plan.toml written by 'ladder plan' (not with --preset)")
    run.add_argument("--data", help="folder written by 'taskladder data prepare' (required with a plan)")
    run.add_argument("--out", help="ladder folder (default: the plan's folder; with --preset: PRESET-ladder)")
    run.add_argument("--preset", choices=["micro"],
                     help="build a packaged ladder from scratch: corpus, tokenizer, tasks, plan, training and "
                          "the exported CSVs and spec (micro: Debian documentation packages; docs/micro-ladder.md "
                          "gives the time it took on 2 cores)")
    run.add_argument("--preset-config", metavar="TOML",
                     help="a preset file of your own, in the layout of the packaged one "
                          "(taskladder/data/presets/micro.toml)")
    run.add_argument("--only", help="comma-separated run names to train (default: all)")
    run.add_argument("--resume", action="store_true",
                     help="continue interrupted runs from their latest readable checkpoint (finished runs are "
                          "always skipped, and their files left as they are)")
    run.add_argument("--parallel", type=int, default=1, help="runs trained at once on this machine (default: 1)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto")
    run.add_argument("--micro-batch", type=int, default=0,
                     help="sequences per forward pass and process; the batch is reached by accumulation")
    run.add_argument("--eval-every", type=int, default=0,
                     help="evaluate and write a CSV row every K steps (default: last step only)")
    run.add_argument("--eval-tasks", default="",
                     help="comma-separated tasks for in-loop evaluation: names (hellaswag, arc_easy:val) "
                          "or JSONL task files (see 'taskladder eval --help')")
    run.add_argument("--eval-limit", type=int, help="questions per task (default: all)")
    run.add_argument("--val-sequences", type=int, default=64, help="validation sequences for the LM loss (default: 64)")
    run.add_argument("--checkpoint-every", type=int, default=0,
                     help="checkpoint every K steps (default: last step only)")
    run.add_argument("--keep-checkpoints", type=int, default=2, help="recent checkpoints kept, 0 = all (default: 2)")
    run.add_argument("--max-epochs", type=float, default=1.0,
                     help="most passes over the training tokens a run may make (default: 1)")
    run.add_argument("--z-loss", type=float, default=0.0, help="z-loss weight (reference: 1e-5; default: off)")
    run.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default: 0)")
    run.add_argument("--wandb-project", help="log to this W&B project (needs wandb)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    slurm = run.add_argument_group("Slurm (submitit)")
    slurm.add_argument("--slurm", action="store_true", help="submit the runs as a Slurm job array")
    slurm.add_argument("--slurm-local", action="store_true", help="run the job array with submitit's local executor")
    slurm.add_argument("--slurm-partition", help="partition")
    slurm.add_argument("--slurm-time", type=int, default=24 * 60, help="minutes per run (default: 1440)")
    slurm.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per run, one DDP process each (default: 1)")
    slurm.add_argument("--slurm-cpus", type=int, default=8, help="CPUs per process (default: 8)")
    slurm.add_argument("--slurm-wait", action="store_true", help="wait for the jobs and report their outcome")


def run(args: argparse.Namespace) -> int:
    if args.ladder_command == "plan":
        return _plan(args)
    return _run(args)


def fitting_note(plan) -> str:
    """What the plan's shape means for fitting it: one line, or empty when the paper's laws fit."""
    runs = len(plan.runs)
    multiples = {r.multiple for r in plan.runs}
    if runs >= 5 and len(multiples) > 1:
        return ""
    why = (f"{runs} run(s)" if runs < 5 else "one token multiple per size") + \
        ": too few runs' ends to fit step 1 (5 parameters, and D must vary at fixed N)"
    return (f"note: {why}; fit this ladder with --variant loss-to-loss-lr (step 1 on every checkpoint, "
            "corrected for the learning rate; see docs/backtests.md)")


def _plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..errors import ConfigError
    from ..report.tables import atomic_write_text, render_table
    from ..train.plan import ladder_spec, parse_multiples, parse_tokens, plan_ladder, plan_toml

    if args.target is not None and args.target_tokens is None and ":" in args.target:
        # the form 'predict --target' takes for a run without data, SIZE:TOKENS
        args.target, args.target_tokens = args.target.split(":", 1)
    if (args.target is None) != (args.target_tokens is None):
        raise ConfigError("give the target as --target SIZE --target-tokens D (e.g. --target 7B --target-tokens 4T) "
                          "or --target SIZE:D")
    plan = plan_ladder(sizes=[s.strip() for s in args.sizes.split(",") if s.strip()],
                       multiples=parse_multiples(args.multiples), batch_divisor=args.batch_divisor,
                       target_size=args.target,
                       target_tokens=parse_tokens(args.target_tokens) if args.target_tokens else None)
    rows = [{"run": r.name, "N": r.n_params, "flops_per_token": r.flops_per_token, "tokens": r.tokens,
             "batch_seqs": r.batch_sequences, "batch_tokens": r.batch_tokens, "peak_lr": r.peak_lr,
             "warmup_steps": r.warmup_steps, "steps": r.steps, "total_flops": float(r.total_flops)}
            for r in plan.runs]
    frame = pd.DataFrame(rows)
    if args.format == "text":  # four significant digits, not four decimals, for small rates
        frame["peak_lr"] = [f"{lr:.4g}" for lr in frame["peak_lr"]]
    print(render_table(frame, args.format), end="")
    if args.format == "text":
        line = f"ladder compute: {plan.total_flops:.3e} FLOPs"
        if plan.compute_percent is not None:
            line += (f" = {plan.compute_percent:.2f} % of the target {plan.target_size} on "
                     f"{plan.target_tokens:,} tokens ({plan.target_flops:.3e} FLOPs)")
        print(line)
        note = fitting_note(plan)
        if note:
            print(note)
    out = Path(args.out)
    atomic_write_text(out / "plan.toml", plan_toml(plan))
    atomic_write_text(out / "ladder.toml", ladder_spec(plan, runs_dir="runs"))
    if args.format == "text":
        print(f"wrote {out / 'plan.toml'} and {out / 'ladder.toml'}")
    return 0


#: Options of 'ladder run' that a preset honours; it sets every other training option in its TOML.
_PRESET_OPTIONS = {"ladder_command", "plan", "data", "out", "preset", "preset_config", "resume", "no_progress"}


def _ignored_by_preset(args: argparse.Namespace) -> list[str]:
    """The flags of ``args`` that differ from their defaults but that a preset would not use.

    The defaults come from the parser itself (a fresh parse of ``run --preset micro``), so a new
    option is checked without being listed here; a preset that silently dropped ``--device cuda``
    trained on another device than asked.
    """
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args(["run", "--preset", "micro"]))
    return ["--" + dest.replace("_", "-") for dest, value in vars(args).items()
            if dest in defaults and dest not in _PRESET_OPTIONS and value != defaults[dest]]


def _run_preset(args: argparse.Namespace) -> int:
    import sys

    from ..errors import ConfigError
    from ..train.micro import load_preset, packaged_preset, run_preset

    if args.plan or args.data:
        raise ConfigError("a preset builds its own plan and data; drop the plan file and --data")
    if args.preset and args.preset_config:
        raise ConfigError("give --preset or --preset-config, not both")
    ignored = _ignored_by_preset(args)
    if ignored:
        raise ConfigError(f"{', '.join(ignored)}: not used with a preset, which sets its training options in its "
                          "TOML (e.g. [ladder] parallel, seed, evals_per_run); copy taskladder/data/presets/micro.toml, "
                          "edit it and pass it with --preset-config, or train a plan with 'ladder run PLAN --data DATA'")
    preset = load_preset(args.preset_config or packaged_preset(args.preset))
    out = Path(args.out or f"{preset.name}-ladder")
    result = run_preset(preset, out, resume=args.resume, progress=not args.no_progress and sys.stderr.isatty(),
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    failed = 0
    for status in result.statuses:
        detail = f" ({status.message})" if status.message else ""
        print(f"{status.name}: {status.state}{detail} -> {status.csv}")
        failed += status.state == "failed"
    if failed:
        print(f"{failed} run(s) failed; fix the cause and re-run with --resume", file=sys.stderr)
        return 1
    minutes = result.timings["total"] / 60
    print(f"ladder spec: {result.export / 'ladder.toml'} ({minutes:.1f} min); "
          f"fit it with: taskladder predict {result.export / 'ladder.toml'} --variant two-step")
    return 0


def _run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..errors import ConfigError

    if args.preset or args.preset_config:
        return _run_preset(args)
    if not args.plan or not args.data:
        raise ConfigError("give a plan file and --data, or --preset micro")
    from ..train.launch import SlurmOptions, prepare_ladder, run_ladder
    from ..train.plan import load_plan

    from ..train.trainer import resolve_device

    if args.device == "cuda":
        resolve_device("cuda")  # fail before writing anything when there is no GPU
    plan = load_plan(args.plan)
    out = Path(args.out) if args.out else Path(args.plan).parent
    tasks = tuple(t.strip() for t in args.eval_tasks.split(",") if t.strip())
    only = [n.strip() for n in args.only.split(",")] if args.only else None
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and (args.parallel > 1 or args.slurm or args.slurm_local):
        raise ConfigError("under torchrun, runs are trained one at a time in the launched processes; "
                          "drop --parallel and --slurm")
    configs = prepare_ladder(
        plan, data=args.data, out=out, only=only, micro_batch_sequences=args.micro_batch,
        eval_every=args.eval_every, eval_tasks=tasks, eval_limit=args.eval_limit,
        val_sequences=args.val_sequences, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, max_epochs=args.max_epochs, z_loss=args.z_loss, seed=args.seed,
        device=args.device, wandb_project=args.wandb_project)
    slurm = None
    if args.slurm or args.slurm_local:
        slurm = SlurmOptions(partition=args.slurm_partition, time_minutes=args.slurm_time,
                             gpus_per_node=args.slurm_gpus, cpus_per_task=args.slurm_cpus,
                             local=args.slurm_local, wait=args.slurm_wait)
    statuses = run_ladder(configs, resume=args.resume, parallel=args.parallel, slurm=slurm,
                          progress=not args.no_progress and sys.stderr.isatty())
    if distributed and int(os.environ.get("RANK", "0")) != 0:
        return 0
    failed = 0
    for status in statuses:
        detail = f" ({status.message})" if status.message else ""
        print(f"{status.name}: {status.state}{detail} -> {status.csv}")
        failed += status.state == "failed"
    print(f"ladder spec: {out / 'ladder.toml'}")
    return 1 if failed else 0
