"""`sounding eval rejudge`: grade a run's stored answers again into a new run directory.

No rollout is repeated: each row keeps its answer, trajectory id, usage and cost;
only the verdict (and the judge's usage) changes. Rows whose rollout failed stay
failed. The new run's manifest names the run it was re-graded from, so one run can
be scored by the official judge and by another, then compared with `report --compare`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from ..trace.trajectory import Trajectory
from ..types import JSONObject
from .costs import Prices
from .datasets import Item
from .judges import Judge
from .progress import NullProgress, Tally
from .rows import ResultRow, read_rows
from .runner import RunConfig, Runner, RunOutcome, now, write_metrics
from .store import MANIFEST, RunStore, check_manifest, read_manifest

__all__ = ["rejudge_run"]


async def rejudge_run(source: Path, out: Path, judge: Judge, *, facts: JSONObject | None = None,
                      concurrency: int = 8, prices: Prices | None = None) -> RunOutcome:
    """Grade every answered row of `source` with `judge` into `out` (resumable)."""
    old = read_manifest(source)
    if old is None:
        raise ConfigError(f"{source} is not a run directory (no {MANIFEST})")
    if out.resolve() == source.resolve():
        raise ConfigError("rejudge writes a new run: give --out another directory")
    manifest: JSONObject = {**old, **(facts or {}), "judge": judge.name,
                            "judge_model": judge.model,
                            "judge_prompt_sha256": judge.prompt_sha256,
                            "rejudged_from": str(source.resolve()), "updated_at": now()}
    check_manifest(out, manifest)
    _link_trajectories(source, out)
    config = RunConfig(out=out, concurrency=concurrency, prices=prices or Prices())
    store = RunStore(out, fsync=config.fsync)
    # Graded rows and copied rollout failures are final; judge failures are graded again.
    done = {k for k, r in store.load().items() if r.status != "judge_error"}
    todo = [r for k, r in sorted(read_rows(source).items()) if k not in done]
    runner = Runner(store, _no_rollout, judge, config, Tally(), NullProgress())

    async def regrade(row: ResultRow) -> None:
        await runner.emit(await _grade(runner, row), None)

    store.open()
    try:
        await runner.pool(iter(todo), regrade)
    finally:
        store.close()
    store.compact()
    return RunOutcome(runner.written, write_metrics(out), skipped_lines=store.skipped)


async def _grade(runner: Runner, row: ResultRow) -> ResultRow:
    if row.status == "error":
        return row  # the rollout failed: nothing to grade, it stays a failure
    item = Item(row.item_id, row.question, row.gold)
    fresh = replace(row, correct=None, grade=None, score=None, verdict=None, error=None,
                    judge_prompt_tokens=0, judge_completion_tokens=0, judge_cost=0.0,
                    attempt=1)
    return await runner.judged(item, fresh, row.answer)


async def _no_rollout(item: Item, index: int) -> Trajectory:
    raise AssertionError("rejudge never runs a rollout")


def _link_trajectories(source: Path, out: Path) -> None:
    """The new run shares the source's trajectories (hard link, else a copy)."""
    out.mkdir(parents=True, exist_ok=True)
    for src in [source / "trajectories.jsonl", *sorted(source.glob("trajectories.shard-*"))]:
        dst = out / src.name
        if not src.is_file() or dst.exists():
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
