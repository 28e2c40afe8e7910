"""The answer cache shared by a cluster's workers: Redis (`redis://...`) or a directory.

Calls are synchronous, like diskcache's: on a nearby Redis they take well under a
millisecond, far less than the provider request they save. A directory works when it
sits on storage every worker mounts (SQLite over NFS is slow under many writers;
prefer Redis past a handful of workers).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .cache import AnswerCache

__all__ = ["RedisCache", "open_shared_cache"]

PREFIX = "sounding:web:"


class RedisCache:
    """Cache entries as Redis strings with a TTL; keys carry a prefix of their own."""

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ConfigError(f"web.cache_url {url!r} needs the redis package: "
                              "pip install 'sounding[ray]'") from exc
        self.url = url
        self._client = redis.Redis.from_url(url, decode_responses=True)
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise ConfigError(f"web.cache_url {url!r}: cannot reach Redis ({exc})") from exc

    def get(self, key: str) -> object:
        value: object = self._client.get(PREFIX + key)
        return value

    def set(self, key: str, value: str, expire: float | None = None) -> object:
        # Redis wants whole seconds (at least one); None keeps the entry until evicted.
        ttl = max(1, int(expire)) if expire is not None else None
        return self._client.set(PREFIX + key, value, ex=ttl)

    def close(self) -> None:
        self._client.close()


def open_shared_cache(location: str) -> AnswerCache:
    """A Redis cache for a `redis://` or `rediss://` URL, else a diskcache directory."""
    if location.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(location)
    from .cache import open_cache

    cache: AnswerCache = open_cache(Path(location).expanduser() / "web")
    return cache
