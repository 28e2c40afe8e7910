"""What every route needs: the server's configuration, its job manager, and the caller
(resolved from the API key, with the per-key limits applied)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, Request

from ._jobs import JobManager
from ._security import RateLimiter, hash_key, retry_after

__all__ = ["ServeConfig", "ServerState", "caller", "state_of"]


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs (the `sounding serve` options)."""

    database: str = "sounding-serve.db"
    """A SQLite file (default) or a `postgresql://` URL."""
    no_auth: bool = False
    """Accept requests without a key (refused unless the host is loopback)."""
    api_keys: tuple[str, ...] = ()
    """Keys accepted besides those stored in the database (held here only as digests)."""
    max_concurrent: int = 4
    """Jobs one key may have running at once."""
    rate_per_minute: float = 60.0
    """Requests one key may make per minute (0: no limit), bursts up to `rate_burst`."""
    rate_burst: int = 20
    max_body_bytes: int = 64 * 1024
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call from a browser; none by default (CORS closed)."""
    reports_dir: Path | None = None
    """A folder of eval HTML reports the web page lists and opens."""
    grace_s: float = 10.0
    """On shutdown, how long running jobs may go on before they are marked interrupted."""
    keepalive_s: float = 15.0
    """Seconds without an event after which an event stream gets a `: keep-alive` comment
    (so proxies and browsers keep an idle stream open; 0: never)."""
    stale_s: float | None = None
    """None: this process is the store's only user (jobs active at start were orphaned).
    Set it when several processes share the store: a job is taken as orphaned once its
    process has been silent this long."""


@dataclass
class ServerState:
    config: ServeConfig
    jobs: JobManager
    limiter: RateLimiter
    digests: frozenset[str] = field(default_factory=frozenset)


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.sounding
    return state


def _key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def caller(request: Request) -> str:
    """The name of the calling key (a FastAPI dependency): 401 without a valid key, 429
    over the key's rate."""
    state = state_of(request)
    key = _key_of(request)
    if key:
        digest = hash_key(key)
        name = ("config" if digest in state.digests
                else await state.jobs.store.key_name(digest))
        if name is None:
            raise HTTPException(401, "invalid API key")
    elif state.config.no_auth:
        name = "local"
    else:
        raise HTTPException(401, "an API key is required (Authorization: Bearer KEY)",
                            headers={"WWW-Authenticate": "Bearer"})
    if state.config.rate_per_minute <= 0:
        wait = 0.0
    elif state.jobs.shared:  # one bucket per key for all the processes on the store
        wait = await state.jobs.store.take_token(name, state.config.rate_per_minute,
                                                 state.config.rate_burst)
    else:
        wait = state.limiter.take(name)
    if wait > 0:
        raise HTTPException(429, "rate limit reached", headers={"Retry-After": retry_after(wait)})
    return name


async def check_concurrency(state: ServerState, name: str) -> None:
    """429 when the key already runs its most jobs (in every process on a shared store;
    two requests at the same instant on two processes may both pass)."""
    if await state.jobs.active(name) >= state.config.max_concurrent:
        raise HTTPException(429, f"at most {state.config.max_concurrent} running jobs per key",
                            headers={"Retry-After": "5"})
