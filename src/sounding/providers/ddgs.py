"""Keyless web search through the `ddgs` package (DuckDuckGo and other public engines).

The last fallback of the `web` search chain: it needs no key, so a user with internet
access and no Serper key still gets results. `ddgs` is synchronous and has no base URL
to point at a test server, so its calls run in a worker thread under a time limit, and
tests drive this adapter through a stand-in `DDGS` object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from ..errors import ConfigError, ProviderError, RateLimitError
from .base import SearchHit

__all__ = ["DdgsClient", "DdgsSearch"]


class DdgsClient(Protocol):
    """What this adapter uses of `ddgs.DDGS`."""

    def text(self, query: str, *, region: str = ..., max_results: int | None = ...,
             ) -> list[dict[str, object]]: ...


def _real_client(timeout: float) -> DdgsClient:
    try:
        from ddgs import DDGS
    except ImportError as exc:
        raise ConfigError("the keyless search provider needs the ddgs package: "
                          "pip install 'sounding[web]' (or pip install ddgs)") from exc
    return DDGS(timeout=max(1, int(timeout)))


class DdgsSearch:
    """SearchBackend over `ddgs.DDGS().text`; "no results" is an empty list, not an error."""

    name = "ddgs"

    def __init__(self, *, timeout: float = 20.0,
                 client_factory: Callable[[float], DdgsClient] | None = None) -> None:
        self.timeout = timeout
        self._factory = client_factory or _real_client
        self._client: DdgsClient | None = None

    def __repr__(self) -> str:
        return "DdgsSearch()"

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        if self._factory is _real_client:
            _check_real_requests_allowed()
        if self._client is None:
            self._client = self._factory(self.timeout)
        region = "cn-zh" if any("\u4e00" <= ch <= "\u9fff" for ch in query) else "us-en"
        try:
            rows = await asyncio.wait_for(asyncio.to_thread(
                self._client.text, query, region=region, max_results=max(1, num)),
                self.timeout + 5)
        except TimeoutError as exc:
            raise ProviderError(f"ddgs gave no answer in {self.timeout:g} s", provider=self.name,
                                retryable=True) from exc
        except ConfigError:
            raise
        except Exception as exc:  # the package raises its own tree, and anything below it
            error = _as_provider_error(exc)
            if error is None:
                return []
            raise error from exc
        if not isinstance(rows, list):
            raise ProviderError(f"ddgs returned {type(rows).__name__}, not a list of results",
                                provider=self.name)
        return [hit for row in rows[:num] if (hit := _hit(row)) is not None]

    async def aclose(self) -> None:
        self._client = None


def _hit(row: object) -> SearchHit | None:
    if not isinstance(row, Mapping):
        return None
    url = row.get("href") or row.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    return SearchHit(title=str(row.get("title") or ""), url=url,
                     snippet=str(row.get("body") or row.get("snippet") or ""),
                     date=str(row["date"]) if row.get("date") else None)


def _as_provider_error(exc: Exception) -> ProviderError | None:
    """The package's error as ours; None when it only means "no results"."""
    kind = type(exc).__name__
    text = str(exc)[:300] or kind
    if kind == "RatelimitException":
        return RateLimitError(f"ddgs is rate limited by the search engines: {text}",
                              provider="ddgs")
    if kind == "DDGSException" and "no results" in text.lower():
        return None
    retryable = kind == "TimeoutException" or isinstance(exc, OSError)
    return ProviderError(f"ddgs failed ({kind}: {text})", provider="ddgs", retryable=retryable)


def _check_real_requests_allowed() -> None:
    # The package cannot be pointed at a loopback server, so under the tests' switch that
    # forbids real requests it must refuse outright rather than reach the internet.
    from ..llm.openai_client import real_requests_allowed

    if not real_requests_allowed():
        raise ProviderError("real web requests are forbidden here (tests): ddgs cannot run",
                            provider="ddgs")
