"""Models on disk: load a Hugging Face checkpoint offline, find a run's checkpoints, write its CSV rows.

A *run directory* is what ``taskladder ladder run`` writes (``runs/{name}/``): checkpoints in
``checkpoints/step{N}/`` (a Hugging Face model folder with a ``taskladder.json`` sidecar that
holds ``step`` and ``tokens``) and the run's CSV ``{name}.csv`` in the ladder format (one row per
evaluated checkpoint, ``_step`` and ``throughput/total_tokens`` first). Any folder whose
sub-folders are Hugging Face model folders works too: the step then comes from a sidecar
(``taskladder.json``; ``trainer_state.json``'s ``global_step``) or the folder name
(``step1200``, ``checkpoint-1200``), and the tokens from ``tokens_per_step``.

:func:`merge_rows` writes the CSV atomically (temporary file, then rename): an interrupted
evaluation leaves the previous file intact, and re-running skips the checkpoints it already holds.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, DataError
from ..report.tables import atomic_write_text

__all__ = ["CheckpointInfo", "check_validation_tokens", "check_weights", "find_checkpoints", "load_model", "load_tokenizer", "merge_rows", "evaluated_steps",
           "validation_loss", "STEP_COLUMN", "TOKENS_COLUMN"]

STEP_COLUMN = "_step"
TOKENS_COLUMN = "throughput/total_tokens"
_SIDECARS = ("taskladder.json", "trainer_state.json")
_STEP_IN_NAME = re.compile(r"(?:step|checkpoint|ckpt|iter)[-_]?(\d+)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class CheckpointInfo:
    """A model folder with its training step and tokens seen (``None`` when unknown)."""

    path: Path
    step: int | None
    tokens: int | None


def _is_model_dir(path: Path) -> bool:
    """Whether ``path`` is a Hugging Face model folder: a ``config.json`` that is not a run's.

    ``taskladder ladder run`` writes the trainer's own ``config.json`` (the resolved run config) at
    the top of a run folder; it is told apart by the keys only it has, so that the run folder is
    read as a folder of checkpoints rather than refused as a model folder without ``model_type``.
    """
    config = path / "config.json"
    if not config.is_file():
        return False
    return not _is_trainer_config(config)


#: Keys of the trainer's run config (``taskladder.train.config.TrainConfig``) that no model config has.
_TRAINER_KEYS = frozenset({"size", "steps", "batch_sequences", "peak_lr", "warmup_steps"})


def _is_trainer_config(path: Path) -> bool:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False  # named as an unreadable model config when it is loaded
    return isinstance(values, dict) and "model_type" not in values and _TRAINER_KEYS <= set(values)


def _describe(path: Path, tokens_per_step: int | None) -> CheckpointInfo:
    step = tokens = None
    for name in _SIDECARS:
        sidecar = path / name
        if not sidecar.is_file():
            continue
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{sidecar}: corrupt checkpoint sidecar, not valid JSON ({exc}); "
                            "delete the checkpoint folder or restore the file") from None
        if not isinstance(meta, dict):
            raise DataError(f"{sidecar}: corrupt checkpoint sidecar, expected a JSON object with step and tokens, "
                            f"got {type(meta).__name__}")
        step = _count(meta.get("step", meta.get("global_step")), sidecar, "step", minimum=0)
        tokens = _count(meta.get("tokens", meta.get("total_tokens")), sidecar, "tokens", minimum=1)
        break
    if step is None:
        match = _STEP_IN_NAME.search(path.name)
        if match:
            step = int(match.group(1))
    if tokens is None and step is not None and tokens_per_step is not None:
        tokens = step * tokens_per_step
    return CheckpointInfo(path=path, step=step, tokens=tokens)


def _count(value: Any, sidecar: Path, key: str, *, minimum: int) -> int | None:
    """A whole number of a sidecar (``None`` when absent); anything else names the file and key."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or value < minimum:
        raise DataError(f"{sidecar}: {key!r} is {value!r}, expected a whole number >= {minimum} "
                        "(a corrupt sidecar? delete the checkpoint folder or restore the file)")
    return int(value)


