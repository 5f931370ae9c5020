"""Read JSON Lines files (plain or gzipped) with errors that name the file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

from ..errors import DataError

__all__ = ["iter_jsonl"]


def iter_jsonl(path: str | Path) -> Iterator[tuple[str, object]]:
    """Yield ``(where, record)`` for every non-blank line; ``where`` is ``"file:line"``.

    Raises
    ------
    DataError
        On a line that is not JSON.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a JSON Lines file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                where = f"{path}:{line_no}"
                try:  # line by line, so that a bad byte is named on its own line
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"{where}: not UTF-8 text ({exc.reason})") from None
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                    raise DataError(f"{where}: not JSON ({reason}; expected one JSON object per line)") from None
                yield where, record
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})") from None
