"""The FastAPI application: the jobs API, the OpenAI-compatible endpoint, MCP at `/mcp`,
the web page at `/`, and the eval reports the page opens."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import platform
import sys
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..errors import ConfigError
from ..llm.base import ChatModel
from ..llm.openai_client import is_loopback
from . import _api, _openai
from ._context import ServeConfig, ServerState, caller, state_of
from ._jobs import JobManager
from ._mcp import OWNER_SCOPE_KEY, build_mcp
from ._security import BodyLimit, RateLimiter, hash_key
from ._store import open_store

__all__ = ["ServeConfig", "create_app", "tune_process"]

STATIC = files("sounding.server") / "static"

GC_YOUNG = 20_000
"""Allocations between young collections in a tuned server process (CPython's default: 700)."""
HEAP_KEEP = 64 << 20
"""Bytes of freed heap a tuned server process's allocator keeps for reuse (glibc: 128 KiB)."""
_tuned = False


def create_app(settings: Settings, config: ServeConfig | None = None, *,
               model: ChatModel | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The service over `settings` (the server's model, environment and defaults).

    `model` replaces the HTTP model client (tests, benchmarks); `host` is where it will
    listen: without keys it must be loopback.
    """
    config = config or ServeConfig()
    if config.no_auth and not is_loopback(host):
        raise ConfigError(f"--no-auth is allowed only on a loopback host, not {host}")
    jobs = JobManager(open_store(config.database), settings, model=model,
                      stale_s=config.stale_s, runner_thread=True)
    state = ServerState(config, jobs, RateLimiter(config.rate_per_minute, config.rate_burst),
                        frozenset(hash_key(k) for k in config.api_keys))
    mcp = build_mcp(jobs)
    # With several processes on one store (`--workers`), a client's next request may reach
    # another process, which would not know an MCP session: serve each request on its own.
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=host,
                                      stateless_http=config.stale_s is not None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await jobs.start()
        if _tuned:
            # What exists now (modules, the app, the store) lives as long as the process:
            # later collections need not walk it again.
            gc.freeze()
        async with mcp.session_manager.run():
            try:
                yield
            finally:
                await jobs.stop(config.grace_s)

    app = FastAPI(title="Sounding", version="0.1.0", lifespan=lifespan,
                  description="Deep research as a service: jobs, an OpenAI-compatible "
                              "endpoint, MCP, and a web page.")
    app.state.sounding = state
    app.include_router(_api.router)
    app.include_router(_openai.router)
    app.add_api_route("/v1/reports", list_reports, methods=["GET"], tags=["reports"])
    app.add_api_route("/v1/reports/{name}", get_report, methods=["GET"], tags=["reports"],
                      response_model=None)
    endpoint = mcp_app.routes[-1]
    assert isinstance(endpoint, Route)
    app.router.routes.append(Route("/mcp", endpoint=_KeyRequired(endpoint.app, state)))
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app


@functools.cache
def _index_html() -> str:
    """The page, read once: it is a packaged file."""
    return (STATIC / "index.html").read_text(encoding="utf-8")


async def index() -> HTMLResponse:
    return HTMLResponse(_index_html())


def _reports_dir(request: Request) -> Path:
    folder = state_of(request).config.reports_dir
    if folder is None:
        raise HTTPException(404, "no reports folder is configured (--reports DIR)")
    return folder


async def list_reports(request: Request, name: str = Depends(caller)) -> dict[str, Any]:
    """The eval HTML reports in the server's reports folder."""
    folder = _reports_dir(request)
    return {"reports": sorted(p.name for p in folder.glob("*.html"))}


async def get_report(name: str, request: Request, who: str = Depends(caller)) -> FileResponse:
    folder = _reports_dir(request)
    path = folder / name
    if "/" in name or "\\" in name or path.suffix != ".html" or not path.is_file():
        raise HTTPException(404, "no such report")
    return FileResponse(path, media_type="text/html")


class _KeyRequired:
    """Puts the API key check in front of the MCP endpoint."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            scope[OWNER_SCOPE_KEY] = await caller(request)  # the tool's jobs are its own
        except HTTPException as exc:
            from fastapi.responses import JSONResponse

            response = JSONResponse({"detail": exc.detail}, exc.status_code,
                                    headers=exc.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def tune_process() -> None:
    """Settings for a process whose main job is serving (`sounding serve` and each of
    its workers; not applied by `create_app`, which tests and embedders call).

    - The request loop and the runs' loop share the GIL. A status read waiting for it
      while runs hold it waits one switch interval per hand-over (5 ms by default), and a
      read takes several (the request, each SQLite call, the reply): a 1 ms interval
      bounds that at a few ms. The extra switches happen only under contention.
    - Hundreds of running jobs keep many objects alive, and each full collection of the
      cyclic garbage collector walks them all: ~0.1 s a time on a 2-core machine, about 9%
      of the server's CPU in `benchmarks/serve.py`. Young collections come every GC_YOUNG
      allocations instead of 700, so far fewer objects reach the old generations, and what
      exists once the app has started is frozen out of later collections (`lifespan`).
    - The allocator keeps freed heap for reuse (`_keep_freed_heap`).
    """
    global _tuned
    _tuned = True
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    gc.set_threshold(GC_YOUNG, 20, 20)
    _keep_freed_heap()


def _keep_freed_heap() -> None:
    """glibc only: keep up to HEAP_KEEP bytes of freed heap instead of handing it back.

    Every round of every run builds and drops large strings (the request with the whole
    conversation, the reply, the events). By default glibc returns a thread heap's free
    top at once, and the next round's allocations fault the pages back in, each one
    zeroed by the kernel: ~5% of the server's CPU under load. Large blocks come from the
    heap too (not from a fresh mmap each time) up to glibc's limit of 32 MiB."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, HEAP_KEEP)


def app_from_environment() -> FastAPI:
    """The app of one of several worker processes (`sounding serve --workers N`)."""
    import os
    import pickle

    tune_process()

    with open(os.environ["SOUNDING_SERVE_STATE"], "rb") as fh:
        settings, config, host = pickle.load(fh)  # written by our own parent process
    return create_app(settings, config, host=host)
