"""`sounding synth trajectories` on a real local Ray cluster: the same kept items as the
local executor, a worker killed mid-run loses nothing, a killed driver resumes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import sys
from pathlib import Path

from sounding.config import ExecutorSettings, Settings, load_settings
from sounding.executors import start_executor
from sounding.executors.ray_executor import RayExecutor
from sounding.llm.testing import ScriptedServer
from sounding.synth.stage import read_jsonl
from sounding.synth.trajectories import SampleConfig, SynthRolloutFactory, run_trajectories

from ..eval.test_e2e import answer_from, corpus
from ..eval.test_kill import clean_env, kill_when, rerun, start

RAY = ExecutorSettings(kind="ray", workers=2, worker_concurrency=2, max_retries=2)
CFG = SampleConfig(k=2, modes=("react",), min_tool_calls=0, concurrency=4)


def write_items(tmp: Path, n: int) -> Path:
    """Questions about item i; the scripted agent answers even ones right, odd ones wrong."""
    path = tmp / "items.jsonl"
    path.write_text("".join(json.dumps({"key": f"s{i:02d}", "question": f"What is item {i}?",
                                        "answer": f"answer {i}"}) + "\n" for i in range(n)))
    return path


def reply(body: dict) -> str:  # type: ignore[type-arg]
    return answer_from(str(next(m for m in body["messages"] if m["role"] == "user")["content"]))


def asked(request: dict) -> str:  # type: ignore[type-arg]
    """The item key a model request is about."""
    user = next(m for m in request["messages"] if m["role"] == "user")
    number = re.search(r"item (\d+)", str(user["content"]))
    assert number is not None
    return f"s{int(number.group(1)):02d}"


def settings_for(server: ScriptedServer, tmp: Path) -> Settings:
    return load_settings({"llm.base_url": server.base_url, "llm.model": "scripted",
                          "corpus": corpus(tmp), "cache_dir": tmp / "cache"}, environ={})


def outcome(out: Path) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Rejected keys, and per kept item what was decided (trajectory ids and timings differ
    between runs): pass rates, rejections, and mode, check, bucket, answer of each run."""
    kept = {str(r["key"]): r for r in read_jsonl(out / "items.jsonl")}
    rejected = [str(r["key"]) for r in read_jsonl(out / "rejected.jsonl")]
    assert not set(kept) & set(rejected)
    decided = {key: (json.dumps(row["pass_rate"]), json.dumps(row["rejections"]),
                     *sorted(json.dumps([a["mode"], a["accepted_by"], a["bucket"],
                                         a["trajectory"]["answer"]])
                             for a in row["accepted"]))
               for key, row in kept.items()}
    return sorted(rejected), decided


async def sample(settings: Settings, executor_settings: ExecutorSettings, items: Path,
                 out: Path, kill_one: bool = False) -> RayExecutor[object] | None:
    executor = await start_executor(SynthRolloutFactory(settings), executor_settings,
                                    concurrency=CFG.concurrency)
    killer = asyncio.create_task(_kill_busy(executor)) if kill_one else None
    try:
        await run_trajectories(items, out, settings, rollout=executor.rollout,
                               config=dataclasses.replace(CFG,
                                                          concurrency=executor.concurrency))
    finally:
        if killer is not None:
            killer.cancel()
        await executor.aclose()
    return executor if isinstance(executor, RayExecutor) else None


async def _kill_busy(executor: object) -> None:
    assert isinstance(executor, RayExecutor)
    victim = executor.stats().workers[0]
    pid = await executor.worker_handles()[0].pid.remote()
    while not (victim.in_flight and victim.done >= 2):
        await asyncio.sleep(0.01)
    os.kill(pid, signal.SIGKILL)


async def test_ray_keeps_what_the_local_executor_keeps(ray_cluster: str,
                                                       tmp_path: Path) -> None:
    items = write_items(tmp_path, 8)
    with ScriptedServer.cycle([reply], latency=0.02) as server:
        settings = settings_for(server, tmp_path)
        await sample(settings, ExecutorSettings(), items, tmp_path / "local")
        local_requests = len(server.requests)
        ray = await sample(settings, RAY, items, tmp_path / "ray")
    assert ray is not None and ray.stats().done == 8 * CFG.k
    assert all(w.done for w in ray.stats().workers)  # both workers ran rollouts
    assert len(server.requests) == 2 * local_requests == 2 * 8 * CFG.k
    rejected, kept = outcome(tmp_path / "local")
    assert (rejected, kept) == outcome(tmp_path / "ray")
    assert rejected == [f"s{i:02d}" for i in range(1, 8, 2)]
    assert sorted(kept) == [f"s{i:02d}" for i in range(0, 8, 2)]


async def test_a_killed_worker_loses_no_item(ray_cluster: str, tmp_path: Path) -> None:
    items = write_items(tmp_path, 12)
    with ScriptedServer.cycle([reply], latency=0.1) as server:
        ray = await sample(settings_for(server, tmp_path), RAY, items, tmp_path / "t",
                           kill_one=True)
    assert ray is not None
    stats = ray.stats()
    assert stats.lost_workers == 1 and stats.retried >= 1 and not stats.workers[0].alive
    rejected, kept = outcome(tmp_path / "t")
    assert rejected == [f"s{i:02d}" for i in range(1, 12, 2)]
    assert sorted(kept) == [f"s{i:02d}" for i in range(0, 12, 2)]
    assert all(json.loads(v[0]) == {"react": 1.0} and len(v) == 2 + CFG.k  # no run lost
               for v in kept.values())


def test_driver_killed_then_restarted_gives_every_item_once(ray_cluster: str,
                                                            tmp_path: Path) -> None:
    n, out = 12, tmp_path / "t"
    items = write_items(tmp_path, n)
    env = clean_env(tmp_path)

    def done() -> list[str]:
        return [str(r["key"]) for name in ("items.jsonl", "rejected.jsonl")
                for r in read_jsonl(out / name)]

    with ScriptedServer.cycle([reply], latency=0.25) as server:
        cmd = [sys.executable, "-m", "sounding", "synth", "trajectories", str(items),
               "--out", str(out), "--k", "2", "--modes", "react", "--min-tool-calls", "0",
               "--base-url", server.base_url, "--model", "scripted",
               "--corpus", str(corpus(tmp_path)), "--executor", "ray", "--ray-address",
               ray_cluster, "--workers", "2", "--worker-concurrency", "2"]
        proc = start(cmd, env, tmp_path)
        # Some items written and later ones asked for: those die in flight.
        kill_when(proc, lambda: len(d := done()) >= 2 and any(
            asked(r) not in d for r in server.requests), "first items", timeout=60)
        first = done()
        assert 2 <= len(first) < n
        again, before = rerun(server, cmd, env, tmp_path, timeout=120)
        resumed = [asked(r) for r in server.requests[before:]]
    assert "worker-1:" in again.stderr and "worker-2:" in again.stderr
    assert not set(first) & set(resumed)  # finished items were not sampled again
    assert sorted(resumed) == sorted(k for k in (f"s{i:02d}" for i in range(n))
                                     if k not in first for _ in range(2))
    final = done()
    assert sorted(final) == [f"s{i:02d}" for i in range(n)]  # each item exactly once
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["counts"]["kept"] == n // 2
