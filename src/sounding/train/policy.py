"""A `ChatModel` over the trainer's own model: Sounding's loop samples from the policy being
trained, and every completion carries its prompt ids, sampled ids and log-probs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..llm.base import ChatRequest, Completion
from ..types import Usage
from .samples import render_prompt
from .tokenizers import Tokenizer

__all__ = ["PolicyChatModel"]


class PolicyChatModel:
    """`complete` renders the request with the ChatML template, samples with HF `generate`
    (one request at a time: small setups; vLLM serves large ones) and reports token records.

    `model` is a callable so that the current weights are always the ones sampled."""

    def __init__(self, model: Callable[[], Any], tok: Tokenizer, *, max_new_tokens: int = 256,
                 temperature: float = 1.0, name: str = "policy") -> None:
        self._model, self.tok, self.name = model, tok, name
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = render_prompt(self.tok, request.messages)
        limit = min(self.max_new_tokens, request.sampling.max_tokens)
        async with self._lock:
            ids, lps = await asyncio.to_thread(self._sample, prompt, limit)
        end = self.tok.special_id("<|im_end|>")
        stopped = bool(ids) and ids[-1] == end
        text = self.tok.decode(ids[:-1] if stopped else ids)
        return Completion(text=text, usage=Usage(len(prompt), len(ids)),
                          finish_reason="stop" if stopped else "length",
                          token_ids=tuple(ids), logprobs=tuple(lps),
                          prompt_token_ids=tuple(prompt), raw_text=text)

    def _sample(self, prompt: list[int], limit: int) -> tuple[list[int], list[float]]:
        import torch

        model = self._model()
        end = self.tok.special_id("<|im_end|>")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(torch.tensor([prompt], device=model.device),
                                     attention_mask=torch.ones(1, len(prompt), dtype=torch.long,
                                                               device=model.device),
                                     do_sample=True, temperature=self.temperature, top_k=0,
                                     top_p=1.0, max_new_tokens=limit, eos_token_id=end,
                                     pad_token_id=end, output_scores=True,
                                     return_dict_in_generate=True)
        finally:
            model.train(was_training)
        ids = out.sequences[0, len(prompt):].tolist()
        lps = [float(torch.log_softmax(score[0].float(), -1)[tid])
               for score, tid in zip(out.scores, ids, strict=False)]
        if end in ids:  # cut what follows the end of the turn
            ids = ids[:ids.index(end) + 1]
        return ids, lps[:len(ids)]
