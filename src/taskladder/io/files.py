"""Writing output files: atomically, with the user's permissions, and only when something changed.

Every file taskladder writes goes through a temporary file in the destination folder and an
atomic rename, so a reader (or an interrupted command) sees the old file or the new one, never
half of one. :func:`tempfile.mkstemp` creates its file with mode 0600 whatever the umask; the
rename would carry that mode over, leaving results unreadable to the user's group, so the
temporary file is given the mode a plain ``open()`` would have made before it is renamed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "atomic_write_bytes", "write_if_changed", "file_mode", "apply_file_mode"]

_MODE: int | None = None


def _umask() -> int:
    try:  # Linux ≥ 4.7 reports it without changing it (os.umask would, for every thread)
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new regular file gets under the process's umask (0o666 & ~umask)."""
    global _MODE
    if _MODE is None:
        _MODE = 0o666 & ~_umask()
    return _MODE


def apply_file_mode(path: str | os.PathLike[str]) -> None:
    """Give ``path`` (a file just written through a private temporary) the user's default mode."""
    os.chmod(path, file_mode())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    The folder is created if needed; the file gets the mode of :func:`file_mode`. On any failure
    the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        # name the file the user asked for, not the temporary one (a full disk, a file in the way)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds exactly it; returns whether it wrote.

    Re-running a command on finished work then leaves every file, and its modification time, as it was.
    """
    path = Path(path)
    data = text.encode("utf-8")
    try:
        if path.is_file() and path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write_bytes(path, data)
    return True
