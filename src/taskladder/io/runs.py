"""Read one run's evaluation log: a W&B-style CSV export with one row per evaluated checkpoint.

The format is the OLMo ladder's (see ``../shared/data/olmo-ladder/README.md``): ``_step``,
``throughput/total_tokens`` (or ``batch_size_in_tokens`` to derive it), and one column per metric,
e.g. ``eval/downstream_bpb/hellaswag_val_rc_5shot_bpb``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["read_run_csv", "in_checkpoint_order", "tokens_seen", "TOKENS_COLUMN", "STEP_COLUMN", "BATCH_TOKENS_COLUMN",
           "LR_COLUMN", "LR_PEAK_COLUMN"]

TOKENS_COLUMN = "throughput/total_tokens"
STEP_COLUMN = "_step"
BATCH_TOKENS_COLUMN = "batch_size_in_tokens"
LR_COLUMN = "optim/learning_rate_group0"
LR_PEAK_COLUMN = "learning_rate_peak"


def read_run_csv(path: str | Path) -> pd.DataFrame:
    """Read a run's CSV; every column must be numeric (empty cells become NaN).

    Raises
    ------
    DataError
        If the file is missing, empty, not a CSV, or a column holds text.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a run's CSV file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        # Fast path: every column numeric (one float block, no type inference per column).
        frame = pd.read_csv(path, dtype=np.float64)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty (expected a CSV with a header and one row per checkpoint)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    except ValueError:
        frame = _read_with_text(path)
    if frame.empty:
        raise DataError(f"{path}: no rows (expected one row per evaluated checkpoint)")
    return in_checkpoint_order(frame)


def in_checkpoint_order(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint, in training order.

    A W&B export need not be sorted, and may hold several rows for one step (metrics logged in
    separate calls, or a resumed run logging a step again). Rows of one ``_step`` are merged, a
    later non-empty value winning, and the checkpoints sorted by step (by tokens seen when there is
    no step column). A file already in order is returned as it is. When rows move,
    ``frame.attrs["file_rows"]`` keeps each row's line number in the file (for error messages).
    """
    key = STEP_COLUMN if STEP_COLUMN in frame.columns else TOKENS_COLUMN if TOKENS_COLUMN in frame.columns else None
    if key is None or len(frame) < 2:
        return frame
    order = frame[key].to_numpy()
    if not np.all(np.isfinite(order)) or np.all(np.diff(order) > 0):
        return frame  # in order (or with a missing key, which the checks downstream name)
    lines = pd.Series(np.arange(len(frame)) + 2, index=frame.index, name="__line__")
    merged = pd.concat([frame, lines], axis=1).groupby(key, sort=True).last().reset_index()
    out = merged[list(frame.columns)].reset_index(drop=True)
    out.attrs["file_rows"] = merged["__line__"].to_numpy()
    return out


def _read_with_text(path: Path) -> pd.DataFrame:
    """Slow path for a file with a non-numeric cell: find it and name it."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=True)
    for column in frame.columns:
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & converted.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: column {column!r} row {row + 2} holds {frame[column].iloc[row]!r} "
                            "(expected a number)")
    raise DataError(f"{path}: could not read the file as numbers")


def tokens_seen(frame: pd.DataFrame, path: str | Path = "<run>") -> np.ndarray:
    """Tokens seen at each checkpoint.

    ``throughput/total_tokens`` when the column exists, otherwise ``_step × batch_size_in_tokens``
    (the 13B target file has no token column).
    """
    if TOKENS_COLUMN in frame.columns and frame[TOKENS_COLUMN].notna().all():
        tokens = _growing(frame[TOKENS_COLUMN].to_numpy(dtype=float), frame, path, TOKENS_COLUMN)
        _at_least_one_batch(tokens, frame, path)
        return tokens
    if STEP_COLUMN in frame.columns and BATCH_TOKENS_COLUMN in frame.columns:
        tokens = frame[STEP_COLUMN].to_numpy(dtype=float) * frame[BATCH_TOKENS_COLUMN].to_numpy(dtype=float)
        if np.all(np.isfinite(tokens)):
            return _growing(tokens, frame, path, f"{STEP_COLUMN} × {BATCH_TOKENS_COLUMN}")
    raise DataError(f"{path}: cannot tell tokens seen: needs column {TOKENS_COLUMN!r}, or both "
                    f"{STEP_COLUMN!r} and {BATCH_TOKENS_COLUMN!r}, without empty cells")


def _at_least_one_batch(tokens: np.ndarray, frame: pd.DataFrame, path: str | Path) -> None:
    """A checkpoint has seen at least one batch: fewer tokens means a column in another unit
    (thousands, billions) or a batch column in sequences, either of which misplaces the fits."""
    if BATCH_TOKENS_COLUMN not in frame.columns:
        return
    batch = frame[BATCH_TOKENS_COLUMN].to_numpy(dtype=float)
    bad = np.flatnonzero(np.isfinite(batch) & (tokens < batch))
    if bad.size:
        lines = frame.attrs.get("file_rows")
        line = int(lines[bad[0]]) if lines is not None else int(bad[0]) + 2
        raise DataError(f"{path}: row {line} has {tokens[bad[0]]:.6g} tokens seen ({TOKENS_COLUMN}), less than one "
                        f"batch of {batch[bad[0]]:.6g} ({BATCH_TOKENS_COLUMN}); are the two in the same unit?")


def _growing(tokens: np.ndarray, frame: pd.DataFrame, path: str | Path, source: str) -> np.ndarray:
    """``tokens`` if they are positive and grow from checkpoint to checkpoint, else a DataError."""
    bad = np.flatnonzero(tokens <= 0) if np.any(tokens <= 0) else np.flatnonzero(np.diff(tokens) <= 0) + 1
    if bad.size:
        lines = frame.attrs.get("file_rows")
        line = int(lines[bad[0]]) if lines is not None else int(bad[0]) + 2
        raise DataError(f"{path}: tokens seen ({source}) must be positive and grow with the steps; row {line} "
                        f"has {tokens[bad[0]]:.6g}" + (f" after {tokens[bad[0] - 1]:.6g}" if bad[0] > 0 else ""))
    return tokens
