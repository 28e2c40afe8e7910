"""Eval harness throughput: 1,000 questions x 3 rollouts, instant scripted model, offline world.

    .venv/bin/python benchmarks/eval_throughput.py [--questions 1000] [--rollouts 3]

Each rollout is the real ReAct loop (one `search` on the embedded offline corpus,
then an answer), judged by exact match and written to disk with fsync. Prints
rollouts/s, harness overhead per rollout (runner vs. the bare agent loop), and
resident memory at 25/50/75/100% of the run, which should stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import tempfile
import time
from pathlib import Path

from sounding.agent import open_agent
from sounding.config import load_settings
from sounding.eval.agent_rollout import agent_rollout
from sounding.eval.datasets import Item
from sounding.eval.judges import ExactMatchJudge
from sounding.eval.progress import Tally
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel

SEARCH = '<think>look it up</think>\n<tool_call>\n{"name": "search", "arguments": ' \
         '{"query": ["Eiffel Tower engineer"]}}\n</tool_call>'


def reply(request: ChatRequest) -> str:
    if "<tool_response>" in request.messages[-1].content:
        return "<think>found it</think>\n<answer>Gustave Eiffel</answer>"
    return SEARCH


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssProbe:
    """A Progress that prints RSS at each quarter of the run."""

    def __init__(self) -> None:
        self.total, self.marks = 0, [0.25, 0.5, 0.75, 1.0]

    def start(self, total: int, tally: Tally) -> None:
        self.total = total
        print(f"  RSS at start: {rss_mb():7.1f} MB")

    def advance(self, tally: Tally) -> None:
        done = tally.done + tally.failed
        while self.marks and done >= self.marks[0] * self.total:
            print(f"  RSS at {int(self.marks.pop(0) * 100):3d}%: {rss_mb():7.1f} MB")

    def stop(self) -> None:
        pass


async def main(n: int, k: int, concurrency: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sounding-eval-bench-"))
    settings = load_settings({"llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "instant",
                              "cache_dir": tmp / "cache"}, environ={}, config_file=None)
    model = ScriptedModel.cycle([reply], name="instant")
    stack = contextlib.AsyncExitStack()
    resources = await stack.enter_async_context(open_agent(settings, model=model))
    items = [Item(f"q{i:05d}", f"Who engineered the Eiffel Tower? (variant {i})",
                  "Gustave Eiffel") for i in range(n)]
    rollout = agent_rollout(settings, resources)
    await rollout(items[0], 0)  # warm up: corpus index, caches
    base_n = min(300, n)
    t0 = time.perf_counter()
    for i in range(base_n):
        await rollout(items[i], 0)
    bare = (time.perf_counter() - t0) / base_n
    manifest = build_manifest(dataset=tmp / "set.jsonl", dataset_sha256="bench", fmt="generic",
                              judge=ExactMatchJudge(), agent={"model": "instant"}, rollouts=k,
                              limit=None, item_ids=[i.id for i in items])
    print(f"{n} questions x {k} rollouts, concurrency {concurrency}, run dir {tmp / 'run'}")
    t0 = time.perf_counter()
    out = await run_eval(items, manifest, config=RunConfig(tmp / "run", rollouts=k,
                         concurrency=concurrency), rollout=rollout, judge=ExactMatchJudge(),
                         progress=RssProbe())
    wall = time.perf_counter() - t0
    await stack.aclose()
    rows = out.rows_written
    size = sum(p.stat().st_size for p in (tmp / "run").glob("*.jsonl")) / 1e6
    print(f"rollouts:            {rows} in {wall:.2f} s")
    print(f"rollouts per second: {rows / wall:.1f}")
    print(f"bare agent loop:     {1000 * bare:.2f} ms per rollout (serial, no runner)")
    print(f"runner per rollout:  {1000 * wall / rows:.2f} ms wall at concurrency {concurrency}")
    print(f"harness overhead:    {1000 * (wall / rows - bare):.2f} ms per rollout "
          "(runner wall per rollout minus bare loop; negative = concurrency hides it)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS:            {peak:.1f} MB; run files {size:.1f} MB")
    print("metrics:", json.dumps({k2: out.metrics[k2] for k2 in ("avg_at_k", "pass_at_k",
                                                                 "complete")}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--rollouts", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    asyncio.run(main(a.questions, a.rollouts, a.concurrency))
