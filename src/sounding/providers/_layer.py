"""The shape every wrapper shares: search and fetch both funnel into one `around` hook.

A layer wraps a provider (or another layer) and sees each request as an
operation name, its normalised arguments, a thunk that performs it and the
`CallStats` of the tool call it serves. Results
are serialised with `encode`/`decode` where a layer stores them (cache, record).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from ..types import JSON
from .base import CallStats, Page, PageBackend, SearchBackend, SearchHit

__all__ = ["Layer", "Op", "Result", "decode", "encode", "request_key"]

Op = Literal["search", "fetch"]
Result = list[SearchHit] | Page | None
R = TypeVar("R", list[SearchHit], Page | None)
_WS = re.compile(r"\s+")


def normalise(op: Op, args: dict[str, JSON]) -> dict[str, JSON]:
    """Arguments as the cache and the recordings key them (whitespace, URL fragments)."""
    out = dict(args)
    if op == "search":
        out["query"] = _WS.sub(" ", str(args.get("query", ""))).strip()
    else:
        parts = urlsplit(str(args.get("url", "")).strip())
        out["url"] = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                                 parts.query, ""))
    return out


def request_key(provider: str, op: Op, args: dict[str, JSON]) -> str:
    body = json.dumps(normalise(op, args), sort_keys=True, ensure_ascii=False)
    return f"{provider}|{op}|{body}"


def encode(result: Result) -> JSON:
    """A result as JSON (optional hit fields only when set, so old recordings stay valid)."""
    if isinstance(result, list):
        return [_encode_hit(h) for h in result]
    if result is None:
        return None
    return {"url": result.url, "text": result.text, "title": result.title,
            "content_type": result.content_type}


def _encode_hit(hit: SearchHit) -> JSON:
    out: dict[str, JSON] = {"title": hit.title, "url": hit.url, "snippet": hit.snippet,
                            "date": hit.date, "source": hit.source}
    if hit.authors:
        out["authors"] = list(hit.authors)
    for name in ("venue", "cited_by", "pdf_url"):
        value = getattr(hit, name)
        if value is not None:
            out[name] = value
    return out


def decode(op: Op, data: JSON) -> Result:
    if op == "search":
        items = data if isinstance(data, list) else []
        return [_decode_hit(item) for item in items if isinstance(item, dict)]
    if not isinstance(data, dict):
        return None
    return Page(**cast(dict[str, str], data))


def _decode_hit(item: dict[str, JSON]) -> SearchHit:
    def text(key: str) -> str | None:
        value = item.get(key)
        return None if value is None else str(value)

    authors = item.get("authors")
    cited = item.get("cited_by")
    return SearchHit(title=text("title") or "", url=text("url") or "",
                     snippet=text("snippet") or "", date=text("date"), source=text("source"),
                     authors=tuple(str(a) for a in authors) if isinstance(authors, list) else (),
                     venue=text("venue"), cited_by=cited if isinstance(cited, int) else None,
                     pdf_url=text("pdf_url"))


class Layer:
    """Base of the wrappers: implements both SearchBackend and PageBackend over `inner`."""

    def __init__(self, inner: SearchBackend | PageBackend) -> None:
        self.inner = inner
        self.name = inner.name

    async def search(self, query: str, *, num: int = 10,
                     stats: CallStats | None = None) -> list[SearchHit]:
        inner = cast(SearchBackend, self.inner)
        box = stats if stats is not None else CallStats()
        return await self.around("search", {"query": query, "num": num},
                                 lambda: inner.search(query, num=num, stats=box), box)

    async def fetch(self, url: str, *, stats: CallStats | None = None) -> Page | None:
        inner = cast(PageBackend, self.inner)
        box = stats if stats is not None else CallStats()
        return await self.around("fetch", {"url": url}, lambda: inner.fetch(url, stats=box), box)

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]],
                     stats: CallStats) -> R:
        """Perform `run` (the inner request); report what this layer did into `stats`."""
        return await run()

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
