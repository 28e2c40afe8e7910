"""Two server processes on one store (as `--workers 2` runs them; here two servers in one
test process, each with its own job manager, sharing a SQLite file): per-key limits hold
across both, either one cancels and streams the other's jobs; and idle event streams get
keep-alive comments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from sounding.config import Settings
from sounding.llm.testing import ScriptedServer
from sounding.server import ServeConfig

from .conftest import Served, serve, wait_done
from .test_jobs_api import read_sse


@pytest.fixture
def pair(serve_settings: Settings, config: ServeConfig) -> Iterator[tuple[Served, Served]]:
    shared = replace(config, stale_s=30.0, max_concurrent=1)
    first = serve(serve_settings, shared)
    second = serve(serve_settings, shared)
    yield first, second
    first.stop()
    second.stop()


def test_concurrency_limit_and_cancel_hold_across_processes(
        pair: tuple[Served, Served], llm: ScriptedServer) -> None:
    llm.latency = 1.0
    first, second = pair
    with first.client() as a, second.client() as b:
        job_id = a.post("/v1/research", json={"question": "q"}).json()["id"]
        busy = b.post("/v1/research", json={"question": "q2"})
        assert busy.status_code == 429 and busy.headers["retry-after"]
        # The other process streams the job's events as they are stored...
        with b.stream("GET", f"/v1/research/{job_id}/events") as response:
            assert read_sse(response, stop_after=2)[0][1]["kind"] == "run_started"
        # ...and cancels it: the process that runs it stops it and records the end.
        cancelled = b.delete(f"/v1/research/{job_id}").json()
        assert cancelled == {"id": job_id, "cancelled": True, "status": "cancelled"}
        assert a.get(f"/v1/research/{job_id}").json()["status"] == "cancelled"
        with b.stream("GET", f"/v1/research/{job_id}/events") as response:
            events = read_sse(response)
        assert events[-1][1]["kind"] == "job_finished"
        assert events[-1][1]["status"] == "cancelled"
        # The slot is free again, in either process.
        llm.latency = 0.0
        again = b.post("/v1/research", json={"question": "q3"})
        assert again.status_code == 202
        assert wait_done(a, again.json()["id"])["status"] == "finished"


async def test_mcp_over_http_with_workers(pair: tuple[Served, Served]) -> None:
    """With a shared store, /mcp serves each request on its own (no session a
    process would have to remember), and the job is the calling key's, in the store."""
    from .test_mcp_server import research_over_http

    first, second = pair
    text, progress = await research_over_http(second.url)
    assert text.startswith("Marie Curie") and progress
    with first.client() as a:
        jobs = a.get("/v1/research").json()["jobs"]
    assert [(j["question"], j["status"]) for j in jobs] == [("Who won two Nobels?",
                                                              "finished")]
    # A request without a session (as one reaching a process that never saw the client's
    # `initialize` would be) is answered.
    with first.client() as a:
        listed = a.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        headers={"Accept": "application/json, text/event-stream"})
    assert listed.status_code == 200 and "deep_research" in listed.text


def test_rate_limit_is_one_bucket_across_processes(serve_settings: Settings,
                                                   config: ServeConfig) -> None:
    shared = replace(config, stale_s=30.0, rate_burst=3, rate_per_minute=6)
    first, second = serve(serve_settings, shared), serve(serve_settings, shared)
    try:
        with first.client() as a, second.client() as b:
            assert [a.get("/v1/research").status_code, b.get("/v1/research").status_code,
                    a.get("/v1/research").status_code] == [200, 200, 200]
            limited = b.get("/v1/research")  # the fourth request of the key, anywhere
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 9
            assert a.get("/v1/research").status_code == 429
    finally:
        first.stop()
        second.stop()


def event_stream_lines(settings: Settings, config: ServeConfig) -> list[str]:
    """The lines of one job's whole event stream, on a server started for it."""
    running = serve(settings, config)
    try:
        with running.client() as client:
            job_id = client.post("/v1/research", json={"question": "q"}).json()["id"]
            with client.stream("GET", f"/v1/research/{job_id}/events") as response:
                return list(response.iter_lines())
    finally:
        running.stop()


def test_idle_event_streams_get_keep_alive_comments(serve_settings: Settings,
                                                    config: ServeConfig,
                                                    llm: ScriptedServer) -> None:
    llm.latency = 0.6  # each model call: a quiet spell of three keep-alive intervals
    lines = event_stream_lines(serve_settings, replace(config, keepalive_s=0.2))
    comments = [i for i, line in enumerate(lines) if line.startswith(":")]
    assert comments and all(lines[i] == ": keep-alive" for i in comments)
    ids = [int(line[4:]) for line in lines if line.startswith("id: ")]
    assert ids == list(range(1, len(ids) + 1))  # the events themselves are untouched
    first_event = lines.index("id: 1")
    assert any(i > first_event for i in comments)  # between events, not only before
    assert lines[-2].startswith("data: ") and '"job_finished"' in lines[-2]


def test_keep_alive_can_be_turned_off(serve_settings: Settings, config: ServeConfig,
                                      llm: ScriptedServer) -> None:
    llm.latency = 0.3
    lines = event_stream_lines(serve_settings, replace(config, keepalive_s=0.0))
    assert not [line for line in lines if line.startswith(":")]
    assert any('"job_finished"' in line for line in lines)
