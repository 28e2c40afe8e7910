"""Retries with exponential backoff and jitter, and the per-attempt timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ..errors import ProviderError
from ..types import JSON
from ._layer import Layer, Op
from .base import Page, PageBackend, SearchBackend, SearchHit, current_stats

__all__ = ["RetryLayer", "TimeoutLayer"]

R = TypeVar("R", list[SearchHit], Page | None)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


class RetryLayer(Layer):
    """Retry a request that failed with a retryable ProviderError (429, 5xx, timeouts)."""

    def __init__(self, inner: SearchBackend | PageBackend, *, max_retries: int = 3,
                 backoff_base: float = 1.0, backoff_max: float = 30.0) -> None:
        super().__init__(inner)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]]) -> R:
        def count(state: RetryCallState) -> None:
            current_stats().retries += 1

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            # Full jitter: a random wait up to base * 2**n, so clients do not retry in step.
            wait=wait_random_exponential(multiplier=self.backoff_base, max=self.backoff_max),
            retry=retry_if_exception(_retryable),
            before_sleep=count,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await run()
        raise AssertionError("unreachable: tenacity re-raises the last error")


class TimeoutLayer(Layer):
    """Fail one attempt after `seconds` (retryable); marks the provider as used on success."""

    def __init__(self, inner: SearchBackend | PageBackend, *, seconds: float) -> None:
        super().__init__(inner)
        self.seconds = seconds

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]]) -> R:
        try:
            async with asyncio.timeout(self.seconds):
                result = await run()
        except TimeoutError as exc:
            raise ProviderError(f"{self.name} did not answer within {self.seconds:g} s",
                                provider=self.name, retryable=True) from exc
        current_stats().used(self.name)
        return result
