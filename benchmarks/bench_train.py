"""Trainer throughput against a bare PyTorch loop on the same model, data and batch.

The bare loop does the same arithmetic as :func:`taskladder.train.trainer.train` (AdamW with the
same parameter groups, the same learning-rate schedule, clipping, the same batches read from the
same memory-mapped file) and nothing else. The trainer adds its bookkeeping: progress state,
per-step loss logging, the CSV row and checkpoint at the last step. Both are timed end to end
(model construction to the end of the last step) and the medians over repeats are printed;
the trainer's overhead is the median over repeats of ``1 − trainer tokens/s ÷ bare tokens/s``
(each repeat runs the two back to back, which keeps the ratio meaningful on a shared machine).

On a GPU (``--device cuda``) the script also prints the trainer's MFU for the chosen size:
MFU = ``flops_per_token · tokens/s ÷ peak`` with
``flops_per_token`` from :mod:`taskladder.sizes` and ``--peak-tflops`` the accelerator's bf16 peak.

Usage:
  python benchmarks/bench_train.py                       # micro-m on this CPU, 2 threads
  python benchmarks/bench_train.py --size micro-l --steps 20 --repeats 3
  python benchmarks/bench_train.py --device cuda --size 190M --batch 16 --micro-batch 8 --peak-tflops 989
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def bare_loop(config, device) -> float:
    """Tokens per second of the plain loop (same model, data, optimizer and schedule)."""
    import torch
    import torch.nn.functional as F

    from taskladder.sizes import get_size
    from taskladder.train.data import TokenData
    from taskladder.train.model import build_model
    from taskladder.train.schedule import learning_rate

    began = time.perf_counter()
    data = TokenData(config.data, sequence_length=config.sequence_length, seed=config.seed)
    model = build_model(get_size(config.size), seed=config.seed, eos_token_id=data.eos_token_id, device=device)
    embedding = model.get_input_embeddings().weight
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in model.parameters() if p is not embedding], "weight_decay": 0.1},
         {"params": [embedding], "weight_decay": 0.0}], lr=config.peak_lr, betas=(0.9, 0.95), eps=1e-8)
    micro = config.micro_batch_sequences or config.batch_sequences
    accumulation = config.batch_sequences // micro
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else \
        (lambda: torch.autocast("cpu", enabled=False))
    for step in range(1, config.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, peak=config.peak_lr, warmup_steps=config.warmup_steps,
                                        total_steps=config.steps)
        batch = torch.from_numpy(data.samples((step - 1) * config.batch_sequences, config.batch_sequences)).to(device)
        for i in range(accumulation):
            chunk = batch[i * micro:(i + 1) * micro]
            with autocast():
                logits = model(input_ids=chunk[:, :-1]).logits
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), chunk[:, 1:].reshape(-1))
            (loss / accumulation).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return config.steps * config.batch_tokens / (time.perf_counter() - began)


def trainer(config) -> float:
    import shutil

    from taskladder.train.trainer import train

    shutil.rmtree(config.out, ignore_errors=True)
    began = time.perf_counter()
    train(config)
    return config.steps * config.batch_tokens / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="micro-m")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16, help="global batch in sequences")
    parser.add_argument("--micro-batch", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="accelerator peak for MFU")
    args = parser.parse_args()

    import torch

    from taskladder.sizes import get_size
    from taskladder.train.config import TrainConfig
    from taskladder.train.data import prepare_data
    from taskladder.train.trainer import resolve_device
    from train_support import write_corpus

    load_start = os.getloadavg()[0]  # timings depend on what else the machine runs: say how busy it was
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    size = get_size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        needed = args.steps * args.batch * (size.sequence_length + 1)
        documents = max(200, needed // 60)
        prepare_data([write_corpus(root / "raw", documents=documents)], root / "data",
                     bpe_vocab_size=min(size.vocab_size, 1024))
        config = TrainConfig(name="bench", size=args.size, data=str(root / "data"), out=str(root / "out"),
                             steps=args.steps, batch_sequences=args.batch, micro_batch_sequences=args.micro_batch,
                             peak_lr=1e-3, warmup_steps=max(1, args.steps // 10), val_sequences=4,
                             device=args.device, max_epochs=100.0)
        bare, ours = [], []
        bare_loop(config, device)  # warm-up (allocator, kernels)
        for _ in range(args.repeats):  # interleaved so that drifting machine load hits both alike
            bare.append(bare_loop(config, device))
            ours.append(trainer(config))
    b, t = statistics.median(bare), statistics.median(ours)
    # Each repeat runs the two back to back, so their ratio is robust to load drifting between repeats.
    overhead = statistics.median(1 - o / r for o, r in zip(ours, bare))
    print(f"size {args.size} (N={size.n_params:,}), batch {args.batch}×{size.sequence_length} tokens, "
          f"{args.steps} steps, {args.threads} threads, device {device}, {args.repeats} repeats")
    print(f"load average (1 min) at start {load_start:.1f}, at end {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} CPUs)")
    print(f"bare loop  tokens/s: median {b:,.0f}  (runs: {', '.join(f'{x:,.0f}' for x in bare)})")
    print(f"trainer    tokens/s: median {t:,.0f}  (runs: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"trainer overhead: {100 * overhead:.1f} % (median over repeats of 1 − trainer/bare; "
          f"ratio of medians {100 * (1 - t / b):.1f} %)")
    if args.peak_tflops:
        print(f"trainer MFU: {100 * size.flops_per_token * t / (args.peak_tflops * 1e12):.1f} % "
              f"(flops_per_token {size.flops_per_token:,} at sequence length {size.sequence_length})")


if __name__ == "__main__":
    main()
