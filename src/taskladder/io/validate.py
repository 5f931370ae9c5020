"""Checks of user input at the door, shared by every entry point (flags, specs, imports, logs).

Each check raises :class:`~taskladder.errors.ConfigError` (a flag or setting) or
:class:`~taskladder.errors.DataError` (a value in a file) whose message names where the value
came from, what was expected and what was found, so that the command line can print it as one
line with exit status 2. The bounds are physical, not statistical: they catch values no real
ladder can have (a percentage where a fraction belongs, 10^300 parameters, a log-likelihood
above zero), never values that are merely unusual.

Nothing here imports torch, pandas or numpy at module level.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

__all__ = ["MAX_N_PARAMS", "MAX_TOKENS", "MAX_MULTIPLE", "MIN_BOOTSTRAP", "MAX_BOOTSTRAP", "MAX_SEED", "check_int_flag",
           "check_seed", "check_bootstrap", "check_name_list", "check_n_params", "check_tokens",
           "check_fraction", "check_output_file", "check_output_folder", "safetensors_problem",
           "has_control_characters", "check_run_spec", "check_distinct_files", "check_imported_run"]

#: Largest parameter count accepted: 10^15, a thousand times today's largest dense models.
MAX_N_PARAMS = 1e15
#: Largest token count accepted: 10^17, far beyond any training corpus.
MAX_TOKENS = 1e17
#: Largest token multiple of 20·N accepted in a plan.
MAX_MULTIPLE = 1e6
#: Most bootstrap resamples accepted: beyond this the resample arrays no longer fit in memory
#: and the interval's Monte Carlo error is long past mattering.
#: Fewest bootstrap resamples accepted: an interval's ends are quantiles of the draws.
MIN_BOOTSTRAP = 10
MAX_BOOTSTRAP = 100_000
#: Seeds are those numpy's legacy and new generators both accept: 0 ≤ seed < 2^32.
MAX_SEED = 2**32 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (a tab, newline, escape, NUL, ...)."""
    return bool(_CONTROL.search(text))


def check_int_flag(value: int | None, flag: str, *, minimum: int | None = None,
                   maximum: int | None = None, what: str = "") -> None:
    """``value`` of ``flag`` must lie in [``minimum``, ``maximum``] (``None``: the flag was not given)."""
    if value is None:
        return
    low_ok = minimum is None or value >= minimum
    high_ok = maximum is None or value <= maximum
    if not (low_ok and high_ok):
        if maximum is None:
            expected = f"at least {minimum}"
        elif minimum is None:
            expected = f"at most {maximum:,}"
        else:
            expected = f"between {minimum} and {maximum:,}"
        raise ConfigError(f"{flag} must be {expected}{f' ({what})' if what else ''}, got {value}")


def check_seed(value: int | None, flag: str = "--seed") -> None:
    """A random seed: a whole number in [0, 2^32 − 1]."""
    check_int_flag(value, flag, minimum=0, maximum=MAX_SEED, what="a random seed")


def check_bootstrap(value: int | None, flag: str = "--bootstrap") -> None:
    """A number of bootstrap resamples: from :data:`MIN_BOOTSTRAP` to :data:`MAX_BOOTSTRAP`.

    Both ends are checked here, so that every value out of range gets the same message with the
    same range (the floor alone was the fit's, worded differently).
    """
    if value is None:
        return
    check_int_flag(value, flag, minimum=MIN_BOOTSTRAP, maximum=MAX_BOOTSTRAP, what="bootstrap resamples")


def check_name_list(text: str | None, flag: str) -> list[str] | None:
    """A comma-separated list of names given to ``flag``: no empty list, no repeats, no control characters.

    Returns the names (``None`` when the flag was not given).
    """
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"{flag} {text!r} names nothing (expected comma-separated names)")
    for name in names:
        if has_control_characters(name):
            raise ConfigError(f"{flag}: {name!r} holds a control character")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{flag} names {', '.join(repeated)} more than once")
    return names


def check_n_params(value: Any, where: str) -> float:
    """A parameter count: a finite number in [1, :data:`MAX_N_PARAMS`]."""
    number = _number(value, where, "a parameter count")
    if not 1 <= number <= MAX_N_PARAMS:
        raise ConfigError(f"{where}: {_show(number)} is not a parameter count (expected 1 to {MAX_N_PARAMS:.0e})")
    return number


