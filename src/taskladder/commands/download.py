"""Download the paper's public ladder data (the OLMo ladder's evaluation logs, Apache-2.0) into
DIR/ladder-runs/, so that 'taskladder paper --data DIR' and the example spec work. Needs internet.
Files already present with the same size are kept; every file is written atomically.

Examples:
  taskladder download olmo-ladder
  taskladder paper --data olmo-ladder -o paper-out
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Public location of the data: the OLMo-ladder repository at the paper's commit.
DEFAULT_BASE_URL = ("https://raw.githubusercontent.com/allenai/OLMo-ladder/"
                    "67a3f440f787d020da35e3ca8eeae475fae754f5/src/scripts/paper/data/ladder-runs")


def data_files() -> list[str]:
    """Names of the ladder CSVs of the paper (train runs, 0.5xC and rerun extras, targets)."""
    names = []
    for prefix in ("190M", "370M", "760M", "1B"):
        names += [f"{prefix}-{k}xC.csv" for k in ("0.5", "1", "2", "5", "10")]
        names.append(f"{prefix}-1xC-rerun.csv")
    return names + ["peteish7_eval_anneal.csv", "peteish13_eval_final.csv"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="where to put ladder-runs/")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL,
                        help="where the CSVs are (default: the OLMo-ladder repository at the paper's commit)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per file (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    import sys
    import urllib.error
    import urllib.request

    from ..errors import DataError
    from ..io.files import atomic_write_bytes

    target_dir = args.folder / "ladder-runs"
    target_dir.mkdir(parents=True, exist_ok=True)
    names = data_files()
    for i, name in enumerate(names, 1):
        url = f"{args.base_url.rstrip('/')}/{name}"
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(f"cannot download {url}: {reason} (no internet? the files can also be copied by hand "
                            f"into {target_dir})") from None
        destination = target_dir / name
        if destination.is_file() and destination.stat().st_size == len(payload):
            print(f"[{i}/{len(names)}] {name}: already there", file=sys.stderr)
            continue
        atomic_write_bytes(destination, payload)
        print(f"[{i}/{len(names)}] {name}: {len(payload) / 1024:.0f} KiB", file=sys.stderr)
    print(f"downloaded {len(names)} files to {target_dir}")
    return 0
