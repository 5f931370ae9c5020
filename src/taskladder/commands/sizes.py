"""List the known model sizes with their architecture, N (non-embedding parameters, untied
output projection included) and training FLOPs per token, all computed from the architecture.

Example:
  taskladder sizes
  taskladder sizes --format csv
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "csv", "json", "markdown"], default="text",
                        help="output format (default: text)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..report.tables import render_table
    from ..sizes import SIZES, size_names

    rows = []
    for name in size_names():
        s = SIZES[name]
        rows.append({"size": name, "d_model": s.d_model, "n_heads": s.n_heads, "n_layers": s.n_layers,
                     "mlp_hidden": s.mlp_hidden, "vocab_size": s.vocab_size, "n_params": s.n_params,
                     "flops_per_token": s.flops_per_token})
    print(render_table(pd.DataFrame(rows), args.format), end="")
    return 0
