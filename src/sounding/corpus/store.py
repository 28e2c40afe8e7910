"""The corpus on disk: one SQLite file with documents, passages, FTS5 indexes and links.

A published corpus file is never modified in place: builds write a new file and
rename it over the old one. Readers therefore open it read-only and `immutable`
(no locking at all), one connection per thread, and a reader that opened the old
file keeps a consistent view while a rebuild publishes the new one.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from ..errors import CorpusError
from ..providers.base import Page, SearchHit
from ..types import JSON
from ._text import has_cjk, query_terms
from ._urls import url_key

if TYPE_CHECKING:
    from .tantivy_index import TantivyIndex

__all__ = ["DB_NAME", "SCHEMA", "SCHEMA_VERSION", "Corpus", "CorpusStats", "Document"]

log = logging.getLogger(__name__)
DB_NAME = "corpus.sqlite"
SCHEMA_VERSION = 1
TITLE_WEIGHT = 4.0

SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE docs(
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  title TEXT NOT NULL,
  text TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  lang TEXT NOT NULL DEFAULT '',
  metadata TEXT NOT NULL DEFAULT '{{}}',
  hash TEXT NOT NULL
);
CREATE TABLE passages(
  id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, ord INTEGER NOT NULL,
  title TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages(doc_id);
CREATE VIRTUAL TABLE fts USING fts5(
  title, body, content='passages', content_rowid='id',
  tokenize='porter unicode61 remove_diacritics 2'
);
INSERT INTO fts(fts, rank) VALUES('rank', 'bm25({TITLE_WEIGHT}, 1.0)');
CREATE VIRTUAL TABLE fts_cjk USING fts5(
  title, body, content='', tokenize='unicode61 remove_diacritics 2'
);
INSERT INTO fts_cjk(fts_cjk, rank) VALUES('rank', 'bm25({TITLE_WEIGHT}, 1.0)');
CREATE TABLE links(
  src INTEGER NOT NULL, dst_key TEXT NOT NULL, kind TEXT NOT NULL, anchor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX links_src ON links(src);
CREATE INDEX links_dst ON links(dst_key);
"""


@dataclass(frozen=True, slots=True)
class Document:
    """One corpus entry under its canonical URL."""

    url: str
    title: str
    text: str
    description: str = ""
    source: str = ""
    lang: str = ""
    metadata: Mapping[str, JSON] = field(default_factory=dict)

    def to_page(self) -> Page:
        return Page(url=self.url, text=self.text, title=self.title, content_type="text/plain")


@dataclass(frozen=True, slots=True)
class CorpusStats:
    documents: int
    passages: int
    links: int
    cjk_passages: int
    size_bytes: int
    sources: Mapping[str, int]
    languages: Mapping[str, int]
    built_at: str
    name: str
    engine: str = "fts5"

    def as_dict(self) -> dict[str, JSON]:
        return {
            "name": self.name, "engine": self.engine, "documents": self.documents,
            "passages": self.passages,
            "links": self.links, "cjk_passages": self.cjk_passages,
            "size_bytes": self.size_bytes, "sources": dict(self.sources),
            "languages": dict(self.languages), "built_at": self.built_at,
        }


P = ParamSpec("P")
R = TypeVar("R")


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> CorpusError:
    return CorpusError(f"the corpus file {path} is damaged ({exc}); rebuild it with "
                       "`sounding corpus build`")


