"""Corpus server over HTTP, BM25 and hybrid: recall@10 and QPS with concurrent clients.

    .venv/bin/python benchmarks/corpus_http.py --corpus /path/to/vital   # reuse/keep it
    .venv/bin/python benchmarks/corpus_http.py --workers 4 --processes 2 --threads 16

Target (issue 17): hybrid recall@10 >= 0.87 at >= 1,000 QPS over HTTP on the vital
articles. `sounding corpus serve --workers N --search hybrid` runs as a process of its
own; client processes of their own (so they share no GIL with it) send every article
description once per mode (distinct queries: no cache can flatter the figure) as
SearXNG JSON requests on keep-alive connections, each client sending its next query
when it has its answer, and check whether the article is in the top 10.

`--corpus DIR` reuses a built and embedded corpus; where DIR holds none yet, the vital
articles are built there (on tantivy, as the embedded default corpus is) and embedded,
about 10 minutes of CPU. Besides QPS and latency it prints the CPU milliseconds per
query of the server's processes and of the clients (steadier than QPS on a shared
machine), and, from each worker's GET /health, the mean encoder batch and the encoder's
CPU per query.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from sounding.corpus import Corpus, CorpusBuilder, vital_documents
from sounding.corpus.dense import embed_corpus, has_embeddings
from sounding.corpus.tantivy_index import available as tantivy_available

Pair = tuple[str, str]
"""(query, URL of the document that answers it)."""


def _client_process(args: tuple[str, int, Sequence[Pair], int, str]
                    ) -> tuple[float, float, list[float], int, float]:
    """`threads` keep-alive clients; (start, end, latencies, found, CPU seconds)."""
    host, port, pairs, threads, mode = args
    latencies: list[float] = []
    found = [0]
    lock = threading.Lock()

    work = iter(pairs)

    def take() -> Pair | None:
        with lock:
            return next(work, None)

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine, hits = [], 0
        # Each client takes the next query when it has its answer (a closed loop), so a
        # connection to a less loaded server worker does more of the work.
        while (pair := take()) is not None:
            query, url = pair
            t = time.perf_counter()
            conn.request("GET", f"/search?format=json&mode={mode}&q={quote(query)}")
            response = conn.getresponse()
            body = response.read()
            mine.append(time.perf_counter() - t)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
            hits += url in {r["url"] for r in json.loads(body)["results"][:10]}
        conn.close()
        with lock:
            latencies.extend(mine)
            found[0] += hits

    cpu = time.process_time()
    start = time.time()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(client) for _ in range(threads)]:
            future.result()
    return start, time.time(), latencies, found[0], time.process_time() - cpu


def _process_tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of `pid` and its live children; None off Linux."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(entry) == pid or int(fields[1]) == pid:
                total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / tick


class Server:
    """`sounding corpus serve` in a process of its own, ready to answer hybrid queries."""

    def __init__(self, corpus_dir: Path, workers: int, extra: Sequence[str]) -> None:
        code = "from sounding.cli.corpus import app; app()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", str(corpus_dir), "--port", "0",
             "--workers", str(workers), "--search", "hybrid", *extra],
            stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        while line and "http://" not in line:
            print("  server:", line.rstrip())
            line = self.proc.stderr.readline()
        if not line:
            raise SystemExit("corpus server did not start")
        host, port = line.split("http://", 1)[1].split()[0].split(":")
        self.host, self.port = host, int(port)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            print("  server:", line.rstrip())

    def warm(self, n: int) -> None:
        """`n` concurrent queries (not in the measured set): every worker loads its model."""
        def one(i: int) -> None:
            for _ in range(600):  # workers load the encoder before they answer
                try:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                    conn.request("GET", f"/search?format=json&mode=hybrid&q=warm+up+{i}")
                    conn.getresponse().read()
                    conn.close()
                    return
                except OSError:
                    time.sleep(0.1)
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(one, range(n)))

    def batching(self) -> dict[int, tuple[int, int, float]]:
        """Worker pid -> (encoder passes, queries, their CPU seconds), from /health."""
        seen: dict[int, tuple[int, int, float]] = {}
        for _ in range(40):  # each new connection lands on some worker
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            conn.request("GET", "/health")
            data = json.loads(conn.getresponse().read())
            conn.close()
            dense = data.get("dense") or {}
            seen[data["pid"]] = (dense.get("batches", 0), dense.get("queries", 0),
                                 dense.get("cpu_seconds", 0.0))
        return seen

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def measure(server: Server, mode: str, pairs: Sequence[Pair], processes: int,
            threads: int) -> tuple[float, float]:
    """Print one mode's figures; (recall@10, QPS)."""
    jobs = [(server.host, server.port, pairs[i::processes], threads, mode)
            for i in range(processes)]
    before = server.batching()
    cpu_before = _process_tree_cpu(server.proc.pid)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_client_process, jobs)
    cpu_after = _process_tree_cpu(server.proc.pid)
    after = server.batching()
    # Per worker seen both times: its passes and queries during this run.
    deltas = [tuple(a - b for a, b in zip(after[pid], before[pid], strict=True))
              for pid in after if pid in before]
    batches, queries = sum(d[0] for d in deltas), sum(d[1] for d in deltas)
    encoder_cpu = sum(d[2] for d in deltas)
    share = "/".join(f"{d[1]:.0f}" for d in deltas)
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    found = sum(r[3] for r in results)
    client_cpu = sum(r[4] for r in results)
    server_cpu = (f"{(cpu_after - cpu_before) / len(pairs) * 1e3:.2f} ms"
                  if cpu_before is not None and cpu_after is not None else "n/a")
    print(f"  {mode:<7} recall@10 {found / len(pairs):.3f}   {len(pairs) / wall:,.0f} QPS   "
          f"p50 {statistics.median(latencies) * 1e3:.1f} ms, p99 "
          f"{latencies[int(len(latencies) * 0.99)] * 1e3:.1f} ms   CPU/query: server "
          f"{server_cpu}, clients {client_cpu / len(pairs) * 1e3:.2f} ms"
          + (f"   encoder: mean batch {queries / batches:.1f}, {encoder_cpu / queries * 1e3:.2f}"
             f" ms CPU/query (queries per worker {share})" if batches else ""))
    return found / len(pairs), len(pairs) / wall


