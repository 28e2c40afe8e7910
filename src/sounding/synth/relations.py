"""LLM-typed relations for mention edges: one call names it, a second checks entailment.

Every decision is cached in the graph's `typed_relations` table (keyed by source,
target and evidence sentence), so a rerun or a resumed run asks nothing twice.
Accepted relations become entity edges (`source = 'llm'`) the executor can query.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from .._templates import render
from ..llm.base import ChatModel
from .graph import connect_graph
from .verbalize import ask_json

__all__ = ["type_relations"]

_NAME = re.compile(r"^[a-z][a-z_]{1,40}$")


async def type_relations(graph_dir: Path, model: ChatModel, *, limit: int = 100,
                         min_words: int = 6) -> Counter[str]:
    """Type up to `limit` mention edges not typed before; counts by outcome."""
    conn = connect_graph(graph_dir, write=True)
    counts: Counter[str] = Counter()
    try:
        rows = conn.execute(
            "SELECT e.src, e.dst, e.evidence, s.title, d.title FROM edges e "
            "JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst "
            "LEFT JOIN typed_relations t ON t.src = e.src AND t.dst = e.dst "
            "AND t.evidence = e.evidence WHERE e.relation = 'mentions' AND t.src IS NULL "
            "ORDER BY e.rowid").fetchall()
        # a typed edge must not reuse the name of a literal relation (one kind per name)
        literal = {r for (r,) in conn.execute("SELECT DISTINCT relation FROM facts")}
        done = 0
        for src, dst, evidence, source, target in rows:
            if done >= limit:
                break
            if len(evidence.split()) < min_words:  # an anchor, not a sentence: nothing to read
                continue
            outcome, relation = await _type_one(model, evidence, source, target, counts)
            conn.execute("INSERT OR REPLACE INTO typed_relations VALUES (?, ?, ?, ?, ?)",
                         (src, dst, evidence, relation, int(outcome == "accepted")))
            if outcome == "accepted" and relation in literal:
                outcome = "name_taken"
            if outcome == "accepted":
                conn.execute("INSERT INTO edges VALUES (?, ?, ?, ?, 'llm')",
                             (src, dst, relation, evidence))
            counts[outcome] += 1
            done += 1
            conn.commit()  # each decision is cached at once: a killed run loses nothing
    finally:
        conn.close()
    return counts


async def _type_one(model: ChatModel, evidence: str, source: str, target: str,
                    counts: Counter[str]) -> tuple[str, str]:
    named = await ask_json(model, render("sounding.synth", "relation_type.txt",
                                         evidence=evidence, source=source, target=target),
                           "synth_relation")
    counts["llm_calls"] += 1
    relation = str(named.get("relation", "")).strip().lower() if named else ""
    if not _NAME.match(relation) or relation == "none" or relation == "mentions":
        return "no_relation", relation or "none"
    check = await ask_json(model, render("sounding.synth", "entailment.txt", evidence=evidence,
                                         source=source, relation=relation.replace("_", " "),
                                         target=target), "synth_entailment")
    counts["llm_calls"] += 1
    if not check or check.get("entailed") is not True:
        return "not_entailed", relation
    return "accepted", relation
