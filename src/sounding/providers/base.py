"""Provider interfaces and the per-call statistics that wrappers report into.

Providers (search APIs, fetchers, the offline corpus) implement the narrow
protocols here. Wrappers (cache, retry, rate limit, fallback, record/replay)
compose around them and report what they did into the `CallStats` passed down
with each request (explicitly, no context variables): the environment opens one
per tool call and records it in the trajectory, so the loop need not know which
wrappers exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..llm.base import ChatRequest, Completion

__all__ = [
    "CallStats",
    "Page",
    "PageBackend",
    "SearchBackend",
    "SearchHit",
]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result, in the shape of a Serper organic entry.

    Scholarly results also fill the optional fields below them (authors, venue,
    cited_by, pdf_url); `date` then holds the year.
    """

    title: str
    url: str
    snippet: str = ""
    date: str | None = None
    source: str | None = None
    authors: tuple[str, ...] = ()
    venue: str | None = None
    """Journal, conference or publication line."""
    cited_by: int | None = None
    pdf_url: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A readable document: main text of a fetched page or a corpus entry."""

    url: str
    text: str
    title: str = ""
    content_type: str = "text/plain"


@runtime_checkable
class SearchBackend(Protocol):
    """A search provider: the web (Serper, SearXNG, ...) or the offline corpus."""

    name: str

    async def search(self, query: str, *, num: int = 10,
                     stats: CallStats | None = None) -> list[SearchHit]: ...


@runtime_checkable
class PageBackend(Protocol):
    """Resolves a URL to a page; returns None when the page does not exist."""

    name: str

    async def fetch(self, url: str, *, stats: CallStats | None = None) -> Page | None: ...


@dataclass(slots=True)
class CallStats:
    """What the provider stack did for one tool call (all its queries or URLs)."""

    providers: list[str] = field(default_factory=list)
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    model_calls: list[tuple[ChatRequest, Completion]] = field(default_factory=list)
    """Model calls a tool made (visit's extraction), recorded in the trajectory by the loop."""

    def record_model_call(self, request: ChatRequest, completion: Completion) -> None:
        """Keep a model call the tool made, for the trajectory."""
        self.model_calls.append((request, completion))

    def used(self, provider: str) -> None:
        if provider not in self.providers:
            self.providers.append(provider)

    @property
    def provider(self) -> str | None:
        return ",".join(self.providers) if self.providers else None

    @property
    def cache_hit(self) -> bool:
        """True when every request of the call was answered from the cache."""
        return self.requests > 0 and self.cache_hits >= self.requests
