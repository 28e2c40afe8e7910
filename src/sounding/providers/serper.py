"""Serper (google.serper.dev): Google web search and Google Scholar."""

from __future__ import annotations

from ..types import JSON
from ._http import HTTPProvider, has_cjk, json_body
from .base import SearchHit

__all__ = ["SerperScholar", "SerperSearch"]


def _str(value: JSON) -> str:
    return "" if value is None else str(value)


class SerperSearch(HTTPProvider):
    """POST /search with X-API-KEY; Chinese queries get the Chinese locale, as upstream."""

    name = "serper"
    key_variable = "SERPER_API_KEY"
    endpoint = "/search"

    def _payload(self, query: str, num: int) -> dict[str, JSON]:
        if has_cjk(query):
            return {"q": query, "location": "China", "gl": "cn", "hl": "zh-cn", "num": num}
        return {"q": query, "location": "United States", "gl": "us", "hl": "en", "num": num}

    async def _query(self, query: str, num: int) -> list[JSON]:
        response = await self._send(
            "POST", self.endpoint, json=self._payload(query, num),
            headers={"X-API-KEY": self._api_key or "", "Content-Type": "application/json"})
        organic = json_body(response, self.name).get("organic") or []
        return organic if isinstance(organic, list) else []

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        hits = []
        for item in (await self._query(query, num))[:num]:
            if not isinstance(item, dict) or not item.get("link"):
                continue
            hits.append(SearchHit(
                title=_str(item.get("title")), url=_str(item.get("link")),
                snippet=_str(item.get("snippet")),
                date=_str(item.get("date")) or None, source=_str(item.get("source")) or None))
        return hits


class SerperScholar(SerperSearch):
    """POST /scholar: the list is still `organic`; publicationInfo is a string, year an int."""

    name = "serper_scholar"
    endpoint = "/scholar"

    def _payload(self, query: str, num: int) -> dict[str, JSON]:
        return {"q": query, "num": num}

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        hits = []
        for item in (await self._query(query, num))[:num]:
            if not isinstance(item, dict):
                continue
            # "DB Yoffie, M Slind - Harvard Business Review, 2008 - hbs.edu"
            authors, _, venue = _str(item.get("publicationInfo")).partition(" - ")
            cited = item.get("citedBy")
            hits.append(SearchHit(
                title=_str(item.get("title")),
                url=_str(item.get("link") or item.get("htmlUrl") or item.get("pdfUrl")),
                snippet=_str(item.get("snippet")), date=_str(item.get("year")) or None,
                authors=tuple(a.strip() for a in authors.split(",") if a.strip()),
                venue=venue.strip() or None, cited_by=cited if isinstance(cited, int) else None,
                pdf_url=_str(item.get("pdfUrl")) or None))
        return hits
