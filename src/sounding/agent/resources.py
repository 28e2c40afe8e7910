"""Shared run resources: the model clients and the environment one or many runs use.

`sounding ask` opens them for one question; the eval runner opens them once and shares
them across every concurrent rollout. Whatever `open_agent` creates it also closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..config import Settings
from ..env import Environment, build_environment
from ..llm.base import ChatModel

__all__ = ["AgentResources", "open_agent"]


@dataclass(frozen=True)
class AgentResources:
    """The agent's model, the environment's tools, and the model tools use (`visit`'s
    evidence extraction: the `summary` endpoint when set, else the agent's model)."""

    model: ChatModel
    environment: Environment
    summary_model: ChatModel


@asynccontextmanager
async def open_agent(settings: Settings, *, model: ChatModel | None = None,
                     environment: Environment | None = None) -> AsyncIterator[AgentResources]:
    """`async with open_agent(settings) as res:` a model client and an environment.

    A `model` or `environment` passed in is the caller's: it is used, never closed.
    """
    from ..llm.openai_client import OpenAIChatModel  # the HTTP client only when needed

    own_model = model is None
    if model is None:
        settings.require_llm()
        model = OpenAIChatModel(settings.llm)
    summary: ChatModel = model
    env = environment
    try:
        if env is None:
            if settings.summary.base_url or settings.summary.model:
                summary = OpenAIChatModel(settings.summary_llm(), name="summary")
            env = build_environment(settings, summary_model=summary)
        if hasattr(env, "open"):  # idempotent: a shared environment starts MCP servers once
            await env.open()
        yield AgentResources(model, env, summary)
    finally:
        if environment is None and env is not None:
            await env.aclose()
        if summary is not model:
            await summary.aclose()
        if own_model:
            await model.aclose()
