"""Atomic, incremental corpus builds.

A build copies the published corpus file (if any) to a temporary file in the same
directory, applies new and changed documents (by content hash), and renames the
result over the published file. Readers never see a half-built index; a lock file
serialises concurrent builders, and an interrupted build leaves only a temp file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorpusError
from ..types import JSON
from ._mentions import MentionFinder
from ._text import cjk_terms, has_cjk, split_passages
from ._urls import url_key
from .store import DB_NAME, SCHEMA, SCHEMA_VERSION
from .tantivy_index import ENGINE_DIR, collect_garbage, index_bytes, write_index
from .tantivy_index import available as tantivy_available

__all__ = ["REPORT_NAME", "BuildReport", "CorpusBuilder", "Skipped", "SourceDoc", "build_lock"]

REPORT_NAME = "build-report.json"
ENGINES = ("auto", "fts5", "tantivy")
# `auto` gives a new corpus of at least this many passages a tantivy index (when
# installed): FTS5 falls under 200 queries per second around a million passages.
AUTO_TANTIVY_PASSAGES = 100_000
Progress = Callable[[str, int], None]
"""Called with the source name and the number of documents seen so far."""


@dataclass(frozen=True, slots=True)
class SourceDoc:
    """A document as a source reader yields it."""

    url: str
    title: str
    text: str
    description: str = ""
    source: str = ""
    lang: str = ""
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    links: Sequence[tuple[str, str]] = ()
    """Hyperlinks as (href, anchor text); relative hrefs resolve against `url`."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that could not be read, and why."""

    path: str
    reason: str


