"""The Ray executor: rollouts run in worker actors; the driver only dispatches and counts.

Each worker opens the rollout recipe once (its own model clients, environment and
caches) and holds up to `worker_concurrency` rollouts at once. The driver keeps the
one writer of the results, so rows stay atomic and unique. A worker that dies loses
only its in-flight rollouts: each is run again on another worker (at most
`max_retries` times), a replacement worker is started, and the slots it held in the
cluster's limiter are freed. Ray is imported only here (the `ray` extra).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..config import ExecutorSettings
from ..errors import ExecutorError, WorkerLostError
from ..trace.trajectory import Trajectory
from ._worker import RolloutWorker
from .base import ExecutorStats, RolloutFactory, WorkerStats

__all__ = ["RayExecutor", "SharedLimits"]

ItemT = TypeVar("ItemT")
log = logging.getLogger(__name__)
NAMESPACE = "sounding"


@dataclass(frozen=True)
class SharedLimits:
    """Provider limits the limiter actor holds for the whole cluster."""

    rates: dict[str, float]
    concurrency: int


@dataclass
class _Slot:
    handle: Any  # a Ray actor handle
    stats: WorkerStats
    holder: str = ""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError("--executor ray needs Ray: pip install 'sounding[ray]'") from exc
    return ray


class RayExecutor(Generic[ItemT]):
    """Dispatches rollouts to worker actors, least busy first."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self.concurrency = max(1, settings.workers) * max(1, settings.worker_concurrency)
        self._slots: list[_Slot] = []
        self._changed = asyncio.Condition()
        self._retried = 0
        self._lost = 0
        self._respawns_left = max(1, settings.workers)
        self._factory: RolloutFactory[ItemT] | None = None
        self._limiter: Any = None
        self._owns_ray = False
        self._serial = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, factory: RolloutFactory[ItemT], settings: ExecutorSettings, *,
                    limits: SharedLimits | None = None) -> RayExecutor[ItemT]:
        """Connect to (or start) the cluster, the limiter actor and the workers."""
        self: RayExecutor[ItemT] = cls(settings)
        try:
            self._connect()
            if limits is not None:
                factory = factory.for_cluster(f"ray:{self._start_limiter(limits)}")
            self._factory = factory
            await asyncio.gather(*(self._spawn() for _ in range(max(1, settings.workers))))
        except BaseException:
            await self.aclose()
            raise
        return self

    def _connect(self) -> None:
        ray = _ray()
        if ray.is_initialized():
            return
        address = self.settings.ray_address
        try:
            if address:
                ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                         logging_level=logging.WARNING)
            else:  # a private cluster on loopback, stopped with the run
                ray.init(address="local", namespace=NAMESPACE, include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING,
                         _node_ip_address="127.0.0.1")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Ray cluster at {address or 'local'}: "
                                f"{exc}") from exc
        self._owns_ray = True

    def _start_limiter(self, limits: SharedLimits) -> str:
        """Start the named limiter actor; its name, for the workers to find it by."""
        name = f"limiter-{uuid.uuid4().hex[:12]}"
        # Every waiting request is a call in flight on the actor: allow plenty.
        self._limiter = _ray().remote(num_cpus=0, max_concurrency=100_000)(
            _limiter_class()).options(name=name, namespace=NAMESPACE).remote(
            limits.rates, limits.concurrency)
        return name

    async def _spawn(self) -> None:
        self._serial += 1
        name = f"worker-{self._serial}"
        handle = _ray().remote(num_cpus=0, scheduling_strategy="SPREAD",
                               max_concurrency=self.settings.worker_concurrency + 4)(
            RolloutWorker).remote(self._factory)
        holder: str = await handle.start.remote()
        slot = _Slot(handle, WorkerStats(name), holder)
        async with self._changed:
            self._slots.append(slot)
            self._changed.notify_all()

    async def rollout(self, item: ItemT, index: int) -> Trajectory:
        last: BaseException | None = None
        for attempt in range(self.settings.max_retries + 1):
            slot = await self._take()
            try:
                traj: Trajectory = await slot.handle.rollout.remote(item, index)
            except _ray().exceptions.RayActorError as exc:  # the worker died under it
                last = exc
                await self._lose(slot)
                if attempt < self.settings.max_retries:
                    self._retried += 1
                continue
            except Exception:
                slot.stats.failed += 1
                raise
            finally:
                await self._give(slot)
            slot.stats.done += 1
            return traj
        raise WorkerLostError(f"rollout {index} of {item!r:.80} was lost with its worker "
                              f"{self.settings.max_retries + 1} times") from last

    async def _take(self) -> _Slot:
        """The live worker with the fewest rollouts in flight, once one has room."""
        cap = max(1, self.settings.worker_concurrency)
        async with self._changed:
            while True:
                live = [s for s in self._slots if s.stats.alive]
                if not live and not self._respawns_left and not self._tasks:
                    raise ExecutorError("every Ray worker died and none can be restarted")
                free = [s for s in live if s.stats.in_flight < cap]
                if free:
                    slot = min(free, key=lambda s: s.stats.in_flight)
                    slot.stats.in_flight += 1
                    return slot
                await self._changed.wait()

    async def _give(self, slot: _Slot) -> None:
        async with self._changed:
            slot.stats.in_flight -= 1
            self._changed.notify_all()

    async def _lose(self, slot: _Slot) -> None:
        if not slot.stats.alive:
            return  # another rollout of the same worker noticed first
        slot.stats.alive = False
        self._lost += 1
        log.warning("Ray %s died; its in-flight rollouts go to other workers", slot.stats.name)
        if self._limiter is not None:
            await self._limiter.release_holder.remote(slot.holder)
        if self._respawns_left > 0:
            self._respawns_left -= 1
            self._tasks.add(asyncio.create_task(self._respawn()))

    async def _respawn(self) -> None:
        try:
            await self._spawn()
        except Exception:  # the cluster may be shrinking: run on with the workers left
            log.exception("could not start a replacement Ray worker")
        finally:
            # Leave the set before waking the waiters: with no worker and no replacement
            # left on the way, they must see it and fail instead of waiting for ever.
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            async with self._changed:
                self._changed.notify_all()

    def stats(self) -> ExecutorStats:
        return ExecutorStats([s.stats for s in self._slots], self._retried, self._lost)

    def worker_handles(self) -> list[Any]:
        """The live workers' actor handles (operations; tests kill one)."""
        return [s.handle for s in self._slots if s.stats.alive]

    @property
    def limiter(self) -> Any:
        """The limiter actor handle, or None when no limits are shared."""
        return self._limiter

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if not (self._slots or self._limiter is not None or self._owns_ray):
            return  # Ray was never reached (it may not even be installed)
        ray = _ray()
        for slot in self._slots:
            if slot.stats.alive:
                try:
                    await slot.handle.stop.remote()
                except Exception:  # a worker dying at the end changes nothing now
                    log.debug("worker %s did not stop cleanly", slot.stats.name)
            ray.kill(slot.handle)
        if self._limiter is not None:
            ray.kill(self._limiter)
        if self._owns_ray:
            ray.shutdown()


def _limiter_class() -> type:
    from ..providers.shared_limits import LimiterState

    return LimiterState
