"""Events of many jobs appended at one moment share a transaction: each job's events are
stored in order, a duplicate number fails only its own job, and a status read leaves the
trajectory out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sounding.server._store import JobRow, SQLiteStore


@contextlib.asynccontextmanager
async def _opened(path: Path | str) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def _append_rounds(store: SQLiteStore, job_id: str, rounds: int) -> None:
    for r in range(rounds):
        rows = [(n, json.dumps({"n": n})) for n in (2 * r + 1, 2 * r + 2)]
        await store.append_many(job_id, rows)


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_concurrent_jobs_keep_their_events_in_order(tmp_path: Path, where: str) -> None:
    async with _opened(tmp_path / "jobs.db" if where == "file" else ":memory:") as store:
        await asyncio.gather(*(_append_rounds(store, f"j{i}", 5) for i in range(50)))
        for i in range(50):
            events = await store.events(f"j{i}", 0)
            assert [seq for seq, _ in events] == list(range(1, 11))
            assert [json.loads(data)["n"] for _, data in events] == list(range(1, 11))


async def test_a_bad_row_fails_only_its_own_job(tmp_path: Path) -> None:
    async with _opened(tmp_path / "jobs.db") as store:
        await store.append_many("bad", [(1, "{}")])
        results = await asyncio.gather(
            store.append_many("bad", [(1, "{}")]),  # the number is taken
            *(store.append_many(f"ok{i}", [(1, "{}")]) for i in range(5)),
            return_exceptions=True)
        assert isinstance(results[0], sqlite3.IntegrityError)
        assert results[1:] == [None] * 5
        for i in range(5):
            assert len(await store.events(f"ok{i}", 0)) == 1


async def test_a_status_read_leaves_the_trajectory_out(tmp_path: Path) -> None:
    async with _opened(tmp_path / "jobs.db") as store:
        await store.create(JobRow("j", "k", "queued", "q", {"question": "q"}))
        await store.update("j", "finished", {"answer": "a"}, {"messages": ["m"]})
        light = await store.get("j", trajectory=False)
        full = await store.get("j")
        assert light is not None and full is not None
        assert light.trajectory is None and light.result == {"answer": "a"}
        assert full.trajectory == {"messages": ["m"]}


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_two_loops_write_at_once(tmp_path: Path, where: str) -> None:
    """Jobs driven on another loop (the server's runner thread) store their events beside
    this loop's: every write lands, each job's in order, and no transaction interleaves."""
    import threading

    async with _opened(tmp_path / "jobs.db" if where == "file" else ":memory:") as store:
        other = asyncio.new_event_loop()
        thread = threading.Thread(target=other.run_forever, daemon=True)
        thread.start()
        try:
            async def jobs_there() -> None:
                await asyncio.gather(*(_append_rounds(store, f"there{i}", 20)
                                       for i in range(20)))

            there = asyncio.run_coroutine_threadsafe(jobs_there(), other)
            await asyncio.gather(*(_append_rounds(store, f"here{i}", 20) for i in range(20)))
            await asyncio.wrap_future(there)
        finally:
            other.call_soon_threadsafe(other.stop)
            thread.join()
            other.close()
        for name in (*(f"here{i}" for i in range(20)), *(f"there{i}" for i in range(20))):
            events = await store.events(name, 0)
            assert [seq for seq, _ in events] == list(range(1, 41)), name
