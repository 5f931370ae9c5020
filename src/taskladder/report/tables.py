"""Render result tables as plain text, CSV, JSON, Markdown or LaTeX, and write them atomically.

Only pandas and the standard library are used (no ``tabulate`` or ``jinja2``), so every format
works with the core dependencies.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.files import atomic_write_text

__all__ = ["render_table", "write_table", "atomic_write_text", "FORMATS", "to_jsonable"]

FORMATS = ("text", "csv", "json", "markdown", "latex")
_SUFFIX = {".csv": "csv", ".json": "json", ".md": "markdown", ".tex": "latex", ".txt": "text"}


def _cell(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 10 ** (-digits)):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return str(value)


def to_jsonable(value: object) -> object:
    """Convert numpy scalars to Python ones and NaN to ``None`` (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return None if not math.isfinite(v) else v
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _is_number_column(column: pd.Series) -> bool:
    # Booleans render as yes/no, so they align as text, not as numbers.
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _text(frame: pd.DataFrame, digits: int) -> str:
    cells = [[_cell(v, digits) for v in row] for row in frame.itertuples(index=False)]
    header = [str(c) for c in frame.columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = [_is_number_column(frame[c]) for c in frame.columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out) + "\n"


def _markdown(frame: pd.DataFrame, digits: int) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    align = "|" + "|".join("---:" if _is_number_column(frame[c]) else "---"
                           for c in frame.columns) + "|"
    rows = ["| " + " | ".join(_cell(v, digits).replace("|", "\\|") for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, align, *rows]) + "\n"


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def _latex_escape(text: str) -> str:
    # One pass, so the braces of an inserted \textbackslash{} are not escaped again.
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _LATEX_SPECIALS[m.group()], text)


def _latex(frame: pd.DataFrame, digits: int) -> str:
    spec = "".join("r" if _is_number_column(frame[c]) else "l" for c in frame.columns)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(_cell(v, digits)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def render_table(frame: pd.DataFrame, fmt: str = "text", *, digits: int = 4) -> str:
    """Render ``frame`` as ``text``, ``csv``, ``json`` (records), ``markdown`` or ``latex``."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(to_jsonable(frame.to_dict(orient="records")), indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(frame, digits)
    if fmt == "latex":
        return _latex(frame, digits)
    if fmt == "text":
        return _text(frame, digits)
    raise ValueError(f"unknown table format {fmt!r}; use one of {FORMATS}")


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str], *, digits: int = 6) -> Path:
    """Write ``frame`` in the format implied by the file suffix (.csv .json .md .tex .txt)."""
    path = Path(path)
    fmt = _SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the table format of {path}; use one of {sorted(_SUFFIX)}")
    return atomic_write_text(path, render_table(frame, fmt, digits=digits))
