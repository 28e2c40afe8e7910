"""Where RL rollouts sample and run: the sampler over the trainer's policy (HF generate or
TRL's vLLM), and the rollouts themselves, in the trainer's process or through an executor
whose workers reach the policy over HTTP."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..llm.base import ChatModel
from ..trace.trajectory import Trajectory
from .dispatch import Dispatch
from .endpoint import PolicyServer
from .rollouts import RLItem, Rollout
from .sampling import HFSampler, Sampler, TokenChatModel, VLLMSampler, guard_weight_sync
from .tokenizers import Tokenizer

if TYPE_CHECKING:
    from .rl import RLOptions

__all__ = ["MakeRollout", "StartedRollouts", "policy_sampler", "start_rollouts"]

MakeRollout = Callable[[ChatModel, Tokenizer], Rollout]
"""Builds the rollout over the policy's ChatModel, in the trainer's process."""


def policy_sampler(trainer: Any, tok: Tokenizer, opts: RLOptions) -> Sampler:
    """The trainer's policy, sampled by HF generate or by TRL's vLLM backend (whose weight
    sync then waits for the batch in flight)."""
    end = tok.special_id("<|im_end|>")
    if opts.vllm == "off":
        return HFSampler(lambda: trainer.model, end, opts.temperature)
    sampler = VLLMSampler(lambda: trainer.vllm_generation, end, opts.temperature)
    guard_weight_sync(trainer.vllm_generation, sampler.lock)
    return sampler


@dataclass
class StartedRollouts:
    """The rollout function of a run, how many rollouts it takes at once, and its close."""

    rollout: Rollout
    concurrency: int
    close: Callable[[], Coroutine[Any, Any, None]]
    server: PolicyServer | None = None
    executor: Any = None


async def start_rollouts(how: MakeRollout | Dispatch, sampler: Sampler, tok: Tokenizer,
                         opts: RLOptions) -> StartedRollouts:
    """In process: `how(policy, tok)` over a ChatModel on the sampler. Dispatched: the
    executor's workers open the recipe against the vLLM server (`--vllm server`) or
    against the trainer's own policy server."""
    if not isinstance(how, Dispatch):
        model = TokenChatModel(sampler, tok, max_new_tokens=opts.max_new_tokens)
        return StartedRollouts(how(model, tok), 256, model.aclose)
    from ..executors import start_executor

    server = None
    if opts.vllm == "server":
        url = opts.vllm_url
    else:
        server = PolicyServer(sampler, tok=tok)
        url = await server.start(how.host)
    recipe = dataclasses.replace(how.recipe, endpoint=url, max_new_tokens=opts.max_new_tokens,
                                 temperature=opts.temperature)
    try:
        executor = await start_executor(recipe, how.executor,
                                        concurrency=how.executor.worker_concurrency)
    except BaseException:
        if server is not None:
            await server.aclose()
        raise
    serial = itertools.count()

    async def rollout(item: RLItem) -> Trajectory:
        return await executor.rollout(item, next(serial))

    async def close() -> None:
        try:
            await executor.aclose()
        finally:
            if server is not None:
                await server.aclose()

    return StartedRollouts(rollout, executor.concurrency, close, server, executor)
