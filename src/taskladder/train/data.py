"""Training data: text or JSONL → a memory-mapped token file, and deterministic sampling from it.

:func:`prepare_data` reads documents, splits them into train and validation sets by a seeded
permutation of documents (so no document straddles the split), tokenizes each with a local
Hugging Face tokenizer (or a byte-level BPE trained on the training documents with
:func:`train_bpe`), appends the end-of-text token and writes ``train.bin`` / ``val.bin``
(``uint16`` when the vocabulary fits, else ``uint32``) and ``meta.json``. ``meta.json`` is written
last, so a folder with it is complete.

:class:`TokenData` serves training sequences: the token stream is cut into ``n = (T − 1) // S``
windows of ``S + 1`` tokens (inputs and shifted targets), and global sample ``i`` is window
``perm_e[i mod n]`` of epoch ``e = i // n``, with ``perm_e`` a permutation drawn from
``numpy.random.default_rng([seed, e])``. The data position of a run is therefore one integer
(samples consumed), which is what makes resuming exact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DataError
from ..report.tables import atomic_write_text

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["read_documents", "split_documents", "train_bpe", "load_tokenizer", "prepare_data", "TokenData", "PreparedData",
           "EOS_TOKEN"]

#: End-of-text token of tokenizers trained here.
EOS_TOKEN = "<|endoftext|>"
_META = "meta.json"


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file())
            if not found:
                raise DataError(f"input folder {path} holds no files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"input {path} does not exist")
    return files


def read_documents(paths: Sequence[str | Path], *, text_field: str = "text",
                   paragraphs: bool = False) -> list[str]:
    """Documents from text and JSONL files (folders are searched recursively, in sorted order).

    ``.jsonl``/``.json`` files hold one JSON object per line with the text under ``text_field``;
    any other file is UTF-8 text, one document per file, or one per blank-line-separated
    paragraph with ``paragraphs=True``. Empty documents are dropped.
    """
    documents: list[str] = []
    for path in _expand(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); every file of an input "
                            "folder is read as text: move other files (images, archives) out, or name the text "
                            "files themselves") from None
        if path.suffix in (".jsonl", ".json"):
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
                if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                    raise DataError(f"{path}:{number}: expected an object with a string field "
                                    f"{text_field!r}, got {str(record)[:80]!r}")
                documents.append(record[text_field])
        elif paragraphs:
            documents += [p.strip() for p in text.split("\n\n")]
        else:
            documents.append(text)
    documents = [d for d in documents if d.strip()]
    if not documents:
        raise DataError(f"no text found in {', '.join(str(p) for p in paths)}")
    return documents


def train_bpe(documents: Sequence[str], vocab_size: int, out_dir: str | Path) -> "PreTrainedTokenizerBase":
    """Train a byte-level BPE tokenizer on ``documents`` and save it as a HF tokenizer folder.

    The vocabulary holds the 256 byte symbols, the end-of-text token and merges up to
    ``vocab_size`` entries. Training is deterministic for the same documents.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 260:
        raise ConfigError(f"BPE vocabulary must hold at least the 256 bytes and a few merges, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(documents, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN,
                                   pad_token=EOS_TOKEN, unk_token=None)
    fast.save_pretrained(str(out_dir))
    return fast


