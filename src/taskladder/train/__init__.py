"""Plan and train model ladders with the reference recipe (see docs/training.md).

Modules: :mod:`.plan` (sizes, budgets, batch, learning rate, warmup; plan and spec files),
:mod:`.schedule` (the learning-rate schedule), :mod:`.model` (HF Olmo2 models from a size),
:mod:`.data` (token files and sampling), :mod:`.config` (the resolved run config),
:mod:`.trainer` (the loop), :mod:`.checkpoint` (atomic checkpoints and resume),
:mod:`.launch` (sequential, parallel and Slurm ladders), :mod:`.corpus` (HTML documentation to
text), :mod:`.cloze` (cloze tasks from held-out documents), :mod:`.micro` (the micro-ladder preset
behind ``taskladder ladder run --preset micro``). Importing this package, or the plan, does not
import torch.
"""

from __future__ import annotations

from .plan import LadderPlan, RunPlan, ladder_spec, load_plan, plan_ladder, plan_run, plan_toml
from .schedule import learning_rate

__all__ = ["LadderPlan", "RunPlan", "ladder_spec", "learning_rate", "load_plan", "plan_ladder", "plan_run",
           "plan_toml"]
