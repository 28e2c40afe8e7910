"""Ray executor vs. the local executor, and a worker killed mid-run.

    .venv/bin/python benchmarks/ray_executor.py [--rows 240] [--kill-rows 100] [--latency 0.2]

A local Ray cluster on 127.0.0.1 (2 CPUs, 2 worker actors) and the local asyncio
executor run the same eval (the real ReAct loop: one `search` on a tiny offline corpus,
then an answer; exact-match judge; rows fsynced) against a scripted model server with
a fixed latency per call, at the same concurrency. Prints:
1. rows/s of each and their ratio (target: Ray >= 0.9x local; cluster start excluded);
2. a run of `--kill-rows` rows with one worker SIGKILLed mid-run: rows present exactly
   once (target: all of them), with the retries and the replacement worker it took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from sounding.config import ExecutorSettings, load_settings
from sounding.corpus import CorpusBuilder, SourceDoc
from sounding.eval.agent_rollout import AgentRolloutFactory
from sounding.eval.datasets import Item
from sounding.eval.judges import ExactMatchJudge, build_judge
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.executors import Executor, start_executor
from sounding.llm.testing import ScriptedServer

SEARCH = ('<think>look it up</think>\n<tool_call>\n{"name": "search", "arguments": '
          '{"query": ["Eiffel Tower engineer"]}}\n</tool_call>')


def reply(body: dict[str, Any]) -> str:
    if "<tool_response>" in str(body["messages"][-1]["content"]):
        return "<think>found it</think>\n<answer>Gustave Eiffel</answer>"
    return SEARCH


def items(n: int) -> list[Item]:
    return [Item(f"q{i:04d}", f"Who engineered tower {i}?", "Gustave Eiffel") for i in range(n)]


async def timed_run(executor: Executor[Item], n: int, out: Path) -> tuple[float, list[str]]:
    chosen = items(n)
    manifest = build_manifest(dataset=Path("bench.jsonl"), dataset_sha256="bench",
                              fmt="generic", judge=build_judge("exact"), agent={"b": 1},
                              rollouts=1, limit=None, item_ids=[it.id for it in chosen])
    start = time.perf_counter()
    await run_eval(chosen, manifest, judge=ExactMatchJudge(), rollout=executor.rollout,
                   config=RunConfig(out, rollouts=1, concurrency=executor.concurrency))
    seconds = time.perf_counter() - start
    lines = (out / "results.jsonl").read_text().splitlines()
    return seconds, [json.loads(x)["item_id"] for x in lines]


async def kill_one(executor: Any) -> None:
    handle = executor.worker_handles()[0]
    pid = await handle.pid.remote()
    while executor.stats().done < 20:
        await asyncio.sleep(0.01)
    os.kill(pid, signal.SIGKILL)


async def main(args: argparse.Namespace, tmp: Path) -> None:
    import ray

    corpus = tmp / "corpus"
    CorpusBuilder(corpus).build([("tiny", [SourceDoc(
        url="https://example.org/eiffel", title="Eiffel Tower",
        text="The Eiffel Tower was engineered by Gustave Eiffel's company.", source="X")])])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             namespace="sounding", _node_ip_address="127.0.0.1")
    with ScriptedServer.cycle([reply], latency=args.latency) as server:
        settings = load_settings({"llm.base_url": server.base_url, "llm.model": "scripted",
                                  "corpus": corpus, "cache_dir": tmp / "cache"})
        factory = AgentRolloutFactory(settings)
        ray_settings = ExecutorSettings(kind="ray", workers=2,
                                        worker_concurrency=args.concurrency // 2)
        local = await start_executor(factory, ExecutorSettings(), concurrency=args.concurrency)
        try:
            local_s, _ = await timed_run(local, args.rows, tmp / "local")
        finally:
            await local.aclose()
        remote = await start_executor(factory, ray_settings, concurrency=args.concurrency)
        try:
            ray_s, _ = await timed_run(remote, args.rows, tmp / "ray")
        finally:
            await remote.aclose()
        print(f"local executor: {args.rows / local_s:.1f} rows/s ({local_s:.2f}s)")
        print(f"ray executor:   {args.rows / ray_s:.1f} rows/s ({ray_s:.2f}s), "
              f"2 workers x {args.concurrency // 2}")
        print(f"ray / local throughput: {local_s / ray_s:.2f}x  (target >= 0.90)")
        killed = await start_executor(factory, ray_settings, concurrency=args.concurrency)
        killer = asyncio.create_task(kill_one(killed))
        try:
            _, ids = await timed_run(killed, args.kill_rows, tmp / "kill")
            stats = killed.stats()
        finally:
            killer.cancel()
            await killed.aclose()
    ray.shutdown()
    exact = sorted(ids) == [it.id for it in items(args.kill_rows)]
    print(f"worker killed mid-run: {len(set(ids))}/{args.kill_rows} rows, duplicates "
          f"{len(ids) - len(set(ids))}, lost workers {stats.lost_workers}, retried "
          f"{stats.retried}  ({'all present exactly once' if exact else 'MISMATCH'})")
    for line in stats.lines():
        print(f"  {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=240)
    parser.add_argument("--kill-rows", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(parser.parse_args(), Path(tmp)))
