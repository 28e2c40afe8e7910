"""Search modes of the corpus server: BM25, dense or hybrid (BM25 + embeddings fused),
so remote workers get the recall of in-process search. A request picks one with `mode=`;
the server's default comes from `sounding corpus serve --search`."""

from __future__ import annotations

import threading
from typing import get_args

from ..errors import CorpusError
from ..providers.base import SearchHit
from .dense import Encoder
from .hybrid import HybridSearcher, SearchMode
from .store import Corpus

__all__ = ["ModeSearch"]


class ModeSearch:
    """One corpus searched in any mode; the embedding model loads once, on first use."""

    def __init__(self, corpus: Corpus, default: str = "bm25", *,
                 encoder: Encoder | None = None) -> None:
        self.corpus = corpus
        self.default = _mode(default)
        self._encoder = encoder
        self._searchers: dict[str, HybridSearcher] = {}
        self._lock = threading.Lock()  # request threads must not load the model twice
        if self.default != "bm25":
            self._searcher(self.default)  # a server that cannot serve its default fails now

    def search(self, query: str, k: int, mode: str | None = None) -> list[SearchHit]:
        """The best `k` hits; CorpusError for an unknown mode or missing embeddings."""
        chosen = _mode(mode) if mode else self.default
        if chosen == "bm25":
            return self.corpus.search(query, k=k)
        return self._searcher(chosen).search_sync(query, k)

    def _searcher(self, mode: SearchMode) -> HybridSearcher:
        with self._lock:
            searcher = self._searchers.get(mode)
            if searcher is None:
                dense = next((s.dense for s in self._searchers.values()), None)
                searcher = HybridSearcher(self.corpus, mode, dense=dense,
                                          encoder=self._encoder)
                self._searchers[mode] = searcher
            return searcher


def _mode(text: str) -> SearchMode:
    for mode in get_args(SearchMode):
        if text == mode:
            return mode  # type: ignore[no-any-return]
    raise CorpusError(f"unknown search mode {text!r}: choose bm25, dense or hybrid")
