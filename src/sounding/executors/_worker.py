"""The Ray worker actor: opens the rollout recipe once and runs rollouts on request."""

from __future__ import annotations

import os
from typing import Any

from ..errors import ExecutorError
from ..trace.trajectory import Trajectory
from .base import OpenRollout, RolloutFactory

__all__ = ["RolloutWorker"]


class RolloutWorker:
    """Made an async actor by the executor (`ray.remote(...)(RolloutWorker)`)."""

    def __init__(self, factory: RolloutFactory[Any]) -> None:
        self._factory = factory
        self._opened: OpenRollout[Any] | None = None

    async def start(self) -> str:
        """Open this worker's clients and environment; returns who holds limiter slots."""
        from ..providers.shared_limits import holder_id

        self._opened = await self._factory.open()
        return holder_id()

    async def rollout(self, item: Any, index: int) -> Trajectory:
        if self._opened is None:
            raise ExecutorError("the worker was not started")
        return await self._opened.rollout(item, index)

    async def stop(self) -> None:
        if self._opened is not None:
            opened, self._opened = self._opened, None
            await opened.close()

    def pid(self) -> int:
        return os.getpid()
