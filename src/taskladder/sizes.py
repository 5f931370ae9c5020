"""Model architectures by size label, and the parameter and FLOP counts derived from them.

The counts are computed from the architecture, never typed in. They reproduce the reference
table (OLMo's ``num_params(include_embedding=False)`` and ``num_fwd_flops + num_bck_flops``)
exactly; ``tests/test_sizes.py`` checks every label against it.

Examples
--------
>>> get_size("190M").n_params
190354176
>>> get_size("7B").flops_per_token
49412071424
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["ModelSize", "SIZES", "get_size", "size_names"]

#: Vocabulary (padded embedding rows) of the dolma2 tokenizer used by the OLMo ladder.
DOLMA2_EMBEDDING_SIZE = 100_352
#: Sequence length of the OLMo ladder runs.
OLMO_SEQUENCE_LENGTH = 4096


@dataclass(frozen=True, kw_only=True)
class ModelSize:
    """Architecture of one model size (OLMo-2 style decoder-only transformer).

    Parameters
    ----------
    name
        Size label, e.g. ``"190M"``. A label only: no number is ever parsed out of it.
    d_model
        Hidden width.
    n_heads
        Attention heads (query heads; key/value heads are ``n_kv_heads``).
    n_layers
        Transformer blocks.
    mlp_hidden
        Width of the SwiGLU input projection, which holds both the gate and the up halves
        (OLMo's ``mlp_hidden_size``); each half is ``mlp_hidden // 2`` wide.
    vocab_size
        Rows of the (padded) embedding and of the untied output projection.
    sequence_length
        Training context length, used for the attention term of the FLOP count.
    n_kv_heads
        Key/value heads (defaults to ``n_heads``).
    """

    name: str
    d_model: int
    n_heads: int
    n_layers: int
    mlp_hidden: int
    vocab_size: int = DOLMA2_EMBEDDING_SIZE
    sequence_length: int = OLMO_SEQUENCE_LENGTH
    n_kv_heads: int | None = None

    def __post_init__(self) -> None:
        for field in ("d_model", "n_heads", "n_layers", "mlp_hidden", "vocab_size", "sequence_length"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"size {self.name!r}: {field} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"size {self.name!r}: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.mlp_hidden % 2:
            raise ConfigError(f"size {self.name!r}: mlp_hidden {self.mlp_hidden} must be even (SwiGLU halves)")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def block_params(self) -> int:
        """Parameters of one transformer block, norms included.

        Attention: q and o are ``d × d``, k and v are ``d × (kv_heads · head_dim)``.
        SwiGLU: ``d × mlp_hidden`` in, ``mlp_hidden/2 × d`` out. Norms: the two sublayer
        RMSNorms (``d`` each) and the QK-norms (``d`` and ``kv_heads · head_dim``).
        """
        d = self.d_model
        kv_dim = self.kv_heads * self.head_dim
        attention = 2 * d * d + 2 * d * kv_dim
        mlp = d * self.mlp_hidden + (self.mlp_hidden // 2) * d
        norms = 2 * d + d + kv_dim
        return attention + mlp + norms

    @property
    def n_params(self) -> int:
        """Non-embedding parameters N.

        Notes
        -----
        ``N = n_layers · block_params + vocab_size · d_model + d_model``: every parameter
        except the input embedding table. The untied output projection and the final norm count.
        """
        return self.n_layers * self.block_params + self.vocab_size * self.d_model + self.d_model

    @property
    def n_params_total(self) -> int:
        """All parameters, input embedding included: ``N + vocab_size · d_model``."""
        return self.n_params + self.vocab_size * self.d_model

    @property
    def flops_per_token(self) -> int:
        """Training FLOPs per token (forward plus backward), as OLMo counts them.

        Notes
        -----
        forward  = ``2 N + 4 L d S``;
        backward = ``4 N_total + 8 L d S``,
        with ``L`` layers, width ``d``, sequence length ``S`` and ``N_total`` including the input
        embedding. The asymmetry (backward counts the embedding, forward does not) is OLMo's; it is
        kept so that compute figures agree with the published ones.
        """
        attention = self.n_layers * self.d_model * self.sequence_length
        forward = 2 * self.n_params + 4 * attention
        backward = 4 * self.n_params_total + 8 * attention
        return forward + backward

    def tokens_for_multiple(self, multiple: float) -> int:
        """Token budget of ``multiple`` × Chinchilla: ``multiple · 20 · N``."""
        return int(round(multiple * 20 * self.n_params))


def _olmo(name: str, d_model: int, n_heads: int, n_layers: int, mlp_hidden: int | None = None) -> ModelSize:
    # The ladder sizes use mlp_ratio 8 (hidden 8d, i.e. two halves of 4d); 7B/13B give it directly.
    return ModelSize(name=name, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
                     mlp_hidden=mlp_hidden if mlp_hidden is not None else 8 * d_model)


#: Vocabulary rows and context of the micro sizes (a small byte-level BPE; CPU-trainable).
MICRO_VOCAB_SIZE = 1024
MICRO_SEQUENCE_LENGTH = 256


def _micro(name: str, d_model: int, n_heads: int, n_layers: int) -> ModelSize:
    # Same architecture family as the ladder (mlp_ratio 8), shrunk to train on a laptop CPU.
    return ModelSize(name=name, d_model=d_model, n_heads=n_heads, n_layers=n_layers, mlp_hidden=8 * d_model,
                     vocab_size=MICRO_VOCAB_SIZE, sequence_length=MICRO_SEQUENCE_LENGTH)


#: Known sizes. The OLMo ladder sizes and targets of Bhagia et al. (2024), then the micro sizes
#: (``micro-*``) of the CPU-trainable ladder.
SIZES: dict[str, ModelSize] = {
    s.name: s
    for s in (
        _olmo("190M", 768, 12, 12),
        _olmo("370M", 1024, 16, 16),
        _olmo("600M", 1344, 16, 16),
        _olmo("760M", 1536, 16, 16),
        _olmo("1.3B", 2048, 16, 16),
        _olmo("3.2B", 3328, 16, 16),
        _olmo("7B", 4096, 32, 32, mlp_hidden=22016),
        _olmo("13B", 5120, 40, 40, mlp_hidden=27648),
        *(_micro(name, d, heads, layers) for name, d, heads, layers in (
            ("micro-3xs", 16, 1, 2), ("micro-2xs", 24, 2, 2),
            ("micro-xs", 32, 2, 2), ("micro-s", 48, 3, 3), ("micro-m", 64, 4, 4),
            ("micro-l", 96, 6, 4), ("micro-xl", 128, 8, 6))),
    )
}

#: Other spellings used by the reference code and the ladder file names.
ALIASES = {"1B": "1.3B", "3B": "3.2B"}


def size_names() -> list[str]:
    """Known size labels, smallest first."""
    return sorted(SIZES, key=lambda name: SIZES[name].n_params)


def register_size(size: ModelSize) -> None:
    """Add a size to the registry (e.g. the tiny CPU sizes of the micro-ladder)."""
    SIZES[size.name] = size


def get_size(name: str) -> ModelSize:
    """Look up a size by label (``"1B"`` and ``"3B"`` are accepted for 1.3B and 3.2B).

    Raises
    ------
    ConfigError
        If the label is unknown; the message lists the known labels.
    """
    key = ALIASES.get(name, name)
    if key not in SIZES:
        raise ConfigError(f"unknown size {name!r}; known sizes: {', '.join(size_names())} "
                          "(or give n_params explicitly)")
    return SIZES[key]
