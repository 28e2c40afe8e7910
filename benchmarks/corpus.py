"""Offline-corpus benchmark: build time, index size, BM25 QPS, server QPS, recall@10.

    .venv/bin/python benchmarks/corpus.py                   # vital articles + 1M passages
    .venv/bin/python benchmarks/corpus.py --big 100000      # smaller generated corpus
    .venv/bin/python benchmarks/corpus.py --big 0           # vital articles only
    .venv/bin/python benchmarks/corpus.py --engines tantivy # the big corpus on tantivy only

Targets (issue 6): >= 1000 QPS on the vital corpus and >= 200 QPS on 1M passages in
one process; >= 500 QPS over HTTP with concurrent clients; p50 latency < 5 ms. Each
corpus is measured with both BM25 engines (FTS5 and tantivy). The HTTP load comes from
client processes of their own, so the load generator does not share the server's GIL.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from sounding.corpus import Corpus, CorpusBuilder, SourceDoc, vital_documents


def build(out: Path, docs: Iterator[SourceDoc], *, mentions: bool = True,
          engine: str = "fts5") -> Corpus:
    start = time.perf_counter()
    report = CorpusBuilder(out, mentions=mentions, engine=engine).build([("bench", docs)])
    assert report is not None
    print(f"  [{report.engine}] build: {report.documents:,} documents, {report.passages:,} "
          "passages, "
          f"{report.links:,} links in {time.perf_counter() - start:.1f} s; "
          f"index {report.size_bytes / 1e6:.1f} MB")
    return Corpus.open(out)


def qps(corpus: Corpus, queries: Sequence[str], *, threads: int = 1, k: int = 10) -> None:
    latencies: list[float] = []

    def run(chunk: Sequence[str]) -> list[float]:
        out = []
        for q in chunk:
            t = time.perf_counter()
            corpus.search(q, k=k)
            out.append(time.perf_counter() - t)
        return out

    chunks = [queries[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for part in pool.map(run, chunks):
            latencies.extend(part)
    wall = time.perf_counter() - start
    latencies.sort()
    print(f"  BM25 {threads} thread(s): {len(queries) / wall:,.0f} QPS, p50 "
          f"{statistics.median(latencies) * 1e3:.2f} ms, p99 "
          f"{latencies[int(len(latencies) * 0.99)] * 1e3:.2f} ms")


def recall_at_10(corpus: Corpus, pairs: Sequence[tuple[str, int]]) -> None:
    found = sum(1 for query, doc_id in pairs if doc_id in corpus.search_ids(query, k=10))
    print(f"  recall@10 BM25 (description -> article, {len(pairs):,} queries): "
          f"{found / len(pairs):.3f}")


def _client_process(args: tuple[str, int, Sequence[str], int]) -> tuple[float, float,
                                                                       list[float]]:
    """One load-generator process: `threads` keep-alive clients; (start, end, latencies)."""
    host, port, queries, threads = args
    latencies: list[float] = []
    lock = threading.Lock()

    def client(chunk: Sequence[str]) -> None:
        conn = http.client.HTTPConnection(host, port)
        mine = []
        for q in chunk:
            t = time.perf_counter()
            conn.request("GET", f"/search?format=json&q={quote(q)}")
            body = conn.getresponse().read()
            mine.append(time.perf_counter() - t)
            assert body.startswith(b"{")
        conn.close()
        with lock:
            latencies.extend(mine)

    start = time.time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client, [queries[i::threads] for i in range(threads)]))
    return start, time.time(), latencies


def server_qps(corpus_dir: Path, queries: Sequence[str], *, processes: int = 2,
               threads: int = 8, workers: int | None = None) -> None:
    code = "from sounding.cli.corpus import app; app()"
    extra = ["--workers", str(workers)] if workers else []
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(corpus_dir), "--port",
                             "0", *extra], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while line and "http://" not in line:
        print("  server:", line.rstrip())
        line = proc.stderr.readline()
    if not line:
        raise SystemExit("corpus server did not start")
    host, port = line.split("http://", 1)[1].split()[0].split(":")
    served_by = line.split(" with ", 1)[1].split(" workers")[0] if " workers" in line else "1"
    jobs = [(host, int(port), queries[i::processes], threads) for i in range(processes)]
    try:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_client_process, jobs)
    finally:
        proc.terminate()
        proc.wait()
        proc.stderr.close()
    wall = max(end for _, end, _ in results) - min(start for start, _, _ in results)
    latencies = [x for _, _, lat in results for x in lat]
    print(f"  server ({served_by} worker process(es); SearXNG JSON over HTTP from "
          f"{processes} client processes x {threads} keep-alive clients): "
          f"{len(queries) / wall:,.0f} QPS, p50 {statistics.median(latencies) * 1e3:.2f} ms")


def generated(n: int, seed: int = 0) -> Iterator[SourceDoc]:
    """n one-passage documents of Zipf-distributed words from a 50,000-word vocabulary."""
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "en", "dor", "ix", "pa", "gu"]
    vocab = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 4)))
                    for _ in range(80_000)})[:50_000]
    rng.shuffle(vocab)
    weights = [1.0 / (r + 1) for r in range(len(vocab))]
    cum = [0.0] * len(weights)
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        cum[i] = acc
    for i in range(n):
        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(50, 90))
        yield SourceDoc(url=f"https://gen.example/{i}", title=" ".join(words[:3]).title(),
                        text=" ".join(words) + ".")


def bench_vital(tmp: Path, n_queries: int) -> None:
    print("Vital articles (en):")
    for engine in ("fts5", "tantivy"):
        corpus = build(tmp / f"vital-{engine}", vital_documents("en"), engine=engine)
        pairs = [(d.description, doc_id) for doc_id, d in corpus.iter_documents()
                 if d.description]
        rng = random.Random(1)
        queries = rng.sample([q for q, _ in pairs], min(n_queries, len(pairs)))
        qps(corpus, queries, threads=1)
        qps(corpus, queries, threads=2)
        recall_at_10(corpus, pairs)
        corpus.close()
        server_qps(tmp / f"vital-{engine}", queries * 2, workers=1)
        server_qps(tmp / f"vital-{engine}", queries * 2)


def bench_big(tmp: Path, n: int, n_queries: int, engines: Sequence[str]) -> None:
    print(f"Generated corpus ({n:,} passages, mentions off):")
    rng = random.Random(2)
    sample = [d.text.split() for d in generated(2000, seed=0)]
    queries = [" ".join(rng.sample(words, 4)) for words in sample][:n_queries]
    for engine in engines:
        corpus = build(tmp / f"big-{engine}", generated(n), mentions=False, engine=engine)
        qps(corpus, queries, threads=1)
        qps(corpus, queries, threads=2)
        corpus.close()


def bench_dense_if_installed(tmp: Path, recall_queries: int) -> None:
    """Dense and hybrid recall@10 next to BM25 (benchmarks/corpus_dense.py), given the extra."""
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is None:
        print("Dense / hybrid: skipped (pip install torch==2.13.0 'sounding[dense]')")
        return
    from corpus_dense import bench_dense  # benchmarks/ is on sys.path when run as a script

    built = tmp / "vital-fts5"  # reuse bench_vital's index; bench_dense builds one otherwise
    bench_dense(built if built.exists() else tmp / "vital-dense", recall_queries=recall_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=int, default=1_000_000,
                        help="passages in the generated corpus (0 skips it)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    parser.add_argument("--engines", default="fts5,tantivy",
                        help="engines for the generated corpus, comma-separated")
    parser.add_argument("--recall-queries", type=int, default=0,
                        help="dense/hybrid recall@10 on a random subsample of N queries (0: all)")
    parser.add_argument("--no-dense", action="store_true",
                        help="skip dense/hybrid retrieval (embedding takes minutes on CPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench_vital(Path(tmp), args.queries)
        if not args.no_dense:
            bench_dense_if_installed(Path(tmp), args.recall_queries)
        if args.big:
            bench_big(Path(tmp), args.big, args.queries, args.engines.split(","))


if __name__ == "__main__":
    main()
