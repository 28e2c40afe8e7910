"""Entry points: `run_events` (the one loop, as a stream of typed events) and `arun`
(drains it and returns the Trajectory).

The crash rule: a run that ends for any reason (an LLM error, cancellation or Ctrl-C, a
bug of ours) still closes its record, with `termination: "error"` and `error` holding
the exception and its traceback, and `arun` returns it. In *strict* mode (the test
suite's; `strict_runs()` or `strict=True`) a bug of ours is raised after the record is
closed, so tests still see it. Cancellation (Ctrl-C, a caller's timeout) closes the
record too and is then re-raised, as asyncio expects: the partial trajectory (error type
`CancelledError`) arrives first in the root's `RunFinished` event, so a caller that
must write it on Ctrl-C takes it from there (`on_event`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

from .._secrets import scrubber_for, strip_url_credentials
from ..config import Settings
from ..env import Environment
from ..errors import ConfigError, SoundingError
from ..llm.base import ChatModel
from ..trace.events import Note, RunEvent, RunFinished, RunStarted
from ..trace.observers import Observer, observer_callback
from ..trace.recorder import Recorder
from ..trace.trajectory import RunError, Trajectory
from .loop import RunContext
from .modes import MODES, Agent, get_mode, register_mode
from .resources import open_agent

__all__ = ["MODES", "Agent", "arun", "register_mode", "run_events", "settings_snapshot",
           "strict_runs"]

_STRICT = False
CANCELLED = "the run was cancelled (interrupted, or stopped by its caller)"


@contextmanager
def strict_runs(enabled: bool = True) -> Iterator[None]:
    """Within this block, runs re-raise bugs of ours (after closing their record)."""
    global _STRICT
    old, _STRICT = _STRICT, enabled
    try:
        yield
    finally:
        _STRICT = old


def settings_snapshot(settings: Settings) -> dict[str, object]:
    """Settings as recorded in a trajectory: no secrets, paths as strings."""
    data = dataclasses.asdict(settings)
    data.pop("secrets", None)

    def clean(value: object) -> object:
        if isinstance(value, dict):  # drops `api_key` and any other `*key*` field
            return {k: clean(v) for k, v in value.items() if "key" not in k.lower()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return strip_url_credentials(value)  # a base URL may carry user:key@ or ?key=
        if isinstance(value, int | float | bool) or value is None:
            return value
        return str(value)

    return clean(data)  # type: ignore[return-value]


async def _drive(agent: Agent, ctx: RunContext, done: Callable[[], None],
                 strict: bool) -> None:
    """Run the agent; whatever ends it, the record is closed (RunFinished emitted)."""
    try:
        await agent.run()
    except asyncio.CancelledError as exc:
        if ctx.trajectory.termination is None:
            ctx.fail(exc, message=CANCELLED)
    except Exception as exc:  # a bug of ours: the boundary of the whole run
        if ctx.trajectory.termination is None:
            ctx.fail(exc)
        if strict:
            raise
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: close, then go on
        if ctx.trajectory.termination is None:
            ctx.fail(exc)
        raise
    finally:
        done()


async def run_events(
    question: str,
    settings: Settings,
    *,
    model: ChatModel | None = None,
    environment: Environment | None = None,
    seed: int | None = None,
    stream: bool = False,
    strict: bool | None = None,
) -> AsyncIterator[RunEvent]:
    """Research one question, yielding every event of the run as it happens.

    The last event is the root's `RunFinished`, whose `trajectory` is the closed record.
    `stream=True` adds `ModelDelta` events (text as the model writes it). `model` and
    `environment` may be shared by many concurrent runs; those created here are closed
    here. Stopping the iteration early cancels the run.
    """
    if not question.strip():
        raise ConfigError("the question is empty")
    factory = get_mode(settings.mode)
    strict = _STRICT if strict is None else strict
    trajectory = Trajectory(
        question=question, mode=settings.mode, protocol=settings.protocol,
        model=settings.llm.model or (model.name if model is not None else ""),
        settings=settings_snapshot(settings),  # type: ignore[arg-type]
    )
    started = RunStarted(trajectory.id, question, trajectory.mode, trajectory.protocol,
                         trajectory.model, settings=trajectory.settings,
                         started_at=trajectory.started_at)
    async with contextlib.AsyncExitStack() as stack:
        try:
            res = await stack.enter_async_context(
                open_agent(settings, model=model, environment=environment))
        except ConfigError:
            raise  # the caller's to fix: nothing ran
        except Exception as exc:  # e.g. a corpus that cannot be opened: a closed record
            if strict and not isinstance(exc, SoundingError):
                raise
            for early in _closed_before_start(trajectory, started, exc):
                yield early
            return
        sampling = settings.sampling if seed is None else dataclasses.replace(
            settings.sampling, seed=seed)
        queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        ctx = RunContext(trajectory, settings, res.model, res.environment,
                         emit=queue.put_nowait, sampling=sampling, stream=stream,
                         strict=strict)
        ctx.emit(started)
        task = asyncio.create_task(_drive(factory(ctx), ctx, lambda: queue.put_nowait(None),
                                          strict))
        try:
            while (event := await queue.get()) is not None:
                yield event
        except asyncio.CancelledError:
            # Our consumer was cancelled (Ctrl-C, a caller's timeout): close the run,
            # hand over what it recorded (RunFinished last), then let the cancel go on.
            task.cancel()
            await asyncio.wait([task])
            while not queue.empty():
                if (event := queue.get_nowait()) is not None:
                    yield event
            raise
        finally:
            if not task.done():  # the consumer stopped early (or failed): stop the run
                task.cancel()
                await asyncio.wait([task])
        await task  # strict mode: a bug of ours surfaces here, after the record closed


def _closed_before_start(trajectory: Trajectory, started: RunStarted,
                         exc: Exception) -> list[RunEvent]:
    """The events of a run whose resources could not be opened: started, failed, closed."""
    error = RunError.from_exception(exc)
    trajectory.error, trajectory.termination = error, "error"
    events: list[RunEvent] = [
        started, Note(f"run failed: {error.type}: {error.message}", "warning"),
        RunFinished(trajectory, error)]
    recorder = Recorder(trajectory)
    for event in events:
        recorder(event)
    return events


async def arun(
    question: str,
    settings: Settings,
    *,
    model: ChatModel | None = None,
    environment: Environment | None = None,
    seed: int | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    observer: Observer | None = None,
    stream: bool = False,
    strict: bool | None = None,
) -> Trajectory:
    """Research one question and return its closed trajectory (see `run_events`).

    `on_event` sees every event as it happens (the CLI progress display); `observer`
    is the older callback interface, adapted to events.
    """
    consumers: list[Callable[[RunEvent], None]] = [] if on_event is None else [on_event]
    if observer is not None:
        shadow = Recorder()
        consumers += [shadow, observer_callback(observer, shadow)]
    closed: Trajectory | None = None
    async for event in run_events(question, settings, model=model, environment=environment,
                                  seed=seed, stream=stream, strict=strict):
        for consume in consumers:
            consume(event)
        if isinstance(event, RunFinished) and event.branch is None:
            closed = event.trajectory
    assert closed is not None, "a run always ends with its RunFinished event"
    # The one place every finished record passes: mask every known secret in it.
    return scrubber_for(settings).record(closed, Trajectory.to_dict,
                                         Trajectory.from_dict)  # type: ignore[arg-type]
