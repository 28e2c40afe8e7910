"""A real server on loopback (uvicorn in a thread) over a scripted model endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="server tests need the serve extra")

import httpx
import uvicorn

from sounding.config import Settings, override_settings
from sounding.llm.testing import ScriptedServer
from sounding.server import ServeConfig, create_app
from sounding.types import JSONObject

KEY = "sk-snd-test-key-0123456789"
SECRET = "sk-upstream-secret-DO-NOT-LEAK"


def research_reply(searches: int = 1) -> Callable[[JSONObject], str]:
    """A model that searches `searches` times, then answers citing what it found."""

    def reply(body: JSONObject) -> str:
        messages = body.get("messages")
        assert isinstance(messages, list)
        seen = sum("<tool_response>" in json.dumps(m) for m in messages)
        if seen < searches:
            call = {"name": "search", "arguments": {"query": [f"Marie Curie {seen}"]}}
            return f"<think>look it up</think>\n<tool_call>\n{json.dumps(call)}\n</tool_call>"
        return ("<think>found it</think>\n<answer>Marie Curie "
                "(https://en.wikipedia.org/wiki/Marie_Curie)</answer>")

    return reply


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve(settings: Settings, config: ServeConfig) -> Served:
    app = create_app(settings, config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def llm() -> Iterator[ScriptedServer]:
    with ScriptedServer.repeat(research_reply(), latency=0.02) as server:
        yield server


@pytest.fixture
def serve_settings(settings: Settings, llm: ScriptedServer) -> Settings:
    return override_settings(settings, {"llm.base_url": llm.base_url, "llm.api_key": SECRET,
                                        "budgets.max_rounds": 5})


@pytest.fixture
def config(tmp_path: Path) -> ServeConfig:
    return ServeConfig(database=str(tmp_path / "jobs.db"), api_keys=(KEY,), grace_s=0.0)


@pytest.fixture
def served(serve_settings: Settings, config: ServeConfig) -> Iterator[Served]:
    running = serve(serve_settings, config)
    yield running
    running.stop()


def wait_done(client: httpx.Client, job_id: str, timeout: float = 30) -> JSONObject:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/research/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


__all__ = ["KEY", "SECRET", "Served", "replace", "research_reply", "serve", "wait_done"]