def _readable(method: Callable[Concatenate[Corpus, P], R]) -> Callable[Concatenate[Corpus, P], R]:
    """A damaged database file (a corrupt page, a truncated copy) surfaces as CorpusError
    with the file's name, wherever a query happens to touch the damage."""
    def wrapper(self: Corpus, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            if "malformed" not in str(exc) and "not a database" not in str(exc):
                raise
            raise _unreadable(self.db_path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.db_path, exc) from exc
    functools.update_wrapper(wrapper, method)
    return wrapper


class Corpus:
    """A built corpus, opened read-only; thread-safe (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db_path = path / DB_NAME if path.is_dir() else path
        if not self.db_path.is_file():
            raise CorpusError(f"no corpus at {path}: build one with `sounding corpus build`")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        try:
            meta = dict(self._conn().execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.db_path, exc) from exc
        if int(meta.get("schema_version", "0")) != SCHEMA_VERSION:
            raise CorpusError(f"{path} was built by another version of Sounding; rebuild it")
        self.name = meta.get("name", path.name)
        self.has_cjk = int(meta.get("cjk_passages", "0")) > 0
        try:
            passages = self._conn().execute("SELECT max(id) FROM passages").fetchone()[0] or 0
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.db_path, exc) from exc
        # Postings scored per query: terms are taken rarest first until this many
        # (2000 + 1/200 of the passages: recall@10 on the vital articles 0.803 vs
        # 0.806 at 4000, at 1.2-1.5x the queries per second).
        self.posting_budget = 2000 + passages // 200
        self._engines: dict[str, TantivyIndex | None] = {}
        self._df: dict[tuple[str, str], int] = {}
        self._owners: dict[str | None, array[int] | None] = {}

    @classmethod
    def open(cls, path: str | Path) -> Corpus:
        return cls(Path(path))

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise CorpusError(f"corpus {self.path} is closed")
        uri = self.db_path.resolve().as_uri() + "?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM docs LIMIT 1")
            row = conn.execute("SELECT value FROM meta WHERE key = 'tantivy_index'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorpusError(f"cannot read corpus {self.db_path}: {exc}") from exc
        # The index version published with this very file: a thread's view stays whole.
        self._local.engine_version = row[0] if row else None
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    @_readable
    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        """The k best documents for `query` by BM25 over passages (one hit per document)."""
        if k <= 0:
            return []
        if self.has_cjk and has_cjk(query):
            hits = self._search(query, k, cjk=True)
            if hits:
                return hits
        return self._search(query, k, cjk=False)

    @_readable
    def search_ids(self, query: str, k: int = 10) -> list[int]:
        """Document ids of the best k documents (for evaluation and fusion)."""
        cjk = self.has_cjk and has_cjk(query)
        rows = self._ranked(self._conn(), query, k * 3, cjk=cjk)
        found = self._documents_of(self._conn(), rows) if rows else {}
        out: list[int] = []
        for pid in rows:
            doc_id = found.get(pid)
            if doc_id is not None and doc_id not in out:
                out.append(doc_id)
        return out[:k]

    # Used by dense retrieval and hybrid fusion (corpus/dense.py, corpus/hybrid.py).
    @_readable
    def passage_ranking(self, query: str, limit: int = 30) -> list[tuple[int, int]]:
        """(passage id, document id) of the best `limit` passages by BM25, best first."""
        conn = self._conn()
        rows = self._ranked(conn, query, limit, cjk=True) if (
            self.has_cjk and has_cjk(query)) else []
        rows = rows or self._ranked(conn, query, limit, cjk=False)
        if not rows:
            return []
        found = dict(conn.execute(
            f"SELECT id, doc_id FROM passages WHERE id IN ({','.join('?' * len(rows))})",
            rows).fetchall())
        return [(pid, found[pid]) for pid in rows if pid in found]

    @_readable
    def passage_hits(self, ids: list[int], query: str, k: int = 10) -> list[SearchHit]:
        """Hits for ranked passage ids: one per document, in the order of `ids`."""
        return self._hits(self._conn(), ids, query, k) if k > 0 else []

    def iter_passages(self) -> Iterator[tuple[int, int, str, str]]:
        """Every passage as (passage id, document id, title, body), in id order."""
        yield from self._conn().execute(
            "SELECT id, doc_id, title, body FROM passages ORDER BY id")

    def _terms(self, conn: sqlite3.Connection, query: str, *, cjk: bool) -> list[str]:
        """The query's terms, rarest first, cut at the posting budget.

        BM25 cost grows with every posting scored, and terms found in much of the
        corpus add little to the ranking, so frequent terms are dropped when rarer
        ones already select enough candidates (like Lucene's cutoff frequency).
        """
        table = "fts_cjk" if cjk else "fts"
        scored: list[tuple[int, str]] = []
        for term in query_terms(query, cjk=cjk):
            df = self._df.get((table, term))
            if df is None:
                df = conn.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?",
                                  (term,)).fetchone()[0]
                if len(self._df) > 200_000:
                    self._df.clear()
                self._df[(table, term)] = df
            if df:
                scored.append((df, term))
        scored.sort()
        chosen: list[str] = []
        total = 0
        for df, term in scored:
            if chosen and total + df > self.posting_budget:
                break
            chosen.append(term)
            total += df
        if total > self.posting_budget and len(scored) > 1:
            # Even the rarest term is frequent: require every term first (an AND of
            # doclists is cheap to score); _ranked falls back to OR if that is too few.
            return [" AND ".join(t for _, t in scored), *chosen]
        return chosen

    @property
    def engine(self) -> str:
        """The BM25 engine that answers non-CJK queries: "tantivy" or "fts5"."""
        self._conn()
        return "tantivy" if self._tantivy() is not None else "fts5"

    def _tantivy(self) -> TantivyIndex | None:
        """The tantivy index of this thread's SQLite file, if it has one that opens."""
        version: str | None = getattr(self._local, "engine_version", None)
        if version is None:
            return None
        if version not in self._engines:
            from .tantivy_index import ENGINE_DIR, TantivyIndex

            with self._lock:
                if version not in self._engines:
                    try:
                        engine: TantivyIndex | None = TantivyIndex(
                            self.db_path.parent / ENGINE_DIR / version)
                    except CorpusError as exc:  # FTS5 indexes the same passages
                        log.warning("%s; searching with FTS5", exc)
                        engine = None
                    self._engines[version] = engine
        return self._engines[version]

    def _ranked(self, conn: sqlite3.Connection, query: str, limit: int, *,
                cjk: bool) -> list[int]:
        engine = None if cjk else self._tantivy()
        if engine is not None:
            return engine.ranked((t.strip('"') for t in query_terms(query)), limit,
                                 self.posting_budget)
        terms = self._terms(conn, query, cjk=cjk)
        if not terms:
            return []
        table = "fts_cjk" if cjk else "fts"
        # An explicit bm25() orders faster than the `rank` column in SQLite 3.40.
        sql = (f"SELECT rowid FROM {table} WHERE {table} MATCH ? "
               f"ORDER BY bm25({table}, {TITLE_WEIGHT}, 1.0) LIMIT ?")
        rows: list[int] = []
        try:
            if " AND " in terms[0]:
                rows = [r[0] for r in conn.execute(sql, (terms[0], limit))]
                if len(rows) >= limit // 3:
                    return rows
                terms = terms[1:]
            return [r[0] for r in conn.execute(sql, (" OR ".join(terms), limit))]
        except sqlite3.OperationalError as exc:
            raise CorpusError(f"search failed for {query!r}: {exc}") from exc

    def _documents_of(self, conn: sqlite3.Connection, ids: list[int]) -> dict[int, int]:
        """The document of each passage: from a table of all of them in memory (one
        integer per passage, read on the first search of an index version), or from the
        database for corpora of over OWNER_TABLE_MAX passages and those without a
        versioned (tantivy) index."""
        version: str | None = getattr(self._local, "engine_version", None)
        if version is not None and version not in self._owners:
            with self._lock:
                if version not in self._owners:
                    self._owners[version] = _owner_table(conn)
        table = self._owners.get(version)
        if table is None:
            return dict(conn.execute(
                f"SELECT id, doc_id FROM passages WHERE id IN ({','.join('?' * len(ids))})",
                ids).fetchall())
        size = len(table)
        return {pid: table[pid] for pid in ids if 0 <= pid < size and table[pid] >= 0}

    def _search(self, query: str, k: int, *, cjk: bool) -> list[SearchHit]:
        conn = self._conn()
        rows = self._ranked(conn, query, k * 3, cjk=cjk)
        return self._hits(conn, rows, query, k)

    def _hits(self, conn: sqlite3.Connection, ids: list[int], query: str,
              k: int) -> list[SearchHit]:
        if not ids:
            return []
        owner = self._documents_of(conn, ids)
        chosen: list[int] = []
        seen: set[int] = set()
        for pid in ids:
            doc_id = owner.get(pid)
            if doc_id is None or doc_id in seen:
                continue
            seen.add(doc_id)
            chosen.append(pid)
            if len(chosen) == k:
                break
        found = {
            pid: (body, title, url, source)
            for pid, body, title, url, source in conn.execute(
                f"SELECT p.id, p.body, d.title, d.url, d.source FROM passages p "
                f"JOIN docs d ON d.id = p.doc_id WHERE p.id IN ({','.join('?' * len(chosen))})",
                chosen)
        }
        words = _query_words(query)
        return [SearchHit(title=title, url=url, snippet=_window(body, words),
                          source=source or None)
                for body, title, url, source in (found[pid] for pid in chosen
                                                 if pid in found)]

    @_readable
    def get(self, url: str) -> Document | None:
        """The document at `url` or any variant of it (scheme, mobile host, encoding...)."""
        row = self._conn().execute(
            "SELECT url, title, text, description, source, lang, metadata FROM docs "
            "WHERE key = ?", (url_key(url),)).fetchone()
        if row is None:
            return None
        return Document(url=row[0], title=row[1], text=row[2], description=row[3],
                        source=row[4], lang=row[5], metadata=json.loads(row[6]))

    @_readable
    def document(self, doc_id: int) -> Document | None:
        row = self._conn().execute("SELECT url FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return self.get(row[0]) if row else None

    def iter_documents(self) -> Iterator[tuple[int, Document]]:
        """Every document with its id, in id order (descriptions and metadata included)."""
        for row in self._conn().execute(
                "SELECT id, url, title, text, description, source, lang, metadata FROM docs "
                "ORDER BY id"):
            yield row[0], Document(url=row[1], title=row[2], text=row[3], description=row[4],
                                   source=row[5], lang=row[6], metadata=json.loads(row[7]))

    @_readable
    def links(self, url: str) -> list[tuple[str, str, str]]:
        """Outgoing links of a document as (target URL or key, kind, anchor text).

        Targets inside the corpus come back as their canonical URL."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT coalesce(t.url, l.dst_key), l.kind, l.anchor FROM links l "
            "JOIN docs s ON s.id = l.src LEFT JOIN docs t ON t.key = l.dst_key "
            "WHERE s.key = ?", (url_key(url),)).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    @_readable
    def stats(self) -> CorpusStats:
        conn = self._conn()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())

        def count(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        return CorpusStats(
            documents=count("SELECT count(*) FROM docs"),
            passages=count("SELECT count(*) FROM passages"),
            links=count("SELECT count(*) FROM links"),
            cjk_passages=int(meta.get("cjk_passages", "0")),
            size_bytes=self.db_path.stat().st_size + self._engine_bytes(),
            sources=dict(conn.execute("SELECT source, count(*) FROM docs GROUP BY source")),
            languages=dict(conn.execute("SELECT lang, count(*) FROM docs GROUP BY lang")),
            built_at=meta.get("built_at", ""),
            name=self.name,
            engine=self.engine,
        )

    def _engine_bytes(self) -> int:
        engine = self._tantivy()
        return sum(p.stat().st_size for p in engine.path.iterdir()
                   if p.is_file()) if engine else 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


OWNER_TABLE_MAX = 4_000_000
"""Passages up to which a corpus keeps each passage's document in memory (8 bytes each):
a search then picks each document's best passage without a query per passage."""


def _owner_table(conn: sqlite3.Connection) -> array[int] | None:
    """Document id by passage id (-1: no such passage); None above OWNER_TABLE_MAX."""
    row = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM passages").fetchone()
    count, top = int(row[0]), int(row[1])
    if count > OWNER_TABLE_MAX or top > 2 * OWNER_TABLE_MAX:
        return None
    table: array[int] = array("q", [-1]) * (top + 1)
    for pid, doc_id in conn.execute("SELECT id, doc_id FROM passages"):
        table[pid] = doc_id
    return table


def _query_words(query: str) -> list[str]:
    """Lowercase match keys for snippets: word stems (first 5 letters) and CJK bigrams."""
    keys: list[str] = []
    for term in query_terms(query, cjk=has_cjk(query)):
        for word in term.strip('"*').split(" "):
            word = word.strip('"')
            if word:
                keys.append(word[:2] if has_cjk(word) else word[:5])
    return keys


def _window(body: str, words: list[str], width: int = 260) -> str:
    """About `width` characters of `body` around its densest cluster of query words."""
    text = " ".join(body.split())
    if len(text) <= width:
        return text
    low = text.lower()
    hits: list[int] = []
    for word in words:
        pos = low.find(word)
        while pos >= 0 and len(hits) < 200:
            hits.append(pos)
            pos = low.find(word, pos + 1)
    hits.sort()
    best, best_count = 0, 0
    j = 0
    for i, start in enumerate(hits):
        while j < len(hits) and hits[j] < start + width - 40:
            j += 1
        if j - i > best_count:
            best, best_count = start, j - i
    start = max(0, best - 40)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < best else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("… " if start else "") + text[start:end] + (" …" if end < len(text) else "")
