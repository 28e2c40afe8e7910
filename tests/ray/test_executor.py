"""The Ray executor on a real local cluster: a worker killed mid-run, and a rate limit
held across two workers by the limiter actor."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from sounding.config import ExecutorSettings
from sounding.eval.judges import ExactMatchJudge, build_judge
from sounding.eval.rows import read_rows
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.executors import start_executor
from sounding.executors.ray_executor import RayExecutor

from ..eval.helpers import make_items
from ._factories import ProbeFactory

RAY = ExecutorSettings(kind="ray", workers=2, worker_concurrency=4, max_retries=2)


def manifest(n: int, k: int) -> dict:  # type: ignore[type-arg]
    return build_manifest(dataset=Path("set.jsonl"), dataset_sha256="abc", fmt="generic",
                          judge=build_judge("exact"), agent={"mode": "react", "model": "m"},
                          rollouts=k, limit=None, item_ids=[f"q{i:03d}" for i in range(n)])


async def test_a_killed_worker_loses_only_its_in_flight_rollouts(ray_cluster: str,
                                                                 tmp_path: Path) -> None:
    items = make_items(40)
    executor = await start_executor(ProbeFactory(latency=0.1), RAY, concurrency=8)
    assert isinstance(executor, RayExecutor)
    victim = executor.worker_handles()[0]
    pid = await victim.pid.remote()

    async def kill_when_busy() -> None:
        # Once the victim has finished some rollouts and has others in flight, it dies
        # (waiting on the victim's own count: on a loaded machine the other may do all).
        while not (executor.stats().workers[0].in_flight
                   and executor.stats().workers[0].done >= 2):
            await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)

    killer = asyncio.create_task(kill_when_busy())
    try:
        outcome = await run_eval(items, manifest(40, 2), judge=ExactMatchJudge(),
                                 config=RunConfig(tmp_path, rollouts=2,
                                                  concurrency=executor.concurrency),
                                 rollout=executor.rollout)
        stats = executor.stats()
    finally:
        killer.cancel()
        await executor.aclose()
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    keys = [(json.loads(x)["item_id"], json.loads(x)["rollout"]) for x in lines]
    assert sorted(keys) == sorted((f"q{i:03d}", r) for i in range(40) for r in range(2))
    assert all(json.loads(x)["status"] == "ok" for x in lines)  # retried, not failed
    assert outcome.rows_written == 80
    assert stats.lost_workers == 1 and stats.retried >= 1
    assert not stats.workers[0].alive and len(stats.workers) == 3  # a replacement started
    pids = {json.loads(r.answer or "{}")["pid"] for r in read_rows(tmp_path).values()}
    assert pid in pids and len(pids) >= 2


async def test_a_rate_limit_holds_across_two_workers(ray_cluster: str) -> None:
    rate, calls = 20.0, 5
    settings = ExecutorSettings(kind="ray", workers=2, worker_concurrency=4)
    executor = await start_executor(ProbeFactory(latency=0.0, calls=calls), settings,
                                    concurrency=8, rates={"probe": rate},
                                    provider_concurrency=3)
    try:
        trajs = await asyncio.gather(*(executor.rollout(it, 0) for it in make_items(8)))
    finally:
        await executor.aclose()
    runs = [json.loads(t.answer or "{}") for t in trajs]
    assert len({r["pid"] for r in runs}) == 2  # both workers took part
    stamps = sorted(s for r in runs for s in r["stamps"])
    assert len(stamps) == 8 * calls
    # 40 requests spaced 1/rate apart need (n-1)/rate seconds, whoever sends them; two
    # per-worker limits would have let them through in about half that.
    span = stamps[-1] - stamps[0]
    # (Only a lower bound: the workers stamp after the grant returns, so on a loaded
    # machine two stamps can land close together although their grants were spaced.)
    assert span >= (len(stamps) - 1) / rate * 0.95


async def test_without_ray_the_local_executor_runs_in_process(tmp_path: Path) -> None:
    executor = await start_executor(ProbeFactory(latency=0.0), ExecutorSettings(),
                                    concurrency=3)
    try:
        traj = await executor.rollout(make_items(1)[0], 0)
    finally:
        await executor.aclose()
    assert json.loads(traj.answer or "{}")["pid"] == os.getpid()
    assert executor.concurrency == 3 and executor.stats().done == 1


@pytest.mark.parametrize("bad", ["redis", "ray:"])
def test_a_bad_limiter_spec_is_a_config_error(bad: str) -> None:
    from sounding.errors import ConfigError
    from sounding.providers.shared_limits import shared_gate

    with pytest.raises(ConfigError):
        shared_gate(bad, "probe")


async def test_retries_are_bounded_and_a_replacement_takes_over(ray_cluster: str) -> None:
    from sounding.errors import WorkerLostError

    settings = ExecutorSettings(kind="ray", workers=1, worker_concurrency=2, max_retries=0)
    executor = await start_executor(ProbeFactory(slow_item="q000"), settings,
                                    concurrency=2)
    assert isinstance(executor, RayExecutor)
    try:
        pid = await executor.worker_handles()[0].pid.remote()
        doomed = asyncio.create_task(executor.rollout(make_items(1)[0], 0))
        while not executor.stats().workers[0].in_flight:
            await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerLostError, match="lost with its worker 1 times"):
            await doomed
        stats = executor.stats()
        assert stats.lost_workers == 1 and stats.retried == 0
        traj = await asyncio.wait_for(executor.rollout(make_items(2)[1], 0), 60)
    finally:
        await executor.aclose()
    assert json.loads(traj.answer or "{}")["pid"] != pid  # the replacement ran it
    assert "workers 1/2" in executor.stats().summary()


def test_the_executor_section_of_sounding_toml(tmp_path: Path) -> None:
    from sounding.config import load_settings
    from sounding.errors import ConfigError

    toml = tmp_path / "sounding.toml"
    toml.write_text('[executor]\nkind = "ray"\nworkers = 3\nworker_concurrency = 16\n')
    settings = load_settings({"executor.ray_address": "10.0.0.1:6379"}, config_file=toml,
                             environ={})
    assert settings.executor == ExecutorSettings(kind="ray", ray_address="10.0.0.1:6379",
                                                 workers=3, worker_concurrency=16)
    with pytest.raises(ConfigError, match="local, ray"):
        load_settings({"executor.kind": "spark"}, config_file=toml, environ={})
