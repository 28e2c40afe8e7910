"""Graceful shutdown: running jobs may finish within the grace time, the rest are marked
`interrupted` (and can be re-run)."""

from __future__ import annotations

import asyncio

from sounding.config import Settings
from sounding.llm.testing import ScriptedServer
from sounding.server._jobs import JobManager, ResearchRequest
from sounding.server._store import SQLiteStore


async def _events(store: SQLiteStore, job_id: str) -> list[str]:
    return [data for _, data in await store.events(job_id, 0)]


async def test_grace_lets_a_job_finish_and_the_rest_are_interrupted(
        serve_settings: Settings, llm: ScriptedServer, tmp_path: object) -> None:
    db = f"{tmp_path}/jobs.db"
    jobs = JobManager(SQLiteStore(db), serve_settings)
    await jobs.start()
    quick = await jobs.submit("k", ResearchRequest("q"))
    await jobs.stop(grace_s=30)  # 2 short model calls: well within the grace time
    llm.latency = 5.0
    jobs = JobManager(SQLiteStore(db), serve_settings)
    await jobs.start()
    slow = await jobs.submit("k", ResearchRequest("q"))
    await asyncio.sleep(0.3)
    await jobs.stop(grace_s=0.1)

    store = SQLiteStore(db)
    await store.open()
    try:
        assert (await store.get(quick.id)).status == "finished"  # type: ignore[union-attr]
        assert (await store.get(slow.id)).status == "interrupted"  # type: ignore[union-attr]
        events = await _events(store, slow.id)
        assert '"status": "interrupted"' in events[-1]
        assert sum('"kind": "job_finished"' in e for e in events) == 1
    finally:
        await store.close()
