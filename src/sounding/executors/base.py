"""The executor seam: eval, synthesis and RL rollouts call one `rollout(item, k)`; an
executor decides where it runs (tasks in this process, or worker actors on Ray)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from ..trace.trajectory import Trajectory

__all__ = [
    "Executor",
    "ExecutorStats",
    "OpenRollout",
    "RolloutFactory",
    "WorkerStats",
]

ItemT = TypeVar("ItemT")
ItemT_contra = TypeVar("ItemT_contra", contravariant=True)


@dataclass
class OpenRollout(Generic[ItemT]):
    """A rollout function with the resources it holds (model clients, environment)."""

    rollout: Callable[[ItemT, int], Awaitable[Trajectory]]
    close: Callable[[], Awaitable[None]]


class RolloutFactory(Protocol[ItemT]):
    """A picklable recipe for rollouts. Each worker opens it once and so gets its own
    model clients, environment and caches; nothing but this recipe crosses processes."""

    async def open(self) -> OpenRollout[ItemT]: ...

    def for_cluster(self, limiter: str) -> RolloutFactory[ItemT]:
        """This recipe with provider limits taken from the cluster-wide `limiter` actor
        (`ray:NAME`); a recipe with no providers returns itself."""
        ...


@dataclass
class WorkerStats:
    """What one worker did so far (the driver counts; workers report nothing)."""

    name: str
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    alive: bool = True
    started: float = field(default_factory=time.monotonic)

    def per_minute(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return 60.0 * self.done / elapsed


@dataclass
class ExecutorStats:
    """Progress across workers: finished, failed, retried rollouts and per-worker rate."""

    workers: list[WorkerStats]
    retried: int = 0
    lost_workers: int = 0

    @property
    def done(self) -> int:
        return sum(w.done for w in self.workers)

    @property
    def failed(self) -> int:
        return sum(w.failed for w in self.workers)

    def summary(self) -> str:
        """One line for a progress bar: live workers, retries, per-worker rollouts/min."""
        live = [w for w in self.workers if w.alive]
        rates = [w.per_minute() for w in live]
        rate = f"  {min(rates):.0f}-{max(rates):.0f}/min per worker" if rates else ""
        return (f"workers {len(live)}/{len(self.workers)}  retried {self.retried}  "
                f"lost {self.lost_workers}{rate}")

    def lines(self) -> list[str]:
        """One line per worker, for the end of a run."""
        return [f"{w.name}: {w.done} done, {w.failed} failed, {w.per_minute():.1f}/min"
                + ("" if w.alive else " (lost)") for w in self.workers]


class Executor(Protocol[ItemT_contra]):
    """Runs rollouts somewhere; `concurrency` is how many it can hold in flight."""

    concurrency: int

    async def rollout(self, item: ItemT_contra, index: int) -> Trajectory: ...

    def stats(self) -> ExecutorStats: ...

    async def aclose(self) -> None: ...
