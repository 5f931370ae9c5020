"""The reference training loop: one function, read top to bottom.

:func:`train` runs one ladder run from a :class:`~taskladder.train.config.TrainConfig`:

1. set up the process group when launched by ``torchrun`` (gloo on CPU, NCCL on CUDA);
2. open the data, check that it holds enough tokens, build the model and AdamW;
3. resume from the latest checkpoint when asked (the configuration must match);
4. for each step: the learning rate from :func:`~taskladder.train.schedule.learning_rate`,
   gradient accumulation over micro-batches (bf16 autocast on CUDA), clipping, the update;
5. every ``eval_every`` steps: validation loss, the evaluation hook (task metrics) and one row
   appended to the run's CSV in the ladder format; every ``checkpoint_every`` steps: a checkpoint.

Global sample ``i`` of the run is sample ``i`` of :class:`~taskladder.train.data.TokenData`, and
step ``s`` consumes samples ``(s − 1)·B … s·B − 1``; under DDP rank ``r`` of ``W`` takes the
``r``-th contiguous share. The loss of a step is the mean over all ``B·S`` target tokens, so one
process with accumulation and ``W`` processes compute the same update.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..distributed import join_process_group
from ..errors import CheckpointWarning, ConfigError, DataError
from ..report.tables import atomic_write_text
from ..sizes import get_size
from .checkpoint import CorruptCheckpointError, check_compatible, complete_checkpoints, load_training_state, save_checkpoint
from .config import TrainConfig
from .data import TokenData
from .model import build_model
from .schedule import learning_rate

if TYPE_CHECKING:
    import torch

__all__ = ["train", "check_run_data", "TrainResult", "EvalHook", "resolve_device", "LADDER_COLUMNS", "csv_path", "data_fingerprint"]

#: Called as ``hook(model, step)`` at each evaluation; returns ladder-CSV columns → values.
EvalHook = Callable[["torch.nn.Module", int], Mapping[str, float]]

#: The recipe columns written first in every row, as in the reference ladder CSVs.
LADDER_COLUMNS = ("_step", "throughput/total_tokens", "optim/learning_rate_group0", "learning_rate_peak",
                  "batch_size_in_tokens", "train/CrossEntropyLoss")


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """What a call to :func:`train` did.

    ``losses`` maps each step run by this call to its training loss (mean cross-entropy over
    the global batch, in nats); ``tokens_per_second`` counts only those steps.
    """

    config: TrainConfig
    start_step: int
    final_step: int
    csv: Path
    checkpoint: Path | None
    losses: dict[int, float] = field(default_factory=dict)
    tokens_per_second: float = math.nan


def csv_path(config: TrainConfig) -> Path:
    return Path(config.out) / f"{config.name}.csv"


def resolve_device(name: str, local_rank: int = 0) -> "torch.device":
    """``"auto"`` → CUDA if available else CPU; ``"cuda"`` without a GPU is a :class:`ConfigError`."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"CUDA was asked for (device 'cuda') but torch {torch.__version__} sees no CUDA device; "
                          "use --device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def _distributed(device_name: str) -> tuple[int, int, int]:
    """(rank, world size, local rank); joins the process group under torchrun."""
    import torch

    return join_process_group(use_cuda=device_name != "cpu" and torch.cuda.is_available())


def data_fingerprint(config: TrainConfig) -> dict[str, Any]:
    """What identifies the data of ``config`` in a checkpoint: corpus name, token counts, vocabulary, seed."""
    return _data_fingerprint(TokenData(config.data, sequence_length=config.sequence_length, seed=config.seed))


def _data_fingerprint(data: TokenData) -> dict[str, Any]:
    meta = data.meta
    return {"name": data.name, "train_tokens": meta["train_tokens"], "val_tokens": meta["val_tokens"],
            "vocab_size": meta["vocab_size"], "seed": meta.get("seed")}


def check_run_data(config: TrainConfig) -> None:
    """Check, before anything is written or trained, that ``config``'s data exists and suffices.

    Raises
    ------
    DataError
        Missing or unreadable data, a vocabulary larger than the size's, or too few tokens.
    """
    _check_data(config, TokenData(config.data, sequence_length=config.sequence_length, seed=config.seed))


def _check_data(config: TrainConfig, data: TokenData) -> None:
    size = get_size(config.size)
    if data.vocab_size > size.vocab_size:
        raise DataError(f"{config.data}: the tokenizer has {data.vocab_size} entries but size {size.name} has only "
                        f"{size.vocab_size} embedding rows; use a size with a larger vocabulary")
    samples = config.steps * config.batch_sequences
    epochs = data.epochs_for(samples)
    if epochs > config.max_epochs:
        raise DataError(
            f"{config.data}: corpus too small for run {config.name}: it has {data.meta['train_tokens']:,} training "
            f"tokens ({data.n_windows:,} sequences of {config.sequence_length}) but the run needs {samples:,} "
            f"sequences ({samples * config.sequence_length:,} tokens), i.e. {epochs:.2f} epochs; allow that with "
            f"--max-epochs {math.ceil(epochs * 100) / 100:g} or prepare more data")


