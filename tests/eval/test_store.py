"""The run directory kept tidy: merge is idempotent, orphan trajectories are compacted away,
and the judge's cost is priced and reported apart from the agent's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sounding.errors import ConfigError
from sounding.eval.costs import Price, Prices
from sounding.eval.datasets import Item
from sounding.eval.judges import ExactMatchJudge, Verdict
from sounding.eval.runner import RunConfig, run_eval, select_items
from sounding.eval.store import Shard, merge_runs, read_manifest
from sounding.trace import Trajectory
from sounding.types import Usage

from .helpers import make_items, trajectory
from .test_runner import Agent, lines, manifest


def trajectory_ids(path: Path) -> list[str]:
    return [json.loads(x)["id"] for x in path.read_text().splitlines()]


def referenced(run_dir: Path) -> set[str]:
    return {r["trajectory_id"] for r in lines(run_dir / "results.jsonl") if r["trajectory_id"]}


async def shards(items: list[Item], dirs: list[Path]) -> None:
    for i, d in enumerate(dirs):
        shard = Shard(i, len(dirs))
        await run_eval(select_items(items, None, shard), manifest(items, k=2),
                       config=RunConfig(d, rollouts=2, shard=shard, fsync=False),
                       rollout=Agent(), judge=ExactMatchJudge())


async def test_merge_into_another_directory_twice_is_idempotent(tmp_path: Path) -> None:
    items = make_items(7)
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    await shards(items, [a, b])
    assert merge_runs([a, b], out) == 14
    first = ((out / "results.jsonl").read_text(), (out / "trajectories.jsonl").read_text())
    assert merge_runs([a, b], out) == 14
    assert merge_runs([out, a, b], out) == 14  # the target among the sources, too
    ids = trajectory_ids(out / "trajectories.jsonl")
    assert len(ids) == 14 and set(ids) == referenced(out)
    assert ((out / "results.jsonl").read_text(),
            (out / "trajectories.jsonl").read_text()) == first
    assert (a / "results.shard-0-of-2.jsonl").is_file()  # sources elsewhere are left alone


async def test_merge_in_place_twice_is_idempotent(tmp_path: Path) -> None:
    items = make_items(5)
    await shards(items, [tmp_path, tmp_path, tmp_path])
    assert merge_runs([tmp_path], tmp_path) == 10
    assert merge_runs([tmp_path], tmp_path) == 10
    ids = trajectory_ids(tmp_path / "trajectories.jsonl")
    assert len(ids) == 10 and set(ids) == referenced(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.merged")) == sorted(
        f"{kind}.shard-{i}-of-3.jsonl.merged" for kind in ("results", "trajectories")
        for i in range(3))


async def test_failed_attempts_leave_no_orphan_trajectories(tmp_path: Path) -> None:
    items = make_items(4)
    seen: set[tuple[str, int]] = set()

    async def flaky(item: Item, r: int) -> Trajectory:
        first = (item.id, r) not in seen
        seen.add((item.id, r))
        t = trajectory(item, item.answer)
        if item.id == "q001" and first:
            t.termination = "error"  # stored with its error row, replaced on resume
        return t

    cfg = RunConfig(tmp_path, rollouts=2, concurrency=2, fsync=False)
    await run_eval(items, manifest(items, k=2), config=cfg, rollout=flaky,
                   judge=ExactMatchJudge())
    assert len(trajectory_ids(tmp_path / "trajectories.jsonl")) == 8
    stray = trajectory(items[0], "cut off").to_json()  # a rollout in flight at a crash
    with (tmp_path / "trajectories.jsonl").open("a") as fh:
        fh.write(stray + "\n" + stray + "\n" + stray[:50])
    out = await run_eval(items, manifest(items, k=2), config=cfg, rollout=flaky,
                         judge=ExactMatchJudge())
    assert out.rows_written == 2 and out.metrics["complete"]
    ids = trajectory_ids(tmp_path / "trajectories.jsonl")
    assert len(ids) == 8 and set(ids) == referenced(tmp_path)


class PricedJudge:
    """Exact match that reports judge-model usage, like an LLM grader would."""

    name, model = "exact", "judge-m"

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        v = await ExactMatchJudge().grade(question, gold, predicted)
        return Verdict(v.correct, v.grade, v.score, usage=Usage(2000, 500))


async def test_judge_cost_is_priced_and_reported_apart(tmp_path: Path) -> None:
    items = make_items(4)
    prices = Prices({"agent-model": Price(1.0, 2.0)})  # 100 in, 10 out: 0.00012 per rollout
    run = await run_eval(items, manifest(items, k=1), config=RunConfig(
        tmp_path / "a", rollouts=1, prices=prices, fsync=False), rollout=Agent(),
        judge=PricedJudge())
    m = run.metrics
    assert m["agent_cost"] == 0.00048 and m["judge_cost"] is None
    assert m["cost"] == 0.00048 and m["unpriced"] == ["judge"]
    priced = prices.with_price("judge-m", Price(0.5, 4.0))  # 2000 in, 500 out: 0.003
    run = await run_eval(items, manifest(items, k=1), config=RunConfig(
        tmp_path / "b", rollouts=1, prices=priced, fsync=False), rollout=Agent(),
        judge=PricedJudge())
    m = run.metrics
    assert m["judge_cost"] == 0.012 and m["agent_cost"] == 0.00048
    assert m["cost"] == 0.01248 and m["unpriced"] == []
    row = lines(tmp_path / "b" / "results.jsonl")[0]
    assert row["cost"] == 0.00012 and row["judge_cost"] == 0.003


def test_a_corrupt_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"version": 1,', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"manifest\.json is not valid JSON.*--out"):
        read_manifest(tmp_path)


def test_stray_lines_in_results_are_skipped(tmp_path: Path) -> None:
    from sounding.eval.rows import ResultRow, iter_rows

    path = tmp_path / "results.jsonl"
    good = ResultRow(item_id="q1", rollout=0, status="ok", answer="x", correct=True)
    path.write_text("[1, 2]\n\"text\"\n{\"no\": \"key\"}\n" + json.dumps(good.to_dict()) + "\n",
                    encoding="utf-8")
    rows = list(iter_rows(path))
    assert [(r.item_id, r.rollout, r.correct) for r in rows] == [("q1", 0, True)]


def test_a_partly_priced_run_says_so() -> None:
    from sounding.eval.metrics import compute_metrics
    from sounding.eval.rows import ResultRow

    rows = [ResultRow(item_id=f"q{i}", rollout=0, status="ok", answer="a", correct=True,
                      cost=0.5 if i else None) for i in range(4)]
    m = compute_metrics(rows, k=1)
    assert m["agent_cost"] == 1.5
    assert m["unpriced"] == ["agent (1 of 4 rows)"]
