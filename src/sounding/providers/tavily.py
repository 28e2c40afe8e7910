"""Tavily search API (Bearer key; max_results 0-20; errors as {"detail": {"error": ...}})."""

from __future__ import annotations

from ._http import HTTPProvider, json_body
from .base import SearchHit

__all__ = ["TavilySearch"]


class TavilySearch(HTTPProvider):
    """POST /search; 432/433 mean a plan limit, reported as a non-retryable error."""

    name = "tavily"
    key_variable = "TAVILY_API_KEY"

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        response = await self._send(
            "POST", "/search",
            json={"query": query[:400], "max_results": max(1, min(num, 20)),
                  "search_depth": "basic", "topic": "general"},
            headers={"Authorization": f"Bearer {self._api_key or ''}"})
        results = json_body(response, self.name).get("results") or []
        hits = []
        for item in results if isinstance(results, list) else []:
            if isinstance(item, dict) and item.get("url"):
                hits.append(SearchHit(title=str(item.get("title") or ""), url=str(item["url"]),
                                      snippet=str(item.get("content") or "")))
        return hits[:num]
