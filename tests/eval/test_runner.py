"""The runner: concurrency, atomic rows, a killed run resumed without duplicates, retries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sounding.errors import ConfigError, LLMResponseError
from sounding.eval.datasets import Item
from sounding.eval.judges import ExactMatchJudge, Verdict, build_judge
from sounding.eval.rows import read_rows
from sounding.eval.runner import RunConfig, build_manifest, run_eval, select_items
from sounding.eval.store import Shard, merge_runs
from sounding.trace import Trajectory

from .helpers import make_items, trajectory


def manifest(items: list[Item], judge: str = "exact", k: int = 3) -> dict:  # type: ignore[type-arg]
    return build_manifest(dataset=Path("set.jsonl"), dataset_sha256="abc", fmt="generic",
                          judge=build_judge(judge), agent={"mode": "react", "model": "m"},
                          rollouts=k, limit=None, item_ids=[i.id for i in items])


class Agent:
    """A rollout that answers even items correctly; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, item: Item, r: int) -> Trajectory:
        self.calls.append((item.id, r))
        n = int(item.id[1:])
        return trajectory(item, item.answer if n % 2 == 0 else "wrong",
                          tools={"search": n % 3, "visit": 1})


def lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in path.read_text().splitlines()]


async def test_run_writes_rows_trajectories_and_metrics(tmp_path: Path) -> None:
    items = make_items(10)
    agent = Agent()
    out = await run_eval(items, manifest(items), config=RunConfig(tmp_path, rollouts=3,
                         concurrency=4), rollout=agent, judge=ExactMatchJudge())
    assert out.rows_written == 30 and len(agent.calls) == 30
    rows = lines(tmp_path / "results.jsonl")
    assert len(rows) == 30 and len({(r["item_id"], r["rollout"]) for r in rows}) == 30
    trajs = {json.loads(x)["id"] for x in (tmp_path / "trajectories.jsonl").read_text()
             .splitlines()}
    assert {r["trajectory_id"] for r in rows} == trajs
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["avg_at_k"] == 0.5 and m["pass_at_k"] == 0.5 and m["complete"]
    assert m["tool_calls_per_rollout"]["visit"] == 1.0
    assert m["prompt_tokens"]["total"] == 3000.0


async def test_killed_run_resumes_without_duplicates(tmp_path: Path) -> None:
    items = make_items(20)
    started, blocked = 0, asyncio.Event()
    never = asyncio.Event()

    async def dying(item: Item, r: int) -> Trajectory:
        nonlocal started
        started += 1
        if started > 12:  # from here on rollouts hang until the run is killed
            blocked.set()
            await never.wait()
        return trajectory(item, item.answer)

    cfg = RunConfig(tmp_path, rollouts=3, concurrency=4)
    task = asyncio.create_task(run_eval(items, manifest(items), config=cfg, rollout=dying,
                                        judge=ExactMatchJudge()))
    await blocked.wait()
    await asyncio.sleep(0)  # let finished rollouts hand their rows to the writer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = lines(tmp_path / "results.jsonl")
    assert 1 <= len(kept) <= 12
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"item_id": "q000", "rollout": 2, "sta')  # a crash in mid-write
    agent = Agent()
    out = await run_eval(items, manifest(items), config=cfg, rollout=agent,
                         judge=ExactMatchJudge())
    assert len(agent.calls) == 60 - len(kept)
    assert not {(r["item_id"], r["rollout"]) for r in kept} & set(agent.calls)
    rows = lines(tmp_path / "results.jsonl")
    assert len(rows) == 60 and len({(r["item_id"], r["rollout"]) for r in rows}) == 60
    assert out.metrics["complete"] is True


class FlakyJudge:
    """Fails the first time it grades `bad_id`'s answer; exact match otherwise."""

    name, model, prompt_sha256 = "exact", "", None

    def __init__(self, bad: str) -> None:
        self.bad, self.calls, self.failed = bad, 0, False

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        self.calls += 1
        if gold == self.bad and not self.failed:
            self.failed = True
            raise LLMResponseError("judge said nothing useful")
        return await ExactMatchJudge().grade(question, gold, predicted)


