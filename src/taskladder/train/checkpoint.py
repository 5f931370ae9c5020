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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .config import RESUME_KEYS, TrainConfig

if TYPE_CHECKING:
    import torch

__all__ = ["Checkpoint", "save_checkpoint", "latest_checkpoint", "load_training_state", "check_compatible",
           "SIDECAR", "STATE_FILE"]

SIDECAR = "taskladder.json"
STATE_FILE = "trainer_state.pt"
_PREFIX = "step"


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
    for item in folder.iterdir():
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())


def _complete(root: Path) -> list[Checkpoint]:
    found = []
    if not root.is_dir():
        return found
    for path in root.iterdir():
        sidecar = path / SIDECAR
        if path.name.startswith(_PREFIX) and sidecar.is_file():
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            found.append(Checkpoint(path=path, step=meta["step"], tokens=meta["tokens"],
                                    data_position=meta["data_position"], config=meta["config"],
                                    data=meta["data"]))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(out: str | Path) -> Checkpoint | None:
    """The most recent complete checkpoint of a run folder (temporary leftovers are removed)."""
    root = checkpoint_dir(out)
    if root.is_dir():
        for leftover in root.glob(f".{_PREFIX}*.tmp"):
            shutil.rmtree(leftover)
    complete = _complete(root)
    return complete[-1] if complete else None


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
    """Restore model weights, optimizer state and RNG states from ``checkpoint``."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(checkpoint.path / "model.safetensors"), device=str(device))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or [m for m in missing if not m.endswith("rotary_emb.inv_freq")]:
        raise ConfigError(f"checkpoint {checkpoint.path} does not match the model: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    state = torch.load(checkpoint.path / STATE_FILE, map_location=device, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
