"""What the OLMo-ladder benchmarks share: their command line and the ladder they read.

The benchmarks run as scripts (``python benchmarks/NAME.py``), which puts this folder on the path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The paper's ladder data, beside the checkout as CI lays it out.
DATA = ROOT.parent / "shared" / "data" / "olmo-ladder"


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser showing ``doc`` as its help, with ``--data``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the OLMo ladder's data folder (default: %(default)s)")
    return parser


def olmo_ladder(data: Path):
    """The paper's ladder (its spec, with ``data`` as the runs' folder), loaded."""
    from taskladder.analysis.paper import paper_spec
    from taskladder.ladder import load_ladder

    return load_ladder(paper_spec(data))
