"""Names and one-line descriptions of the prediction variants (no heavy imports: used by --help)."""

from __future__ import annotations

__all__ = ["VARIANT_HELP", "default_variant"]

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
                     "the default method's variant; without C4 loss in the data, the paper's two-step law)"),
    "two-step-lr": ("the paper's two-step law with step 1 fitted on every checkpoint, each corrected for its "
                    "learning rate (needs the LR column)"),
    "loss-to-loss-lr": "the loss-to-loss law with its C4 law fitted on every checkpoint, corrected for the learning rate",
}


def default_variant(method: str) -> str:
    """The variant used when none is given: the paper's two-step law in paper mode, otherwise the
    loss-to-loss law (chosen by backtests, see docs/backtests.md)."""
    return "two-step" if method == "paper" else "loss-to-loss"
