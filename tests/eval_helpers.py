"""Small models and tokenizers shared by the evaluation tests (tests/test_eval_*.py)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def olmo1_tokenizer():
    """The OLMo-1 tokenizer bundled with ai2-olmo-eval, as a Hugging Face fast tokenizer (no BOS)."""
    from transformers import PreTrainedTokenizerFast

    from taskladder.eval.reference import bundled_tokenizer_path

    return PreTrainedTokenizerFast(tokenizer_file=str(bundled_tokenizer_path()))


def tiny_olmo2(*, vocab_size: int = 50280, hidden: int = 32, layers: int = 2, heads: int = 4,
               max_positions: int = 2048, seed: int = 0):
    """A random-init Olmo2 causal LM, small enough to run every task in seconds on a CPU."""
    import torch
    from transformers import Olmo2Config, Olmo2ForCausalLM

    torch.manual_seed(seed)
    config = Olmo2Config(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         max_position_embeddings=max_positions, pad_token_id=1, eos_token_id=50279,
                         bos_token_id=None)
    return Olmo2ForCausalLM(config).eval()
