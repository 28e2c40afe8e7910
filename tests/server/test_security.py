"""Keys, limits, body size, CORS, and no secret in any response, event or log."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from sounding.config import Settings
from sounding.errors import ConfigError
from sounding.llm.testing import ScriptedServer
from sounding.server import ServeConfig, create_app
from sounding.server._security import hash_key
from sounding.server._store import SQLiteStore

from .conftest import KEY, SECRET, serve, wait_done


def test_keys_are_required_and_stored_keys_work(serve_settings: Settings,
                                                config: ServeConfig) -> None:
    asyncio.run(_store_key(config.database, "sk-snd-stored", "alice"))
    running = serve(serve_settings, config)
    try:
        with running.client(key=None) as anon, running.client("sk-nope") as wrong, \
                running.client("sk-snd-stored") as alice:
            assert anon.get("/v1/research").status_code == 401
            assert anon.get("/v1/research").headers["www-authenticate"] == "Bearer"
            assert wrong.get("/v1/research").status_code == 401
            assert alice.get("/v1/research").json()["jobs"] == []
            assert anon.get("/").status_code == 200  # the page itself is public
    finally:
        running.stop()
    raw = b"".join(p.read_bytes() for p in Path(config.database).parent.glob("jobs.db*"))
    assert b"sk-snd-stored" not in raw and hash_key("sk-snd-stored").encode() in raw


async def _store_key(path: str, key: str, name: str) -> None:
    store = SQLiteStore(path)
    await store.open()
    await store.add_key(hash_key(key), name)
    await store.close()


def test_rate_and_concurrency_limits_answer_429_with_retry_after(
        serve_settings: Settings, config: ServeConfig, llm: ScriptedServer) -> None:
    llm.latency = 1.0
    running = serve(serve_settings, replace(config, rate_burst=3, rate_per_minute=6,
                                            max_concurrent=1))
    try:
        with running.client() as client:
            assert client.post("/v1/research", json={"question": "q"}).status_code == 202
            busy = client.post("/v1/research", json={"question": "q2"})
            assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
            assert client.get("/v1/research").status_code == 200
            limited = client.get("/v1/research")
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 9
    finally:
        running.stop()


def test_body_size_limit_and_closed_cors(served: object) -> None:
    with served.client() as client:  # type: ignore[attr-defined]
        big = client.post("/v1/research", json={"question": "x" * 70_000})
        assert big.status_code == 413

        def chunks() -> object:
            yield b'{"question": "'
            for _ in range(80):
                yield b"y" * 1000
            yield b'"}'

        streamed = client.post("/v1/research", content=chunks(),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        preflight = client.options("/v1/research", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers


def test_no_auth_only_on_loopback(serve_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        create_app(serve_settings, ServeConfig(database=str(tmp_path / "d.db"), no_auth=True),
                   host="0.0.0.0")


def test_no_secret_in_responses_events_or_logs(served: object, caplog: pytest.LogCaptureFixture,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with served.client() as client:  # type: ignore[attr-defined]
        job_id = client.post("/v1/research", json={"question": "q"}).json()["id"]
        wait_done(client, job_id)
        for path in ("", f"/{job_id}", f"/{job_id}/events", f"/{job_id}/trajectory"):
            seen.append(client.get(f"/v1/research{path}").text)
        seen.append(client.get("/openapi.json").text)
    out, errors = capfd.readouterr()
    seen += [out, errors, caplog.text]
    assert "Marie Curie" in seen[2]  # the events were read
    for text in seen:
        assert SECRET not in text and KEY not in text


def test_new_key_is_printed_once_and_stored_hashed(tmp_path: Path, serve_settings: Settings,
                                                   config: ServeConfig) -> None:
    import typer
    from typer.testing import CliRunner

    from sounding.cli import serve as serve_cli

    app = typer.Typer()
    serve_cli.register(app)
    db = str(tmp_path / "keys.db")
    result = CliRunner().invoke(app, ["serve", "--new-key", "bob", "--database", db])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    assert key.startswith("sk-snd-") and len(key) > 40
    running = serve(serve_settings, replace(config, database=db, api_keys=()))
    try:
        with running.client(key) as bob:
            assert bob.get("/v1/research").status_code == 200
    finally:
        running.stop()
    assert key.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))
