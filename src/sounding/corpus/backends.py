"""Search and page backends that answer from a local corpus (the `offline` world)."""

from __future__ import annotations

import asyncio

from ..providers.base import CallStats, Page, SearchHit
from .store import Corpus

__all__ = ["CorpusPageBackend", "CorpusSearchBackend"]


class CorpusSearchBackend:
    """BM25 search over a corpus.

    On a tantivy index a query takes a few tenths of a millisecond, mostly Python (the
    snippets): it runs on the event loop, since a worker thread's hand-offs would cost
    more than they save. On FTS5 a query takes a millisecond or more of SQLite time,
    which releases the GIL: it runs in a worker thread, so hundreds of concurrent runs
    search on the other core instead of stalling the event loop.
    """

    name = "corpus"

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    async def search(self, query: str, *, num: int = 10,
                     stats: CallStats | None = None) -> list[SearchHit]:
        if stats is not None:
            stats.used(self.name)
            stats.requests += 1
        if self.corpus.engine == "tantivy":
            return self.corpus.search(query, k=num)
        return await asyncio.to_thread(self.corpus.search, query, k=num)


class CorpusPageBackend:
    """Resolves a URL (or any variant of it) to the corpus document; None if absent."""

    name = "corpus"

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    async def fetch(self, url: str, *, stats: CallStats | None = None) -> Page | None:
        if stats is not None:
            stats.used(self.name)
            stats.requests += 1
        doc = self.corpus.get(url)
        return doc.to_page() if doc is not None else None