def prepare(corpus_dir: Path) -> tuple[list[Pair], str]:
    """Build and embed the vital articles in `corpus_dir` where missing; the query set."""
    if not (corpus_dir / "corpus.sqlite").exists():
        # The engine the embedded default corpus gets (open_default_corpus).
        engine = "tantivy" if tantivy_available() else "fts5"
        print(f"building the vital articles in {corpus_dir} ({engine})")
        CorpusBuilder(corpus_dir, engine=engine).build([("wiki:en", vital_documents("en"))])
    with Corpus.open(corpus_dir) as corpus:
        embedded = has_embeddings(corpus)
        engine = corpus.stats().engine
        pairs = [(d.description, d.url) for _, d in corpus.iter_documents() if d.description]
    if not embedded:
        print("embedding the passages (about 10 minutes of CPU; resumable)")
        report = embed_corpus(corpus_dir)
        print(f"  {report.embedded:,} passages in {report.seconds:.0f} s")
    return pairs, engine


def run(corpus_dir: Path, args: argparse.Namespace) -> None:
    pairs, engine = prepare(corpus_dir)
    if 0 < args.queries < len(pairs):
        pairs = random.Random(3).sample(pairs, args.queries)
    random.Random(4).shuffle(pairs)
    distinct = len({q for q, _ in pairs})
    extra = ["--batch", str(args.batch), "--batch-wait-ms", str(args.batch_wait_ms)]
    if args.search_threads:
        extra += ["--threads", str(args.search_threads)]
    print(f"Corpus server over HTTP ({corpus_dir}, {engine}): {args.workers} worker "
          f"process(es), "
          f"{args.processes} client processes x {args.threads} keep-alive clients, "
          f"{len(pairs):,} description -> article queries ({distinct:,} distinct), "
          f"{os.cpu_count()} CPUs")
    server = Server(corpus_dir, args.workers, extra)
    try:
        server.warm(max(8, 4 * args.workers))
        figures = {mode: measure(server, mode, pairs, args.processes, args.threads)
                   for mode in args.modes.split(",")}
    finally:
        server.close()
    if "hybrid" in figures:
        recall, qps = figures["hybrid"]
        print(f"Target (issue 17), hybrid over HTTP: recall@10 {recall:.3f} "
              f"({'met' if recall >= 0.87 else 'NOT met'}: >= 0.87), {qps:,.0f} QPS "
              f"({'met' if qps >= 1000 else 'NOT met'}: >= 1,000) with {args.workers} "
              f"workers on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=None,
                        help="built (and embedded) vital corpus to reuse; built here if empty")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="server worker processes (default: one per CPU)")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=0,
                        help="keep-alive clients per client process (default: 8 per "
                             "server worker in all, at least 8 per process)")
    parser.add_argument("--queries", type=int, default=0,
                        help="random subsample of the descriptions (0: all)")
    parser.add_argument("--modes", default="bm25,hybrid")
    parser.add_argument("--batch", type=int, default=32, help="serve --batch")
    parser.add_argument("--batch-wait-ms", type=float, default=2.0, help="serve --batch-wait-ms")
    parser.add_argument("--search-threads", type=int, default=0,
                        help="serve --threads (0: the server's default)")
    args = parser.parse_args()
    # A worker batches what its own connections send at once: give it about 8.
    args.threads = args.threads or max(8, 8 * args.workers // args.processes)
    if args.corpus is not None:
        args.corpus.mkdir(parents=True, exist_ok=True)
        run(args.corpus, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp) / "vital", args)


if __name__ == "__main__":
    main()
