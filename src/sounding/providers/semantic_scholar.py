"""Semantic Scholar Graph API paper search (key optional, sent as x-api-key)."""

from __future__ import annotations

from ..types import JSON
from ._http import HTTPProvider, json_body
from .base import SearchHit

__all__ = ["SemanticScholarSearch"]

_FIELDS = "title,url,abstract,venue,year,citationCount,openAccessPdf,authors,tldr,externalIds"


def _hit(item: dict[str, JSON]) -> SearchHit:
    pdf = item.get("openAccessPdf")
    authors = item.get("authors")
    tldr = item.get("tldr")
    text = item.get("abstract") or (tldr.get("text") if isinstance(tldr, dict) else None) or ""
    cited = item.get("citationCount")
    return SearchHit(
        title=str(item.get("title") or ""), url=str(item.get("url") or ""), snippet=str(text),
        date=str(item["year"]) if item.get("year") else None,
        authors=tuple(str(a["name"]) for a in authors if isinstance(a, dict) and a.get("name"))
        if isinstance(authors, list) else (),
        venue=str(item["venue"]) if item.get("venue") else None,
        cited_by=cited if isinstance(cited, int) else None,
        pdf_url=str(pdf["url"]) if isinstance(pdf, dict) and pdf.get("url") else None)


class SemanticScholarSearch(HTTPProvider):
    """GET /paper/search; without a key all callers share one pool (expect 429s)."""

    name = "semantic_scholar"
    key_variable = "SEMANTIC_SCHOLAR_API_KEY"

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        headers = {"x-api-key": self._api_key} if self._api_key else {}
        response = await self._send(
            "GET", "/paper/search",
            params={"query": query, "limit": max(1, min(num, 100)), "fields": _FIELDS},
            headers=headers)
        data = json_body(response, self.name).get("data") or []
        return [_hit(item) for item in data if isinstance(item, dict)][:num] \
            if isinstance(data, list) else []
