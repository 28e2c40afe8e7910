"""Persistent answer cache (diskcache, i.e. SQLite) keyed by provider and normalised arguments."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar, cast

import diskcache

from ..types import JSON
from ._layer import Layer, Op, decode, encode, request_key
from .base import CallStats, Page, PageBackend, SearchBackend, SearchHit

__all__ = ["AnswerCache", "CacheLayer", "open_cache"]

R = TypeVar("R", list[SearchHit], Page | None)


class AnswerCache(Protocol):
    """What the cache layer needs of a store: diskcache.Cache, or a shared RedisCache."""

    def get(self, key: str) -> object: ...
    def set(self, key: str, value: str, expire: float | None = None) -> object: ...
    def close(self) -> None: ...


def open_cache(directory: Path) -> diskcache.Cache:
    """One cache folder shared by every provider (keys carry the provider's name)."""
    directory.mkdir(parents=True, exist_ok=True)
    return diskcache.Cache(str(directory), size_limit=4 * 2**30)


class CacheLayer(Layer):
    """Answers repeated requests from disk; errors are never cached, a missing page is."""

    def __init__(self, inner: SearchBackend | PageBackend, cache: AnswerCache, *,
                 ttl: float) -> None:
        super().__init__(inner)
        self.cache = cache
        self.ttl = ttl
        # Two instances of one provider (say two SearXNG servers) must not share answers.
        self.scope = f"{self.name}@{_endpoint(inner)}"

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]],
                     stats: CallStats) -> R:
        key = request_key(self.scope, op, args)
        stored = self.cache.get(key)
        if isinstance(stored, str):
            stats.cache_hits += 1
            stats.used(self.name)
            return cast(R, decode(op, json.loads(stored)))
        result = await run()
        self.cache.set(key, json.dumps(encode(result), ensure_ascii=False), expire=self.ttl)
        return result


def _endpoint(backend: object) -> str:
    """The base URL of the provider under any number of layers ("" when it has none)."""
    while isinstance(backend, Layer):
        backend = backend.inner
    return str(getattr(backend, "base_url", ""))
