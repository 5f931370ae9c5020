"""Ladder models: the reference architecture built from a size, as a standard HF Olmo2 model.

:func:`olmo2_config` maps a :class:`~taskladder.sizes.ModelSize` onto ``transformers``'
``Olmo2Config`` (RMSNorm after each sublayer, SwiGLU, RoPE θ = 500,000, QK-norm over the whole
query/key projection, no biases, untied embeddings), so every checkpoint loads with
``AutoModelForCausalLM.from_pretrained`` as it is. The parameter count of the built model equals
the size's N exactly (``tests/test_train_model.py`` checks every size):

* per block: q, k, v, o projections; gate and up (``mlp_hidden / 2`` each) and down projections;
  the post-attention and post-feed-forward norms (``d`` each); the q-norm (``d``) and the k-norm
  (``kv_heads · head_dim``), which is :attr:`ModelSize.block_params`;
* the final norm and the untied output projection; the input embedding is the one parameter
  that N leaves out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sizes import ModelSize

if TYPE_CHECKING:
    import torch
    from transformers import Olmo2Config, Olmo2ForCausalLM

__all__ = ["olmo2_config", "build_model", "count_parameters", "ROPE_THETA", "INIT_STD"]

#: RoPE base of the reference ladder.
ROPE_THETA = 500_000.0
#: Standard deviation of the (3σ-truncated) normal initialisation.
INIT_STD = 0.02
#: RMSNorm epsilon of OLMo-2.
RMS_NORM_EPS = 1e-6


def olmo2_config(size: ModelSize, *, eos_token_id: int | None = None, bos_token_id: int | None = None,
                 pad_token_id: int | None = None) -> "Olmo2Config":
    """The ``Olmo2Config`` of ``size`` (vocabulary rows = ``size.vocab_size``)."""
    from transformers import Olmo2Config

    return Olmo2Config(
        vocab_size=size.vocab_size,
        hidden_size=size.d_model,
        intermediate_size=size.mlp_hidden // 2,
        num_hidden_layers=size.n_layers,
        num_attention_heads=size.n_heads,
        num_key_value_heads=size.kv_heads,
        max_position_embeddings=size.sequence_length,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        rms_norm_eps=RMS_NORM_EPS,
        attention_bias=False,
        attention_dropout=0.0,
        hidden_act="silu",
        initializer_range=INIT_STD,
        tie_word_embeddings=False,
        use_cache=False,
        eos_token_id=eos_token_id,
        bos_token_id=bos_token_id,
        # No padding row: every embedding row is trained (the embedding's padding_idx would freeze one).
        pad_token_id=pad_token_id,
    )


def build_model(size: ModelSize, *, seed: int, eos_token_id: int | None = None,
                device: "torch.device | str | None" = None) -> "Olmo2ForCausalLM":
    """A freshly initialised model of ``size``.

    Weights are drawn from ``normal(0, 0.02)`` truncated at ±3σ (norm weights are one), from a
    generator seeded with ``seed``, so the same seed gives the same model on any machine.
    """
    import torch
    from transformers import Olmo2ForCausalLM

    config = olmo2_config(size, eos_token_id=eos_token_id)
    model = Olmo2ForCausalLM(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 1:  # RMSNorm weights
                param.fill_(1.0)
            else:
                values = torch.empty(param.shape, dtype=torch.float32)
                _truncated_normal_(values, std=INIT_STD, generator=generator)
                param.copy_(values)
    if device is not None:
        model = model.to(device)
    return model


def _truncated_normal_(tensor: "torch.Tensor", *, std: float, generator: "torch.Generator") -> None:
    # Rejection-free inverse-CDF sampling on CPU with an explicit generator, so that the result
    # does not depend on the global RNG or on the device the model later moves to.
    import torch

    uniform = torch.rand(tensor.shape, generator=generator, dtype=torch.float64)
    low = 0.5 * (1 + torch.erf(torch.tensor(-3.0 / 2**0.5, dtype=torch.float64)))
    p = low + uniform * (1 - 2 * low)
    tensor.copy_((torch.special.ndtri(p) * std).to(tensor.dtype))


def count_parameters(model: "torch.nn.Module", *, include_embedding: bool = False) -> int:
    """Parameters of ``model``; without the input embedding unless ``include_embedding``.

    This is OLMo's ``num_params(include_embedding=False)``: the untied output projection counts.
    """
    embedding = model.get_input_embeddings().weight  # type: ignore[operator]
    total = 0
    for param in model.parameters():
        if param is embedding and not include_embedding:
            continue
        total += param.numel()
    return total
