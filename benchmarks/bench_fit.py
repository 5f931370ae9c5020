"""Fitting speed on the paper's ladder: load 16 runs + 2 targets, fit and predict 8 tasks for both.

Prints medians of several repetitions of in-process CPU time (one core: run with
OPENBLAS_NUM_THREADS=1), the wall time of the whole `taskladder predict ... --json` process, and
whether `taskladder --help` imports torch or matplotlib.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_fit.py [--data ../shared/data/olmo-ladder]
"""

from __future__ import annotations

import argparse
import os
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(data: Path, mode: str, repeats: int, variant: str | None = None) -> tuple[float, float, float]:
    from taskladder.analysis.paper import paper_spec
    from taskladder.ladder import load_ladder
    from taskladder.predict import predict_ladder

    spec = paper_spec(data)
    predict_ladder(load_ladder(spec), mode=mode, variant=variant)  # warm caches of lazily imported modules
    totals, loads = [], []
    for _ in range(repeats):
        gc.collect()  # as timeit does: time this repetition's work, not collecting the last one's garbage
        start = time.process_time()
        ladder = load_ladder(spec)
        loaded = time.process_time()
        predict_ladder(ladder, mode=mode, variant=variant)
        totals.append(time.process_time() - start)
        loads.append(loaded - start)
    total, load = statistics.median(totals), statistics.median(loads)
    return total, load, total - load


def cli_wall(spec: Path, mode: str, repeats: int, *extra: str) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "taskladder.cli", "predict", str(spec), "--method", mode, "--json",
                        *extra], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def help_imports() -> str:
    code = ("import sys; from taskladder.cli import build_parser; build_parser().format_help(); "
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "olmo-ladder")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    # Timings depend on what else the machine runs: say how busy it was.
    print(f"load average {os.getloadavg()[0]:.1f} at start, {os.cpu_count()} CPUs")
    print("in-process CPU time, 16 runs + 2 targets, 8 tasks (median of", args.repeats, "runs)")
    for mode, variant in (("default", "loss-to-loss"), ("default", "ensemble"), ("default", "two-step"),
                          ("paper", "two-step")):
        total, load, fit = cpu_seconds(args.data, mode, args.repeats, variant)
        print(f"  {mode:8s} {variant:12s} total {total:.3f} s  (load {load:.3f} s, fit+predict {fit:.3f} s)"
              "   goal < 0.150 s")
    spec = ROOT / "specs" / "olmo-paper.toml"
    for mode in ("default", "paper"):
        for extra in ((), ("--no-intervals",)):
            label = " ".join(("--method", mode, "--json") + extra)
            print(f"  taskladder predict {label}: {cli_wall(spec, mode, 5, *extra):.2f} s wall (median of 5)"
                  "   goal < 1.5 s")
    torch_loaded, mpl_loaded = help_imports().split()
    print(f"  taskladder --help imports torch: {torch_loaded}, matplotlib: {mpl_loaded}")


if __name__ == "__main__":
    main()