def _optimizer(model: "torch.nn.Module", config: TrainConfig) -> "torch.optim.Optimizer":
    import torch

    embedding = model.get_input_embeddings().weight  # type: ignore[operator]
    decay = [p for p in model.parameters() if p is not embedding]
    # Weight decay applies to every parameter (norms included) except the input embedding.
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": [embedding], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.peak_lr, betas=(config.beta1, config.beta2), eps=config.eps)


def _loss(model: "torch.nn.Module", batch: "torch.Tensor", z_loss: float,
          autocast: Callable[[], Any]) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(objective, cross-entropy) of one micro-batch: mean over its tokens, in float32."""
    import torch.nn.functional as F

    inputs, targets = batch[:, :-1], batch[:, 1:]
    with autocast():
        logits = model(input_ids=inputs).logits
    logits = logits.float()
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
    if z_loss:
        z = logits.logsumexp(dim=-1).pow(2).mean()
        return ce + z_loss * z, ce
    return ce, ce


def _validation_loss(model: "torch.nn.Module", windows: np.ndarray, batch: int, device: "torch.device",
                     autocast: Callable[[], Any]) -> float:
    """Mean cross-entropy (nats per token) over the validation windows."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(windows), batch):
            chunk = torch.from_numpy(windows[start:start + batch]).to(device)
            _, ce = _loss(model, chunk, 0.0, autocast)
            n = chunk[:, 1:].numel()
            total += ce.item() * n
            count += n
    model.train()
    return total / count


def _task_hook(config: TrainConfig, device: "torch.device") -> EvalHook | None:
    if not config.eval_tasks:
        return None
    from ..eval import load_components
    from .data import load_tokenizer

    load_components(list(config.eval_tasks), limit=config.eval_limit)  # unknown tasks fail now, not at step k
    tokenizer = load_tokenizer(Path(config.data) / "tokenizer")

    def hook(model: "torch.nn.Module", step: int) -> Mapping[str, float]:
        from ..eval import evaluate_model

        return evaluate_model(model, tokenizer, list(config.eval_tasks), limit=config.eval_limit,
                              batch_size=config.eval_batch_size, device=str(device),
                              max_length=config.sequence_length, progress=False)

    return hook


