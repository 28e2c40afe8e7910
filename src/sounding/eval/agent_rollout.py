"""The default rollout: `sounding.agent.arun` with one shared model and Environment."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..env import Environment, build_environment
from ..errors import DatasetError
from ..executors import OpenRollout
from ..llm.base import ChatModel
from ..trace.trajectory import Trajectory
from ..types import JSONObject
from .datasets.base import Item
from .runner import Rollout, rollout_seed

__all__ = [
    "AgentResources",
    "AgentRolloutFactory",
    "agent_identity",
    "agent_rollout",
    "files_settings",
    "open_agent",
    "stage_files",
]


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


def files_settings(settings: Settings, items: Sequence[Item], folder: Path) -> Settings:
    """Stage the items' attachments (GAIA) in `folder` and point parse_file at it.

    parse_file may read anything in `web.files_dir`; GAIA keeps its files next to the
    JSONL that holds the gold answers, so the agent gets a folder of its own instead.
    A `web.files_dir` the user set is left alone.
    """
    files = {p for it in items for p in it.files}
    if not files or settings.web.files_dir is not None:
        return settings
    stage_files(files, folder)
    return dataclasses.replace(settings, web=dataclasses.replace(settings.web,
                                                                 files_dir=folder.resolve()))


def stage_files(files: Iterable[Path], folder: Path) -> None:
    """Hard-link (or copy) each file into `folder` under its own name."""
    folder.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, Path] = {}
    for src in sorted(files):
        other = by_name.setdefault(src.name, src)
        if other != src:
            raise DatasetError(f"attachments {other} and {src} share the name {src.name!r}; "
                               "the agent names files by their base name")
        dst = folder / src.name
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            continue  # staged by an earlier (or a parallel shard's) run
        tmp = folder / f".{src.name}.{os.getpid()}.tmp"
        try:
            os.link(src, tmp)
        except OSError:  # another filesystem, or links not allowed
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


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


@dataclass(frozen=True)
class AgentRolloutFactory:
    """The recipe an executor's workers open: settings in, one model client and one
    Environment per worker out (picklable: settings are plain frozen data)."""

    settings: Settings
    seed: int = 0

    async def open(self) -> OpenRollout[Item]:
        resources = open_agent(self.settings)
        return OpenRollout(agent_rollout(self.settings, resources, seed=self.seed),
                           resources.aclose)

    def for_cluster(self, limiter: str) -> AgentRolloutFactory:
        web = dataclasses.replace(self.settings.web, shared_limiter=limiter)
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, web=web))


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
