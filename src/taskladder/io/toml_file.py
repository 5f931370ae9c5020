"""Read a TOML file the project takes as input (ladder specs, plans, presets), with one-line errors.

Python 3.11 has ``tomllib``; on 3.10 the ``tomli`` backport (a dependency there) stands in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["read_toml"]


def read_toml(path: str | Path, what: str) -> dict:
    """The document in ``path``; ``what`` names the file in errors (e.g. ``"spec file"``).

    Raises
    ------
    ConfigError
        ``PATH: spec file not found``, ``PATH: TOML syntax error: ... (at line L, column C)`` or
        ``PATH: not a UTF-8 text file``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
