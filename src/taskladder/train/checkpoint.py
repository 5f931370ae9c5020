"""Checkpoints: a standard Hugging Face model folder plus the state needed to resume exactly.

A checkpoint is ``{out}/checkpoints/step{N:07d}/`` holding

* the model (``config.json``, ``model.safetensors``) and the tokenizer, so that
  ``AutoModelForCausalLM.from_pretrained`` and ``taskladder eval`` load it as it is;
* ``trainer_state.pt``: optimizer state and the torch / numpy / Python RNG states;
* ``taskladder.json``, the sidecar: step, tokens, data position (samples consumed), the
  resolved run config and the data fingerprint.

Everything is written into a hidden temporary folder that is renamed into place at the end, so a
checkpoint folder either is complete or does not exist; a killed run leaves at most a temporary
folder, which the next start removes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointWarning, ConfigError, DataError
from .config import RESUME_KEYS, TrainConfig

if TYPE_CHECKING:
    import torch

__all__ = ["Checkpoint", "CorruptCheckpointError", "save_checkpoint", "latest_checkpoint", "complete_checkpoints",
           "read_sidecar", "weights_problem", "load_training_state", "check_compatible", "SIDECAR", "STATE_FILE"]

SIDECAR = "taskladder.json"
STATE_FILE = "trainer_state.pt"
_PREFIX = "step"


class CorruptCheckpointError(DataError):
    """A checkpoint's weights or training state cannot be read; the message names the file."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A complete checkpoint folder and its sidecar."""

    path: Path
    step: int
    tokens: int
    data_position: int
    config: dict[str, Any]
    data: dict[str, Any]


def checkpoint_dir(out: str | Path) -> Path:
    return Path(out) / "checkpoints"


