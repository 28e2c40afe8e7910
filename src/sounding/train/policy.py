"""A `ChatModel` over the trainer's own model: Sounding's loop samples from the policy being
trained, and every completion carries its prompt ids, sampled ids and log-probs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .sampling import HFSampler, TokenChatModel
from .tokenizers import Tokenizer

__all__ = ["PolicyChatModel"]


class PolicyChatModel(TokenChatModel):
    """HF `generate` on the current weights, one request at a time (small setups; vLLM
    serves large ones). `model` is a callable so that the current weights are sampled."""

    def __init__(self, model: Callable[[], Any], tok: Tokenizer, *, max_new_tokens: int = 256,
                 temperature: float = 1.0, name: str = "policy") -> None:
        super().__init__(HFSampler(model, tok.special_id("<|im_end|>"), temperature), tok,
                         max_new_tokens=max_new_tokens, name=name)
