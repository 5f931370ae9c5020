"""Names, one-line descriptions and data needs of the prediction variants (no heavy imports: used
by --help).

Each law declares what it needs (:data:`VARIANT_NEEDS`): the metrics every train run must have,
and how many runs, distinct sizes and distinct token multiples its forms can be fitted on. With no
``--variant``, :func:`taskladder.fit.choice.choose_variant` takes, per task, the first law of
:data:`DEFAULT_ORDER` whose needs the ladder meets. The order is a ranking of the laws by held-out
backtest error on the real ladders (docs/backtests.md): the laws that read a loss measured on
more text come first, the laws fitted straight to accuracy last.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VARIANT_HELP", "VARIANT_NEEDS", "DEFAULT_ORDER", "LawNeeds", "default_variant", "METRIC_WORDS"]

VARIANT_HELP: dict[str, str] = {
    "ensemble": "mean of the task-bpb and C4-loss two-step laws",
    "two-step": "(N, D) -> task bpb -> accuracy (the paper's main method)",
    "two-step-c4": "(N, D) -> C4 LM loss -> accuracy",
    "two-step-taskce": "(N, D) -> TaskCE (-soft_log) -> accuracy with the log-sigmoid",
    "two-step-flops": "compute C = D x FLOPs/token -> task bpb -> accuracy",
    "single-step": "(N, D) -> accuracy in one fit (sigmoid of a power law)",
    "direct": "accuracy as a negated power law in (N, D)",
    "direct-compute": "-log accuracy as a power law in compute C (after Krajewski et al. 2025)",
    "loss-to-loss": ("(N, D) -> C4 loss -> task bpb (power map) -> accuracy (after Brandfonbrener et al. 2024; "
                     "the default method's first choice)"),
    "two-step-lr": ("the paper's two-step law with step 1 fitted on every checkpoint, each corrected for its "
                    "learning rate (needs the LR column)"),
    "loss-to-loss-lr": "the loss-to-loss law with its C4 law fitted on every checkpoint, corrected for the learning rate",
}


@dataclass(frozen=True)
class LawNeeds:
    """What a law needs from the ladder's train runs.

    Parameters
    ----------
    metrics
        Per-run metrics: ``accuracy``, ``bpb`` (the task loss, in its unit), ``c4`` (a general
        LM loss), ``taskce`` (``soft_log``), ``lr`` (the learning-rate column).
    min_runs, min_sizes, min_multiples
        Train runs, distinct model sizes and distinct token multiples its fits need.
    min_checkpoints
        Checkpoints every run needs (laws fitted on every checkpoint).
    """

    metrics: tuple[str, ...]
    min_runs: int
    min_sizes: int = 1
    min_multiples: int = 1
    min_checkpoints: int = 1


#: What each variant needs (five-parameter (N, D) laws need five runs over two sizes and two
#: multiples; the compute law three runs; laws on every checkpoint two sizes and two checkpoints).
VARIANT_NEEDS: dict[str, LawNeeds] = {
    "loss-to-loss": LawNeeds(("accuracy", "bpb", "c4"), 5, 2, 2),
    "ensemble": LawNeeds(("accuracy", "bpb"), 5, 2, 2),
    "two-step": LawNeeds(("accuracy", "bpb"), 5, 2, 2),
    "two-step-c4": LawNeeds(("accuracy", "c4"), 5, 2, 2),
    "two-step-taskce": LawNeeds(("accuracy", "taskce"), 5, 2, 2),
    "two-step-flops": LawNeeds(("accuracy", "bpb"), 4),
    "single-step": LawNeeds(("accuracy",), 7, 2, 2),
    "direct": LawNeeds(("accuracy",), 5, 2, 2),
    "direct-compute": LawNeeds(("accuracy",), 3),
    "loss-to-loss-lr": LawNeeds(("accuracy", "bpb", "c4", "lr"), 2, 2, 1, 3),
    "two-step-lr": LawNeeds(("accuracy", "bpb", "lr"), 2, 2, 1, 3),
}

#: The order in which the default chooses a law, per method: the first whose needs the data meets.
DEFAULT_ORDER: dict[str, tuple[str, ...]] = {
    "default": ("loss-to-loss", "two-step", "two-step-c4", "loss-to-loss-lr", "two-step-lr", "direct-compute"),
    "paper": ("two-step", "two-step-c4", "two-step-taskce", "single-step", "direct"),
}

#: How messages name each metric.
METRIC_WORDS = {"accuracy": "accuracy", "bpb": "task loss", "c4": "C4 loss", "taskce": "soft_log (TaskCE)",
                "lr": "learning rate"}


def default_variant(method: str) -> str:
    """The first choice when none is given: the paper's two-step law in paper mode, otherwise the
    loss-to-loss law (chosen by backtests, see docs/backtests.md). On data that lacks its columns
    the next law of :data:`DEFAULT_ORDER` runs instead."""
    return DEFAULT_ORDER["paper" if method == "paper" else "default"][0]
