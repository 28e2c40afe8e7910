"""Formal-question throughput on the embedded corpus, no LLM, and re-verification.

    .venv/bin/python benchmarks/synth_formal.py [--seconds 20] [--workers 2] [--layers 2]

Prints:
1. the knowledge-graph build time of the embedded vital-articles corpus;
2. candidate formal questions per minute over all workers (target >= 1,000/min on
   2 cores), and the share that passes uniqueness, redundancy, shortcut and the
   invariants, with the rejection reasons;
3. every kept item re-run by the independent SQL executor (`synth/verify.py`):
   the share with exactly one answer, the intended one (target 100%).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections import Counter
from pathlib import Path

from sounding.config import load_settings
from sounding.corpus import open_default_corpus
from sounding.synth.formal import FormalConfig, FormalGenerator
from sounding.synth.graph import build_graph, connect_graph
from sounding.synth.pipeline import load_kb
from sounding.synth.spec import Spec
from sounding.synth.verify import sql_answers
from sounding.types import JSON

Result = tuple[int, Counter[str], list[tuple[dict[str, JSON], int]], float]


def work(graph: str, worker: int, workers: int, seconds: float, layers: int) -> Result:
    """Candidates with indexes worker, worker + workers, ... until time runs out."""
    gen = FormalGenerator(load_kb(Path(graph)), FormalConfig(layers=layers))
    reasons: Counter[str] = Counter()
    kept: list[tuple[dict[str, JSON], int]] = []
    index, done = worker, 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        cand = gen.candidate(index)
        assert cand.check is not None
        reasons[cand.check.reason] += 1
        if cand.check.ok:
            kept.append((cand.spec.to_json(), cand.answer))
        index += workers
        done += 1
    return done, reasons, kept, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="generation time")
    parser.add_argument("--workers", type=int, default=2, help="processes (one per core)")
    parser.add_argument("--layers", type=int, default=2, help="expansion depth")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = open_default_corpus(load_settings({}).cache_dir)
        t0 = time.perf_counter()
        build_graph(corpus, Path(tmp))
        corpus.close()
        print(f"graph build: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.workers) as pool:
            results = pool.starmap(work, [(tmp, w, args.workers, args.seconds, args.layers)
                                          for w in range(args.workers)])
        wall = time.perf_counter() - t0
        total = sum(r[0] for r in results)
        reasons = sum((r[1] for r in results), Counter())
        kept = [k for r in results for k in r[2]]
        busy = max(r[3] for r in results)  # generation time, without spawn and graph load
        print(f"candidates: {total} in {busy:.1f} s with {args.workers} workers = "
              f"{total / busy * 60:,.0f}/min (target >= 1,000/min); wall with start-up "
              f"{wall:.1f} s = {total / wall * 60:,.0f}/min")
        print(f"pass share: {len(kept) / max(total, 1):.1%} kept; reasons: "
              + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
        conn = connect_graph(Path(tmp))
        t0 = time.perf_counter()
        good = sum(1 for spec, answer in kept
                   if sql_answers(conn, Spec.from_json(spec)) == {answer})
        conn.close()
        print(f"re-verified by the SQL executor: {good}/{len(kept)} = "
              f"{good / max(len(kept), 1):.1%} unique and intended (target 100%), "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
