"""Offline-corpus benchmark: build time, index size, BM25 QPS, server QPS, recall@10.

    .venv/bin/python benchmarks/corpus.py                   # vital articles + 1M passages
    .venv/bin/python benchmarks/corpus.py --big 100000      # smaller generated corpus
    .venv/bin/python benchmarks/corpus.py --big 0           # vital articles only

Targets (issue 6): >= 1000 QPS on the vital corpus and >= 200 QPS on 1M passages in
one process; >= 500 QPS over HTTP with concurrent clients; p50 latency < 5 ms.
"""

from __future__ import annotations

import argparse
import http.client
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


def build(out: Path, docs: Iterator[SourceDoc], *, mentions: bool = True) -> Corpus:
    start = time.perf_counter()
    report = CorpusBuilder(out, mentions=mentions).build([("bench", docs)])
    assert report is not None
    print(f"  build: {report.documents:,} documents, {report.passages:,} passages, "
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


def server_qps(corpus_dir: Path, queries: Sequence[str], *, clients: int = 16) -> None:
    code = "from sounding.cli.corpus import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(corpus_dir), "--port",
                             "0"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while line and "http://" not in line:
        print("  server:", line.rstrip())
        line = proc.stderr.readline()
    if not line:
        raise SystemExit("corpus server did not start")
    host, port = line.split("http://", 1)[1].split()[0].split(":")
    latencies: list[float] = []
    lock = threading.Lock()

    def client(chunk: Sequence[str]) -> None:
        conn = http.client.HTTPConnection(host, int(port))
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

    try:
        start = time.perf_counter()
        workers = [threading.Thread(target=client, args=(queries[i::clients],))
                   for i in range(clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait()
        proc.stderr.close()
    print(f"  server (SearXNG JSON over HTTP, {clients} keep-alive clients): "
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
    corpus = build(tmp / "vital", vital_documents("en"))
    pairs = [(d.description, doc_id) for doc_id, d in corpus.iter_documents() if d.description]
    rng = random.Random(1)
    queries = rng.sample([q for q, _ in pairs], min(n_queries, len(pairs)))
    qps(corpus, queries, threads=1)
    qps(corpus, queries, threads=2)
    recall_at_10(corpus, pairs)
    corpus.close()
    server_qps(tmp / "vital", queries * 2)


def bench_big(tmp: Path, n: int, n_queries: int) -> None:
    print(f"Generated corpus ({n:,} passages, mentions off):")
    corpus = build(tmp / "big", generated(n), mentions=False)
    rng = random.Random(2)
    sample = [d.text.split() for d in generated(2000, seed=0)]
    queries = [" ".join(rng.sample(words, 4)) for words in sample][:n_queries]
    qps(corpus, queries, threads=1)
    qps(corpus, queries, threads=2)
    corpus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=int, default=1_000_000,
                        help="passages in the generated corpus (0 skips it)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="work dir (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench_vital(Path(tmp), args.queries)
        if args.big:
            bench_big(Path(tmp), args.big, args.queries)


if __name__ == "__main__":
    main()
