"""Provider rate limits and concurrency caps that hold across a Ray cluster.

One limiter actor keeps, per provider, the time of its next free request slot and a
count of requests in flight; every worker's rate gate asks it before each request.
Requests are spaced evenly (no burst), so `rate` per second holds over any window.
Slots held by a worker that died are given back by the driver (`release_holder`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import ConfigError
from .ratelimit import RateGate

__all__ = ["LimiterState", "SharedRateGate", "holder_id", "shared_gate"]

T = TypeVar("T")
NAMESPACE = "sounding"


def holder_id() -> str:
    """Who holds a slot: this process on this host."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LimiterState:
    """The limiter's state; the Ray executor runs it as an async actor."""

    def __init__(self, rates: dict[str, float], concurrency: int) -> None:
        self.rates = dict(rates)
        self.concurrency = max(1, concurrency)
        self.next_free: dict[str, float] = {}
        self.held: dict[str, dict[str, int]] = {}  # provider -> holder -> slots
        self.changed = asyncio.Condition()
        self.requests: dict[str, int] = {}

    async def acquire(self, name: str, holder: str) -> float:
        """Wait for a concurrency slot, then reserve the next rate slot: returns the seconds
        the caller must wait before sending (the actor itself never sleeps on a rate)."""
        async with self.changed:
            await self.changed.wait_for(lambda: self._in_flight(name) < self.concurrency)
            per = self.held.setdefault(name, {})
            per[holder] = per.get(holder, 0) + 1
        self.requests[name] = self.requests.get(name, 0) + 1
        rate = self.rates.get(name)
        if not rate or rate <= 0:
            return 0.0
        now = time.time()
        start = max(now, self.next_free.get(name, 0.0))
        self.next_free[name] = start + 1.0 / rate
        return start - now

    async def release(self, name: str, holder: str) -> None:
        async with self.changed:
            per = self.held.get(name, {})
            if per.get(holder, 0) > 0:
                per[holder] -= 1
            self.changed.notify_all()

    async def release_holder(self, holder: str) -> int:
        """Free every slot of `holder` (a worker that died mid-request)."""
        freed = 0
        async with self.changed:
            for per in self.held.values():
                freed += per.pop(holder, 0)
            self.changed.notify_all()
        return freed

    def counts(self) -> dict[str, int]:
        """Requests granted per provider (operations and tests)."""
        return dict(self.requests)

    def _in_flight(self, name: str) -> int:
        return sum(self.held.get(name, {}).values())


class SharedRateGate(RateGate):
    """A rate gate whose limits live in the cluster's limiter actor."""

    def __init__(self, actor: Any, name: str, holder: str) -> None:
        super().__init__(None, concurrency=1)  # the local parts stay unused
        self.actor, self.name, self.holder = actor, name, holder

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        delay: float = await self.actor.acquire.remote(self.name, self.holder)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            return await call()
        finally:
            await self.actor.release.remote(self.name, self.holder)


def shared_gate(spec: str, name: str) -> SharedRateGate:
    """The gate for provider `name` from a `ray:ACTOR` spec (web.shared_limiter)."""
    kind, _, actor_name = spec.partition(":")
    if kind != "ray" or not actor_name:
        raise ConfigError(f"web.shared_limiter {spec!r}: expected ray:ACTOR_NAME")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("web.shared_limiter needs Ray: pip install 'sounding[ray]'") from exc
    try:
        actor = ray.get_actor(actor_name, namespace=NAMESPACE)
    except ValueError as exc:
        raise ConfigError(f"web.shared_limiter: no limiter actor {actor_name!r} on the "
                          "cluster (it lives as long as the driver that started it)") from exc
    return SharedRateGate(actor, name, holder_id())
