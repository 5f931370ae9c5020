"""taskladder: predict downstream task accuracy of large language models from a model ladder.

The public API is listed in ``__all__``. Torch-backed parts (evaluation, training) live in
``taskladder.eval`` and ``taskladder.train`` and are never imported by the fitting code.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import ConfigError, DataError, FitWarning, NotFittedError, TaskLadderError
from .sizes import ModelSize, get_size
from .tasks import Task, get_task

__all__ = [
    "__version__",
    "ConfigError",
    "DataError",
    "FitWarning",
    "NotFittedError",
    "TaskLadderError",
    "ModelSize",
    "get_size",
    "Task",
    "get_task",
]