def find_checkpoints(path: str | Path, *, tokens_per_step: int | None = None) -> tuple[list[CheckpointInfo], bool]:
    """Checkpoints under ``path``, sorted by step; the flag says whether ``path`` is a run directory.

    Raises
    ------
    ConfigError
        If ``path`` does not exist, or is neither a model folder nor a folder of model folders,
        or two checkpoints have the same step, or a run's checkpoint has no step.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model or run directory {path} does not exist")
    if not path.is_dir():
        raise ConfigError(f"{path} is not a directory (expected a Hugging Face model folder or a run directory)")
    has_checkpoints = (path / "checkpoints").is_dir()
    if _is_model_dir(path) and not has_checkpoints:
        return [_describe(path, tokens_per_step)], False
    roots = [path / "checkpoints", path] if has_checkpoints else [path]
    found = [_describe(child, tokens_per_step) for root in roots for child in sorted(root.iterdir())
             if child.is_dir() and not child.name.startswith(".") and _is_model_dir(child)]
    if not found:
        raise ConfigError(f"{path} is not a Hugging Face model folder (no config.json) and holds no checkpoint "
                          "folders (sub-folders with config.json)")
    missing = [c.path.name for c in found if c.step is None]
    if missing:
        raise ConfigError(f"{path}: no step for checkpoint(s) {', '.join(missing)} (no taskladder.json sidecar "
                          "and no step number in the folder name)")
    steps = [c.step for c in found]
    repeated = sorted({s for s in steps if steps.count(s) > 1})
    if repeated:
        raise ConfigError(f"{path}: several checkpoints for step(s) {', '.join(map(str, repeated))}")
    return sorted(found, key=lambda c: c.step), True


def _check_causal_lm(path: Path) -> Any:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                         MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    if not path.is_dir():
        raise ConfigError(f"model directory {path} does not exist")
    if not _is_model_dir(path):
        raise ConfigError(f"{path} is not a Hugging Face model folder (no config.json)")
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}/config.json could not be read as a model config ({' '.join(str(exc).split())[:200]})") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ConfigError(f"{path} holds a {config.model_type!r} model, which is not a causal language model "
                          "(expected e.g. olmo2, llama, gpt2)")
    # Some encoder and encoder-decoder families also have a *ForCausalLM class (BertLMHeadModel,
    # BartForCausalLM): loaded that way, an encoder scores with bidirectional attention and a
    # seq2seq model with its decoder alone, so their numbers would be meaningless.
    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(f"{path} holds a {config.model_type!r} encoder-decoder (seq2seq) model; the tasks are "
                          "scored as a decoder-only causal language model's log-likelihoods (expected e.g. olmo2, "
                          "llama, gpt2)")
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        raise ConfigError(f"{path} holds a {config.model_type!r} encoder (masked language) model, which is not a "
                          "causal language model (expected e.g. olmo2, llama, gpt2)")
    return config


def check_weights(folders: list[Path]) -> None:
    """Raise :class:`DataError` naming the first folder whose ``*.safetensors`` weights are corrupt.

    Only headers and lengths are read, so checking every checkpoint of a run before evaluating
    any costs milliseconds. Folders with weights in another format are left to the loader.
    """
    from ..io.validate import safetensors_problem

    for folder in folders:
        for weights in sorted(Path(folder).glob("*.safetensors")):
            problem = safetensors_problem(weights)
            if problem is not None:
                raise DataError(f"{problem}; delete or restore this checkpoint")


_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}


def load_model(path: str | Path, *, device: Any = None, dtype: str = "float32") -> Any:
    """Load a local Hugging Face causal LM without network access, in eval mode.

    Raises
    ------
    ConfigError
        Missing folder, no ``config.json``, not a causal LM, unreadable weights, unknown dtype.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if dtype not in _DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of float32, bfloat16, float16")
    path = Path(path)
    _check_causal_lm(path)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one bar per checkpoint load would drown the evaluation's own
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True,
                                                     dtype=getattr(torch, _DTYPES[dtype]))
    except Exception as exc:  # OSError, ValueError, RuntimeError, and safetensors' own SafetensorError
        raise DataError(f"{path}: the model weights could not be loaded ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:300]})") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    broken = next((name for name, p in model.named_parameters() if not torch.isfinite(p).all()), None)
    if broken is not None:
        raise DataError(f"{path}: parameter {broken} holds non-finite values (corrupt weights?)")
    if device is not None:
        model.to(device)
    return model.eval()


