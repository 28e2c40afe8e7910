"""The eval runner: K rollouts per question, judged, appended to disk as they finish.

Concurrency is a fixed pool of workers (no task per row is created up front, so
memory stays flat however long the run). Rollouts share one model client and one
Environment (the rollout callable holds them). A resumed run skips judged rows,
re-judges rows whose judge failed (without a new rollout) and reruns failed rollouts.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from ..errors import SoundingError
from ..trace.trajectory import RunError, Trajectory
from ..types import JSONObject, Usage
from .costs import Prices
from .datasets.base import Item
from .judges import Judge, Verdict, gaia_score, grade_answer
from .metrics import compute_metrics
from .progress import NullProgress, Progress, Tally
from .rows import ResultRow, read_rows, skipped_lines
from .store import RunStore, Shard, check_manifest, read_manifest, write_json

__all__ = [
    "Rollout",
    "RunConfig",
    "RunOutcome",
    "Runner",
    "build_manifest",
    "item_category",
    "rollout_seed",
    "run_eval",
    "select_items",
    "write_metrics",
]

_J = TypeVar("_J")

Rollout = Callable[[Item, int], Awaitable[Trajectory]]
"""Runs the agent once on an item (rollout index given) and returns its trajectory."""


@dataclass(frozen=True)
class RunConfig:
    """How to run an eval; the dataset and agent identity go into the manifest."""

    out: Path
    rollouts: int = 3
    concurrency: int = 8
    limit: int | None = None
    shard: Shard | None = None
    prices: Prices = field(default_factory=Prices)
    fsync: bool = True
    """fsync after every row (a crash then loses only rows in flight)."""
    gaia_scorer: bool = False
    """Record GAIA's own scorer beside the judge's verdict on every row."""


@dataclass
class RunOutcome:
    rows_written: int
    metrics: JSONObject
    interrupted: bool = False
    skipped_lines: int = 0
    """Unreadable lines of the results file skipped on resume (their rows were rerun)."""


def now() -> str:
    return datetime.now(UTC).isoformat()


def rollout_seed(item_id: str, rollout: int, base: int = 0) -> int:
    """A sampling seed that differs per rollout and is the same on every rerun."""
    digest = hashlib.sha256(f"{base}:{item_id}:{rollout}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def select_items(items: Sequence[Item], limit: int | None, shard: Shard | None) -> list[Item]:
    """The first `limit` items, then (for a shard) every count-th of them."""
    chosen = list(items[:limit] if limit is not None else items)
    if shard is not None:
        chosen = [it for i, it in enumerate(chosen) if i % shard.count == shard.index]
    return chosen


def build_manifest(*, dataset: Path, dataset_sha256: str, fmt: str, judge: Judge,
                   agent: JSONObject, rollouts: int, limit: int | None,
                   item_ids: Sequence[str], text_only: bool = False,
                   extra: JSONObject | None = None) -> JSONObject:
    """The run's identity (compared on resume) plus what was asked for.

    `extra` adds facts for the report (subset, release, published judge model,
    comparability, whether the agent was asked for a confidence).
    """
    return {
        "version": 2,
        "dataset": str(dataset.resolve()),
        "dataset_sha256": dataset_sha256,
        "format": fmt,
        "judge": judge.name,
        "judge_model": judge.model,
        "judge_prompt_sha256": judge.prompt_sha256,
        "agent": agent,
        "rollouts": rollouts,
        "limit": limit,
        "text_only": text_only,
        **(extra or {}),
        "n_items": len(item_ids),
        "item_ids": list(item_ids),
        "updated_at": now(),
    }


def write_metrics(run_dir: Path, *, skipped_on_resume: int = 0) -> JSONObject:
    """Compute metrics over every results file of `run_dir` and write metrics.json.

    `skipped_lines` counts unreadable result lines: those still in the files, or those a
    resumed run skipped (and compacted away), whichever is more.
    """
    manifest = read_manifest(run_dir) or {}
    ids = manifest.get("item_ids")
    k = manifest.get("rollouts")
    rows = read_rows(run_dir)
    metrics = compute_metrics(
        rows.values(),
        k=k if isinstance(k, int) else max((r.rollout for r in rows.values()), default=0) + 1,
        item_ids=[str(i) for i in ids] if isinstance(ids, list) else None,
        judge=str(manifest.get("judge") or ""),
        ask_confidence=bool(manifest.get("ask_confidence")),
    )
    metrics["skipped_lines"] = max(skipped_lines(run_dir), skipped_on_resume)
    write_json(run_dir / "metrics.json", metrics)
    return metrics


async def run_eval(items: Sequence[Item], manifest: JSONObject, *, config: RunConfig,
                   rollout: Rollout, judge: Judge, progress: Progress | None = None) -> RunOutcome:
    """Run (or resume) an eval over `items` (already limited and sharded)."""
    check_manifest(config.out, manifest)
    store = RunStore(config.out, config.shard, fsync=config.fsync)
    existing = store.load()
    jobs = [(it, r, existing.get((it.id, r))) for it in items for r in range(config.rollouts)]
    todo = [j for j in jobs if j[2] is None or not j[2].done]
    tally = Tally.from_rows([j[2] for j in jobs if j[2] is not None and j[2].done])
    runner = Runner(store, rollout, judge, config, tally, progress or NullProgress())
    runner.progress.start(len(jobs), tally)
    store.open()
    try:
        await runner.drain(iter(todo))
    except asyncio.CancelledError:  # Ctrl-C: keep what is written, tidy it, then stop
        _close(store, runner)
        store.compact()
        raise
    except BaseExceptionGroup as group:
        # A worker's failure (a full disk) surfaces as a group: raise the one clear error.
        _close(store, runner)
        first = _first_sounding(group)
        if first is not None:
            raise first from None
        raise
    finally:
        _close(store, runner)
    store.compact()
    metrics = write_metrics(config.out, skipped_on_resume=store.skipped)
    return RunOutcome(runner.written, metrics, skipped_lines=store.skipped)


def _first_sounding(group: BaseExceptionGroup[BaseException]) -> SoundingError | None:
    for exc in group.exceptions:
        if isinstance(exc, SoundingError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_sounding(exc)
            if inner is not None:
                return inner
    return None


def _close(store: RunStore, runner: Runner) -> None:
    store.close()  # idempotent, as is stopping the progress display
    runner.progress.stop()


class Runner:
    """Runs, judges and appends rows of one run; `rejudge` reuses its judging and pool."""

    def __init__(self, store: RunStore, rollout: Rollout, judge: Judge, config: RunConfig,
                 tally: Tally, progress: Progress) -> None:
        self.store, self.rollout, self.judge, self.config = store, rollout, judge, config
        self.tally, self.progress = tally, progress
        self.written = 0
        self.shard = config.shard.tag if config.shard else None

    async def drain(self, jobs: Iterator[tuple[Item, int, ResultRow | None]]) -> None:
        await self.pool(jobs, lambda job: self.one(*job))

    async def pool(self, jobs: Iterator[_J], work: Callable[[_J], Awaitable[None]]) -> None:
        """`work` on every job by `concurrency` workers pulling from one shared iterator
        (at most `concurrency` rows in flight)."""
        async def worker() -> None:
            for job in jobs:
                await work(job)

        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, self.config.concurrency)):
                group.create_task(worker())

    async def one(self, item: Item, r: int, prev: ResultRow | None) -> None:
        attempt = prev.attempt + 1 if prev else 1
        if prev is not None and prev.status == "judge_error" and prev.trajectory_id:
            row = await self.judged(item, replace(prev, attempt=attempt, error=None), prev.answer)
            await self.emit(row, None)
            return
        started = now()
        try:
            traj = await self.rollout(item, r)
        except Exception as exc:  # boundary of one eval item: record, keep the traceback
            row = ResultRow(item.id, r, "error", item.question, item.answer,
                            error=_error("agent", RunError.from_exception(exc)),
                            started_at=started, finished_at=now(), attempt=attempt,
                            shard=self.shard, category=item_category(item))
            await self.emit(row, None)
            return
        row = self.base_row(item, r, traj, started, attempt)
        if traj.termination == "error":
            err = traj.error or RunError("AgentError", "the run ended in error")
            row = replace(row, status="error", error=_error("agent", err))
        else:
            row = await self.judged(item, row, traj.answer)
        await self.emit(row, traj)

    def base_row(self, item: Item, r: int, traj: Trajectory, started: str,
                 attempt: int) -> ResultRow:
        usage = traj.usage
        return ResultRow(
            item.id, r, "ok", item.question, item.answer, answer=traj.answer,
            termination=traj.termination, rounds=traj.rounds, tool_counts=traj.tool_counts(),
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            seconds=traj.seconds, cost=self.config.prices.cost(traj.model, usage),
            model=traj.model, trajectory_id=traj.id, started_at=started, attempt=attempt,
            shard=self.shard, category=item_category(item),
            gaia_scorer=gaia_score(traj.answer, item.answer) if self.config.gaia_scorer else None,
        )

    async def judged(self, item: Item, row: ResultRow, answer: str | None) -> ResultRow:
        try:
            verdict = await grade_answer(self.judge, item.question, item.answer, answer)
        except Exception as exc:  # a judge failure is retried on resume, never "wrong"
            return replace(row, status="judge_error", correct=None, grade=None, score=None,
                           error=_error("judge", RunError.from_exception(exc)),
                           finished_at=now())
        return replace(
            row, status="ok", correct=verdict.correct, grade=verdict.grade,
            score=verdict.score, verdict=_verdict_dict(verdict),
            judge_prompt_tokens=verdict.usage.prompt_tokens,
            judge_completion_tokens=verdict.usage.completion_tokens,
            judge_cost=self.judge_cost(verdict.usage), error=None, finished_at=now(),
        )

    def judge_cost(self, usage: Usage) -> float | None:
        if not self.judge.model or not usage.total_tokens:
            return 0.0
        return self.config.prices.cost(self.judge.model, usage)

    async def emit(self, row: ResultRow, traj: Trajectory | None) -> None:
        await self.store.append(row, traj)
        self.written += 1
        self.tally.add(row)
        self.progress.advance(self.tally)


def item_category(item: Item) -> str | None:
    """The category a report breaks results down by (HLE category, topic, GAIA level)."""
    for key in ("category", "topic", "level"):
        value = item.metadata.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _error(stage: str, err: RunError) -> JSONObject:
    return {"stage": stage, **err.to_dict()}


def _verdict_dict(verdict: Verdict) -> JSONObject:
    d = verdict.to_dict()
    d.pop("usage", None)
    return d
