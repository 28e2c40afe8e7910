"""Rollout recipes for the Ray tests: each rollout says which process ran it and when."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from dataclasses import dataclass

from sounding.eval.datasets import Item
from sounding.executors import OpenRollout
from sounding.trace import Trajectory


@dataclass(frozen=True)
class ProbeFactory:
    """Rollouts that sleep `latency` and pass `calls` requests through the provider gate
    `probe` (the cluster's limiter when the executor shares one)."""

    latency: float = 0.05
    calls: int = 0
    limiter: str | None = None
    slow_item: str | None = None
    """An item that takes a minute (it stays in flight until its worker is killed)."""

    async def open(self) -> OpenRollout[Item]:
        from sounding.config import Settings, WebSettings
        from sounding.providers.web import ChainBuilder

        # The gate a real provider stack would get: the web environment's own builder.
        web = WebSettings(shared_limiter=self.limiter, rate_limits="")
        gate = ChainBuilder(Settings(web=web)).gate("probe")

        async def rollout(item: Item, index: int) -> Trajectory:
            stamps: list[float] = []
            for _ in range(self.calls):
                await gate.run(lambda: _stamp(stamps))
            await asyncio.sleep(60.0 if item.id == self.slow_item else self.latency)
            traj = Trajectory(question=item.question, model="probe")
            traj.answer = json.dumps({"pid": os.getpid(), "stamps": stamps})
            traj.termination = "answer"
            return traj

        async def close() -> None:
            return None

        return OpenRollout(rollout, close)

    def for_cluster(self, limiter: str) -> ProbeFactory:
        return dataclasses.replace(self, limiter=limiter)


async def _stamp(stamps: list[float]) -> None:
    stamps.append(time.time())
