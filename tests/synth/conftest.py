"""Synthesis fixtures: a hand-made knowledge base, a tiny corpus graph, the vital graph."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.synth.executor import KnowledgeBase
from sounding.synth.graph import build_graph

W = "https://en.wikipedia.org/wiki/"
TINY = [
    SourceDoc(url=W + "France", title="France", description="Country primarily in Western Europe",
              text="France is a country in Western Europe. Its capital is Paris.",
              links=[("/wiki/Paris", "Paris")]),
    SourceDoc(url=W + "Paris", title="Paris", description="Capital city of France",
              text="Paris is the capital and largest city of France. Marie Curie worked there.",
              links=[("/wiki/France", "France"), ("/wiki/Marie_Curie", "Marie Curie")]),
    SourceDoc(url=W + "Marie_Curie", title="Marie Curie",
              description="Polish-French physicist and chemist (1867–1934)",
              text="Marie Curie (1867–1934) was a physicist. She lived in Paris for decades.",
              links=[("/wiki/Paris", "Paris")], metadata={"topic": "People"}),
    SourceDoc(url=W + "2001:_A_Space_Odyssey", title="2001: A Space Odyssey",
              description="1968 film by Stanley Kubrick",
              text="2001: A Space Odyssey is a 1968 epic science fiction film."),
]


def tiny_kb() -> KnowledgeBase:
    """Four people, two cities, two countries: small enough to reason about by hand."""
    kb = KnowledgeBase()
    names = {1: "Ada Lovelace", 2: "Alan Turing", 3: "Grace Hopper", 4: "Emmy Noether",
             10: "London", 11: "Berlin", 20: "United Kingdom", 21: "Germany"}
    for node, title in names.items():
        kb.titles[node] = title
        kb.add(node, "initial", title[0], "string")
        kb.add(node, "word_count", title.count(" ") + 1, "number")
    for node, year in ((1, 1815), (2, 1912), (3, 1906), (4, 1882)):
        kb.add(node, "birth_year", year, "year")
        kb.add(node, "class", "mathematician", "string")
    for person, city in ((1, 10), (2, 10), (3, 10), (4, 11)):
        kb.add(person, "mentions", city, "entity")
    kb.add(10, "country", 20, "entity")
    kb.add(11, "country", 21, "entity")
    kb.add(20, "population", 67_000_000, "number")
    kb.add(21, "population", 83_000_000, "number")
    kb.add(10, "class", "city", "string")
    kb.add(11, "class", "city", "string")
    return kb


@pytest.fixture
def kb() -> KnowledgeBase:
    return tiny_kb()


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Iterator[Corpus]:
    CorpusBuilder(tmp_path / "corpus").build([("tiny", TINY)])
    corpus = Corpus.open(tmp_path / "corpus")
    yield corpus
    corpus.close()


@pytest.fixture(scope="session")
def vital_graph(vital_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The knowledge graph of the embedded corpus, built once per session (a few seconds)."""
    from sounding.corpus import open_default_corpus

    out = tmp_path_factory.mktemp("vital-graph")
    with open_default_corpus(vital_cache) as corpus:
        build_graph(corpus, out)
    return out
