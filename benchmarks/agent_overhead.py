"""Agent runtime overhead and concurrency; offline search latency.

    .venv/bin/python benchmarks/agent_overhead.py [--runs 200] [--rounds 10] [--latency 0.2]

Prints:
1. runtime overhead per round (model and tool time excluded), median and p90, over a
   50-round ReAct run with an instant in-process model and instant tools (target < 5 ms),
   and of that the part spent on run events and the recorder: the run's events replayed
   through a fresh Recorder and an asyncio queue, per round (target < 0.2 ms);
2. wall time of one 10-round `arun` against a scripted HTTP server with a fixed latency
   per call, then of 200 such runs concurrently in one process, and their ratio
   (target < 1.5: no hidden serialisation). The scripted server runs in its own
   process, as a real model server would, so that its JSON work does not compete
   for this process's GIL (`--server-in-process` measures the other arrangement);
3. offline search p50/p90 latency on the embedded vital-articles corpus (target < 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

from sounding.agent import arun, run_events
from sounding.config import Settings, load_settings
from sounding.corpus.environment import open_corpus
from sounding.env import Environment
from sounding.env.offline import offline_environment
from sounding.llm.openai_client import OpenAIChatModel
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.tools.base import ToolContext, ToolOutput
from sounding.tools.search import SEARCH_SCHEMA
from sounding.trace.events import RoundStarted, RunEvent, RunFinished
from sounding.trace.recorder import Recorder
from sounding.types import JSON

QUERIES = ["Eiffel Tower engineer", "capital of Australia", "photosynthesis chlorophyll",
           "Roman Empire fall", "quantum mechanics Heisenberg", "Amazon river length",
           "Beethoven symphony", "printing press Gutenberg", "Mount Everest height",
           "penicillin discovery"]


def turn(i: int) -> str:
    body = {"name": "search", "arguments": {"query": [QUERIES[i % len(QUERIES)]]}}
    return f"<think>step {i}</think>\n<tool_call>\n{json.dumps(body)}\n</tool_call>"


class InstantSearch:
    schema = SEARCH_SCHEMA

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        return ToolOutput("1. [Title](https://example.org)\nsnippet " * 20)


async def overhead(settings: Settings,
                   rounds: int = 50) -> tuple[float, float, list[RunEvent]]:
    """Per-round runtime overhead (median, p90, ms) and the run's events."""
    model = ScriptedModel([turn(i) for i in range(rounds)] + ["<answer>x</answer>"])
    env = Environment("bench", {"search": InstantSearch()})
    marks: list[float] = []
    events: list[RunEvent] = []
    async for event in run_events("q", settings, model=model, environment=env):
        if isinstance(event, RoundStarted | RunFinished) and event.branch is None:
            marks.append(time.perf_counter())
        events.append(event)
    last = events[-1]
    assert isinstance(last, RunFinished)
    traj = last.trajectory
    spans = [b - a for a, b in itertools.pairwise(marks)]
    model_time = [c.latency_s for c in traj.model_calls]
    tool_time = [t.latency_s for t in traj.tool_calls] + [0.0]
    per_round = sorted((s - m - t) * 1000 for s, m, t in zip(spans, model_time, tool_time,
                                                              strict=False))
    return statistics.median(per_round), per_round[int(len(per_round) * 0.9)], events


async def events_cost(events: list[RunEvent], rounds: int, repeat: int = 200) -> float:
    """Milliseconds per round that events cost: each one recorded and passed through a
    queue to a consumer, as `run_events` does."""
    started = time.perf_counter()
    for _ in range(repeat):
        recorder = Recorder()
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        for event in events:
            recorder(event)
            queue.put_nowait(event)
            await queue.get()
    return (time.perf_counter() - started) * 1000 / repeat / rounds