def save_checkpoint(out: str | Path, *, step: int, tokens: int, data_position: int, config: TrainConfig,
                    data_fingerprint: dict[str, Any], model: "torch.nn.Module",
                    optimizer: "torch.optim.Optimizer", tokenizer_dir: str | Path | None,
                    keep: int = 0) -> Path:
    """Write a checkpoint atomically and prune older ones beyond the ``keep`` most recent."""
    import torch

    root = checkpoint_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:07d}"
    tmp = root / f".{final.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a save is not worth a progress bar beside the run's own
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)  # type: ignore[operator]
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if tokenizer_dir is not None and Path(tokenizer_dir).is_dir():
        for item in Path(tokenizer_dir).iterdir():
            if item.is_file():
                shutil.copy2(item, tmp / item.name)
    state = {
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }
    torch.save(state, tmp / STATE_FILE)
    sidecar = {"step": step, "tokens": tokens, "data_position": data_position, "state_file": STATE_FILE,
               "config": config.to_dict(), "data": data_fingerprint}
    (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    _fsync_tree(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep:
        for old in _complete(root)[:-keep]:
            shutil.rmtree(old.path)
    return final


def _fsync_tree(folder: Path) -> None:
    from ..io.files import apply_file_mode

    for item in folder.iterdir():
        if item.is_file():
            apply_file_mode(item)  # the weights are written through a private (0600) temporary file
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())


def read_sidecar(path: Path) -> Checkpoint:
    """The checkpoint in folder ``path``, from its sidecar.

    Raises
    ------
    DataError
        If the sidecar is not JSON or lacks a field (a corrupt checkpoint); the message names the file.
    """
    sidecar = path / SIDECAR
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{sidecar}: corrupt checkpoint sidecar ({' '.join(str(exc).split())[:120]})") from None
    whole = {"step": 0, "tokens": 0, "data_position": 0}
    bad = [k for k, low in whole.items() if not isinstance(meta, dict) or isinstance(meta.get(k), bool)
           or not isinstance(meta.get(k), int) or meta[k] < low]
    bad += [k for k in ("config", "data") if not isinstance(meta, dict) or not isinstance(meta.get(k), dict)]
    if bad:
        raise DataError(f"{sidecar}: corrupt checkpoint sidecar: {', '.join(bad)} missing or malformed "
                        "(expected step, tokens and data_position as whole numbers, config and data as objects)")
    return Checkpoint(path=path, step=meta["step"], tokens=meta["tokens"], data_position=meta["data_position"],
                      config=meta["config"], data=meta["data"])


def _complete(root: Path) -> list[Checkpoint]:
    """Checkpoints of ``root`` with a readable sidecar, oldest first; a corrupt sidecar is warned about."""
    found = []
    if not root.is_dir():
        return found
    for path in root.iterdir():
        if path.name.startswith(_PREFIX) and (path / SIDECAR).is_file():
            try:
                found.append(read_sidecar(path))
            except DataError as exc:
                warnings.warn(f"{exc}; skipping checkpoint {path.name}", CheckpointWarning, stacklevel=2)
    return sorted(found, key=lambda c: c.step)


def complete_checkpoints(out: str | Path) -> list[Checkpoint]:
    """The complete checkpoints of a run folder, oldest first (temporary leftovers are removed)."""
    root = checkpoint_dir(out)
    if root.is_dir():
        for leftover in root.glob(f".{_PREFIX}*.tmp"):
            shutil.rmtree(leftover)
    return _complete(root)


def latest_checkpoint(out: str | Path) -> Checkpoint | None:
    """The most recent complete checkpoint of a run folder (temporary leftovers are removed)."""
    complete = complete_checkpoints(out)
    return complete[-1] if complete else None


def weights_problem(path: Path) -> str | None:
    """Why the weights of checkpoint folder ``path`` cannot be read (``None``: the header is sound).

    Only the safetensors header and the file's length are checked (cheap); the values are checked
    when they are loaded.
    """
    from ..io.validate import safetensors_problem

    return safetensors_problem(path / "model.safetensors")


def check_compatible(checkpoint: Checkpoint, config: TrainConfig, data_fingerprint: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` unless ``config`` and the data match what wrote ``checkpoint``."""
    saved = checkpoint.config
    different = [f"{k}: checkpoint {saved.get(k)!r}, now {getattr(config, k)!r}"
                 for k in RESUME_KEYS if saved.get(k) != getattr(config, k)]
    different += [f"data {k}: checkpoint {checkpoint.data.get(k)!r}, now {v!r}"
                  for k, v in data_fingerprint.items() if checkpoint.data.get(k) != v]
    if different:
        raise ConfigError(f"cannot resume from {checkpoint.path}: it was written with a different configuration "
                          f"({'; '.join(different)}); use the original settings or a new output folder")


def load_training_state(checkpoint: Checkpoint, *, model: "torch.nn.Module", optimizer: "torch.optim.Optimizer",
                        device: "torch.device") -> None:
    """Restore model weights, optimizer state and RNG states from ``checkpoint``.

    Both files are read and checked before anything is restored, so a corrupt checkpoint leaves
    ``model`` and ``optimizer`` as they were.

    Raises
    ------
    CorruptCheckpointError
        If ``model.safetensors`` or ``trainer_state.pt`` cannot be read or holds non-finite values.
    ConfigError
        If the weights are those of another model.
    """
    import torch
    from safetensors.torch import load_file

    problem = weights_problem(checkpoint.path)
    if problem is not None:
        raise CorruptCheckpointError(problem)
    try:
        weights = load_file(str(checkpoint.path / "model.safetensors"), device=str(device))
    except Exception as exc:  # SafetensorError
        raise CorruptCheckpointError(f"{checkpoint.path / 'model.safetensors'}: corrupt "
                                     f"({' '.join(str(exc).split())[:120]})") from None
    broken = [name for name, value in weights.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:
        raise CorruptCheckpointError(f"{checkpoint.path / 'model.safetensors'}: tensor {broken[0]} holds non-finite "
                                     "values")
    state_path = checkpoint.path / STATE_FILE
    try:
        state = torch.load(state_path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise CorruptCheckpointError(f"{state_path}: missing (the optimizer and RNG states)") from None
    except Exception as exc:  # pickle, zip and torch errors of a truncated or overwritten file
        raise CorruptCheckpointError(f"{state_path}: corrupt ({type(exc).__name__}: "
                                     f"{' '.join(str(exc).split())[:100]})") from None
    keys = ("optimizer", "torch_rng", "cuda_rng", "numpy_rng", "python_rng")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise CorruptCheckpointError(f"{state_path}: corrupt (expected the keys {', '.join(keys)})")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or [m for m in missing if not m.endswith("rotary_emb.inv_freq")]:
        raise ConfigError(f"checkpoint {checkpoint.path} does not match the model: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
