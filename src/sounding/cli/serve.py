"""`sounding serve` (the HTTP service and web page) and `sounding mcp` (the MCP server
over stdio): parse flags, build the server's settings, hand over to the server package."""

from __future__ import annotations

import asyncio
import os
import pickle
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ._console import err, fail
from ._options import RunOptions, with_run_options

__all__ = ["register"]


def _default_database() -> str:
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("sounding")) / "serve.db")


@with_run_options
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on", metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", metavar="PORT")] = 8080,
    workers: Annotated[int, typer.Option(help="Server processes (they share the "
                                         "database)", metavar="N")] = 1,
    database: Annotated[str | None, typer.Option(
        help="SQLite file or postgresql://USER@HOST/DB (default: a file in the user data "
             "folder)", metavar="URL")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without an "
                                          "API key (loopback hosts only)", metavar="")] = False,
    new_key: Annotated[str | None, typer.Option(
        help="Create an API key with this name, print it once, store its hash, and exit",
        metavar="NAME")] = None,
    max_concurrent: Annotated[int, typer.Option(help="Running jobs per key", metavar="N")] = 4,
    rate: Annotated[float, typer.Option(help="Requests per minute per key (0: no "
                                        "limit)", metavar="R")] = 60.0,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="Allow browser calls from this origin (repeatable; none by default)",
        metavar="URL")] = None,
    reports: Annotated[Path | None, typer.Option(help="Folder of eval HTML reports the "
                                                 "web page lists", metavar="DIR")] = None,
    grace: Annotated[float, typer.Option(help="On shutdown, seconds running jobs may "
                                         "finish before they are marked interrupted",
                                         metavar="SECONDS")] = 10.0,
    keepalive: Annotated[float, typer.Option(help="Seconds without an event before an "
                                             "event stream gets a keep-alive comment "
                                             "(0: never)", metavar="SECONDS")] = 15.0,
    *,
    run_options: RunOptions,
) -> None:
    """Serve the research API, the OpenAI-compatible endpoint, MCP at /mcp and the web page."""
    from ..llm.openai_client import is_loopback
    from ..server import ServeConfig

    database = database or _default_database()
    if new_key is not None:
        raise typer.Exit(_create_key(database, new_key))
    if no_auth and not is_loopback(host):
        raise fail(f"--no-auth is allowed only on a loopback host, not {host}", 2)
    config = ServeConfig(database=database, no_auth=no_auth, max_concurrent=max_concurrent,
                         rate_per_minute=rate, cors_origins=tuple(cors_origin or ()),
                         reports_dir=reports, grace_s=grace, keepalive_s=keepalive,
                         stale_s=15.0 if workers > 1 or "://" in database else None,
                         api_keys=tuple(k for k in os.environ.get(
                             "SOUNDING_SERVE_KEYS", "").split(",") if k))
    settings = run_options.settings()
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    err.print(f"Sounding is serving the web page at http://{shown}:{port}/ "
        f"(API docs at /docs, MCP at /mcp; jobs in {_safe(database)})")
    _run_uvicorn(settings, config, host, port, workers)


def _safe(database: str) -> str:
    """The database location without a password."""
    if "://" in database and "@" in database:
        scheme, rest = database.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return database


def _run_uvicorn(settings: object, config: object, host: str, port: int, workers: int) -> None:
    import uvicorn

    grace = float(getattr(config, "grace_s", 10.0))
    if workers <= 1:
        from ..server import create_app
        from ..server.app import tune_process

        tune_process()
        app = create_app(settings, config, host=host)  # type: ignore[arg-type]
        uvicorn.run(app, host=host, port=port, log_level="info",
                    timeout_graceful_shutdown=int(grace) + 5)
        return
    # Several processes import the app by name; they get the settings through a private
    # file (settings hold the model key, which must not travel on a command line).
    with tempfile.NamedTemporaryFile("wb", suffix=".pickle", delete=False) as fh:
        pickle.dump((settings, config, host), fh)
    os.chmod(fh.name, 0o600)
    os.environ["SOUNDING_SERVE_STATE"] = fh.name
    try:
        uvicorn.run("sounding.server.app:app_from_environment", factory=True, host=host,
                    port=port, workers=workers, log_level="info",
                    timeout_graceful_shutdown=int(grace) + 5)
    finally:
        os.unlink(fh.name)


def _create_key(database: str, name: str) -> int:
    from ..server._security import hash_key, new_key
    from ..server._store import open_store

    async def store_it(key: str) -> None:
        store = open_store(database)
        await store.open()
        try:
            await store.add_key(hash_key(key), name)
        finally:
            await store.close()

    key = new_key()
    asyncio.run(store_it(key))
    typer.echo(key)  # shown this once; only its hash is kept
    err.print(f"API key {name!r} stored (as a hash) in {_safe(database)}")
    return 0


@with_run_options
def mcp_command(
    database: Annotated[str, typer.Option(help="Where the MCP server's jobs are kept "
                                          "(default: memory only)", metavar="URL")
                        ] = ":memory:",
    *,
    run_options: RunOptions,
) -> None:
    """Serve `deep_research(question, mode)` to an MCP client over stdio."""
    from ..server._jobs import JobManager
    from ..server._mcp import build_mcp
    from ..server._store import open_store

    settings = run_options.settings()

    async def main() -> None:
        jobs = JobManager(open_store(database), settings)
        await jobs.start()
        try:
            await build_mcp(jobs).run_stdio_async()
        finally:
            await jobs.stop()

    asyncio.run(main())


def register(parent: typer.Typer) -> None:
    """Mount `sounding serve` and `sounding mcp` on the main app."""
    parent.command(name="serve")(serve_command)
    parent.command(name="mcp")(mcp_command)
