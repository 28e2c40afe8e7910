"""SearXNG: a self-hosted metasearch engine's JSON API (no key; JSON must be enabled)."""

from __future__ import annotations

from ..errors import ProviderError
from ._http import HTTPProvider, json_body
from .base import SearchHit

__all__ = ["SearxngSearch"]


class SearxngSearch(HTTPProvider):
    """GET /search?format=json; there is no count parameter, so pages are read until `num`."""

    name = "searxng"
    auth_statuses = ()

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        hits: list[SearchHit] = []
        seen: set[str] = set()
        for page in (1, 2, 3):
            try:
                response = await self._send(
                    "GET", "/search", params={"q": query, "format": "json", "pageno": page})
            except ProviderError as exc:
                if exc.status == 403:
                    raise ProviderError(
                        "searxng refused format=json (HTTP 403): enable `json` under "
                        "search.formats in the instance's settings.yml",
                        provider=self.name, status=403) from exc
                raise
            results = json_body(response, self.name).get("results") or []
            fresh = 0
            for item in results if isinstance(results, list) else []:
                if not isinstance(item, dict) or not item.get("url"):
                    continue
                url = str(item["url"])
                if url in seen:
                    continue
                seen.add(url)
                fresh += 1
                date = item.get("publishedDate")
                hits.append(SearchHit(title=str(item.get("title") or ""), url=url,
                                      snippet=str(item.get("content") or ""),
                                      date=str(date)[:10] if date else None))
            if len(hits) >= num or fresh == 0:
                break
        return hits[:num]
