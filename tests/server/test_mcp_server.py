"""The MCP server, with the `mcp` SDK's client: in process, over /mcp (streamable HTTP)
and as `sounding mcp` (stdio)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sounding.config import Settings
from sounding.llm.testing import ScriptedServer
from sounding.server._jobs import JobManager
from sounding.server._mcp import build_mcp
from sounding.server._store import SQLiteStore

from .conftest import KEY, Served, research_reply

pytest.importorskip("mcp", reason="needs the mcp SDK")


async def call_research(target: object, mode: str = "react") -> tuple[str, list[tuple]]:
    from mcp import Client

    progress: list[tuple] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(target, mode="legacy") as client:  # type: ignore[arg-type]
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools["deep_research"].input_schema["properties"]) == {"question", "mode"}
        result = await client.call_tool("deep_research", {"question": "Who won two Nobels?",
                                                          "mode": mode},
                                        progress_callback=on_progress)
    assert not result.is_error, result
    return result.content[0].text, progress  # type: ignore[union-attr]


async def research_over_http(base_url: str) -> tuple[str, list[tuple]]:
    """`call_research` through a server's `/mcp` (streamable HTTP) with the test key."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"},
                                  timeout=30) as http:
        return await call_research(streamable_http_client(base_url + "/mcp", http_client=http))


async def test_deep_research_returns_answer_sources_and_progress(
        serve_settings: Settings) -> None:
    jobs = JobManager(SQLiteStore(":memory:"), serve_settings)
    await jobs.start()
    try:
        text, progress = await call_research(build_mcp(jobs), mode="iter")
    finally:
        await jobs.stop()
    assert text.startswith("Marie Curie") and "[1] https://en.wikipedia.org/wiki/Marie_Curie" \
        in text
    assert [p[0] for p in progress] == [1.0, 2.0] and progress[0][1] == 5.0
    assert progress[0][2] == "round 1"


async def test_mcp_over_streamable_http_needs_a_key(served: Served) -> None:
    import httpx2

    text, progress = await research_over_http(served.url)
    assert text.startswith("Marie Curie") and progress
    # The job belongs to the key that called the tool: it is in that key's list.
    with served.client() as client:
        jobs = client.get("/v1/research").json()["jobs"]
    assert [j["question"] for j in jobs] == ["Who won two Nobels?"]
    assert jobs[0]["status"] == "finished"
    async with httpx2.AsyncClient() as anon:
        response = await anon.post(served.url + "/mcp", json={})
    assert response.status_code == 401


async def test_sounding_mcp_over_stdio(vital_cache: Path, isolated_env: Path) -> None:
    from mcp import StdioServerParameters, stdio_client

    with ScriptedServer.repeat(research_reply(), latency=0.01) as llm:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "sounding", "mcp", "--base-url", llm.base_url, "--model", "scripted",
                  "--max-rounds", "4"],
            env={**os.environ, "SOUNDING_CACHE_DIR": str(vital_cache),
                 "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
        with (isolated_env / "mcp.log").open("w") as errlog:
            text, progress = await call_research(stdio_client(params, errlog=errlog))
    assert text.startswith("Marie Curie") and progress[0][0] == 1.0
