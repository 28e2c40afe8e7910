"""What `eval run` and `synth trajectories` share about executors: the four flags, the
settings they override, and starting one with its Ray statistics printed at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ._console import err

if TYPE_CHECKING:
    from ..config import Settings
    from ..executors import Executor, RolloutFactory

__all__ = ["ExecutorKind", "RayAddress", "WorkerConcurrency", "Workers", "executor_flags",
           "started_executor"]

ItemT = TypeVar("ItemT")

ExecutorKind = Annotated[str | None, typer.Option(help="local (asyncio, the default) or "
                         "ray (worker actors); sounding.toml: executor.kind")]
RayAddress = Annotated[str | None, typer.Option(help="Ray cluster to join (auto, "
                       "HOST:PORT; default: start a local one)")]
Workers = Annotated[int | None, typer.Option(min=1, help="Ray worker actors")]
WorkerConcurrency = Annotated[int | None, typer.Option(min=1, help="Rollouts in flight "
                              "per Ray worker")]


def executor_flags(executor: str | None, ray_address: str | None, workers: int | None,
                   worker_concurrency: int | None) -> dict[str, object]:
    """The dotted settings the executor flags override (None: not given)."""
    return {"executor.kind": executor, "executor.ray_address": ray_address,
            "executor.workers": workers, "executor.worker_concurrency": worker_concurrency}


@asynccontextmanager
async def started_executor(factory: RolloutFactory[ItemT], settings: Settings, *,
                           concurrency: int) -> AsyncIterator[Executor[ItemT]]:
    """The executor `settings.executor` names, closed on exit (Ray: its stats printed)."""
    from ..executors import start_executor
    from ..providers.ratelimit import parse_rates

    executor = await start_executor(
        factory, settings.executor, concurrency=concurrency,
        rates=parse_rates(settings.web.rate_limits),
        provider_concurrency=settings.web.concurrency)
    try:
        yield executor
    finally:
        if settings.executor.kind == "ray":
            for line in executor.stats().lines():
                err.print(line, markup=False)
        await executor.aclose()
