"""Fallback chains: try providers in order until one answers."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BlockedURLError, ProviderError, ReplayMissError
from .base import CallStats, Page, PageBackend, SearchBackend, SearchHit

__all__ = ["FallbackChain"]


class FallbackChain:
    """Ask each backend in turn; a ProviderError moves on to the next one.

    Two errors stop the chain at once: a replay miss (a replay must fail loudly)
    and a URL the policy blocked (another fetcher must not fetch it instead).
    Also counts the request once in the call statistics, whichever layer answers.
    """

    def __init__(self, backends: Sequence[SearchBackend | PageBackend]) -> None:
        if not backends:
            raise ValueError("a fallback chain needs at least one backend")
        self.backends = list(backends)
        self.name = "+".join(b.name for b in self.backends)

    async def search(self, query: str, *, num: int = 10,
                     stats: CallStats | None = None) -> list[SearchHit]:
        stats = stats if stats is not None else CallStats()
        stats.requests += 1
        errors: list[ProviderError] = []
        for backend in self.backends:
            try:
                return await backend.search(query, num=num, stats=stats)  # type: ignore[union-attr]
            except (ReplayMissError, BlockedURLError):
                raise
            except ProviderError as exc:
                errors.append(exc)
        raise _combined(errors)

    async def fetch(self, url: str, *, stats: CallStats | None = None) -> Page | None:
        stats = stats if stats is not None else CallStats()
        stats.requests += 1
        errors: list[ProviderError] = []
        for backend in self.backends:
            try:
                return await backend.fetch(url, stats=stats)  # type: ignore[union-attr]
            except (ReplayMissError, BlockedURLError):
                raise
            except ProviderError as exc:
                errors.append(exc)
        raise _combined(errors)

    async def aclose(self) -> None:
        for backend in self.backends:
            close = getattr(backend, "aclose", None)
            if close is not None:
                await close()


def _combined(errors: list[ProviderError]) -> ProviderError:
    if len(errors) == 1:
        return errors[0]
    last = errors[-1]
    # Provider messages mostly start with the provider's name already.
    message = "; ".join(str(e) if not e.provider or str(e).startswith(f"{e.provider} ")
                        else f"{e.provider}: {e}" for e in errors)
    combined = ProviderError(f"every provider failed: {message}", provider=last.provider,
                             status=last.status, retryable=last.retryable)
    combined.__cause__ = last
    return combined
