"""Per-provider rate limit (aiolimiter) and concurrency cap (a semaphore)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiolimiter import AsyncLimiter

from ..types import JSON
from ._layer import Layer, Op
from .base import CallStats, Page, PageBackend, SearchBackend, SearchHit

__all__ = ["RateGate", "RateLimitLayer", "parse_rates"]

R = TypeVar("R", list[SearchHit], Page | None)
T = TypeVar("T")


def parse_rates(spec: str) -> dict[str, float]:
    """"serper=20,arxiv=0.34" -> {"serper": 20.0, "arxiv": 0.34}."""
    rates: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            rates[name.strip()] = float(value)
    return rates


class RateGate:
    """At most `rate` requests per second (bursts up to one second's worth) and `concurrency`
    in flight. One gate per provider, shared by every tool that uses it."""

    def __init__(self, rate: float | None, concurrency: int = 8) -> None:
        self.limiter: AsyncLimiter | None = None
        if rate and rate > 0:
            burst = max(1.0, rate)
            self.limiter = AsyncLimiter(burst, burst / rate)
        self.semaphore = asyncio.Semaphore(max(1, concurrency))

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` inside the gate (a cluster-wide gate overrides this)."""
        async with self.semaphore:
            if self.limiter is not None:
                await self.limiter.acquire()
            return await call()


class RateLimitLayer(Layer):
    """Passes requests through the provider's gate."""

    def __init__(self, inner: SearchBackend | PageBackend, gate: RateGate) -> None:
        super().__init__(inner)
        self.gate = gate

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]],
                     stats: CallStats) -> R:
        return await self.gate.run(run)
