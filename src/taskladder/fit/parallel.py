"""Independent fits on several processes.

The paper's own optimizer (SciPy's L-BFGS-B, :func:`~.optimize.fit_huber_log_lbfgsb`) fits one
problem at a time and cannot be batched like the default Levenberg-Marquardt solver
(:mod:`.lm`); its cost is SciPy's per-evaluation overhead, paid a thousand times per fit. A paper-
mode law with intervals fits every task and each of its nested-backtest folds, some fifty
independent fits, so they are spread over the machine's cores instead.

Each fit runs the same code on the same data in a forked copy of this process, so its result is
to the bit the one it gets here; only where it runs changes. Processes are forked (cheap, nothing
is re-imported); where the platform cannot fork, where one core is available, or where the
environment variable ``TASKLADDER_WORKERS`` is ``1``, every fit runs here, one after another; so
does it in a process that runs other threads (a fork copies only the calling thread, and any lock
another one holds stays held in the copy).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any, Callable, Sequence

__all__ = ["workers", "map_in_processes"]

#: Fewest calls worth forking for: below this the processes' start costs more than it saves.
MIN_CALLS = 4


def workers(n_calls: int) -> int:
    """Processes to spread ``n_calls`` independent calls over (1: run them here).

    ``TASKLADDER_WORKERS`` caps the count (``1`` turns processes off); otherwise the cores this
    process may run on.
    """
    if n_calls < MIN_CALLS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if threading.active_count() > 1:
        return 1  # forking a process that runs other threads can copy a lock one of them holds
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity
        cores = os.cpu_count() or 1
    limit = os.environ.get("TASKLADDER_WORKERS", "").strip()
    if limit:
        try:
            cores = min(cores, max(1, int(limit)))
        except ValueError:
            pass  # an unreadable setting leaves the default
    return max(1, min(cores, n_calls))


def _call(function: Callable, args: tuple) -> tuple[bool, Any]:
    try:
        return True, function(*args)
    except Exception as exc:  # noqa: BLE001 - handed back to the caller, which raises it where it belongs
        return False, exc


def map_in_processes(function: Callable, calls: Sequence[tuple]) -> list[Any]:
    """``[function(*args) for args in calls]``, spread over :func:`workers` forked processes.

    ``function`` must be a module-level function (it is named, not copied, into the workers) and
    its results picklable. A call that raises gives its exception as its entry (not raised here).
    """
    n = workers(len(calls))
    if n <= 1:
        return [value for _, value in (_call(function, args) for args in calls)]
    from concurrent.futures import ProcessPoolExecutor

    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork")) as pool:
            done = list(pool.map(_call, [function] * len(calls), calls, chunksize=max(1, len(calls) // (4 * n))))
    except Exception:  # noqa: BLE001 - a pool that cannot start or hand a result back: run them here
        done = [_call(function, args) for args in calls]
    return [value for _, value in done]
