"""Argument groups and output helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_fit_arguments", "add_interval_arguments", "selection_from_args", "write_resolved_config"]


def add_tasks_argument(parser) -> None:
    """``--tasks`` of the commands that read a ladder (resolved by :func:`tasks_for`)."""
    parser.add_argument("--tasks", default=None,
                        help="comma-separated task names, or 'all': every task the ladder has data for "
                             "(default: those of the paper's eight, mmlu,hellaswag,arc_challenge,arc_easy,piqa,"
                             "csqa,socialiqa,openbookqa, that the ladder has data for, its corpus tasks "
                             "(docs_order, docs_cloze) and the spec's own [[task]] tables)")


def add_table_arguments(parser, written: str) -> None:
    """``--format`` of the printed table and ``-o DIR``, where ``written`` says what goes there."""
    parser.add_argument("--format", choices=["text", "csv", "json", "markdown", "latex"], default="text")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="DIR", help=f"also write {written} here")


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that choose the law and the data it is fitted on."""
    from ..variants import DEFAULT_ORDER, VARIANT_HELP

    group = parser.add_argument_group("fitting")
    group.add_argument("--method", choices=["default", "paper"], default="default",
                       help="'paper' reproduces the reference implementation's choices (single start, "
                            "Huber-on-log L-BFGS-B, ideal point); 'default' is the robust multi-start fit "
                            "(default: %(default)s)")
    group.add_argument("--variant", default=None, choices=list(VARIANT_HELP),
                       help="which law: " + "; ".join(f"{k}: {v}" for k, v in VARIANT_HELP.items())
                            + f" (default: per task, the first of {', '.join(DEFAULT_ORDER['default'])} whose "
                              f"columns and runs the data has; with --method paper: "
                              f"{', '.join(DEFAULT_ORDER['paper'])}; output says which ran and why)")
    add_tasks_argument(group)
    group.add_argument("--moving-avg", type=int, default=None, metavar="W",
                       help="average the last W checkpoints for step 1 and smooth step 2 with a W-point "
                            "trailing mean (default: 5; paper TaskCE: 1)")
    group.add_argument("--skip-fraction", type=float, default=None, metavar="F",
                       help="leave the first F of each run's checkpoints out of step 2 (default: 0.1; "
                            "paper TaskCE: 0.5)")
    group.add_argument("--last-n", type=int, default=None, metavar="K",
                       help="use only each run's last K step-2 points (default: all)")


def check_cli_targets(args: argparse.Namespace) -> None:
    """``--only-cli-targets`` needs a ``--target``: without one it dropped every target and exited 0
    with a note, a run that predicted nothing."""
    if args.only_cli_targets and not args.target:
        from ..errors import ConfigError

        raise ConfigError("--only-cli-targets needs at least one --target NAME:N:D (it predicts only the "
                          "--target values, and none was given)")