@dataclass
class BuildReport:
    corpus: str
    sources: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    documents: int = 0
    passages: int = 0
    links: int = 0
    seconds: float = 0.0
    size_bytes: int = 0
    engine: str = "fts5"

    def as_dict(self) -> dict[str, JSON]:
        return {
            "corpus": self.corpus, "sources": list(self.sources), "added": self.added,
            "updated": self.updated, "unchanged": self.unchanged,
            "duplicates": self.duplicates, "documents": self.documents,
            "passages": self.passages, "links": self.links,
            "seconds": round(self.seconds, 3), "size_bytes": self.size_bytes,
            "engine": self.engine,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


@contextlib.contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory`/.build.lock (no-op where flock is missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: two builders race and the last rename wins.
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class CorpusBuilder:
    """Builds or updates the corpus in `out_dir` from document sources."""

    def __init__(self, out_dir: Path, *, name: str | None = None, mentions: bool = True,
                 progress: Progress | None = None, engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise CorpusError(f"unknown search engine {engine!r}; use one of {ENGINES}")
        self.engine = engine
        self._changed_docs: set[int] = set()
        self.out_dir = Path(out_dir)
        self.name = name or self.out_dir.name
        self.mentions = mentions
        self.progress = progress

    def build(self, sources: Iterable[tuple[str, Iterable[SourceDoc | Skipped]]], *,
              only_if_missing: bool = False) -> BuildReport | None:
        """Apply every (source name, documents) pair, publish atomically, write the report.

        With `only_if_missing`, do nothing (and return None) when a corpus is already
        published, e.g. because a concurrent first user built it while we waited.
        """
        start = time.perf_counter()
        report = BuildReport(corpus=str(self.out_dir))
        with build_lock(self.out_dir):
            target = self.out_dir / DB_NAME
            if only_if_missing and target.exists():
                return None
            _remove_stale_temporaries(self.out_dir)
            tmp = self.out_dir / f".{DB_NAME}.{uuid.uuid4().hex}.tmp"
            try:
                if target.exists():
                    shutil.copyfile(target, tmp)
                conn = sqlite3.connect(tmp)
                self._changed_docs = set()
                try:
                    fresh = not target.exists()
                    changed = self._fill(conn, sources, report, fresh=fresh)
                    self._finish(conn, report, changed, fresh=fresh)
                    changed |= self._sync_engine(conn, report, changed,
                                                 fresh=not target.exists())
                    engine = conn.execute(
                        "SELECT value FROM meta WHERE key = 'tantivy_index'").fetchone()
                finally:
                    conn.close()
                if changed or not target.exists():
                    _fsync(tmp)
                    os.replace(tmp, target)
                collect_garbage(self.out_dir, engine[0] if engine else None)
            finally:
                tmp.unlink(missing_ok=True)
            report.engine = "tantivy" if engine else "fts5"
            report.size_bytes = target.stat().st_size + index_bytes(
                self.out_dir, engine[0] if engine else None)
            report.seconds = time.perf_counter() - start
            _write_json(self.out_dir / REPORT_NAME, report.as_dict())
        return report

    def _fill(self, conn: sqlite3.Connection, sources: Iterable[tuple[str, Iterable[
            SourceDoc | Skipped]]], report: BuildReport, *, fresh: bool) -> bool:
        conn.execute("PRAGMA journal_mode=OFF")  # a crash discards the temp file anyway
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        if fresh:
            conn.executescript(SCHEMA)
        else:
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if version is None or int(version[0]) != SCHEMA_VERSION:
                raise CorpusError(f"{self.out_dir} holds a corpus of another schema version; "
                                  "build into a new directory")
        known = {key: (doc_id, digest) for doc_id, key, digest in
                 conn.execute("SELECT id, key, hash FROM docs")}
        seen: set[str] = set()
        changed = False
        conn.execute("BEGIN")
        for name, docs in sources:
            report.sources.append(name)
            for n, item in enumerate(docs, 1):
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    continue
                changed |= self._apply(conn, item, known, seen, report)
                if self.progress is not None and n % 500 == 0:
                    self.progress(name, n)
        conn.execute("COMMIT")
        return changed

    def _apply(self, conn: sqlite3.Connection, doc: SourceDoc,
               known: dict[str, tuple[int, str]], seen: set[str], report: BuildReport) -> bool:
        key = url_key(doc.url)
        if key in seen:
            report.duplicates += 1
            return False
        seen.add(key)
        digest = _digest(doc)
        old = known.get(key)
        if old is not None and old[1] == digest:
            report.unchanged += 1
            return False
        row = (key, doc.url, doc.title, doc.text, doc.description, doc.source, doc.lang,
               json.dumps(dict(doc.metadata), ensure_ascii=False), digest)
        if old is None:
            doc_id = conn.execute(
                "INSERT INTO docs(key, url, title, text, description, source, lang, metadata, "
                "hash) VALUES (?,?,?,?,?,?,?,?,?)", row).lastrowid
            assert doc_id is not None
            report.added += 1
        else:
            doc_id = old[0]
            _delete_doc_rows(conn, doc_id)
            conn.execute("UPDATE docs SET key=?, url=?, title=?, text=?, description=?, "
                         "source=?, lang=?, metadata=?, hash=? WHERE id=?", (*row, doc_id))
            report.updated += 1
        known[key] = (doc_id, digest)
        self._changed_docs.add(doc_id)
        self._insert_passages(conn, doc_id, doc)
        conn.executemany(
            "INSERT INTO links(src, dst_key, kind, anchor) VALUES (?, ?, 'href', ?)",
            ((doc_id, dst, anchor) for dst, anchor in _resolve_links(doc, key)))
        return True

    @staticmethod
    def _insert_passages(conn: sqlite3.Connection, doc_id: int, doc: SourceDoc) -> None:
        for i, body in enumerate(split_passages(doc.text) or [doc.title]):
            pid = conn.execute("INSERT INTO passages(doc_id, ord, title, body) VALUES (?,?,?,?)",
                               (doc_id, i, doc.title, body)).lastrowid
            conn.execute("INSERT INTO fts(rowid, title, body) VALUES (?,?,?)",
                         (pid, doc.title, body))
            if has_cjk(body) or has_cjk(doc.title):
                conn.execute("INSERT INTO fts_cjk(rowid, title, body) VALUES (?,?,?)",
                             (pid, cjk_terms(doc.title), cjk_terms(body)))

    def _finish(self, conn: sqlite3.Connection, report: BuildReport, changed: bool, *,
                fresh: bool) -> None:
        if changed and self.mentions:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM links WHERE kind = 'mention'")
            finder = MentionFinder(conn.execute("SELECT key, title FROM docs"))
            for doc_id, key, text in conn.execute("SELECT id, key, text FROM docs").fetchall():
                conn.executemany(
                    "INSERT INTO links(src, dst_key, kind, anchor) VALUES (?, ?, 'mention', ?)",
                    ((doc_id, dst, anchor) for dst, anchor in finder.find(text, exclude=key)))
            conn.execute("COMMIT")
        if changed:
            conn.execute("INSERT INTO fts(fts) VALUES('optimize')")
            conn.execute("INSERT INTO fts_cjk(fts_cjk) VALUES('optimize')")
        cjk = conn.execute("SELECT count(*) FROM fts_cjk").fetchone()[0]
        meta = {"schema_version": str(SCHEMA_VERSION), "name": self.name,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "cjk_passages": str(cjk)}
        # A fresh corpus needs its meta even when its sources gave no document, or the
        # next update would not recognise the schema version.
        if changed or fresh:
            conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             meta.items())
            conn.commit()
            conn.execute("VACUUM")
        report.documents = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
        report.passages = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        report.links = conn.execute("SELECT count(*) FROM links").fetchone()[0]

    def _sync_engine(self, conn: sqlite3.Connection, report: BuildReport, changed: bool, *,
                     fresh: bool) -> bool:
        """Bring the tantivy index in line with the passages (or drop it); True if the
        SQLite file changed. `auto` keeps an existing corpus's engine."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'tantivy_index'").fetchone()
        previous: str | None = row[0] if row else None
        # An index the database names but the disk lacks (a copied or damaged corpus
        # directory) is rebuilt in full rather than trusted.
        intact = previous is not None and (self.out_dir / ENGINE_DIR / previous).is_dir()
        engine = self.engine
        if engine == "auto" and not fresh:
            engine = "tantivy" if previous else "fts5"
        elif engine == "auto":
            big = report.passages >= AUTO_TANTIVY_PASSAGES
            engine = "tantivy" if big and tantivy_available() else "fts5"
        if engine == "fts5":
            if previous is None:
                return False
            conn.execute("DELETE FROM meta WHERE key = 'tantivy_index'")
        else:
            if intact and not changed:
                return False
            base = previous if intact else None
            version = write_index(conn, self.out_dir, base,
                                  self._changed_docs if base else None)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('tantivy_index', ?)",
                         (version,))
        conn.commit()
        return True


def _delete_doc_rows(conn: sqlite3.Connection, doc_id: int) -> None:
    rows = conn.execute("SELECT id, title, body FROM passages WHERE doc_id = ?",
                        (doc_id,)).fetchall()
    for pid, title, body in rows:
        conn.execute("INSERT INTO fts(fts, rowid, title, body) VALUES('delete', ?, ?, ?)",
                     (pid, title, body))
        if has_cjk(body) or has_cjk(title):
            conn.execute("INSERT INTO fts_cjk(fts_cjk, rowid, title, body) "
                         "VALUES('delete', ?, ?, ?)", (pid, cjk_terms(title), cjk_terms(body)))
    conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM links WHERE src = ?", (doc_id,))


def _resolve_links(doc: SourceDoc, own_key: str) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for href, anchor in doc.links:
        href = href.strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "data:", "tel:")):
            continue
        try:
            key = url_key(href, base=doc.url)
        except ValueError:  # malformed href (e.g. a bad IPv6 host): not a link
            continue
        if key != own_key and key not in seen:
            seen.add(key)
            yield key, " ".join(anchor.split())[:200]


def _digest(doc: SourceDoc) -> str:
    h = hashlib.sha256()
    for part in (doc.url, doc.title, doc.text, doc.description, doc.source, doc.lang,
                 json.dumps(dict(doc.metadata), sort_keys=True, ensure_ascii=False),
                 json.dumps(list(doc.links), ensure_ascii=False)):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete what a killed build left behind (`.corpus.sqlite.<id>.tmp`, `.report.<id>.tmp`):
    the build lock is held, so no live build owns them."""
    for stale in directory.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_json(path: Path, data: Mapping[str, JSON]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
