"""The `offline` environment: `search` and `visit` answered from a local corpus."""

from __future__ import annotations

from ..config import Settings
from ..env import Environment
from ..llm.base import ChatModel
from ..providers.base import SearchBackend
from ..tools.base import Tool
from ..tools.search import SearchTool
from ..tools.visit import VisitTool
from .backends import CorpusPageBackend, CorpusSearchBackend
from .store import Corpus
from .vital import open_default_corpus

__all__ = ["offline_environment", "open_corpus"]


def open_corpus(settings: Settings) -> Corpus:
    """`settings.corpus` when set, else the embedded vital articles (built on first use)."""
    if settings.corpus is not None:
        return Corpus.open(settings.corpus)
    return open_default_corpus(settings.cache_dir)


def _search_backend(corpus: Corpus, settings: Settings) -> SearchBackend:
    """BM25 by default; `corpus_search` = dense or hybrid uses the corpus's embeddings."""
    if settings.corpus_search == "bm25":
        return CorpusSearchBackend(corpus)
    from .hybrid import HybridSearcher

    try:
        return HybridSearcher(corpus, settings.corpus_search)
    except BaseException:
        corpus.close()
        raise


def offline_environment(settings: Settings, *, summary_model: ChatModel | None) -> Environment:
    """The tools the corpus really provides: `search` and `visit`."""
    corpus = open_corpus(settings)
    tools: dict[str, Tool] = {
        "search": SearchTool(_search_backend(corpus, settings)),
        "visit": VisitTool(CorpusPageBackend(corpus), summary_model),
    }
    if settings.web.files_dir is not None:  # the user's own files (GAIA attachments) are local
        from ..tools.parse_file import ParseFileTool

        tools["parse_file"] = ParseFileTool(settings.web.files_dir)

    async def close() -> None:
        corpus.close()

    return Environment(name="offline", tools=tools, closers=[close])
