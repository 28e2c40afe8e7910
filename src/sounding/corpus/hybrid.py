"""Corpus search by BM25, by embeddings, or both fused by reciprocal rank (RRF, k=60)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal, get_args

from ..errors import CorpusError
from ..providers.base import CallStats, SearchHit
from .batcher import DenseBatcher
from .dense import DenseIndex, Encoder
from .store import Corpus

__all__ = ["RRF_K", "HybridSearcher", "SearchMode", "rrf"]

SearchMode = Literal["bm25", "dense", "hybrid"]
RRF_K = 60
"""The constant of Cormack et al. (2009): damps the weight of the very first ranks."""


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[int]:
    """Items of all rankings ordered by sum(1 / (k + rank)); ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


def _by_document(ranking: list[tuple[int, int]]) -> dict[int, int]:
    """Document id -> its best passage id, in ranking order."""
    best: dict[int, int] = {}
    for pid, doc_id in ranking:
        best.setdefault(doc_id, pid)
    return best


class HybridSearcher:
    """A SearchBackend over a corpus in one of three modes.

    `hybrid` fuses the document rankings of BM25 and of the embeddings (each document
    ranked by its best passage); the snippet comes from the best passage of the ranker
    that placed the document higher.
    """

    name = "corpus"

    def __init__(self, corpus: Corpus, mode: SearchMode = "hybrid", *,
                 dense: DenseIndex | None = None, encoder: Encoder | None = None,
                 depth: int = 50, batcher: DenseBatcher | None = None) -> None:
        if mode not in get_args(SearchMode):
            raise CorpusError(f"unknown search mode {mode!r}: choose bm25, dense or hybrid")
        self.corpus = corpus
        self.mode: SearchMode = mode
        self.depth = depth
        """Passages each ranker contributes before fusion."""
        if batcher is not None:
            dense = batcher.index
        self.dense = dense if dense is not None or mode == "bm25" else DenseIndex(
            corpus, encoder=encoder)
        self.batcher = batcher
        """Set (by the server), concurrent queries share encoder passes."""

    def _rankings(self, query: str, k: int) -> list[dict[int, int]]:
        limit = max(self.depth, 3 * k)
        # Queued first, so that the embedding is computed while BM25 runs here.
        pending = (self.batcher.submit(query, limit)
                   if self.batcher is not None and self.mode != "bm25" else None)
        out: list[dict[int, int]] = []
        if self.mode != "dense":
            out.append(_by_document(self.corpus.passage_ranking(query, limit)))
        if self.mode != "bm25":
            assert self.dense is not None
            ranking = (pending.result() if pending is not None
                       else self.dense.passage_ranking(query, limit))
            out.append(_by_document(ranking))
        return out

    def _fused(self, query: str, k: int) -> list[tuple[int, int]]:
        """(document id, passage id for its snippet), best first."""
        rankings = self._rankings(query, k)
        docs = rrf([list(r) for r in rankings])[:k]
        out: list[tuple[int, int]] = []
        ranks = [{doc_id: i for i, doc_id in enumerate(r)} for r in rankings]
        for doc_id in docs:
            placed = [(rank[doc_id], r[doc_id]) for rank, r in zip(ranks, rankings, strict=True)
                      if doc_id in r]
            out.append((doc_id, min(placed)[1]))
        return out

    def search_ids(self, query: str, k: int = 10) -> list[int]:
        """Document ids of the best k documents (for evaluation)."""
        if k <= 0:
            return []
        return [doc_id for doc_id, _ in self._fused(query, k)]

    def search_sync(self, query: str, k: int = 10) -> list[SearchHit]:
        if k <= 0:
            return []
        if self.mode == "bm25":
            return self.corpus.search(query, k=k)
        return self.corpus.passage_hits([pid for _, pid in self._fused(query, k)], query, k)

    async def search(self, query: str, *, num: int = 10,
                     stats: CallStats | None = None) -> list[SearchHit]:
        if stats is not None:
            stats.used(self.name)
            stats.requests += 1
        return await asyncio.to_thread(self.search_sync, query, num)
