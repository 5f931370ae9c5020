"""Generate the command-line reference (docs/cli.md) from the CLI's own parsers.

    python -m taskladder.report.cli_reference > docs/cli.md

Every command and sub-command's ``--help`` text, in the order of ``taskladder --help``, rendered
at a fixed width so the file does not depend on the terminal. ``tests/test_docs.py`` checks that
the committed file equals this output, so the reference cannot fall behind the CLI.
"""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["cli_reference", "WIDTH"]

#: Help text width in characters.
WIDTH = 100


@contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse sizes its help from $COLUMNS (via shutil.get_terminal_size); pin it."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            # choices holds aliases too; keep each parser once, in definition order
            seen: dict[int, tuple[str, argparse.ArgumentParser]] = {}
            for name, sub in action.choices.items():
                seen.setdefault(id(sub), (name, sub))
            return list(seen.values())
    return []


def _sections(parser: argparse.ArgumentParser, prog: str, level: int) -> list[str]:
    out = [f"{'#' * level} `{prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subparsers(parser):
        out += _sections(sub, f"{prog} {name}", min(level + 1, 4))
    return out


def cli_reference(width: int = WIDTH) -> str:
    """The Markdown reference of every command, generated from the parsers."""
    from ..cli import build_parser

    with _columns(width):
        parser = build_parser()
        lines = ["# Command-line reference", "",
                 "Generated from the CLI itself with `python -m taskladder.report.cli_reference > docs/cli.md`; "
                 "`tests/test_docs.py` fails when this file and the CLI disagree. Each section is the "
                 "command's `--help`.", ""]
        commands = _subparsers(parser)
        lines += ["Commands: " + ", ".join(f"[`{name}`](#taskladder-{name})" for name, _ in commands) + ".", ""]
        lines += _sections(parser, "taskladder", 2)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
