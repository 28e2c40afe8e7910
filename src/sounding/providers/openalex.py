"""OpenAlex works search (api_key query parameter, required since 2026-02)."""

from __future__ import annotations

from ..types import JSON
from ._http import HTTPProvider, json_body
from .base import SearchHit

__all__ = ["OpenAlexSearch", "invert_abstract"]


def invert_abstract(index: JSON) -> str:
    """Rebuild an abstract from OpenAlex's inverted index (word -> positions)."""
    if not isinstance(index, dict):
        return ""
    pairs = [(w, p) for w, ps in index.items() if isinstance(ps, list)
             for p in ps if isinstance(p, int)]
    return " ".join(w for w, _ in sorted(pairs, key=lambda x: x[1]))


def _hit(item: dict[str, JSON]) -> SearchHit:
    location = item.get("primary_location")
    loc = location if isinstance(location, dict) else {}
    source = loc.get("source")
    venue = source.get("display_name") if isinstance(source, dict) else None
    authorships = item.get("authorships")
    names = []
    for authorship in authorships if isinstance(authorships, list) else []:
        author = authorship.get("author") if isinstance(authorship, dict) else None
        if isinstance(author, dict) and author.get("display_name"):
            names.append(str(author["display_name"]))
    url = loc.get("landing_page_url") or item.get("doi") or item.get("id") or loc.get("pdf_url")
    year = item.get("publication_year")
    cited = item.get("cited_by_count")
    return SearchHit(title=str(item.get("title") or item.get("display_name") or ""),
                     url=str(url or ""),
                     snippet=invert_abstract(item.get("abstract_inverted_index")),
                     date=str(year) if year else None, authors=tuple(names),
                     venue=str(venue) if venue else None,
                     cited_by=cited if isinstance(cited, int) else None,
                     pdf_url=str(loc["pdf_url"]) if loc.get("pdf_url") else None)


class OpenAlexSearch(HTTPProvider):
    """GET /works?search=...; both page-size spellings exist, `per_page` is the current one."""

    name = "openalex"
    key_variable = "OPENALEX_API_KEY"

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        params: dict[str, str | int] = {"search": query, "per_page": max(1, min(num, 100))}
        if self._api_key:
            params["api_key"] = self._api_key
        response = await self._send("GET", "/works", params=params)
        results = json_body(response, self.name).get("results") or []
        return [_hit(item) for item in results if isinstance(item, dict)][:num] \
            if isinstance(results, list) else []
