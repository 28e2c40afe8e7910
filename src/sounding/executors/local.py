"""The local executor: rollouts as asyncio tasks in this process, sharing one set of
model clients and one Environment (today's eval runner, and the default)."""

from __future__ import annotations

from typing import Generic, TypeVar

from ..trace.trajectory import Trajectory
from .base import ExecutorStats, OpenRollout, RolloutFactory, WorkerStats

__all__ = ["LocalExecutor"]

ItemT = TypeVar("ItemT")


class LocalExecutor(Generic[ItemT]):
    """Opens the recipe once; `concurrency` rollouts share what it opened."""

    def __init__(self, opened: OpenRollout[ItemT], concurrency: int) -> None:
        self._opened = opened
        self.concurrency = max(1, concurrency)
        self._stats = WorkerStats("local")

    @classmethod
    async def start(cls, factory: RolloutFactory[ItemT], concurrency: int) -> LocalExecutor[ItemT]:
        return cls(await factory.open(), concurrency)

    async def rollout(self, item: ItemT, index: int) -> Trajectory:
        self._stats.in_flight += 1
        try:
            traj = await self._opened.rollout(item, index)
        except Exception:
            self._stats.failed += 1
            raise
        finally:
            self._stats.in_flight -= 1
        self._stats.done += 1
        return traj

    def stats(self) -> ExecutorStats:
        return ExecutorStats([self._stats])

    async def aclose(self) -> None:
        await self._opened.close()
