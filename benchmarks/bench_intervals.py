"""Speed of the prediction intervals: 1,000 bootstrap resamples for 8 tasks and 2 targets.

The default law (loss-to-loss) refits 1,000 resamples of its C4 law (shared by every task),
transfer map and step 2, and, for the reliability verdict's comparison, of the two-step laws
through task bpb and through C4 loss (batched Levenberg-Marquardt). The ensemble and the paper's
two-step law are timed too. Prints the median CPU time of several repetitions
(goal: under 10 s on this 2-core machine).

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_intervals.py [--repeats 3]
"""

from __future__ import annotations

import os
import statistics
import time

import olmo


def main() -> None:
    parser = olmo.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    # Timings depend on what else the machine runs: say how busy it was.
    print(f"load average {os.getloadavg()[0]:.1f} at start, {os.cpu_count()} CPUs")

    from taskladder.predict import predict_ladder

    ladder = olmo.olmo_ladder(args.data)
    predict_ladder(ladder)
    for variant in ("loss-to-loss", "ensemble", "two-step"):
        cpu, wall = [], []
        for _ in range(args.repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            predict_ladder(ladder, variant=variant, intervals=True, n_bootstrap=args.bootstrap)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        print(f"{variant:9s} {args.bootstrap} resamples x 8 tasks x 2 targets: CPU {statistics.median(cpu):.2f} s, "
              f"wall {statistics.median(wall):.2f} s (median of {args.repeats})   goal < 10 s")


if __name__ == "__main__":
    main()
