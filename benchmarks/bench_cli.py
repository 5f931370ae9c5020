"""Command-line start-up: wall time of whole `taskladder` processes, and what each one imports.

Times (median of several runs, wall clock, fresh process each) `taskladder --help`, `taskladder
predict --help` and `taskladder predict SPEC --json --no-intervals` on the paper's spec, and
lists which heavy libraries (numpy, pandas, scipy, matplotlib, torch) each of them imports. The
help screens should import none of them; predict needs numpy and pandas, never matplotlib or
torch when it writes no figures.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_cli.py [--repeats 7] [--spec specs/olmo-paper.toml]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "torch")
# Runs the CLI in-process, then reports which heavy libraries ended up imported (stderr, one JSON line).
_PROBE = ("import sys, json; from taskladder.cli import main\n"
          "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
          f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
          "sys.exit(code)")


def executable() -> list[str]:
    """The installed ``taskladder`` script beside this Python (what a user runs)."""
    script = shutil.which("taskladder", path=str(Path(sys.executable).parent)) or shutil.which("taskladder")
    if script is None:
        sys.exit("bench_cli: no 'taskladder' script found; install the package (pip install -e .)")
    return [script]


def wall(argv: list[str], repeats: int, env: dict[str, str]) -> float:
    """Median wall seconds of ``taskladder ARGV`` as a fresh process (output discarded)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([*executable(), *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imported(argv: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--spec", type=Path, default=ROOT / "specs" / "olmo-paper.toml",
                        help="ladder spec for the predict case (default: the paper's, data in ../shared)")
    args = parser.parse_args()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    spec = str(args.spec)
    cases = [("help", ["--help"]), ("predict_help", ["predict", "--help"]),
             ("predict_json", ["predict", spec, "--json", "--no-intervals"])]
    print(f"CLI start-up, median of {args.repeats} fresh processes, wall clock "
          f"(load average {os.getloadavg()[0]:.1f} at start)")
    for key, argv in cases:
        seconds = wall(argv, args.repeats, env)
        heavy = imported(argv, env)
        shown = " ".join(a if a != spec else "SPEC" for a in argv)
        print(f"{key}: {seconds:.2f} s  (taskladder {shown}; imports: {', '.join(heavy) or 'none of ' + '/'.join(HEAVY)})")


if __name__ == "__main__":
    main()