def load_tokenizer(path: str | Path) -> "PreTrainedTokenizerBase":
    """A local Hugging Face tokenizer (a folder with ``tokenizer.json`` or equivalent)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.exists():
        raise DataError(f"tokenizer folder {path} does not exist")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load a tokenizer from {path}: {str(exc).splitlines()[0]}") from None


def _write_tokens(path: Path, ids: Iterator[list[int]], dtype: np.dtype) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    limit = np.iinfo(dtype).max
    with open(tmp, "wb") as handle:
        for chunk in ids:
            array = np.asarray(chunk, dtype=np.int64)
            if array.size and (array.min() < 0 or array.max() > limit):
                raise DataError(f"token id {int(array.max())} does not fit {dtype}")
            handle.write(array.astype(dtype).tobytes())
            count += array.size
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return count


def _tokenize(tokenizer: "PreTrainedTokenizerBase", documents: Sequence[str], eos: int,
              batch: int = 256) -> Iterator[list[int]]:
    for start in range(0, len(documents), batch):
        encoded = tokenizer(list(documents[start:start + batch]), add_special_tokens=False)["input_ids"]
        flat: list[int] = []
        for ids in encoded:
            flat += ids
            flat.append(eos)
        yield flat


def _fingerprint(paths: Sequence[Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out.append({"path": str(path), "bytes": path.stat().st_size, "sha256": digest})
    return out


def split_documents(documents: Sequence[str], *, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training, validation) documents: a permutation seeded with ``seed`` holds out
    ``max(1, ceil(val_fraction · n))`` of the ``n`` documents; both lists keep the input order.

    :func:`prepare_data` splits this way, so calling it again with the same documents, fraction and
    seed gives the held-out documents of a prepared folder (e.g. to build a task from them).
    """
    order = np.random.default_rng(seed).permutation(len(documents))
    n_val = max(1, math.ceil(val_fraction * len(documents)))
    return [documents[i] for i in sorted(order[n_val:])], [documents[i] for i in sorted(order[:n_val])]


