"""Train one run from its config file in a fresh process: ``python -m taskladder.train.worker CONFIG``.

Used by ``taskladder ladder run --parallel N``; a user error is one line on stderr and exit
status 2, as in the CLI.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from ..cli import _one_line_warnings
from ..errors import TaskLadderError
from .launch import run_from_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskladder.train.worker", description=__doc__)
    parser.add_argument("config", help="run config (config.json written by 'taskladder ladder run')")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    args = parser.parse_args(argv)
    warnings.showwarning = _one_line_warnings("ladder")
    try:
        run_from_config(args.config, resume=args.resume)
    except TaskLadderError as exc:
        print(f"taskladder: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
