"""Exception and warning types of taskladder.

Every error a user can cause (a bad file, a malformed spec, too little data) is a
:class:`TaskLadderError`. The command-line layer turns these into one line on stderr and exit
status 2; the library itself never prints or exits.
"""

from __future__ import annotations

__all__ = ["TaskLadderError", "ConfigError", "DataError", "NotFittedError", "FitWarning", "CheckpointWarning"]


class TaskLadderError(Exception):
    """Base class of all errors caused by user input."""


class ConfigError(TaskLadderError):
    """A specification, option or configuration value is malformed or unknown."""


class DataError(TaskLadderError):
    """A data file is missing, lacks a column, holds non-numeric values or too few rows."""


class NotFittedError(TaskLadderError):
    """``predict`` (or another fitted-state method) was called before ``fit``."""


class FitWarning(UserWarning):
    """A fit ended without converging or on a parameter bound."""


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped because a file of it is corrupt (training resumes from an earlier one)."""