async def test_failures_count_wrong_and_are_retried(tmp_path: Path) -> None:
    items = make_items(4)
    attempts: list[str] = []
    history: list[str] = []

    async def flaky(item: Item, r: int) -> Trajectory:
        attempts.append(item.id)
        history.append(item.id)
        if item.id == "q001" and history.count("q001") == 1:
            raise RuntimeError("endpoint exploded")
        if item.id == "q003" and history.count("q003") == 1:
            t = trajectory(item, None)
            t.termination = "error"
            return t
        return trajectory(item, item.answer)

    cfg = RunConfig(tmp_path, rollouts=1, concurrency=2)
    judge = FlakyJudge("answer 2")
    first = await run_eval(items, manifest(items, k=1), config=cfg, rollout=flaky, judge=judge)
    assert first.metrics["rows_failed"] == {"error": 2, "judge_error": 1}
    # The published rule: 3 of 4 rows failed, so 1 of 4 is right; judged-only says 1.0.
    assert first.metrics["avg_at_k"] == 0.25 and first.metrics["complete"] is False
    assert first.metrics["judged_only"]["avg_at_k"] == 1.0  # type: ignore[index]
    rows = read_rows(tmp_path)
    assert "endpoint exploded" in str(rows[("q001", 0)].error)
    assert "Traceback" in str(rows[("q001", 0)].error)
    assert rows[("q002", 0)].status == "judge_error" and rows[("q002", 0)].answer == "answer 2"
    attempts.clear()
    second = await run_eval(items, manifest(items, k=1), config=cfg, rollout=flaky,
                            judge=judge)
    assert sorted(attempts) == ["q001", "q003"]  # q002 is re-judged, not re-run
    assert second.metrics["complete"] is True
    assert second.metrics["avg_at_k"] == 1.0
    rows = read_rows(tmp_path)
    assert rows[("q002", 0)].attempt == 2 and rows[("q002", 0)].status == "ok"
    assert len(lines(tmp_path / "results.jsonl")) == 4  # compacted


async def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    items = make_items(2)
    cfg = RunConfig(tmp_path, rollouts=1)
    await run_eval(items, manifest(items, k=1), config=cfg, rollout=Agent(),
                   judge=ExactMatchJudge())
    with pytest.raises(ConfigError, match="judge: exact -> f1"):
        await run_eval(items, manifest(items, judge="f1", k=1), config=cfg, rollout=Agent(),
                       judge=build_judge("f1"))
    other = manifest(items, k=1)
    other["agent"] = {"mode": "iter", "model": "m"}
    other["judge_prompt_sha256"] = "0" * 64
    with pytest.raises(ConfigError) as caught:
        await run_eval(items, other, config=cfg, rollout=Agent(), judge=ExactMatchJudge())
    lines = str(caught.value).splitlines()  # one line per differing key, nested keys dotted
    assert "  agent.mode: react -> iter" in lines
    assert f"  judge_prompt_sha256: (none) -> {'0' * 64}" in lines


async def test_concurrency_is_bounded_and_reached(tmp_path: Path) -> None:
    items = make_items(12)
    in_flight, peak, full = 0, 0, asyncio.Event()

    async def gated(item: Item, r: int) -> Trajectory:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            full.set()
        await full.wait()
        await asyncio.sleep(0)
        in_flight -= 1
        return trajectory(item, item.answer)

    await run_eval(items, manifest(items, k=1), config=RunConfig(tmp_path, rollouts=1,
                   concurrency=3), rollout=gated, judge=ExactMatchJudge())
    assert peak == 3


async def test_shards_then_merge(tmp_path: Path) -> None:
    items = make_items(7)
    for i in range(2):
        shard = Shard(i, 2)
        part = select_items(items, None, shard)
        await run_eval(part, manifest(items, k=2), config=RunConfig(tmp_path, rollouts=2,
                       shard=shard), rollout=Agent(), judge=ExactMatchJudge())
    assert (tmp_path / "results.shard-0-of-2.jsonl").is_file()
    assert len(lines(tmp_path / "results.shard-1-of-2.jsonl")) == 6
    assert merge_runs([tmp_path], tmp_path) == 14
    assert len(lines(tmp_path / "results.jsonl")) == 14
    assert len((tmp_path / "trajectories.jsonl").read_text().splitlines()) == 14
    assert not list(tmp_path.glob("results.shard-*.jsonl"))
    with pytest.raises(ConfigError, match="--shard"):
        Shard.parse("2/2")
