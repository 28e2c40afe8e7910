"""The job store on a real PostgreSQL server (initdb + pg_ctl on a free loopback port in a
temp folder), shared by two server instances. Skipped when the binaries are missing."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from sounding.config import Settings
from sounding.server import ServeConfig
from sounding.server._store import JobRow, PostgresStore

from .conftest import KEY, free_port, serve, wait_done

pytest.importorskip("asyncpg", reason="needs asyncpg (serve extra)")
BIN = next((d for d in ("/usr/local/bin", "/usr/lib/postgresql/15/bin", "/usr/bin")
            if os.path.exists(f"{d}/initdb") and os.path.exists(f"{d}/pg_ctl")), None)
if BIN is None and shutil.which("pg_ctl") is None:
    pytest.skip("needs PostgreSQL (apt-get install postgresql)", allow_module_level=True)


def _as_postgres() -> dict[str, object]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    if os.getuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    tools = BIN or os.path.dirname(shutil.which("pg_ctl") or "")
    folder = tempfile.mkdtemp(prefix="sounding-pg-")
    who = _as_postgres()
    if who:
        os.chown(folder, int(who["user"]), int(who["group"]))  # type: ignore[call-overload]
    data, port = os.path.join(folder, "data"), free_port()
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, **who)  # noqa: E731
    run(f"{tools}/initdb", "-D", data, "-U", "sounding", "--auth=trust", "-E", "UTF8")
    run(f"{tools}/pg_ctl", "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        yield f"postgresql://sounding@127.0.0.1:{port}/postgres"
    finally:
        run(f"{tools}/pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


async def test_store_round_trip_and_orphans(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        await store.create(JobRow("j1", "alice", "running", "q", {"question": "q"}))
        await store.claim("j1", "dead-instance")
        for seq in (1, 2, 3):
            await store.append("j1", seq, {"kind": "note", "n": seq})
        assert [s for s, _ in await store.events("j1", 1)] == [2, 3]
        assert await store.last_seq("j1") == 3
        await store.heartbeat("live")
        assert await store.interrupt_orphans("live", stale_s=60) == ["j1"]
        assert (await store.get("j1")).status == "interrupted"  # type: ignore[union-attr]
        await store.add_key("digest", "alice")
        assert await store.key_name("digest") == "alice"
        assert [j.id for j in await store.list_jobs("alice", 10, 0)] == ["j1"]
        # What several instances share: active jobs per key, rate buckets, cancel requests.
        await store.create(JobRow("j2", "alice", "running", "q", {"question": "q"}))
        assert await store.active_count("alice") == 1
        waits = [await store.take_token("alice", 6, 2) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0] and waits[2] > 9  # a burst of 2, then 10 s apart
        await store.request_cancel("j2")
        assert await store.cancel_requests() == ["j2"]
        await store.clear_cancels(["j2"])
        assert await store.cancel_requests() == []
    finally:
        await store.close()


def test_two_instances_share_one_store(pg_url: str, serve_settings: Settings,
                                       config: ServeConfig) -> None:
    shared = replace(config, database=pg_url, stale_s=30.0)
    first, second = serve(serve_settings, shared), serve(serve_settings, shared)
    try:
        with first.client() as a, second.client() as b:
            job_id = a.post("/v1/research", json={"question": "q"}).json()["id"]
            started = time.monotonic()
            job = wait_done(b, job_id)  # the other instance sees it, and it was not taken over
            assert job["status"] == "finished" and job["answer"].startswith("Marie Curie")
            text = b.get(f"/v1/research/{job_id}/events").text
            assert time.monotonic() - started < 20
        assert "event: run_finished" in text and text.count("event: job_finished") == 1
        assert KEY not in text
    finally:
        first.stop()
        second.stop()
