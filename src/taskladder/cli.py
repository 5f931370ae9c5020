"""Command-line entry point: ``taskladder COMMAND ...``.

The CLI is thin. Each command lives in ``taskladder.commands.<name>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; command modules import heavy libraries
(torch, matplotlib) only inside ``run`` so that ``taskladder --help`` stays fast.
User errors (:class:`~taskladder.errors.TaskLadderError`) become one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import sys
import warnings
from pathlib import Path

from . import __version__
from .distributed import leave_process_group
from .errors import TaskLadderError

#: (command, module, one-line help). Order is the order shown by ``--help``.
COMMANDS: list[tuple[str, str, str]] = [
    ("predict", "predict", "fit a ladder spec and predict every target's task accuracy"),
    ("watch", "watch", "forecast a running target's final accuracy per task from the ladder and its checkpoints"),
    ("demo", "demo", "fit the embedded micro-ladder and predict larger models, offline, in seconds"),
    ("report", "report", "fit a ladder spec and write a self-contained HTML report with figures"),
    ("import", "import_", "bring your own results: W&B histories or a tidy CSV -> ladder files and spec"),
    ("backtest", "backtest", "compare laws by holding out the ladder's largest rung (error and interval coverage)"),
    ("paper", "paper", "reproduce the paper's tables and figures on the OLMo ladder data"),
    ("noise", "noise", "signal, checkpoint noise and seed noise (rerun pairs) per task: signal-to-noise"),
    ("variance", "variance", "checkpoint-to-checkpoint noise of task loss and accuracy"),
    ("compute-error", "compute_error", "prediction error as the ladder grows (by N, token multiple, FLOPs)"),
    ("download", "download", "download the paper's public ladder data (needs internet)"),
    ("sizes", "sizes", "list known model sizes with N and FLOPs per token"),
    ("tasks", "tasks", "list known tasks and their metric columns"),
    ("eval", "eval", "evaluate checkpoints on RC tasks: task loss (bpb) and accuracy, as in the paper"),
    ("ladder", "ladder", "plan a model ladder (sizes, budgets, batch, LR) and train it"),
    ("data", "data", "prepare training data: text/JSONL -> memory-mapped tokens"),
]


class _OneLineErrorParser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The argument parser; ``command`` says which commands get their full sub-parser.

    ``"*"`` (default) builds every command's (the reference in docs/cli.md); a command's name
    builds only that one; ``None`` builds none. The others are listed with their one-line help
    but their modules are not imported, so ``taskladder --help`` and each command start fast.
    """
    parser = _OneLineErrorParser(
        prog="taskladder",
        description=(
            "Predict how well a large language model will do on downstream tasks before training it, "
            "from a ladder of small models (Bhagia et al. 2024, 'Establishing Task Scaling Laws via "
            "Compute-Efficient Model Ladders'). Step 1 fits (N params, D tokens) -> task loss "
            "(bits per byte of the correct answer); step 2 fits task loss -> accuracy; chained, they "
            "predict the target."),
        epilog="Run 'taskladder COMMAND --help' for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"taskladder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineErrorParser)
    for name, module_name, help_text in COMMANDS:
        if command not in ("*", name):
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(f".commands.{module_name}", __package__)
        command_parser = sub.add_parser(
            name, help=help_text, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def check_common_flags(args: argparse.Namespace) -> None:
    """Flags that several commands share, checked the same way before any command runs.

    A seed outside numpy's range or a bootstrap count beyond memory was a traceback deep in the
    fit; ``--tasks ""`` or a task named twice was a silent default or a table with repeated rows.
    """
    from .io.validate import check_bootstrap, check_int_flag, check_name_list, check_seed

    check_seed(getattr(args, "seed", None))
    check_bootstrap(getattr(args, "bootstrap", None))
    for flag in ("tasks", "eval_tasks", "only"):
        value = getattr(args, flag, None)
        if isinstance(value, str) and not (flag == "eval_tasks" and value == ""):  # '' is ladder run's default
            check_name_list(value, "--" + flag.replace("_", "-"))
    for flag, minimum in (("limit", 1), ("eval_limit", 1), ("batch_size", 1), ("parallel", 1), ("max_length", 2),
                          ("val_max_tokens", 2), ("tokens_per_step", 1), ("eval_every", 0), ("checkpoint_every", 0),
                          ("keep_checkpoints", 0), ("val_sequences", 1), ("micro_batch", 0), ("step", 0), ("tokens", 1)):
        value = getattr(args, flag, None)
        if isinstance(value, int) and not isinstance(value, bool):
            check_int_flag(value, "--" + flag.replace("_", "-"), minimum=minimum)


#: Commands whose outputs are kept when they fail part-way: they resume from them (a trained run,
#: evaluated checkpoints, downloaded files). Other commands' new output folders are removed on failure.
_RESUMABLE = {("ladder", "run"), ("eval", None), ("download", None)}


def _new_outputs(args: argparse.Namespace) -> list[Path]:
    """The outermost paths a command's output options would create (those that do not exist yet)."""
    created = []
    for attr in ("output", "out", "choices", "folder"):  # folder: download's destination
        value = getattr(args, attr, None)
        if not isinstance(value, (str, Path)) or not str(value):
            continue
        path = Path(value).absolute()
        outermost = None
        while not os.path.lexists(path) and path != path.parent:
            outermost, path = path, path.parent
        if outermost is not None and outermost not in created:
            created.append(outermost)
    return created


def _remove_new_outputs(args: argparse.Namespace, created: list[Path]) -> None:
    """After a failure, remove the output paths the command created, so that nothing half-written stays.

    A resumable command keeps what it wrote (a finished run, evaluated rows); only output folders
    that hold no file are removed then.
    """
    resumable = (args.command, getattr(args, "ladder_command", None)) in _RESUMABLE
    for path in created:
        if not os.path.lexists(path):
            continue
        if path.is_dir() and not path.is_symlink():
            if resumable and any(p.is_file() for p in path.rglob("*")):
                continue
            shutil.rmtree(path, ignore_errors=True)
        elif not resumable:
            with contextlib.suppress(OSError):
                path.unlink()


def _one_line_warnings(command: str):
    """Show taskladder's own warnings (a skipped corrupt checkpoint) as one line each on stderr."""
    from .errors import CheckpointWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CheckpointWarning):
            print(f"taskladder {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def _command_in(argv: list[str]) -> str | None:
    """The command named by ``argv`` (its first word that is not an option), if it is one."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in {name for name, _, _ in COMMANDS} else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    created = _new_outputs(args)
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warnings(args.command)
    try:
        check_common_flags(args)
        status = int(args._run(args) or 0)
    except TaskLadderError as exc:
        _remove_new_outputs(args, created)
        message = " ".join(str(exc).split())
        print(f"taskladder {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"taskladder {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # A file the command had to read or write (an output folder that cannot be made, a full disk).
        _remove_new_outputs(args, created)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"taskladder {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown
    # under torchrun: every rank finished the command; leave together (no-op in one process)
    leave_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
