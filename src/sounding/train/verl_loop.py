"""A verl `AgentLoop` running Sounding's loop against verl's token-in/token-out servers.

Registered as `sounding_agent`. The verl import is guarded: without verl the same class
runs on a stand-in base (what the CPU tests use, against a fake token server).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..eval.judges import build_judge
from ..llm.base import ChatRequest, Completion
from ..types import Usage
from .groups import rollout_tokens
from .rollouts import RLItem, agent_rollout, grade
from .samples import render_prompt
from .tokenizers import HFTokenizer, Tokenizer

__all__ = ["HAVE_VERL", "SoundingAgentLoop", "TokenServerChatModel"]

try:  # pragma: no cover - verl is installed on GPU nodes only
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopBase,
        AgentLoopOutput,
        register,
    )

    HAVE_VERL = True
except ImportError:
    HAVE_VERL = False

    class AgentLoopBase:  # type: ignore[no-redef]
        """verl's constructor signature: config, server manager, tokenizer, processor."""

        def __init__(self, trainer_config: Any, server_manager: Any, tokenizer: Any,
                     processor: Any = None, **kwargs: Any) -> None:
            self.config = trainer_config
            self.server_manager, self.tokenizer, self.processor = (server_manager, tokenizer,
                                                                   processor)

    @dataclass
    class AgentLoopOutput:  # type: ignore[no-redef]
        """The fields of verl's `AgentLoopOutput` that an agent loop fills."""

        prompt_ids: list[int]
        response_ids: list[int]
        response_mask: list[int]
        response_logprobs: list[float] | None = None
        reward_score: float | None = None
        num_turns: int = 0
        metrics: dict[str, Any] = field(default_factory=dict)

    def register(name: str) -> Callable[[type], type]:
        return lambda cls: cls


class TokenServerChatModel:
    """A `ChatModel` over verl's `server_manager.generate(request_id, prompt_ids,
    sampling_params)`: the prompt rendered with our template, token ids and log-probs back.
    One request id per rollout keeps its turns on one server (prefix cache)."""

    def __init__(self, server: Any, tok: Tokenizer, sampling_params: dict[str, Any],
                 name: str = "verl") -> None:
        self.server, self.tok, self.name = server, tok, name
        self.sampling_params = sampling_params
        self.request_id = uuid.uuid4().hex

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = render_prompt(self.tok, request.messages)
        out = await self.server.generate(request_id=self.request_id, prompt_ids=prompt,
                                         sampling_params=self.sampling_params)
        ids = list(getattr(out, "token_ids", out))  # older verl returns the id list itself
        lps = getattr(out, "log_probs", None)
        end = self.tok.special_id("<|im_end|>")
        stopped = bool(ids) and ids[-1] == end
        text = self.tok.decode(ids[:-1] if stopped else ids)
        return Completion(text=text, usage=Usage(len(prompt), len(ids)),
                          finish_reason="stop" if stopped else "length", token_ids=tuple(ids),
                          logprobs=tuple(lps) if lps is not None else None,
                          prompt_token_ids=tuple(prompt), raw_text=text)


def _cfg(config: Any, path: str, default: Any) -> Any:
    node = config
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else getattr(node, key, None)
        if node is None:
            return default
    return node


@register("sounding_agent")
class SoundingAgentLoop(AgentLoopBase):  # type: ignore[misc]
    """One rollout: the dataset row's question through Sounding's loop (the mode and budgets
    `settings` holds), rewarded by the eval checker, tool observations masked out."""

    settings: Settings | None = None
    judge_name: str = "exact"

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
        from ..config import load_settings

        raw = kwargs.get("raw_prompt") or []
        question = str(raw[-1]["content"]) if raw else str(kwargs.get("question", ""))
        reward_model = kwargs.get("reward_model") or {}
        gold = str(reward_model.get("ground_truth", kwargs.get("answer", "")))
        tok = HFTokenizer(self.tokenizer)
        model = TokenServerChatModel(self.server_manager, tok, sampling_params)
        settings = self.settings or load_settings({"env": "offline", "protocol": "tags"})
        item = RLItem(question, gold)
        traj = await agent_rollout(settings, model)(item)
        reward = await grade(build_judge(self.judge_name), item, traj)
        rt = rollout_tokens(tok, traj)
        limit = int(_cfg(self.config, "actor_rollout_ref.rollout.response_length",
                         len(rt.completion_ids)))
        return AgentLoopOutput(
            prompt_ids=rt.prompt_ids, response_ids=rt.completion_ids[:limit],
            response_mask=rt.env_mask[:limit], response_logprobs=rt.logprobs[:limit],
            reward_score=reward, num_turns=len(traj.model_calls) * 2,
            metrics={})