def load_tokenizer(spec: str | Path | None, model_dir: str | Path) -> Any:
    """A Hugging Face tokenizer: ``spec`` (``"olmo1"`` for the one bundled with ai2-olmo-eval, a folder
    or a ``tokenizer.json``) or, when ``spec`` is ``None``, the model folder's own.

    Raises
    ------
    ConfigError
        If no tokenizer can be loaded from there.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if spec is not None and str(spec).lower() in ("olmo1", "olmo-1"):
        from .reference import bundled_tokenizer_path

        return PreTrainedTokenizerFast(tokenizer_file=str(bundled_tokenizer_path()))
    source = Path(spec) if spec is not None else Path(model_dir)
    if source.is_file():
        try:
            return PreTrainedTokenizerFast(tokenizer_file=str(source))
        except Exception as exc:  # the tokenizers library raises its own exception types
            raise ConfigError(f"{source}: not a tokenizer.json ({' '.join(str(exc).split())[:200]})") from None
    if not source.is_dir():
        raise ConfigError(f"tokenizer {source} does not exist")
    try:
        return AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        hint = "" if spec is not None else "; pass --tokenizer (a folder, a tokenizer.json, or olmo1)"
        raise ConfigError(f"no tokenizer could be loaded from {source} ({' '.join(str(exc).split())[:160]}){hint}") from None


def _read_text_table(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    if len(frame.columns) and STEP_COLUMN not in frame.columns:
        raise DataError(f"{path}: no {STEP_COLUMN!r} column (expected a run CSV in the ladder format)")
    return frame


def evaluated_steps(csv: str | Path, columns: list[str]) -> set[int]:
    """Steps whose row in ``csv`` already holds a value in every one of ``columns``."""
    path = Path(csv)
    if not path.is_file():
        return set()
    frame = _read_text_table(path)
    if frame.empty or any(c not in frame.columns for c in columns):
        return set()
    done = frame[(frame[columns] != "").all(axis=1)]
    try:
        return {int(float(s)) for s in done[STEP_COLUMN]}
    except ValueError:
        raise DataError(f"{path}: column {STEP_COLUMN!r} holds a non-number") from None


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def merge_rows(csv: str | Path, rows: list[dict[str, Any]]) -> None:
    """Add or complete rows of a run CSV, keyed by ``_step``, and rewrite it atomically.

    Existing cells are kept byte for byte; a row for a step already present fills in (or
    replaces) only the given columns; new columns go after the existing ones; rows stay sorted
    by step.
    """
    path = Path(csv)
    frame = _read_text_table(path) if path.is_file() else pd.DataFrame()
    columns = list(frame.columns) if len(frame.columns) else []
    records = frame.to_dict("records") if not frame.empty else []
    by_step = {int(float(r[STEP_COLUMN])): r for r in records if r.get(STEP_COLUMN, "") != ""}
    for row in rows:
        if STEP_COLUMN not in row:
            raise ValueError("every row needs a '_step'")
        for key in row:
            if key not in columns:
                columns.append(key)
        step = int(row[STEP_COLUMN])
        target = by_step.get(step)
        if target is None:
            target = {}
            records.append(target)
            by_step[step] = target
        target.update({k: _fmt(v) for k, v in row.items()})
    if STEP_COLUMN in columns:
        columns.remove(STEP_COLUMN)
        columns.insert(0, STEP_COLUMN)
    records.sort(key=lambda r: int(float(r[STEP_COLUMN])) if r.get(STEP_COLUMN, "") != "" else -1)
    out = pd.DataFrame(records, columns=columns).fillna("")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, out.to_csv(index=False))


def write_choices(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a per-choice table atomically as Parquet (``.parquet``) or CSV (any other suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _val_tokens(path: Path, vocab_size: int) -> tuple[Any, str]:
    import numpy as np

    if path.is_dir():
        from ..train.data import TokenData

        data = TokenData(path, sequence_length=1, seed=0)  # checks meta.json against the token files
        return data.val, data.name
    if not path.is_file():
        raise DataError(f"validation token file {path} does not exist")
    try:
        if path.suffix == ".npy":
            tokens = np.load(path, mmap_mode="r", allow_pickle=False)
            if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
                raise ValueError(f"a {tokens.ndim}-d array of {tokens.dtype}, expected 1-d token ids")
            return tokens, path.stem
        dtype = np.uint16 if vocab_size <= 65536 else np.uint32
        return np.memmap(path, dtype=dtype, mode="r"), path.stem
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a token file ({' '.join(str(exc).split())[:160]})") from None


def check_validation_tokens(path: str | Path) -> None:
    """Raise :class:`DataError` now, not after the first checkpoint's evaluation, if ``path`` holds no tokens."""
    tokens, _ = _val_tokens(Path(path), 1 << 16)
    if len(tokens) < 2:
        raise DataError(f"{path}: {len(tokens)} validation token(s); the LM loss needs at least 2")


def validation_loss(model: Any, path: str | Path, *, sequence_length: int, batch_size: int = 8,
                    max_tokens: int = 1 << 20) -> tuple[str, float]:
    """Held-out LM loss (mean cross-entropy in nats per predicted token) and its ladder column name.

    ``path`` is a prepared data folder (``val.bin`` + ``meta.json``), a ``.npy`` array or a raw
    ``.bin`` of token ids (``uint16`` when the model's vocabulary fits, else ``uint32``). The
    first ``max_tokens`` tokens are cut into non-overlapping windows of ``sequence_length + 1``;
    each window predicts its last ``sequence_length`` tokens. The column is
    ``eval/{name}-validation/CrossEntropyLoss`` with the data's name.
    """
    import numpy as np
    import torch

    vocab = model.get_input_embeddings().num_embeddings
    tokens, name = _val_tokens(Path(path), vocab)
    tokens = np.asarray(tokens[:max_tokens], dtype=np.int64)
    window = sequence_length + 1
    n = len(tokens) // window
    if n < 1:
        raise DataError(f"{path}: {len(tokens)} validation tokens is less than one window of {window}")
    if int(tokens[: n * window].max()) >= vocab:
        raise DataError(f"{path}: token id {int(tokens.max())} does not fit the model's vocabulary of {vocab}")
    windows = torch.from_numpy(tokens[: n * window].reshape(n, window))
    device = next(model.parameters()).device
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for lo in range(0, n, batch_size):
                chunk = windows[lo:lo + batch_size].to(device)
                logits = model(chunk[:, :-1]).logits.float()
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                         chunk[:, 1:].reshape(-1), reduction="sum")
                total += float(loss)
                count += chunk[:, 1:].numel()
    finally:
        model.train(was_training)
    return f"eval/{name}-validation/CrossEntropyLoss", total / count