def prepare_data(inputs: Sequence[str | Path], out_dir: str | Path, *, tokenizer: str | Path | None = None,
                 bpe_vocab_size: int | None = None, val_fraction: float = 0.05, seed: int = 0,
                 text_field: str = "text", paragraphs: bool = False, name: str | None = None) -> "PreparedData":
    """Tokenize ``inputs`` into ``out_dir`` (``train.bin``, ``val.bin``, ``meta.json``, ``tokenizer/``).

    Give exactly one of ``tokenizer`` (a local HF tokenizer folder) and ``bpe_vocab_size`` (train a
    byte-level BPE of that size on the training documents). ``val_fraction`` of the documents
    (at least one) go to the validation split, chosen by a permutation seeded with ``seed``.
    ``name`` labels the corpus in loss column names (default: the output folder's name).
    """
    if (tokenizer is None) == (bpe_vocab_size is None):
        raise ConfigError("give exactly one of a tokenizer folder and a BPE vocabulary size")
    if not 0 < val_fraction < 1:
        raise ConfigError(f"validation fraction must be in (0, 1), got {val_fraction}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / _META).unlink(missing_ok=True)
    files = _expand(inputs)
    documents = read_documents(files, text_field=text_field, paragraphs=paragraphs)
    if len(documents) < 2:
        raise DataError(f"{len(documents)} document(s) in the input: need at least 2 to hold one out for "
                        "validation (split text files into paragraphs with --paragraphs)")
    train_docs, val_docs = split_documents(documents, val_fraction=val_fraction, seed=seed)

    tok_dir = out / "tokenizer"
    if bpe_vocab_size is not None:
        tok = train_bpe(train_docs, bpe_vocab_size, tok_dir)
    else:
        tok = load_tokenizer(tokenizer)  # type: ignore[arg-type]
        tok.save_pretrained(str(tok_dir))
    eos = tok.eos_token_id
    if eos is None:
        raise DataError(f"tokenizer {tokenizer} has no end-of-text token; documents could not be separated")
    vocab = len(tok)
    dtype = np.dtype(np.uint16 if vocab <= 2**16 else np.uint32)
    n_train = _write_tokens(out / "train.bin", _tokenize(tok, train_docs, eos), dtype)
    n_val_tokens = _write_tokens(out / "val.bin", _tokenize(tok, val_docs, eos), dtype)
    meta = {
        "name": name or out.resolve().name, "dtype": dtype.name, "vocab_size": vocab, "eos_token_id": eos,
        "train_tokens": n_train, "val_tokens": n_val_tokens, "train_documents": len(train_docs),
        "val_documents": len(val_docs), "val_fraction": val_fraction, "seed": seed,
        "tokenizer": "tokenizer" if bpe_vocab_size is None else f"byte-level BPE, {bpe_vocab_size} entries",
        "tokenizer_source": str(tokenizer) if tokenizer is not None else None,
        "sources": _fingerprint(files),
    }
    atomic_write_text(out / _META, json.dumps(meta, indent=2) + "\n")
    return PreparedData(**{k: meta[k] for k in PreparedData.__dataclass_fields__ if k != "path"}, path=str(out))


@dataclass(frozen=True, kw_only=True)
class PreparedData:
    """Summary of a prepared data folder (the fields of its ``meta.json``)."""

    path: str
    name: str
    dtype: str
    vocab_size: int
    eos_token_id: int
    train_tokens: int
    val_tokens: int
    train_documents: int
    val_documents: int


class TokenData:
    """A prepared data folder opened for training: seeded sequence sampling and validation batches.

    Parameters
    ----------
    path
        Folder written by :func:`prepare_data`.
    sequence_length
        Training context ``S``; each sample is ``S + 1`` tokens.
    seed
        Seed of the per-epoch permutations.
    """

    def __init__(self, path: str | Path, *, sequence_length: int, seed: int) -> None:
        self.path = Path(path)
        meta_path = self.path / _META
        if not meta_path.is_file():
            raise DataError(f"{self.path} is not a prepared data folder (no {_META}); "
                            "run 'taskladder data prepare' first")
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            dtype = np.dtype(self.meta["dtype"])
            int(self.meta["vocab_size"]), int(self.meta["eos_token_id"])
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{meta_path}: corrupt ({type(exc).__name__}: {exc}); prepare the data again") from None
        self.train = self._tokens("train.bin", dtype, self.meta.get("train_tokens"))
        self.val = self._tokens("val.bin", dtype, self.meta.get("val_tokens"))
        self.sequence_length = sequence_length
        self.seed = seed
        self.n_windows = (len(self.train) - 1) // sequence_length
        if self.n_windows < 1:
            raise DataError(f"{self.path}: {len(self.train)} training tokens is less than one sequence of "
                            f"{sequence_length + 1}")
        self._epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    def _tokens(self, name: str, dtype: np.dtype, expected: Any) -> np.ndarray:
        """A token file, memory-mapped; its length must be what ``meta.json`` recorded."""
        path = self.path / name
        size = path.stat().st_size if path.is_file() else -1
        count = size // dtype.itemsize if size >= 0 else -1
        if size < 0 or size % dtype.itemsize or (expected is not None and count != expected) or count == 0:
            found = "missing" if size < 0 else f"{size:,} bytes"
            raise DataError(f"{path}: {found}, but {_META} records {expected} tokens of {dtype} (a truncated or "
                            "replaced file?); prepare the data again")
        return np.memmap(path, dtype=dtype, mode="r")

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.path.name))

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def eos_token_id(self) -> int:
        return int(self.meta["eos_token_id"])

    def epochs_for(self, samples: int) -> float:
        """How many passes over the training windows ``samples`` sequences make."""
        return samples / self.n_windows

    def _window(self, sample: int) -> int:
        epoch, offset = divmod(sample, self.n_windows)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._epoch = epoch
        return int(self._perm[offset])

    def samples(self, start: int, count: int) -> np.ndarray:
        """Global samples ``start … start + count − 1`` as an ``(count, S + 1)`` int64 array."""
        S = self.sequence_length
        out = np.empty((count, S + 1), dtype=np.int64)
        for row, sample in enumerate(range(start, start + count)):
            begin = self._window(sample) * S
            out[row] = self.train[begin:begin + S + 1]
        return out

    def validation(self, max_sequences: int) -> np.ndarray:
        """The first ``min(max_sequences, (V − 1) // S)`` validation windows, in order."""
        S = self.sequence_length
        n = min(max_sequences, (len(self.val) - 1) // S)
        if n < 1:
            raise DataError(f"{self.path}: {len(self.val)} validation tokens is less than one sequence of "
                            f"{S + 1}; hold out more documents (--val-fraction)")
        return np.stack([np.asarray(self.val[i * S:i * S + S + 1], dtype=np.int64) for i in range(n)])