class ScriptedTurns:
    """Search for `rounds - 1` turns, then answer (picklable, for a server process)."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def __call__(self, body: dict[str, object]) -> str:
        messages = body["messages"]
        assert isinstance(messages, list)
        done = sum(1 for m in messages if m["role"] == "assistant")
        return turn(done) if done < self.rounds - 1 else "<answer>done</answer>"


def _serve(rounds: int, latency: float, urls: Queue[str], stop: Event) -> None:
    with ScriptedServer.repeat(ScriptedTurns(rounds), latency=latency) as server:
        urls.put(server.base_url)
        stop.wait()


@contextlib.contextmanager
def model_process(rounds: int, latency: float) -> Iterator[tuple[str, int]]:
    """A ScriptedServer in a child process; yields its base URL and process id."""
    ctx = multiprocessing.get_context("spawn")
    urls: Queue[str] = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(rounds, latency, urls, stop), daemon=True)
    proc.start()
    try:
        assert proc.pid is not None
        yield urls.get(timeout=60), proc.pid
    finally:
        stop.set()
        proc.join(timeout=10)


@contextlib.contextmanager
def server_process(rounds: int, latency: float) -> Iterator[str]:
    """A ScriptedServer in a child process; yields its base URL."""
    with model_process(rounds, latency) as (url, _pid):
        yield url


@contextlib.contextmanager
def server_thread(rounds: int, latency: float) -> Iterator[str]:
    with ScriptedServer.repeat(ScriptedTurns(rounds), latency=latency) as server:
        yield server.base_url


async def concurrent(settings: Settings, runs: int) -> tuple[float, float]:
    """Wall seconds of `runs` concurrent runs, and this process's CPU seconds for them."""
    model = OpenAIChatModel(settings.llm)
    env = offline_environment(settings, summary_model=None)
    started, cpu = time.perf_counter(), time.process_time()
    trajs = await asyncio.gather(*(arun(f"question {i}", settings, model=model, environment=env)
                                   for i in range(runs)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await env.aclose()
    await model.aclose()
    bad = [t for t in trajs if t.termination != "answer"]
    if bad:
        raise SystemExit(f"{len(bad)} runs did not finish with an answer: {bad[0].error}")
    return elapsed, cpu


def search_latency(settings: Settings, n: int = 2000) -> tuple[float, float]:
    corpus = open_corpus(settings)
    for q in QUERIES:
        corpus.search(q, 10)
    times = []
    for i in range(n):
        q = QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i % 97}")
        t = time.perf_counter()
        corpus.search(q, 10)
        times.append((time.perf_counter() - t) * 1000)
    corpus.close()
    times.sort()
    return statistics.median(times), times[int(n * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--server-in-process", action="store_true",
                        help="run the scripted server on a thread of this process")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the corpus index lives (default: a temporary directory)")
    args = parser.parse_args()
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="sounding-bench-"))
    base = {"llm.model": "scripted", "cache_dir": cache, "llm.max_retries": 0}

    settings = load_settings({**base, "llm.base_url": "http://127.0.0.1:9/v1"}, environ={})
    med, p90, events = asyncio.run(overhead(settings))
    print(f"runtime overhead per round: median {med:.3f} ms, p90 {p90:.3f} ms (target < 5 ms)")
    cost = asyncio.run(events_cost(events, rounds=50))
    print(f"events + recorder per round: {cost:.4f} ms ({len(events)} events in 51 rounds; "
          "target < 0.2 ms)")

    serve = server_thread if args.server_in_process else server_process
    with serve(args.rounds, args.latency) as base_url:
        s = load_settings({**base, "llm.base_url": base_url}, environ={})
        open_corpus(s).close()  # build the index before timing
        one, _ = asyncio.run(concurrent(s, 1))
        many, cpu = asyncio.run(concurrent(s, args.runs))
    where = "this process" if args.server_in_process else "its own process"
    print(f"scripted server in {where}, {args.latency * 1000:.0f} ms per call")
    print(f"1 run x {args.rounds} rounds: {one:.2f} s")
    print(f"{args.runs} concurrent runs x {args.rounds} rounds: {many:.2f} s")
    print(f"concurrency ratio: {many / one:.2f} (target < 1.5); CPU of this process for the "
          f"{args.runs} runs: {cpu:.2f} s ({cpu / args.runs / args.rounds * 1000:.2f} ms per "
          f"round); load average {os.getloadavg()[0]:.2f}")

    p50, p90s = search_latency(settings)
    print(f"offline search latency: p50 {p50:.3f} ms, p90 {p90s:.3f} ms (target p50 < 5 ms)")


if __name__ == "__main__":
    main()
