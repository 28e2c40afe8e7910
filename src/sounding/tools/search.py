"""`search` and `google_scholar`: batched queries, Serper-style observation text."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from ..llm.base import ToolSchema
from ..providers.base import SearchBackend, SearchHit
from ..types import JSON
from .base import ToolContext, ToolOutput, join_observations, string_list

__all__ = ["SCHOLAR_SCHEMA", "SEARCH_SCHEMA", "SearchTool", "format_search_results"]



def _query_schema(name: str, description: str, list_description: str) -> ToolSchema:
    return ToolSchema(
        name=name,
        description=description,
        parameters={
            "type": "object",
            "properties": {
                "query": {
                    "type": "array",
                    "items": {"type": "string", "description": "The search query."},
                    "minItems": 1,
                    "description": list_description,
                }
            },
            "required": ["query"],
        },
    )


SEARCH_SCHEMA = _query_schema(
    "search",
    "Perform Google web searches then returns a string of the top search results. "
    "Accepts multiple queries.",
    "The list of search queries.",
)

SCHOLAR_SCHEMA = _query_schema(
    "google_scholar",
    "Leverage Google Scholar to retrieve relevant information from academic publications. "
    "Accepts multiple queries.",
    "The list of search queries for Google Scholar.",
)


def format_search_results(query: str, hits: Sequence[SearchHit], *, scholar: bool = False) -> str:
    """One query's observation, in the text the model was trained on.

    Web: `## Web Results`, entries with `Date published:` and `Source:` lines. Scholar:
    `## Scholar Results`, entries with the lines the reference's Serper scholar tool
    writes (`publicationInfo:`, `Date published:`, `citedBy:`, `pdfUrl:`).
    """
    if not hits:
        return f"No results found for '{query}'. Try with a more general query."
    entry = _scholar_entry if scholar else _web_entry
    lines = [entry(i, hit) for i, hit in enumerate(hits, 1)]
    # Upstream's headers: "A Google search for ..." but "A Google scholar for ...".
    engine, section = ("Google scholar", "Scholar") if scholar else ("Google search", "Web")
    header = f"A {engine} for '{query}' found {len(hits)} results:\n\n## {section} Results\n"
    return header + "\n\n".join(lines)


def _web_entry(i: int, hit: SearchHit) -> str:
    entry = f"{i}. [{hit.title}]({hit.url})"
    if hit.date:
        entry += f"\nDate published: {hit.date}"
    if hit.source:
        entry += f"\nSource: {hit.source}"
    if hit.snippet:  # upstream: a blank line between the source (or link) line and the snippet
        entry += f"\n\n{hit.snippet}"
    return entry


def _scholar_entry(i: int, hit: SearchHit) -> str:
    entry = f"{i}. [{hit.title}]({hit.url or hit.pdf_url or 'no available link'})"
    authors = ", ".join(hit.authors[:4]) + (" et al." if len(hit.authors) > 4 else "")
    info = " - ".join(part for part in (authors, hit.venue or hit.source or "") if part)
    if info:
        entry += f"\npublicationInfo: {info}"
    if hit.date:
        entry += f"\nDate published: {hit.date}"
    if hit.cited_by is not None:
        entry += f"\ncitedBy: {hit.cited_by}"
    if hit.pdf_url and hit.pdf_url != hit.url:
        entry += f"\npdfUrl: {hit.pdf_url}"
    if hit.snippet:  # upstream: a blank line between the source (or link) line and the snippet
        entry += f"\n\n{hit.snippet}"
    return entry


class SearchTool:
    """Runs every query of one call concurrently against a backend."""

    def __init__(self, backend: SearchBackend, *, scholar: bool = False, num: int = 10) -> None:
        self.backend = backend
        self.scholar = scholar
        self.num = num
        self._schema = SCHOLAR_SCHEMA if scholar else SEARCH_SCHEMA

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    async def __call__(
        self, arguments: Mapping[str, JSON], context: ToolContext, *, code: str | None = None
    ) -> ToolOutput:
        queries = string_list(arguments, "query")
        results = await asyncio.gather(*(self.backend.search(q, num=self.num, stats=context.stats)
                                         for q in queries))
        texts = [format_search_results(q, hits, scholar=self.scholar)
                 for q, hits in zip(queries, results, strict=True)]
        return ToolOutput(
            text=join_observations(texts),
            sources=tuple(h.url for hits in results for h in hits if h.url),
        )