def check_tokens(value: Any, where: str, *, minimum: float = 1.0) -> float:
    """A token count: a finite number in [``minimum``, :data:`MAX_TOKENS`]."""
    number = _number(value, where, "a token count")
    if not minimum <= number <= MAX_TOKENS:
        raise ConfigError(f"{where}: {_show(number)} is not a token count (expected {minimum:,.0f} to {MAX_TOKENS:.0e})")
    return number


def _show(number: float) -> str:
    """A number as a person reads it: whole numbers in full up to 10^15, others in 4 significant digits."""
    return f"{number:,.0f}" if number.is_integer() and abs(number) < 1e15 else f"{number:.4g}"


def _number(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r:.40} is not {what}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}: {value!r:.40} is not {what}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: {value!r:.40} is not {what} (expected a finite number)")
    return number


def check_fraction(value: float, where: str) -> None:
    """An accuracy (or other fraction) must lie in [0, 1]; a value in (1, 100] gets a percentage hint."""
    if not math.isfinite(value):
        raise DataError(f"{where}: {value!r} is not a finite number (expected a fraction in [0, 1])")
    if not 0.0 <= value <= 1.0:
        hint = "; in percent? divide by 100" if 1.0 < value <= 100.0 else ""
        raise DataError(f"{where}: {value:g} is not an accuracy (expected a fraction in [0, 1]{hint})")


def check_output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """Check, before any work, that a file can be written at ``path``; create its folder if missing.

    An output found unwritable only after a long evaluation loses that work, and the error then
    names a temporary file; here it names ``path`` and ``flag``.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder, expected a file path")
    _check_writable_folder(path.parent if str(path.parent) else Path("."), f"{flag} {path}")
    return path


def check_output_folder(path: str | os.PathLike[str], flag: str) -> Path:
    """Check, before any work, that ``path`` is or can be made a folder that files can be written into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: exists and is not a folder (the output goes into a folder)")
    _check_writable_folder(path, f"{flag} {path}")
    return path


def _check_writable_folder(folder: Path, what: str) -> None:
    """Make ``folder`` and write a probe file in it, then undo both: the check leaves no trace."""
    created = None
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what}: {parent} is a file, not a folder")
            break
        created = parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".taskladder-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot write there ({exc.strerror or exc})") from None
    finally:
        if created is not None and created.is_dir():
            shutil.rmtree(created, ignore_errors=True)