def make_output_folder(path: Path | None) -> None:
    """Create the ``-o`` folder before any work, so that a path that cannot hold files fails at once
    (one line, from the CLI's handling of ``OSError``) rather than after the fits."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        from ..errors import ConfigError

        raise ConfigError(f"{path}: exists and is not a folder (the output goes into a folder)")
    path.mkdir(parents=True, exist_ok=True)


def tasks_for(ladder, names: str | None) -> list:
    """The tasks named by ``--tasks`` (the spec's declared tasks included; ``all``: every task the
    ladder has data for), or the ladder's default (:meth:`~taskladder.ladder.Ladder.default_tasks`).

    A named task must have its accuracy in every train run: one without it gave an empty table and
    exit status 0. (Its task loss may be missing: a law that needs none then predicts it.)
    """
    from ..errors import DataError

    tasks = ladder.resolve_tasks(names)
    if names is None:
        return tasks
    for task in tasks:
        for run in ladder.train_runs:
            lacking = [c for c in task.needed_columns("accuracy") if not run.has_column(c)]
            if lacking:
                have = ", ".join(t.name for t in ladder.available_tasks()) or "none"
                raise DataError(f"{run.spec.file}: no column {lacking[0]!r} (task {task.name} needs its accuracy in "
                                f"every train run; tasks this ladder has data for: {have})")
    return tasks


def require_success(statuses, what: str) -> None:
    """Raise :class:`DataError` when no entry of ``statuses`` is ``"ok"``: a command that computed
    nothing must not print an empty table and exit 0. The message quotes the first failure."""
    from ..errors import DataError

    values = [str(s) for s in statuses]
    if not any(s == "ok" for s in values):
        reason = next((s for s in values if s != "ok"), "nothing was computed")
        raise DataError(f"no {what} succeeded; the first failed with: {reason.removeprefix('failed: ')}")


def require_checkpoints(run, needed: int, what: str) -> None:
    """Raise :class:`DataError` unless ``run`` has at least ``needed`` checkpoints for ``what``."""
    from ..errors import DataError

    if run.n_checkpoints < needed:
        raise DataError(f"{run.spec.file}: run {run.name!r} has {run.n_checkpoints} checkpoint(s); {what} needs at "
                        f"least {needed} (the spread of fewer values is 0 or undefined, not a measurement)")


def add_interval_arguments(parser: argparse.ArgumentParser, *, default_bootstrap: int = 200) -> None:
    """Options of the prediction intervals and the reliability verdict."""
    group = parser.add_argument_group("uncertainty")
    group.add_argument("--level", type=float, action="append", default=None, metavar="Q",
                       help="interval level, repeatable (default: 0.5 and 0.9)")
    group.add_argument("--bootstrap", type=int, default=default_bootstrap, metavar="B",
                       help="bootstrap resamples of the runs per law (default: %(default)s; "
                            "use 1000 or more for figures you publish)")
    group.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: %(default)s)")
    group.add_argument("--no-intervals", action="store_true", help="point predictions only (fastest)")


def check_selection_flags(args: argparse.Namespace) -> None:
    """``--moving-avg``, ``--skip-fraction`` and ``--last-n`` in range, named as the user typed them.

    :class:`~taskladder.fit.selection.Selection` checks the same bounds, but its messages name its
    fields (``moving_avg``), which a command-line user never typed.
    """
    import math

    from ..errors import ConfigError
    from ..io.validate import check_int_flag

    check_int_flag(args.moving_avg, "--moving-avg", minimum=1, what="checkpoints averaged per run")
    check_int_flag(args.last_n, "--last-n", minimum=1, what="step-2 points kept per run")
    fraction = args.skip_fraction
    if fraction is not None and not (math.isfinite(fraction) and 0.0 <= fraction <= 1.0):
        raise ConfigError(f"--skip-fraction must be between 0 and 1 (the share of each run's first checkpoints left "
                          f"out of step 2), got {fraction}")


def selection_from_args(args: argparse.Namespace):
    """The data selection: the variant's paper preset, overridden by explicit options; ``None`` when
    neither a variant nor an option is given (each task's chosen law then uses its own preset)."""
    from dataclasses import replace

    from ..predict import paper_selection
    from ..variants import default_variant

    check_selection_flags(args)
    overrides = {k: v for k, v in (("moving_avg", args.moving_avg), ("skip_fraction", args.skip_fraction),
                                   ("last_n", args.last_n)) if v is not None}
    if args.variant is None and not overrides:
        return None
    return replace(paper_selection(args.variant or default_variant(args.method)), **overrides)


def write_resolved_config(path: Path, config: dict) -> None:
    """Write the resolved configuration of a command next to its outputs."""
    from .. import __version__
    from ..report.tables import atomic_write_text, to_jsonable

    payload = {"taskladder_version": __version__, **config}
    atomic_write_text(path, json.dumps(to_jsonable(payload), indent=2) + "\n")
