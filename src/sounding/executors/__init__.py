"""Where rollouts run: asyncio tasks in this process (local) or worker actors on Ray."""

from __future__ import annotations

from typing import TypeVar

from ..config import ExecutorSettings
from .base import Executor, ExecutorStats, OpenRollout, RolloutFactory, WorkerStats
from .local import LocalExecutor

__all__ = [
    "Executor",
    "ExecutorStats",
    "LocalExecutor",
    "OpenRollout",
    "RolloutFactory",
    "WorkerStats",
    "start_executor",
]

ItemT = TypeVar("ItemT")


async def start_executor(factory: RolloutFactory[ItemT], settings: ExecutorSettings, *,
                         concurrency: int, rates: dict[str, float] | None = None,
                         provider_concurrency: int = 8) -> Executor[ItemT]:
    """The executor `settings.kind` names. Local runs `concurrency` rollouts at once; Ray
    runs `workers x worker_concurrency`, with `rates` (per provider) and
    `provider_concurrency` held across the cluster by one limiter actor."""
    if settings.kind == "ray":
        from .ray_executor import RayExecutor, SharedLimits

        limits = SharedLimits(rates or {}, provider_concurrency)
        return await RayExecutor.start(factory, settings, limits=limits)
    return await LocalExecutor.start(factory, concurrency)