def safetensors_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the ``.safetensors`` file at ``path`` cannot be read, or ``None``.

    The header and its offsets are checked against the file's length (cheap, no tensor is read):
    a truncated, emptied or overwritten file is caught; flipped bytes inside a tensor are not
    (those show as non-finite values when the weights are loaded).
    """
    path = Path(path)
    if not path.is_file():
        return f"{path}: missing"
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            handle.keys()
    except Exception as exc:  # safetensors raises its own SafetensorError, not an OSError
        return f"{path}: corrupt weights file ({' '.join(str(exc).split())[:120]})"
    return None


def check_run_spec(run: Any) -> None:
    """Physical bounds of one run of a ladder spec (a :class:`~taskladder.io.spec.RunSpec`).

    N within [1, 10^15]; FLOPs per token finite and positive; tokens within 10^17 and, for a
    target, at least one batch of the reference recipe for a model of its size (a target trained
    on less than one optimizer step is no model to predict).
    """
    from ..train.plan import reference_batch_tokens

    where = f"run {run.name!r}"
    check_n_params(run.n_params, f"{where}: n_params")
    if run.flops_per_token is not None:
        flops = _number(run.flops_per_token, f"{where}: flops_per_token", "a FLOP count")
        if not 0 < flops <= 1e3 * MAX_N_PARAMS:
            raise ConfigError(f"{where}: flops_per_token {run.flops_per_token!r} is out of range "
                              f"(expected a positive number, about 6 × N)")
    if run.tokens is not None:
        check_tokens(run.tokens, f"{where}: tokens")
        if run.role == "target":
            batch = reference_batch_tokens(run.n_params)
            if run.tokens < batch:
                raise ConfigError(f"{where}: tokens {run.tokens:,.0f} is less than one batch of a model with "
                                  f"N = {run.n_params:,} ({batch:,.0f} tokens in the reference recipe); "
                                  "give the tokens the target is trained on, e.g. 4T")


def check_distinct_files(runs: Sequence[Any], source: str) -> None:
    """No two runs of a spec may read the same file: a target read from a train run's file would be
    predicted from itself, and a train run listed twice would count twice in the fit."""
    seen: dict[Path, str] = {}
    for run in runs:
        if run.file is None:
            continue
        key = Path(os.path.abspath(run.file))
        if key in seen:
            raise ConfigError(f"{source}: runs {seen[key]!r} and {run.name!r} read the same file {run.file} "
                              "(each run, train or target, needs its own file)")
        seen[key] = run.name


def _column_kind(column: str) -> str | None:
    """What a ladder-format column holds: ``accuracy``, ``soft``, ``soft_log``, ``loss`` or ``None``."""
    if column.startswith("eval/downstream_bpb/") or column.endswith("CrossEntropyLoss"):
        return "loss"
    if column.startswith("eval/downstream_soft_log/"):
        return "soft_log"
    if column.startswith("eval/downstream_soft/"):
        return "soft"
    if column.startswith("eval/downstream/"):
        return "accuracy"
    return None


def check_imported_run(run: Any) -> None:
    """Values of an imported run (a :class:`~taskladder.io.tidy.ImportedRun`) before anything is written.

    The run's name must be printable; N within bounds; tokens seen finite, positive and growing
    with the steps (a counter reset on resume misplaces every fit); accuracies and soft scores in
    [0, 1] (a percentage gets a hint); task losses (bits per byte) and LM losses positive; mean
    log-probabilities (soft_log) at most 0; nothing infinite. Empty cells (metrics not logged at a
    step) are allowed. Messages name the source, the run, the step and the column.
    """
    import numpy as np

    source = run.source or "import"
    if not isinstance(run.name, str) or not run.name.strip() or has_control_characters(run.name):
        raise DataError(f"{source}: run name {run.name!r} is empty or holds a control character")
    where = f"{source}: run {run.name!r}"
    if run.n_params is not None:
        try:
            check_n_params(run.n_params, f"{where}: N")
        except ConfigError as exc:
            raise DataError(str(exc)) from None
    frame = run.frame
    steps = frame["_step"].to_numpy()
    tokens = frame["throughput/total_tokens"].to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(tokens) | (tokens < 1) | (tokens > MAX_TOKENS))
    if bad.size:
        raise DataError(f"{where}: step {steps[bad[0]]}: tokens seen {tokens[bad[0]]:g} is not a token count "
                        f"(expected 1 to {MAX_TOKENS:.0e})")
    back = np.flatnonzero(np.diff(tokens) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(f"{where}: tokens seen must grow with the steps; step {steps[i]} has {tokens[i]:,.0f} after "
                        f"{tokens[i - 1]:,.0f} at step {steps[i - 1]} (a token counter reset on resume?)")
    for column in frame.columns[2:]:
        if has_control_characters(str(column)):  # a task or metric name with one would break the spec
            raise DataError(f"{where}: column {str(column)!r} holds a control character (a task or metric name?)")
        kind = _column_kind(str(column))
        values = frame[column].to_numpy(dtype=float)
        present = ~np.isnan(values)
        at = f"{where}, column {column!r}"
        infinite = np.flatnonzero(present & ~np.isfinite(values))
        if infinite.size:
            raise DataError(f"{at}: step {steps[infinite[0]]} holds {values[infinite[0]]}, not a finite number")
        if kind in ("accuracy", "soft"):
            out = np.flatnonzero(present & ((values < 0) | (values > 1)))
            if out.size:
                check_fraction(float(values[out[0]]), f"{at}: step {steps[out[0]]}")
        elif kind == "loss":
            out = np.flatnonzero(present & (values <= 0))
            if out.size:
                raise DataError(f"{at}: step {steps[out[0]]} holds {values[out[0]]:g}, expected a positive loss")
        elif kind == "soft_log":
            out = np.flatnonzero(present & (values > 0))
            if out.size:
                raise DataError(f"{at}: step {steps[out[0]]} holds {values[out[0]]:g}, expected a mean "
                                "log-probability (at most 0)")
