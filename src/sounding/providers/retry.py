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
from .base import CallStats, Page, PageBackend, SearchBackend, SearchHit

__all__ = ["RetryLayer", "TimeoutLayer"]

R = TypeVar("R", list[SearchHit], Page | None)


class RetryLayer(Layer):
    """Retry a request that failed with a retryable ProviderError (429, 5xx, timeouts).

    A 429's Retry-After is honoured: the wait is at least what the provider asked, and
    a provider that asks for more than `backoff_max` is not retried (the fallback chain
    moves on). The error that ends the retries says how many there were.
    """

    def __init__(self, inner: SearchBackend | PageBackend, *, max_retries: int = 3,
                 backoff_base: float = 1.0, backoff_max: float = 30.0) -> None:
        super().__init__(inner)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    def _retryable(self, exc: BaseException) -> bool:
        if not (isinstance(exc, ProviderError) and exc.retryable):
            return False
        asked = getattr(exc, "retry_after", None)
        return asked is None or asked <= self.backoff_max

    def _wait(self, state: RetryCallState) -> float:
        # Full jitter: a random wait up to base * 2**n, so clients do not retry in step.
        jitter = wait_random_exponential(multiplier=self.backoff_base, max=self.backoff_max)
        exc = state.outcome.exception() if state.outcome is not None else None
        return max(jitter(state), getattr(exc, "retry_after", None) or 0.0)

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]],
                     stats: CallStats) -> R:
        retries = 0

        def count(state: RetryCallState) -> None:
            nonlocal retries
            retries += 1
            stats.retries += 1

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1), wait=self._wait,
            retry=retry_if_exception(self._retryable), before_sleep=count, reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    return await run()
        except ProviderError as exc:
            if retries == 0:
                raise
            raise _with_note(exc, f"gave up after {retries} "
                             f"{'retry' if retries == 1 else 'retries'}") from exc
        raise AssertionError("unreachable: tenacity re-raises the last error")


def _with_note(exc: ProviderError, note: str) -> ProviderError:
    """The same error (type, status, retryable, Retry-After) with a note on its message."""
    copy = type(exc)(f"{exc} ({note})", provider=exc.provider, status=exc.status,
                     retryable=exc.retryable)
    copy.__dict__.update(exc.__dict__)  # e.g. a 429's retry_after
    return copy


class TimeoutLayer(Layer):
    """Fail one attempt after `seconds` (retryable); marks the provider as used on success."""

    def __init__(self, inner: SearchBackend | PageBackend, *, seconds: float) -> None:
        super().__init__(inner)
        self.seconds = seconds

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]],
                     stats: CallStats) -> R:
        try:
            async with asyncio.timeout(self.seconds):
                result = await run()
        except TimeoutError as exc:
            raise ProviderError(f"{self.name} did not answer within {self.seconds:g} s",
                                provider=self.name, retryable=True) from exc
        stats.used(self.name)
        return result
