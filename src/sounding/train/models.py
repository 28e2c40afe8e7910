"""Models and tokenizers for training: load from a folder, or build a tiny Qwen3 offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .tokenizers import HFTokenizer, tiny_hf_tokenizer

__all__ = ["load_model", "load_tokenizer", "make_tiny_model"]


def make_tiny_model(out: Path, *, hidden: int = 64, layers: int = 2, heads: int = 4,
                    extra_tokens: tuple[str, ...] = (), seed: int = 0) -> Path:
    """A randomly initialised Qwen3-architecture model and the tiny byte-level tokenizer,
    saved to `out` (nothing downloaded): what the tests and CPU benchmarks train."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = tiny_hf_tokenizer(extra_tokens)
    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=heads, head_dim=hidden // heads,
                         max_position_embeddings=32768, tie_word_embeddings=True,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=None)
    model = Qwen3ForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def load_tokenizer(path: Path) -> HFTokenizer:
    from transformers import AutoTokenizer

    if not (path / "tokenizer_config.json").exists():
        raise ConfigError(f"no tokenizer in {path} (tokenizer_config.json is missing)")
    return HFTokenizer(AutoTokenizer.from_pretrained(path))


def load_model(path: Path) -> Any:
    from transformers import AutoModelForCausalLM

    if not (path / "config.json").exists():
        raise ConfigError(f"no model in {path} (config.json is missing)")
    return AutoModelForCausalLM.from_pretrained(path)
