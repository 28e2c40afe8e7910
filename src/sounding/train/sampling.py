"""Token-in/token-out sampling of the policy being trained: HF `generate` (one prompt at a
time) or TRL's vLLM backend (batched), behind one ChatModel whose concurrent callers share
batches. Every completion carries its prompt ids, sampled ids and log-probs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from ..llm.base import ChatRequest, Completion
from ..types import Usage
from .samples import render_prompt
from .tokenizers import Tokenizer

__all__ = ["BACKGROUND", "Batcher", "HFSampler", "Sampled", "Sampler", "TokenChatModel",
           "VLLMSampler", "guard_weight_sync"]

BACKGROUND: ContextVar[bool] = ContextVar("sounding_background_sampling", default=False)
"""Set by background work (the prompt refresh): its requests yield to a step's."""


@dataclass(frozen=True, slots=True)
class Sampled:
    """One completion: the sampled ids (ending with the end-of-turn id when the model
    stopped) and the log-probability of each."""

    ids: list[int]
    logprobs: list[float]


class Sampler(Protocol):
    """Samples completions for token-id prompts (blocking: the caller runs it in a thread).
    `max_batch` prompts at most per call; 1 means the policy samples one at a time."""

    max_batch: int

    def generate(self, prompts: Sequence[Sequence[int]], max_tokens: int) -> list[Sampled]: ...


def _cut(ids: list[int], lps: list[float], end: int, limit: int) -> Sampled:
    """What follows the end of the turn, or the caller's own limit, cut away."""
    if end in ids:
        ids = ids[:ids.index(end) + 1]
    ids = ids[:limit]
    return Sampled(ids, [float(x) for x in lps[:len(ids)]])


class HFSampler:
    """HF `generate` on the trainer's current model, one prompt at a time (small setups).

    `model` is a callable so that the current weights are always the ones sampled; the lock
    keeps two threads from sampling the one model at once."""

    max_batch = 1

    def __init__(self, model: Callable[[], Any], end: int, temperature: float = 1.0) -> None:
        self._model, self.end, self.temperature = model, end, temperature
        self.lock = threading.Lock()

    def generate(self, prompts: Sequence[Sequence[int]], max_tokens: int) -> list[Sampled]:
        with self.lock:
            return [self._one(list(p), max_tokens) for p in prompts]

    def _one(self, prompt: list[int], limit: int) -> Sampled:
        import torch

        model = self._model()
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model.generate(torch.tensor([prompt], device=model.device),
                                     attention_mask=torch.ones(1, len(prompt), dtype=torch.long,
                                                               device=model.device),
                                     do_sample=True, temperature=self.temperature, top_k=0,
                                     top_p=1.0, max_new_tokens=limit, eos_token_id=self.end,
                                     pad_token_id=self.end, output_scores=True,
                                     return_dict_in_generate=True)
        finally:
            model.train(was_training)
        ids = out.sequences[0, len(prompt):].tolist()
        lps = [float(torch.log_softmax(score[0].float(), -1)[tid])
               for score, tid in zip(out.scores, ids, strict=False)]
        return _cut(ids, lps, self.end, limit)


class VLLMSampler:
    """TRL's vLLM backend (`trainer.vllm_generation`): colocated, its `llm.generate`; as a
    server, its `vllm_client.generate` (vLLM's OpenAI server, which `trl vllm-serve`
    starts). TRL syncs the trainer's weights into it before each step's rollouts."""

    max_batch = 256

    def __init__(self, generation: Callable[[], Any], end: int, temperature: float = 1.0
                 ) -> None:
        self._generation, self.end, self.temperature = generation, end, temperature
        self.lock = threading.Lock()
        """Held while sampling; `guard_weight_sync` makes TRL's weight sync take it too."""

    def generate(self, prompts: Sequence[Sequence[int]], max_tokens: int) -> list[Sampled]:
        gen = self._generation()
        with self.lock:
            if gen.mode == "colocate":
                return self._colocate(gen.llm, prompts, max_tokens)
            return self._server(gen.vllm_client, prompts, max_tokens)

    def _colocate(self, llm: Any, prompts: Sequence[Sequence[int]], limit: int
                  ) -> list[Sampled]:
        from vllm import SamplingParams

        params = SamplingParams(n=1, temperature=self.temperature, top_p=1.0, top_k=0,
                                max_tokens=limit, logprobs=0, stop_token_ids=[self.end])
        outs = llm.generate([{"prompt_token_ids": list(p)} for p in prompts],
                            sampling_params=params, use_tqdm=False)
        done = []
        for out in outs:
            comp = out.outputs[0]
            ids = list(comp.token_ids)
            lps = [comp.logprobs[i][tid].logprob for i, tid in enumerate(ids)]
            done.append(_cut(ids, lps, self.end, limit))
        return done

    def _server(self, client: Any, prompts: Sequence[Sequence[int]], limit: int
                ) -> list[Sampled]:
        out = client.generate(prompts=[list(p) for p in prompts], n=1,
                              temperature=self.temperature, top_p=1.0, top_k=0,
                              max_tokens=limit, logprobs=0,
                              generation_kwargs={"stop_token_ids": [self.end]})
        done = []
        for ids, lps, lp_ids in zip(out["completion_ids"], out["logprobs"],
                                    out["logprob_token_ids"], strict=True):
            # Each position lists logprobs by rank; the sampled token's is the one we want.
            sampled = [row[ranks.index(tid)] for tid, row, ranks in zip(ids, lps, lp_ids,
                                                                        strict=True)]
            done.append(_cut(list(ids), sampled, self.end, limit))
        return done


