"""Data preparation is deterministic, splits by document, and sampling is a seeded per-epoch permutation."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from taskladder.cli import main  # noqa: E402
from taskladder.errors import ConfigError, DataError  # noqa: E402
from taskladder.train.data import TokenData, load_tokenizer, prepare_data, read_documents  # noqa: E402
from train_support import write_corpus  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("raw"), documents=60)


def test_prepare_is_deterministic_and_splits_documents(corpus, tmp_path):
    a = prepare_data([corpus], tmp_path / "a", bpe_vocab_size=300, val_fraction=0.1, seed=3)
    prepare_data([corpus], tmp_path / "b", bpe_vocab_size=300, val_fraction=0.1, seed=3)
    for name in ("train.bin", "val.bin", "tokenizer/tokenizer.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (a.train_documents, a.val_documents) == (54, 6) and a.dtype == "uint16" and a.vocab_size == 300
    # Decoding the token files gives back exactly the documents, each in one split only.
    tok = load_tokenizer(tmp_path / "a" / "tokenizer")
    docs = read_documents([corpus])
    eos = tok.eos_token_id
    split = {}
    for name in ("train", "val"):
        ids = np.fromfile(tmp_path / "a" / f"{name}.bin", dtype=np.uint16).tolist()
        pieces, current = [], []
        for t in ids:
            if t == eos:
                pieces.append(tok.decode(current))
                current = []
            else:
                current.append(t)
        split[name] = pieces
    assert sorted(split["train"] + split["val"]) == sorted(docs)
    assert not set(split["train"]) & set(split["val"])
    c = prepare_data([corpus], tmp_path / "c", bpe_vocab_size=300, val_fraction=0.1, seed=4)
    assert (tmp_path / "c" / "val.bin").read_bytes() != (tmp_path / "a" / "val.bin").read_bytes()
    assert (c.train_documents, c.val_documents) == (54, 6)


def test_local_hf_tokenizer_and_uint32(corpus, tmp_path):
    prepare_data([corpus], tmp_path / "bpe", bpe_vocab_size=300)
    tok_dir = tmp_path / "bpe" / "tokenizer"
    prepared = prepare_data([corpus], tmp_path / "hf", tokenizer=tok_dir)
    assert (tmp_path / "hf" / "train.bin").read_bytes() == (tmp_path / "bpe" / "train.bin").read_bytes()
    assert prepared.name == "hf"


def test_sampling_is_a_seeded_permutation_per_epoch(corpus, tmp_path):
    prepare_data([corpus], tmp_path / "d", bpe_vocab_size=300)
    data = TokenData(tmp_path / "d", sequence_length=16, seed=1)
    n = data.n_windows
    everything = data.samples(0, 2 * n + 5)
    starts = [tuple(row[:4]) for row in everything]
    windows = {tuple(np.asarray(data.train[i * 16:i * 16 + 4], dtype=np.int64)) for i in range(n)}
    assert set(starts[:n]) == windows and set(starts[n:2 * n]) == windows  # each window once per epoch
    assert starts[:n] != starts[n:2 * n]  # a new order each epoch
    again = TokenData(tmp_path / "d", sequence_length=16, seed=1)
    np.testing.assert_array_equal(again.samples(n - 3, 10), everything[n - 3:n + 7])  # resume anywhere
    first = np.random.default_rng([1, 0]).permutation(n)[0]  # epoch 0's order, from the documented seed
    np.testing.assert_array_equal(everything[0], data.train[first * 16:first * 16 + 17])
    other = TokenData(tmp_path / "d", sequence_length=16, seed=2).samples(0, n)
    assert not np.array_equal(other, everything[:n])
    assert data.validation(3).shape == (3, 17)


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "no text field"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: expected an object with a string field 'text'"):
        read_documents([bad])
    with pytest.raises(DataError, match="does not exist"):
        read_documents([tmp_path / "missing.txt"])
    one = tmp_path / "one.txt"
    one.write_text("just one document")
    with pytest.raises(DataError, match="need at least 2"):
        prepare_data([one], tmp_path / "o", bpe_vocab_size=300)
    with pytest.raises(ConfigError, match="exactly one"):
        prepare_data([one], tmp_path / "o")
    with pytest.raises(DataError, match="not a prepared data folder"):
        TokenData(tmp_path, sequence_length=8, seed=0)


def test_cli_prepare(corpus, tmp_path, capsys):
    assert main(["data", "prepare", str(corpus), "--bpe-vocab", "300", "--out", str(tmp_path / "p")]) == 0
    assert "training tokens" in capsys.readouterr().out
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert meta["sources"][0]["sha256"] and meta["seed"] == 0
    assert main(["data", "prepare", str(tmp_path / "nope.jsonl"), "--bpe-vocab", "300", "--out",
                 str(tmp_path / "q")]) == 2
    assert "does not exist" in capsys.readouterr().err
