"""Command-line entry point: ``taskladder COMMAND ...``.

The CLI is thin. Each command lives in ``taskladder.commands.<name>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; command modules import heavy libraries
(torch, matplotlib) only inside ``run`` so that ``taskladder --help`` stays fast.
User errors (:class:`~taskladder.errors.TaskLadderError`) become one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .distributed import leave_process_group
from .errors import TaskLadderError

#: (command, module, one-line help). Order is the order shown by ``--help``.
COMMANDS: list[tuple[str, str, str]] = [
    ("predict", "predict", "fit a ladder spec and predict every target's task accuracy"),
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
    try:
        status = int(args._run(args) or 0)
    except TaskLadderError as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"taskladder {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"taskladder {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # A file the command had to read or write (an output folder that cannot be made, a full disk).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"taskladder {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    # under torchrun: every rank finished the command; leave together (no-op in one process)
    leave_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
