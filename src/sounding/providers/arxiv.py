"""arXiv API search: Atom XML; errors are HTTP 400 feeds whose one entry is titled Error."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..errors import ProviderError
from ._http import HTTPProvider, check_response
from .base import SearchHit

__all__ = ["ArxivSearch", "parse_feed"]

_NS = {"a": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom"}
_WS = re.compile(r"\s+")
_FIELD = re.compile(r"^(ti|au|abs|co|jr|cat|rn|all|id):", re.I)


def _text(node: ET.Element | None) -> str:
    return _WS.sub(" ", node.text or "").strip() if node is not None else ""


def parse_feed(xml: str) -> list[SearchHit]:
    """The entries of an arXiv Atom feed as hits (abstract page, PDF link, whitespace collapsed)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ProviderError(f"arxiv sent a reply that is not an Atom feed ({exc}): "
                            f"{xml[:120]!r}", provider="arxiv") from exc
    hits = []
    for entry in root.findall("a:entry", _NS):
        if _text(entry.find("a:title", _NS)) == "Error":
            raise ProviderError(f"arxiv: {_text(entry.find('a:summary', _NS))}",
                                provider="arxiv", status=400)
        pdf = next((str(link.get("href")) for link in entry.findall("a:link", _NS)
                    if link.get("title") == "pdf" and link.get("href")), None)
        hits.append(SearchHit(
            title=_text(entry.find("a:title", _NS)), url=_text(entry.find("a:id", _NS)),
            snippet=_text(entry.find("a:summary", _NS)),
            date=_text(entry.find("a:published", _NS))[:10] or None,
            authors=tuple(_text(a.find("a:name", _NS)) for a in entry.findall("a:author", _NS)),
            venue=_text(entry.find("arxiv:journal_ref", _NS)) or "arXiv", pdf_url=pdf))
    return hits


class ArxivSearch(HTTPProvider):
    """GET /query?search_query=all:...; no key; arXiv asks for one request per 3 seconds."""

    name = "arxiv"
    auth_statuses = ()

    async def search(self, query: str, *, num: int = 10, stats: object = None) -> list[SearchHit]:
        terms = query if _FIELD.match(query.strip()) else f"all:{query}"
        response = await self._send(
            "GET", "/query", check=False,
            params={"search_query": terms, "start": 0, "max_results": max(1, min(num, 100)),
                    "sortBy": "relevance"})
        if response.status_code == 400 and "<feed" in response.text:
            parse_feed(response.text)  # raises with the feed's own error summary
        check_response(response, self.name)
        return parse_feed(response.text)[:num]
