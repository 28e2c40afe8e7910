"""Search modes of the corpus server: BM25, dense or hybrid (BM25 + embeddings fused),
so remote workers get the recall of in-process search. A request picks one with `mode=`;
the server's default comes from `sounding corpus serve --search`. Dense queries of
concurrent requests share encoder passes (`corpus.batcher`)."""

from __future__ import annotations

import threading
from typing import get_args

from ..errors import CorpusError
from ..providers.base import SearchHit
from .batcher import MAX_BATCH, MAX_WAIT, DenseBatcher
from .dense import DenseIndex, Encoder
from .hybrid import HybridSearcher, SearchMode
from .store import Corpus

__all__ = ["ModeSearch"]


class ModeSearch:
    """One corpus searched in any mode; the embedding model loads once, on first use.

    `threads` caps torch's threads in this process (a server of N workers on C cores
    gives each C // N); `max_batch` and `max_wait` shape the micro-batches.
    """

    def __init__(self, corpus: Corpus, default: str = "bm25", *,
                 encoder: Encoder | None = None, threads: int | None = None,
                 max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT) -> None:
        self.corpus = corpus
        self.default = _mode(default)
        self._encoder = encoder
        self._threads = threads
        self._batching = (max_batch, max_wait)
        self._searchers: dict[str, HybridSearcher] = {}
        self._batcher: DenseBatcher | None = None
        self._lock = threading.Lock()  # request threads must not load the model twice
        if self.default != "bm25":
            self._searcher(self.default)  # a server that cannot serve its default fails now

    def search(self, query: str, k: int, mode: str | None = None) -> list[SearchHit]:
        """The best `k` hits; CorpusError for an unknown mode or missing embeddings."""
        chosen = _mode(mode) if mode else self.default
        if chosen == "bm25":
            return self.corpus.search(query, k=k)
        return self._searcher(chosen).search_sync(query, k)

    def warm(self) -> None:
        """Load the query encoder now (a worker does, before its first request)."""
        if self.default != "bm25":
            self._searcher(self.default).search_sync("warm up", 1)

    @property
    def batcher(self) -> DenseBatcher | None:
        return self._batcher

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    def _searcher(self, mode: SearchMode) -> HybridSearcher:
        with self._lock:
            searcher = self._searchers.get(mode)
            if searcher is None:
                if self._batcher is None:
                    self._batcher = self._make_batcher()
                searcher = HybridSearcher(self.corpus, mode, batcher=self._batcher)
                self._searchers[mode] = searcher
            return searcher

    def _make_batcher(self) -> DenseBatcher:
        index = DenseIndex(self.corpus, encoder=self._encoder)  # CorpusError if none
        if self._threads:
            import torch

            torch.set_num_threads(self._threads)
        max_batch, max_wait = self._batching
        return DenseBatcher(index, max_batch=max_batch, max_wait=max_wait)


def _mode(text: str) -> SearchMode:
    for mode in get_args(SearchMode):
        if text == mode:
            return mode  # type: ignore[no-any-return]
    raise CorpusError(f"unknown search mode {text!r}: choose bm25, dense or hybrid")