def guard_weight_sync(generation: Any, lock: threading.Lock) -> None:
    """Make TRL's `sync_weights` wait for the batch being sampled (a background refresh
    may be sampling while a step begins): weights never change under a batch."""
    sync = generation.sync_weights

    def locked_sync() -> None:
        with lock:
            sync()

    generation.sync_weights = locked_sync


@dataclass
class _Request:
    prompt: list[int]
    limit: int
    future: asyncio.Future[Sampled]
    background: bool


class Batcher:
    """Collects the prompts of concurrent callers into the sampler's batches: while one
    batch runs, the next fills (vLLM samples them together; HF one after another). A
    step's requests go before background ones waiting with them."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self._pending: list[_Request] = []
        self._drain: asyncio.Task[None] | None = None
        self.batches: list[int] = []
        """The size of each batch sampled (operations; tests check batching)."""

    async def sample(self, prompt: list[int], limit: int, *,
                     background: bool | None = None) -> Sampled:
        """`background`: None takes it from `BACKGROUND`."""
        future: asyncio.Future[Sampled] = asyncio.get_running_loop().create_future()
        late = BACKGROUND.get() if background is None else background
        self._pending.append(_Request(prompt, limit, future, late))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the callers woken with this one add their prompts
        while self._pending:
            self._pending.sort(key=lambda r: r.background)  # stable: first come, first served
            batch = self._pending[:max(1, self.sampler.max_batch)]
            del self._pending[:len(batch)]
            self.batches.append(len(batch))
            # One limit per call: the longest asked for; each reply is cut to its own.
            top = max(r.limit for r in batch)
            try:
                outs = await asyncio.to_thread(self.sampler.generate,
                                               [r.prompt for r in batch], top)
            except Exception as exc:
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(exc)
                continue
            for r, out in zip(batch, outs, strict=True):
                if not r.future.done():
                    r.future.set_result(Sampled(out.ids[:r.limit], out.logprobs[:r.limit]))


class TokenChatModel:
    """`complete` renders the request with the ChatML template, samples through the
    batcher and reports the token records the RL batch is built from."""

    def __init__(self, sampler: Sampler, tok: Tokenizer, *, max_new_tokens: int = 256,
                 name: str = "policy") -> None:
        self.tok, self.name, self.max_new_tokens = tok, name, max_new_tokens
        self.batcher = Batcher(sampler)

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = render_prompt(self.tok, request.messages)
        limit = min(self.max_new_tokens, request.sampling.max_tokens)
        out = await self.batcher.sample(prompt, limit)
        return completion(self.tok, prompt, out.ids, out.logprobs)


def completion(tok: Tokenizer, prompt: Sequence[int], ids: Sequence[int],
               logprobs: Sequence[float] | None) -> Completion:
    """The Completion of sampled ids: text without the end-of-turn token, token records
    (`logprobs` None: not known)."""
    end = tok.special_id("<|im_end|>")
    stopped = bool(ids) and ids[-1] == end
    text = tok.decode(ids[:-1] if stopped else ids)
    return Completion(text=text, usage=Usage(len(prompt), len(ids)),
                      finish_reason="stop" if stopped else "length",
                      token_ids=tuple(ids),
                      logprobs=None if logprobs is None else tuple(logprobs),
                      prompt_token_ids=tuple(prompt), raw_text=text)
