"""A progress bar on stderr for long loops: tqdm when it is installed, else a one-line counter.

Fitting installs only numpy, SciPy, pandas and matplotlib, so tqdm (present with the training and
evaluation extras) is optional here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def progress(items: Iterable[Item], *, total: int, desc: str, enabled: bool) -> Iterator[Item]:
    """Yield ``items``, showing how many of ``total`` are done when ``enabled``."""
    if not enabled:
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        yield from _counter(items, total=total, desc=desc)
        return
    yield from tqdm(items, total=total, desc=desc, dynamic_ncols=True)


def _counter(items: Iterable[Item], *, total: int, desc: str) -> Iterator[Item]:
    started = time.perf_counter()
    for done, item in enumerate(items):
        print(f"\r{desc}: {done}/{total} ({time.perf_counter() - started:.0f} s)", end="", file=sys.stderr, flush=True)
        yield item
    print(f"\r{desc}: {total}/{total} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
