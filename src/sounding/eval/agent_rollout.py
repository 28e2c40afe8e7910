"""The default rollout: `sounding.agent.arun` with one shared model and Environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..env import Environment, build_environment
from ..llm.base import ChatModel
from ..trace.trajectory import Trajectory
from ..types import JSONObject
from .datasets.base import Item
from .runner import Rollout, rollout_seed

__all__ = ["AgentResources", "agent_identity", "agent_rollout", "open_agent"]


@dataclass
class AgentResources:
    """The model client(s) and Environment shared by every rollout of a run."""

    model: ChatModel
    environment: Environment
    summary: ChatModel | None = None

    async def aclose(self) -> None:
        await self.environment.aclose()
        if self.summary is not None and self.summary is not self.model:
            await self.summary.aclose()
        await self.model.aclose()


def files_settings(settings: Settings, items: Sequence[Item]) -> Settings:
    """Point parse_file at the attachments' folder (GAIA keeps them next to its JSONL)."""
    folders = {p.parent for it in items for p in it.files}
    if not folders or settings.web.files_dir is not None:
        return settings
    common = Path(os.path.commonpath([str(f) for f in folders]))
    return dataclasses.replace(settings, web=dataclasses.replace(settings.web, files_dir=common))


def open_agent(settings: Settings, *, model: ChatModel | None = None) -> AgentResources:
    """One model client and one Environment for the whole run."""
    from ..llm.openai_client import OpenAIChatModel

    if model is None:
        settings.require_llm()
        model = OpenAIChatModel(settings.llm)
    summary: ChatModel = model
    if settings.summary.base_url or settings.summary.model:
        summary = OpenAIChatModel(settings.summary_llm(), name="summary")
    env = build_environment(settings, summary_model=summary)
    return AgentResources(model, env, summary)


def agent_rollout(settings: Settings, resources: AgentResources, *, seed: int = 0) -> Rollout:
    """A rollout that researches `item.prompt()` with the shared resources."""
    from ..agent import arun

    async def rollout(item: Item, index: int) -> Trajectory:
        return await arun(item.prompt(), settings, model=resources.model,
                          environment=resources.environment,
                          seed=rollout_seed(item.id, index, seed))

    return rollout


def agent_identity(settings: Settings) -> JSONObject:
    """The agent settings that change results (compared when a run is resumed)."""
    s, b = settings.sampling, settings.budgets
    return {
        "mode": settings.mode,
        "protocol": settings.protocol,
        "env": settings.env,
        "model": settings.llm.model,
        "summary_model": settings.summary.model,
        "corpus": str(settings.corpus) if settings.corpus else None,
        "sampling": {"temperature": s.temperature, "top_p": s.top_p,
                     "presence_penalty": s.presence_penalty, "max_tokens": s.max_tokens},
        "budgets": {"max_rounds": b.max_rounds, "max_context_tokens": b.max_context_tokens,
                    "max_seconds": b.max_seconds, "max_total_tokens": b.max_total_tokens},
    }
