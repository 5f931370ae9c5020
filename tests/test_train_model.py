"""Ladder models are standard HF Olmo2 models whose parameter count is the size's N exactly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from taskladder.sizes import SIZES, get_size  # noqa: E402
from taskladder.train.model import build_model, count_parameters, olmo2_config  # noqa: E402


@pytest.mark.parametrize("name", list(SIZES))
def test_parameter_count_equals_n(name):
    size = get_size(name)
    with torch.device("meta"):  # no memory for the 13B
        model = transformers.Olmo2ForCausalLM(olmo2_config(size))
    assert count_parameters(model) == size.n_params
    assert count_parameters(model, include_embedding=True) == size.n_params_total


def test_reference_architecture():
    config = olmo2_config(get_size("190M"))
    assert config.rope_parameters["rope_theta"] == 500_000
    assert not config.tie_word_embeddings and not config.attention_bias
    assert config.intermediate_size == 4 * 768 and config.hidden_act == "silu"
    with torch.device("meta"):
        layer = transformers.Olmo2ForCausalLM(olmo2_config(get_size("micro-xs"))).model.layers[0]
    # QK-norm over the whole projection, and a norm after each sublayer (OLMo-2).
    assert layer.self_attn.q_norm.weight.shape == (32,) and layer.self_attn.k_norm.weight.shape == (32,)
    assert hasattr(layer, "post_attention_layernorm") and hasattr(layer, "post_feedforward_layernorm")
    assert all(not hasattr(m, "bias") or m.bias is None for m in layer.modules() if isinstance(m, torch.nn.Linear))


def test_init_is_seeded_and_truncated():
    size = get_size("micro-xs")
    a, b, c = (build_model(size, seed=s) for s in (0, 0, 1))
    wa, wb, wc = (m.model.layers[0].mlp.up_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert wa.abs().max() <= 0.06 + 1e-7
    assert abs(wa.std().item() - 0.02 * 0.9866) < 1.5e-3  # std of a 3σ-truncated normal
    assert torch.equal(a.model.norm.weight, torch.ones(32))


def test_checkpoint_loads_with_automodel(tmp_path):
    model = build_model(get_size("micro-xs"), seed=0, eos_token_id=0)
    model.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "Olmo2ForCausalLM"
    ids = torch.randint(0, 1024, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
