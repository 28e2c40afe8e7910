"""Brave Search API (web results); an invalid key comes back as HTTP 422."""

from __future__ import annotations

import re

from ._http import HTTPProvider, json_body
from .base import SearchHit

__all__ = ["BraveSearch"]

_TAGS = re.compile(r"</?strong>")


class BraveSearch(HTTPProvider):
    """GET /web/search with X-Subscription-Token; `count` is at most 20."""

    name = "brave"
    key_variable = "BRAVE_API_KEY"
    auth_statuses = (401, 403, 422)

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        response = await self._send(
            "GET", "/web/search",
            params={"q": query, "count": max(1, min(num, 20)), "text_decorations": "false"},
            headers={"X-Subscription-Token": self._api_key or "", "Accept": "application/json"})
        web = json_body(response, self.name).get("web") or {}
        results = web.get("results") if isinstance(web, dict) else None
        hits = []
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, dict) or not item.get("url"):
                continue
            profile = item.get("profile")
            source = profile.get("name") if isinstance(profile, dict) else None
            date = item.get("page_age") or item.get("age")
            hits.append(SearchHit(
                title=_TAGS.sub("", str(item.get("title") or "")), url=str(item["url"]),
                snippet=_TAGS.sub("", str(item.get("description") or "")),
                date=str(date)[:10] if item.get("page_age") else (str(date) if date else None),
                source=str(source) if source else None))
        return hits[:num]