def _read_rows(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    if not path.is_file() or up_to_step == 0:
        return []
    frame = pd.read_csv(path)
    return frame[frame["_step"] <= up_to_step].to_dict("records")


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(LADDER_COLUMNS)
    for row in rows:
        columns += [c for c in row if c not in columns]
    atomic_write_text(path, pd.DataFrame(rows, columns=columns).to_csv(index=False))


def train(config: TrainConfig, *, resume: bool = False, eval_hook: EvalHook | None = None,
          progress: bool = False) -> TrainResult:
    """Train one run; see the module docstring for the procedure.

    Parameters
    ----------
    config
        The run.
    resume
        Continue from the latest checkpoint in ``config.out`` if there is one. Without it, a run
        folder that already holds checkpoints is refused.
    eval_hook
        Replaces the task evaluation built from ``config.eval_tasks``.
    progress
        Show a progress bar (loss, tokens/s, time left) on stderr.

    Raises
    ------
    ConfigError
        Inconsistent settings, CUDA asked for without one, or a checkpoint of another configuration.
    DataError
        Missing or too small data.
    """
    import torch

    rank, world, local_rank = _distributed(config.device)
    device = resolve_device(config.device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if config.batch_sequences % world:
        raise ConfigError(f"run {config.name}: batch of {config.batch_sequences} sequences does not split over "
                          f"{world} processes")
    per_rank = config.batch_sequences // world
    micro = config.micro_batch_sequences or per_rank
    if per_rank % micro:
        raise ConfigError(f"run {config.name}: per-process batch {per_rank} is not a multiple of the micro-batch {micro}")
    accumulation = per_rank // micro

    out = Path(config.out)
    data = TokenData(config.data, sequence_length=config.sequence_length, seed=config.seed)
    _check_data(config, data)
    fingerprint = _data_fingerprint(data)
    candidates = complete_checkpoints(out) if rank == 0 or world == 1 else []
    if world > 1:
        import torch.distributed as dist

        holder = [candidates]
        dist.broadcast_object_list(holder, src=0)
        candidates = holder[0]
    if candidates and not resume:
        raise ConfigError(f"{out} already holds checkpoints (latest: step {candidates[-1].step}); pass --resume to "
                          "continue the run or choose a new output folder")
    for candidate in candidates:
        check_compatible(candidate, config, fingerprint)

    model = build_model(get_size(config.size), seed=config.seed, eos_token_id=data.eos_token_id, device=device)
    optimizer = _optimizer(model, config)
    start_step = 0
    checkpoint = None
    for candidate in reversed(candidates):  # newest first; a corrupt one falls back to the one before
        try:
            load_training_state(candidate, model=model, optimizer=optimizer, device=device)
        except CorruptCheckpointError as exc:
            warnings.warn(f"{exc}; resuming from an earlier checkpoint", CheckpointWarning, stacklevel=2)
            continue
        checkpoint, start_step = candidate, candidate.step
        break
    if candidates and checkpoint is None:
        raise DataError(f"{out}: none of the {len(candidates)} checkpoint(s) can be loaded (each has a corrupt "
                        "file, named above); delete the checkpoints folder to start the run again")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        config.write(out / "config.json")
    wrapped: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)

    def autocast() -> Any:
        if device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    hook = eval_hook if eval_hook is not None else _task_hook(config, device)
    path = csv_path(config)
    rows = _read_rows(path, start_step) if rank == 0 else []
    validation = data.validation(config.val_sequences)
    loss_column = f"eval/{data.name}-validation/CrossEntropyLoss"
    wandb_run = _wandb(config) if rank == 0 else None
    bar = _progress_bar(config, start_step, enabled=progress and rank == 0)

    losses: dict[int, float] = {}
    last_checkpoint = checkpoint.path if checkpoint is not None else None
    began = time.perf_counter()
    wrapped.train()
    for step in range(start_step + 1, config.steps + 1):
        lr = learning_rate(step, peak=config.peak_lr, warmup_steps=config.warmup_steps,
                           total_steps=config.steps, final_fraction=config.final_lr_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        first = (step - 1) * config.batch_sequences + rank * per_rank
        batch = torch.from_numpy(data.samples(first, per_rank)).to(device)
        step_ce = torch.zeros((), device=device)
        for i in range(accumulation):
            micro_batch = batch[i * micro:(i + 1) * micro]
            sync = i == accumulation - 1 or world == 1
            # Under DDP, gradients are all-reduced only on the last micro-batch of the step.
            context = wrapped.no_sync() if not sync else contextlib.nullcontext()  # type: ignore[operator]
            with context:
                objective, ce = _loss(wrapped, micro_batch, config.z_loss, autocast)
                (objective / accumulation).backward()
            step_ce += ce.detach() / accumulation
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if world > 1:
            _average(step_ce, world)
        loss = float(step_ce.item())
        losses[step] = loss
        if bar is not None:
            elapsed = time.perf_counter() - began
            bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{(step - start_step) * config.batch_tokens / elapsed:,.0f}")
            bar.update(1)
        if wandb_run is not None:
            wandb_run.log({"train/CrossEntropyLoss": loss, "optim/learning_rate_group0": lr}, step=step)

        last = step == config.steps
        if last or (config.eval_every and step % config.eval_every == 0):
            metrics: Mapping[str, float] = {}
            if hook is not None:  # on every rank: the evaluation engine shares documents out over ranks
                model.eval()
                metrics = hook(model, step)
                model.train()
            if rank == 0:
                row: dict[str, Any] = {"_step": step, "throughput/total_tokens": step * config.batch_tokens,
                                       "optim/learning_rate_group0": lr, "learning_rate_peak": config.peak_lr,
                                       "batch_size_in_tokens": config.batch_tokens, "train/CrossEntropyLoss": loss,
                                       loss_column: _validation_loss(model, validation, micro, device, autocast),
                                       **metrics}
                rows.append(row)
                _write_rows(path, rows)
                if wandb_run is not None:
                    wandb_run.log({k: v for k, v in row.items() if k != "_step"}, step=step)
            _barrier(world)
        if last or (config.checkpoint_every and step % config.checkpoint_every == 0):
            if rank == 0:
                last_checkpoint = save_checkpoint(
                    out, step=step, tokens=step * config.batch_tokens, data_position=step * config.batch_sequences,
                    config=config, data_fingerprint=fingerprint, model=model, optimizer=optimizer,
                    tokenizer_dir=Path(config.data) / "tokenizer", keep=config.keep_checkpoints)
            _barrier(world)
    elapsed = time.perf_counter() - began
    if bar is not None:
        bar.close()
    if wandb_run is not None:
        wandb_run.finish()
    steps_run = config.steps - start_step
    return TrainResult(config=config, start_step=start_step, final_step=config.steps, csv=path,
                       checkpoint=last_checkpoint, losses=losses,
                       tokens_per_second=steps_run * config.batch_tokens / elapsed if steps_run else math.nan)


def _average(tensor: "torch.Tensor", world: int) -> None:
    # gloo has no AVG reduction: sum, then divide.
    import torch.distributed as dist

    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor /= world


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def _progress_bar(config: TrainConfig, start: int, *, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.steps, initial=start, desc=config.name, unit="step", dynamic_ncols=True)


def _wandb(config: TrainConfig) -> Any:
    if config.wandb_project is None:
        return None
    try:
        import wandb
    except ImportError:
        raise ConfigError("a W&B project was given but wandb is not installed (pip install 'taskladder[wandb]')") from None
    return wandb.init(project=config.wandb_project, name=config.name, config=config.to_dict(), resume="allow",
                      id=f"{config.name}-{config.seed}")
