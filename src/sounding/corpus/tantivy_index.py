"""Optional BM25 engine on tantivy (extra `corpus`), several times faster than FTS5.

The index of a corpus lives in CORPUS_DIR/tantivy/<version>/, and the SQLite file's
meta key `tantivy_index` names the version, so renaming a new SQLite file over the
old one publishes its index in the same atomic step. Incremental builds hard-link the
previous version's files (tantivy never modifies a segment file) and re-index only
the changed documents. CJK queries stay on the FTS5 bigram table.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CorpusError

if TYPE_CHECKING:
    import tantivy

__all__ = ["ENGINE_DIR", "META_KEY", "TantivyIndex", "available", "collect_garbage",
           "index_bytes", "write_index"]

log = logging.getLogger(__name__)
ENGINE_DIR = "tantivy"
META_KEY = "tantivy_index"
ANALYZER = "sounding_en"
# Versions kept on disk: the published one and the one before it, for readers that
# opened the previous SQLite file but have not opened its index yet.
KEEP_VERSIONS = 2
_LOCKS = (".tantivy-meta.lock", ".tantivy-writer.lock")
# Title matches are scored as a field of their own (short, so with high BM25 scores);
# this weight ranks like FTS5's 4x title column weight (measured on the vital articles).
TITLE_WEIGHT = 0.25


def available() -> bool:
    try:
        import tantivy  # noqa: F401
    except ImportError:
        return False
    return True


def _require() -> None:
    if not available():
        raise CorpusError("the tantivy engine needs `pip install 'sounding[corpus]'`")


def _analyzer() -> tantivy.TextAnalyzer:
    """Words, lowercased, accents folded, Porter-stemmed: as the FTS5 `fts` table."""
    import tantivy as t

    return (t.TextAnalyzerBuilder(t.Tokenizer.simple()).filter(t.Filter.remove_long(60))
            .filter(t.Filter.lowercase()).filter(t.Filter.ascii_fold())
            .filter(t.Filter.stemmer("english")).build())


def _schema() -> tantivy.Schema:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", indexed=False, fast=True)
    builder.add_integer_field("doc", indexed=True)
    # Term frequencies without positions: BM25 needs no more, and the index is smaller.
    builder.add_text_field("title", tokenizer_name=ANALYZER, index_option="freq")
    builder.add_text_field("body", tokenizer_name=ANALYZER, index_option="freq")
    return builder.build()


def _open_index(path: Path, *, create: bool) -> tantivy.Index:
    _require()
    import tantivy as t

    try:
        index = (t.Index(_schema(), path=str(path), reuse=True) if create
                 else t.Index.open(str(path)))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot open tantivy index {path}: {exc}") from exc
    index.register_tokenizer(ANALYZER, _analyzer())
    return index


class TantivyIndex:
    """A published tantivy index, read-only; thread-safe (searches release the GIL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        index = _open_index(path, create=False)
        index.config_reader("Manual", 0)  # published versions never change
        self._index = index
        self._schema = index.schema
        self._searcher = index.searcher()
        self._analyzer = _analyzer()
        self._df: dict[str, int] = {}

    def ranked(self, words: Iterable[str], limit: int, budget: int) -> list[int]:
        """Passage ids of the best `limit` passages for the (unquoted) query words.

        Terms are taken rarest first until `budget` postings, as on FTS5 (see
        `Corpus._terms`); when even the rarest term is frequent, every term is
        required first, and the rarest ones OR-ed if that finds too few."""
        scored: list[tuple[int, str]] = []
        for word in words:
            for token in self._analyzer.analyze(word):
                if all(token != other for _, other in scored):
                    scored.append((self._doc_freq(token), token))
        scored.sort()
        chosen: list[str] = []
        total = 0
        for df, token in scored:
            if chosen and total + df > budget:
                break
            chosen.append(token)
            total += df
        if total > budget and len(scored) > 1:
            rows = self._search([token for _, token in scored], limit, require=True)
            if len(rows) >= limit // 3:
                return rows
        return self._search(chosen, limit, require=False) if chosen else []

    def _doc_freq(self, token: str) -> int:
        df = self._df.get(token)
        if df is None:
            if len(self._df) > 200_000:
                self._df.clear()
            df = self._df[token] = int(self._searcher.doc_freq("body", token))
        return df

    def _search(self, tokens: list[str], limit: int, *, require: bool) -> list[int]:
        import tantivy as t

        clauses = []
        for token in tokens:
            body = t.Query.term_query(self._schema, "body", token, "freq")
            title = t.Query.boost_query(
                t.Query.term_query(self._schema, "title", token, "freq"), TITLE_WEIGHT)
            either = t.Query.boolean_query([(t.Occur.Should, body), (t.Occur.Should, title)])
            clauses.append((t.Occur.Must if require else t.Occur.Should,
                            either if require else body))
            if not require:
                clauses.append((t.Occur.Should, title))
        result = self._searcher.search(t.Query.boolean_query(clauses), limit, count=False)
        addresses = [address for _, address in result.hits]
        pids = self._searcher.fast_field_values("pid", addresses)
        return [pid for pid in pids if isinstance(pid, int)]


def write_index(conn: sqlite3.Connection, corpus_dir: Path, previous: str | None,
                changed_docs: Collection[int] | None) -> str:
    """Write a new index version for the corpus in `conn`; returns its name.

    With a previous version and the set of changed document ids, the new version
    starts as hard links to the previous one and re-indexes only those documents;
    otherwise every passage is indexed.
    """
    root = corpus_dir / ENGINE_DIR
    version = f"v{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    path = root / version
    old = root / previous if previous else None
    incremental = old is not None and old.is_dir() and changed_docs is not None
    try:
        if incremental:
            assert old is not None
            _link_copy(old, path)
        path.mkdir(parents=True, exist_ok=True)
        index = _open_index(path, create=True)
        writer = index.writer(heap_size=256_000_000, num_threads=min(4, os.cpu_count() or 1))
        if incremental:
            assert changed_docs is not None
            for doc_id in changed_docs:
                writer.delete_documents_by_term("doc", doc_id)
            _add_passages(writer, conn, sorted(changed_docs))
        else:
            _add_passages(writer, conn, None)
        writer.commit()
        writer.wait_merging_threads()
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return version


def _add_passages(writer: tantivy.IndexWriter, conn: sqlite3.Connection,
                  doc_ids: list[int] | None) -> None:
    from tantivy import Document as document
    sql = "SELECT id, doc_id, title, body FROM passages"
    if doc_ids is None:
        batches: Iterable[list[int] | None] = [None]
    else:
        batches = [doc_ids[i:i + 500] for i in range(0, len(doc_ids), 500)]
    for batch in batches:
        rows = (conn.execute(sql) if batch is None else conn.execute(
            f"{sql} WHERE doc_id IN ({','.join('?' * len(batch))})", batch))
        for pid, doc_id, title, body in rows:
            writer.add_document(document(pid=pid, doc=doc_id, title=title, body=body))


def _link_copy(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name in _LOCKS or not item.is_file():
            continue
        try:
            os.link(item, dst / item.name)
        except OSError:  # a filesystem without hard links
            shutil.copy2(item, dst / item.name)


def index_bytes(corpus_dir: Path, version: str | None) -> int:
    """The size of one index version on disk (0 for none)."""
    path = corpus_dir / ENGINE_DIR / version if version else None
    if path is None or not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def collect_garbage(corpus_dir: Path, published: str | None) -> None:
    """Delete index versions older than the last KEEP_VERSIONS, never `published`."""
    root = corpus_dir / ENGINE_DIR
    if not root.is_dir():
        return
    versions = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    for path in versions[:-KEEP_VERSIONS]:
        if path.name != published:
            shutil.rmtree(path, ignore_errors=True)
