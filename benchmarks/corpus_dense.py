"""Dense and hybrid retrieval on the vital articles: embed throughput, latency, recall@10.

    .venv/bin/python benchmarks/corpus_dense.py                        # every description
    .venv/bin/python benchmarks/corpus_dense.py --recall-queries 2000  # a random subsample

Needs the `dense` extra. Queries are article descriptions, the answer is the article
(the query set of benchmarks/corpus.py); BM25, dense and hybrid (RRF) answer the same
queries. benchmarks/corpus.py calls `bench_dense` after its own vital-articles section.
It also prints the CPU time per query of the corpus server's packed query encoder
(`corpus.query_encoder`) against sentence-transformers; benchmarks/corpus_http.py
measures hybrid search over HTTP.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sounding.corpus import Corpus, CorpusBuilder, vital_documents
from sounding.corpus.dense import Encoder, embed_corpus, load_encoder, load_query_encoder
from sounding.corpus.hybrid import HybridSearcher
from sounding.corpus.query_encoder import fast_dtype


def _recall(name: str, search: Callable[[str], list[int]],
            pairs: Sequence[tuple[str, int]]) -> None:
    latencies: list[float] = []
    found = 0
    for query, doc_id in pairs:
        t = time.perf_counter()
        ids = search(query)
        latencies.append(time.perf_counter() - t)
        found += doc_id in ids
    print(f"  recall@10 {name:<7} {found / len(pairs):.3f}   (p50 "
          f"{statistics.median(latencies) * 1e3:.1f} ms/query)")


def bench_query_encoders(reference: Encoder, queries: Sequence[str]) -> None:
    """CPU per query of the server's packed encoder against sentence-transformers, by batch
    (one torch thread)."""
    import numpy as np
    import torch

    # One thread, as in a server worker: process CPU time then means work, not the spin
    # of idle OpenMP threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    sample = list(queries[:512])
    expected = reference.encode(sample)
    encoders = [("sentence-transformers", reference),
                *((f"packed {dtype}", load_query_encoder(dtype))
                  for dtype in dict.fromkeys(["float32", fast_dtype()]))]
    for name, encoder in encoders:
        row = []
        for batch in (1, 8, 32):
            encoder.encode(sample[:batch], batch_size=batch)
            t = time.process_time()
            got = np.concatenate([encoder.encode(sample[i:i + batch], batch_size=batch)
                                  for i in range(0, len(sample), batch)])
            row.append(f"batch {batch}: {(time.process_time() - t) / len(sample) * 1e3:.2f}")
        cos = float((got * expected).sum(axis=1).min())
        print(f"  query encoder {name:<22} CPU ms/query  {', '.join(row)}  (min cosine "
              f"to sentence-transformers {cos:.5f})")
    torch.set_num_threads(threads)


def bench_dense(corpus_dir: Path, *, recall_queries: int = 0, batch_size: int = 64) -> None:
    """Embed `corpus_dir` (built here from the vital articles if absent) and compare."""
    print("Dense / hybrid retrieval (all-MiniLM-L6-v2, CPU, exact inner product):")
    if not (corpus_dir / "corpus.sqlite").exists():
        CorpusBuilder(corpus_dir).build([("wiki:en", vital_documents("en"))])
    t = time.perf_counter()
    encoder = load_encoder()
    print(f"  model load: {time.perf_counter() - t:.1f} s")
    report = embed_corpus(corpus_dir, encoder=encoder, batch_size=batch_size)
    rate = report.embedded / report.seconds if report.seconds else 0.0
    print(f"  embed: {report.embedded:,} passages in {report.seconds:.1f} s ({rate:,.0f} "
          f"passages/s, batch {batch_size}); {report.size_bytes / 1e6:.1f} MB of vectors")
    with Corpus.open(corpus_dir) as corpus:
        pairs = [(d.description, doc_id) for doc_id, d in corpus.iter_documents()
                 if d.description]
        if 0 < recall_queries < len(pairs):
            pairs = random.Random(3).sample(pairs, recall_queries)
        print(f"  queries: {len(pairs):,} article descriptions -> the article")
        bench_query_encoders(encoder, [q for q, _ in pairs])
        dense = HybridSearcher(corpus, "dense", encoder=encoder)
        hybrid = HybridSearcher(corpus, "hybrid", dense=dense.dense)
        _recall("BM25", lambda q: corpus.search_ids(q, k=10), pairs)
        _recall("dense", lambda q: dense.search_ids(q, k=10), pairs)
        _recall("hybrid", lambda q: hybrid.search_ids(q, k=10), pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recall-queries", type=int, default=0,
                        help="random subsample of the queries (0: all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus directory to embed and query (default: build the "
                             "vital articles in a temp dir)")
    args = parser.parse_args()
    if args.corpus is not None:
        bench_dense(args.corpus, recall_queries=args.recall_queries,
                    batch_size=args.batch_size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bench_dense(Path(tmp) / "vital", recall_queries=args.recall_queries,
                    batch_size=args.batch_size)


if __name__ == "__main__":
    main()
