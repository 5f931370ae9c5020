"""A minimal TOML writer for the flat files taskladder writes (plans, ladder specs).

Reading uses the standard library's ``tomllib``; writing needs only top-level scalars, tables of
scalars and arrays of tables of scalars, which this module covers without a dependency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["dumps"]

Scalar = str | int | float | bool


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value!r} here")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    if key and all(c.isalnum() or c in "_-" for c in key):
        return key
    return _value(key)


def _pairs(table: Mapping[str, object]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]


def dumps(document: Mapping[str, object], *, header: str = "") -> str:
    """Render ``document`` as TOML.

    Top-level scalars come first, then each mapping as a ``[table]`` and each sequence of
    mappings as ``[[array]]`` entries. ``None`` values are left out (TOML has no null).
    ``header`` lines are written as ``#`` comments at the top.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    scalars = {k: v for k, v in document.items()
               if not isinstance(v, Mapping) and not _is_table_array(v)}
    lines += _pairs(scalars)
    for key, value in document.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_key(key)}]", *_pairs(value)]
        elif _is_table_array(value):
            for item in value:  # type: ignore[union-attr]
                lines += ["", f"[[{_key(key)}]]", *_pairs(item)]
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table_array(value: object) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(v, Mapping) for v in value))
