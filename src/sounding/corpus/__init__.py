"""The offline world: corpora of documents with full-text search, built from many sources."""

from __future__ import annotations

from ._urls import url_key, wikipedia_url
from .backends import CorpusPageBackend, CorpusSearchBackend
from .builder import BuildReport, CorpusBuilder, Skipped, SourceDoc
from .store import Corpus, CorpusStats, Document
from .vital import default_corpus_dir, open_default_corpus, vital_documents

__all__ = [
    "BuildReport",
    "Corpus",
    "CorpusBuilder",
    "CorpusPageBackend",
    "CorpusSearchBackend",
    "CorpusStats",
    "Document",
    "Skipped",
    "SourceDoc",
    "default_corpus_dir",
    "open_default_corpus",
    "url_key",
    "vital_documents",
    "wikipedia_url",
]
