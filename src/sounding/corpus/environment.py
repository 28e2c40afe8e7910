"""What the `offline` environment needs from the corpus: the corpus and its search backend.

The tools over them are assembled in `sounding.env.offline` (the corpus knows no tools).
"""

from __future__ import annotations

from ..config import Settings
from ..providers.base import SearchBackend
from .backends import CorpusSearchBackend
from .store import Corpus
from .vital import open_default_corpus

__all__ = ["open_corpus", "search_backend"]


def open_corpus(settings: Settings) -> Corpus:
    """`settings.corpus` when set, else the embedded vital articles (built on first use)."""
    if settings.corpus is not None:
        return Corpus.open(settings.corpus)
    return open_default_corpus(settings.cache_dir)


def search_backend(corpus: Corpus, settings: Settings) -> SearchBackend:
    """BM25 by default; `corpus_search` = dense or hybrid uses the corpus's embeddings."""
    if settings.corpus_search == "bm25":
        return CorpusSearchBackend(corpus)
    from .hybrid import HybridSearcher

    try:
        return HybridSearcher(corpus, settings.corpus_search)
    except BaseException:
        corpus.close()
        raise
