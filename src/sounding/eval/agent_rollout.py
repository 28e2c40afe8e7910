"""The default rollout: `sounding.agent.arun` with one shared model and Environment
(opened by `sounding.agent.open_agent`, as `sounding ask` opens its own)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..agent.resources import AgentResources, open_agent
from ..config import Settings
from ..errors import DatasetError
from ..executors import OpenRollout
from ..trace.trajectory import Trajectory
from ..types import JSONObject
from .datasets.base import Item
from .runner import Rollout, rollout_seed

__all__ = [
    "AgentRolloutFactory",
    "agent_identity",
    "agent_rollout",
    "files_settings",
    "stage_files",
]


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
        stack = contextlib.AsyncExitStack()
        resources = await stack.enter_async_context(open_agent(self.settings))
        return OpenRollout(agent_rollout(self.settings, resources, seed=self.seed),
                           stack.aclose)

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
