"""Synthetic ladders with known truth, written in the real ladder's file format.

Each train run is a W&B-style CSV (``_step``, ``throughput/total_tokens``, ``batch_size_in_tokens``
and the task columns) whose task loss follows a known step-1 law along the run's tokens,

    L(N, D) = A / N^α + B / D^β + E,

and whose accuracy follows a known step-2 sigmoid of that loss,

    Acc(L) = a / (1 + exp(−k (L − x0))) + b.

The C4-loss column holds the same L, so the C4 feature has the same truth. A spec TOML beside
the CSVs lists the runs by ``n_params`` (deliberately not the registry's sizes, so nothing
depends on a size label) and one target whose CSV holds a few checkpoints at its final tokens.

:func:`write_watch_ladder` writes a ladder whose runs scatter around the truth (a loss and an
accuracy offset per run) and targets with their whole training history: a mid-schedule learning
rate, the loss's learning-rate effect, and a final anneal that the ladder's runs do not have.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.tasks import C4_LOSS_COLUMN, get_task

__all__ = ["STEP1", "SIGMOID", "SIZES", "MULTIPLES", "TARGET", "BATCH_TOKENS", "step1_loss", "sigmoid_acc",
           "run_tokens", "cosine_lr_fraction", "write_run_csv", "write_synthetic_ladder", "write_watch_ladder",
           "WATCH_SCHEDULE", "watch_truth"]

#: Step-1 truth: L = A/N^α + B/D^β + E (A = e^a, B = e^b as in the fitted parameter vector).
STEP1 = {"A": 300.0, "alpha": 0.3, "B": 400.0, "beta": 0.3, "E": 0.5}
#: Step-2 truth: Acc = a σ(k (L − x0)) + b, with b = 1 (the default fit fixes it there).
SIGMOID = {"a": -0.75, "x0": 1.3, "k": 4.0, "b": 1.0}
#: Train-run sizes N (four rungs, 1.5e8 to 1.2e9) and token multiples of 20 N.
SIZES = (150_000_000, 300_000_000, 600_000_000, 1_200_000_000)
MULTIPLES = (1, 2, 5, 10)
#: The target: N and D (a 7B-like model at 30 × 20 N tokens).
TARGET = {"name": "target-7B", "n_params": 7_000_000_000, "tokens": 30 * 20 * 7_000_000_000}
#: Tokens per optimizer step; every run's tokens are ``_step × BATCH_TOKENS``.
BATCH_TOKENS = 1_048_576


def step1_loss(n_params: np.ndarray | float, tokens: np.ndarray | float, step1: dict = STEP1) -> np.ndarray:
    """The step-1 truth ``A/N^α + B/D^β + E``, or with ``drift`` in ``step1`` ``A/N^α + B/D^β +
    E (ND/10¹⁸)^(−drift)``: a form the fitted law does not have, which it matches inside the ladder
    and misses by more the further out it predicts."""
    n_params, tokens = np.asarray(n_params, float), np.asarray(tokens, float)
    irreducible = step1["E"] * (n_params * tokens / 1e18) ** -step1.get("drift", 0.0)
    return step1["A"] / n_params ** step1["alpha"] + step1["B"] / tokens ** step1["beta"] + irreducible


def sigmoid_acc(loss: np.ndarray | float, sigmoid: dict = SIGMOID) -> np.ndarray:
    """The step-2 truth ``a / (1 + exp(−k (L − x0))) + b``, or with ``lift`` and ``below`` in
    ``sigmoid`` ``… + lift · max(0, below − L)``: a rise the fitted sigmoid does not have, which
    the ladder barely shows and which grows the lower the loss."""
    loss = np.asarray(loss, float)
    lift = sigmoid.get("lift", 0.0) * np.maximum(0.0, sigmoid.get("below", 0.0) - loss)
    return sigmoid["a"] / (1.0 + np.exp(-sigmoid["k"] * (loss - sigmoid["x0"]))) + sigmoid["b"] + lift


def run_tokens(final_tokens: float, n_checkpoints: int) -> np.ndarray:
    """Evenly spaced checkpoints ending at ``final_tokens``, on whole optimizer steps."""
    final_step = int(round(final_tokens / BATCH_TOKENS))
    steps = np.round(np.linspace(final_step / n_checkpoints, final_step, n_checkpoints)).astype(np.int64)
    return steps * float(BATCH_TOKENS)


def cosine_lr_fraction(tokens: np.ndarray, final_tokens: float) -> np.ndarray:
    """LR / peak along a cosine decay to 10 % of the peak at ``final_tokens`` (no warmup)."""
    return 0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * np.asarray(tokens, float) / final_tokens))


def write_run_csv(path: Path, n_params: float, tokens: np.ndarray, *, tasks: tuple[str, ...],
                  step1: dict = STEP1, sigmoid: dict = SIGMOID, noise: float = 0.0,
                  rng: np.random.Generator | None = None, lr_effect: float = 0.0,
                  final_tokens: float | None = None, lr: np.ndarray | None = None, loss_offset: float = 0.0,
                  acc_offset: float = 0.0, columns_lr: bool = True) -> Path:
    """Write one run's CSV: the truth at each checkpoint, times ``exp(noise · ε)`` for the loss.

    Accuracy gets additive noise of ``noise / 2`` (accuracy is about half the loss's scale here).
    The learning rate follows a cosine decay to 10 % of a 1e-3 peak at ``final_tokens`` (default:
    the last checkpoint's); ``lr_effect`` = ``c`` scales each checkpoint's loss by ``1 + c u``,
    ``u`` = LR/peak − 0.1 (the law of ``power_law_nd_lr``; 0 leaves the loss alone). ``lr`` gives
    LR/peak at each checkpoint instead (another schedule); ``loss_offset`` multiplies the run's loss by
    ``exp(loss_offset)`` and ``acc_offset`` is added to its accuracy (a run off the laws, as runs of
    another seed or recipe are); ``columns_lr=False`` leaves the learning-rate columns out.
    """
    rng = rng or np.random.default_rng(0)
    tokens = np.asarray(tokens, float)
    if lr is None:
        lr = cosine_lr_fraction(tokens, tokens[-1] if final_tokens is None else final_tokens)
    columns: dict[str, np.ndarray] = {"_step": np.round(tokens / BATCH_TOKENS).astype(np.int64),
                                      "throughput/total_tokens": tokens,
                                      "batch_size_in_tokens": np.full(len(tokens), BATCH_TOKENS),
                                      "optim/learning_rate_group0": 1e-3 * lr,
                                      "learning_rate_peak": np.full(len(tokens), 1e-3)}
    if not columns_lr:
        del columns["optim/learning_rate_group0"], columns["learning_rate_peak"]
    loss_true = step1_loss(n_params, tokens, step1) * (1.0 + lr_effect * (lr - 0.1)) * np.exp(loss_offset)
    columns[C4_LOSS_COLUMN] = loss_true * np.exp(noise * rng.standard_normal(len(tokens)))
    for name in tasks:
        task = get_task(name)
        for bpb_col, acc_col in zip(task.columns("bpb"), task.columns("accuracy")):
            loss = loss_true * np.exp(noise * rng.standard_normal(len(tokens)))
            acc = sigmoid_acc(loss_true, sigmoid) + acc_offset + 0.5 * noise * rng.standard_normal(len(tokens))
            columns[bpb_col] = loss
            columns[acc_col] = acc
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    return str(value)


def write_synthetic_ladder(tmp_path: Path, *, step1: dict = STEP1, sigmoid: dict = SIGMOID, noise: float = 0.0,
                           seed: int = 0, tasks: tuple[str, ...] = ("hellaswag",), sizes: tuple[int, ...] = SIZES,
                           multiples: tuple[float, ...] = MULTIPLES, n_checkpoints: int = 20,
                           target: dict | None = TARGET, target_checkpoints: int = 5,
                           flops_per_token: bool = False, name: str = "synthetic", lr_effect: float = 0.0) -> Path:
    """Write a synthetic ladder (CSVs and a spec TOML) under ``tmp_path``; return the spec's path.

    Parameters
    ----------
    step1, sigmoid
        The truth (see :data:`STEP1`, :data:`SIGMOID`).
    noise
        Multiplicative noise on the loss (log-normal, ``σ = noise``) and additive noise
        ``noise / 2`` on accuracy, per checkpoint.
    seed
        Seed of the noise.
    sizes, multiples
        Train runs: every N in ``sizes`` at ``multiple · 20 N`` tokens, with ``n_checkpoints`` rows.
    target
        ``{"name", "n_params", "tokens"}`` of the target run (``None``: no target). Its CSV has
        ``target_checkpoints`` rows spaced 1/1000 of its tokens apart, ending at its tokens.
    flops_per_token
        Write ``flops_per_token = 6 N`` for every run (needed by the compute form).
    lr_effect
        ``c`` of the learning-rate effect on each checkpoint's loss (see :func:`write_run_csv`).
    """
    rng = np.random.default_rng(seed)
    runs_dir = tmp_path / "runs"
    blocks = [f'name = "{name}"\n']

    def block(**keys: object) -> str:
        return "[[run]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items()) + "\n"

    for n in sizes:
        for m in multiples:
            run_name = f"{n // 1_000_000}M-{m}xC"
            path = write_run_csv(runs_dir / f"{run_name}.csv", n, run_tokens(m * 20 * n, n_checkpoints),
                                 tasks=tasks, step1=step1, sigmoid=sigmoid, noise=noise, rng=rng, lr_effect=lr_effect)
            keys: dict[str, object] = {"file": f"runs/{path.name}", "n_params": n, "role": "train"}
            if flops_per_token:
                keys["flops_per_token"] = 6 * n
            blocks.append(block(**keys))
    if target is not None:
        final_step = int(round(target["tokens"] / BATCH_TOKENS))
        spacing = max(1, final_step // 1000)
        steps = final_step - spacing * np.arange(target_checkpoints)[::-1]
        path = write_run_csv(runs_dir / f"{target['name']}.csv", target["n_params"], steps * float(BATCH_TOKENS),
                             tasks=tasks, step1=step1, sigmoid=sigmoid, noise=noise, rng=rng, lr_effect=lr_effect,
                             final_tokens=final_step * float(BATCH_TOKENS))
        keys = {"name": target["name"], "file": f"runs/{path.name}", "n_params": target["n_params"],
                "tokens": float(final_step * BATCH_TOKENS), "role": "target"}
        if flops_per_token:
            keys["flops_per_token"] = 6 * target["n_params"]
        blocks.append(block(**keys))
    spec = tmp_path / f"{name}.toml"
    spec.write_text("".join(blocks), encoding="utf-8")
    return spec


#: The watched targets' schedule (as a spec's ``schedule`` table, token counts as fractions of the
#: planned tokens): 1 % warmup, cosine to 10 %, then a final anneal to 0 over the last 10 %.
WATCH_SCHEDULE = {"shape": "cosine", "warmup": 0.01, "final_lr_fraction": 0.1, "anneal": 0.1,
                  "anneal_lr_fraction": 0.0}


def _watch_lr(tokens: np.ndarray, planned: float, schedule: dict = WATCH_SCHEDULE) -> np.ndarray:
    from taskladder.schedules import Schedule

    return Schedule(shape=schedule["shape"], warmup_tokens=schedule["warmup"] * planned,
                    final_lr_fraction=schedule["final_lr_fraction"], anneal_tokens=schedule["anneal"] * planned,
                    anneal_lr_fraction=schedule["anneal_lr_fraction"]).lr_fraction(tokens, planned)


def watch_truth(n_params: float, tokens: np.ndarray, planned: float, *, loss_offset: float, acc_offset: float,
                lr_effect: float, step1: dict = STEP1, sigmoid: dict = SIGMOID) -> tuple[float, float]:
    """A watched target's true final task loss and accuracy: without checkpoint noise, the mean over the
    checkpoints at ``tokens`` (its last ones, which its actual averages), after its anneal."""
    tokens = np.asarray(tokens, float)
    lr = _watch_lr(tokens, planned)
    loss = step1_loss(n_params, tokens, step1) * (1.0 + lr_effect * (lr - 0.1)) * np.exp(loss_offset)
    return float(np.mean(loss)), float(np.mean(sigmoid_acc(loss, sigmoid) + acc_offset))


def write_watch_ladder(tmp_path: Path, *, seed: int = 0, noise: float = 0.01, loss_scatter: float = 0.01,
                       acc_scatter: float = 0.005, lr_effect: float = 0.2, targets: tuple[int, ...] = (2_400_000_000,),
                       target_multiple: float = 20.0, target_checkpoints: int = 80, n_checkpoints: int = 20,
                       tasks: tuple[str, ...] = ("hellaswag",), declare_schedule: bool = True,
                       target_lr_column: bool = True) -> tuple[Path, list[dict]]:
    """A ladder (4 sizes × 4 multiples) and watched targets with their whole history; returns the spec
    and each target's truth.

    Every run, target or not, gets its own loss offset ``exp(ε_L)``, ``ε_L ~ N(0, loss_scatter²)``,
    and accuracy offset ``ε_A ~ N(0, acc_scatter²)``; the loss of each checkpoint follows
    ``L(N, t) (1 + c (η(t) − 0.1)) e^{ε_L}`` with ``η`` LR / peak (the ladder: cosine to 10 %; the
    targets: :data:`WATCH_SCHEDULE`, whose anneal the ladder does not have) and ``c = lr_effect``.
    A target ``i`` of ``targets`` (its N) trains ``target_multiple × 20 N`` tokens over
    ``target_checkpoints`` evenly spaced checkpoints; its spec table gives its planned tokens and,
    with ``declare_schedule``, its schedule. The truth is the mean over its last five checkpoints
    (those its actual averages) without checkpoint noise.
    """
    rng = np.random.default_rng(seed)
    runs_dir = tmp_path / "runs"
    blocks = ['name = "watch-synthetic"\n']
    for n in SIZES:
        for m in MULTIPLES:
            name = f"{n // 1_000_000}M-{m}xC"
            path = write_run_csv(runs_dir / f"{name}.csv", n, run_tokens(m * 20 * n, n_checkpoints), tasks=tasks,
                                 noise=noise, rng=rng, lr_effect=lr_effect,
                                 loss_offset=loss_scatter * rng.standard_normal(),
                                 acc_offset=acc_scatter * rng.standard_normal())
            blocks.append(f'[[run]]\nfile = "runs/{path.name}"\nn_params = {n}\nrole = "train"\n\n')
    truths = []
    for i, n in enumerate(targets):
        planned_step = int(round(target_multiple * 20 * n / BATCH_TOKENS))
        planned = planned_step * float(BATCH_TOKENS)
        tokens = run_tokens(planned, target_checkpoints)
        loss_offset, acc_offset = loss_scatter * rng.standard_normal(), acc_scatter * rng.standard_normal()
        name = f"target-{i}"
        path = write_run_csv(runs_dir / f"{name}.csv", n, tokens, tasks=tasks, noise=noise, rng=rng,
                             lr_effect=lr_effect, lr=_watch_lr(tokens, planned), loss_offset=loss_offset,
                             acc_offset=acc_offset, columns_lr=target_lr_column)
        block = (f'[[run]]\nname = "{name}"\nfile = "runs/{path.name}"\nn_params = {n}\ntokens = {planned!r}\n'
                 f'role = "target"\n')
        if declare_schedule:
            s = WATCH_SCHEDULE
            block += (f'schedule = {{ shape = "{s["shape"]}", warmup_tokens = {s["warmup"] * planned!r}, '
                      f'final_lr_fraction = {s["final_lr_fraction"]}, anneal_tokens = {s["anneal"] * planned!r}, '
                      f'anneal_lr_fraction = {s["anneal_lr_fraction"]} }}\n')
        blocks.append(block + "\n")
        loss, acc = watch_truth(n, tokens[-5:], planned, loss_offset=loss_offset, acc_offset=acc_offset,
                                lr_effect=lr_effect)
        truths.append({"target": name, "n_params": n, "tokens": planned, "loss": loss, "acc": acc})
    spec = tmp_path / "watch.toml"
    spec.write_text("".join(blocks), encoding="utf-8")
    return spec, truths
