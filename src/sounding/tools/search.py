"""`search` and `google_scholar`: batched queries, Serper-style observation text."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from ..backends.base import SearchBackend, SearchHit
from ..llm.base import ToolSchema
from ..types import JSON
from .base import ToolContext, ToolOutput, join_observations

__all__ = ["SCHOLAR_SCHEMA", "SEARCH_SCHEMA", "SearchTool", "format_search_results"]

SEARCH_SCHEMA = ToolSchema(
    name="search",
    description=(
        "Perform Google web searches then returns a string of the top search results. "
        "Accepts multiple queries."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {
                "type": "array",
                "items": {"type": "string", "description": "The search query."},
                "minItems": 1,
                "description": "The list of search queries.",
            }
        },
        "required": ["query"],
    },
)

SCHOLAR_SCHEMA = ToolSchema(
    name="google_scholar",
    description=(
        "Leverage Google Scholar to retrieve relevant information from academic "
        "publications. Accepts multiple queries."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {
                "type": "array",
                "items": {"type": "string", "description": "The search query."},
                "minItems": 1,
                "description": "The list of search queries for Google Scholar.",
            }
        },
        "required": ["query"],
    },
)


def format_search_results(query: str, hits: Sequence[SearchHit], *, scholar: bool = False) -> str:
    """One query's observation, in the text the model was trained on."""
    engine = "Google scholar" if scholar else "Google"
    if not hits:
        return (
            f"No results found for '{query}'. Try with a more general query."
        )
    lines = []
    for i, hit in enumerate(hits, 1):
        entry = f"{i}. [{hit.title}]({hit.url})"
        if hit.date:
            entry += f"\nDate published: {hit.date}"
        if hit.source:
            entry += f"\nSource: {hit.source}"
        if hit.snippet:
            entry += f"\n{hit.snippet}"
        lines.append(entry)
    header = f"A {engine} search for '{query}' found {len(hits)} results:\n\n## Web Results\n"
    return header + "\n\n".join(lines)


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
        raw = arguments.get("query") or []
        queries = [q for q in (raw if isinstance(raw, list) else [raw]) if isinstance(q, str)]
        results = await asyncio.gather(*(self.backend.search(q, num=self.num) for q in queries))
        texts = [format_search_results(q, hits, scholar=self.scholar)
                 for q, hits in zip(queries, results, strict=True)]
        return ToolOutput(
            text=join_observations(texts),
            sources=tuple(h.url for hits in results for h in hits),
        )
