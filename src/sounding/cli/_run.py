"""One run at the CLI boundary: progress events in, a closed trajectory out, whatever happens.

The crash rule, CLI side: a run that ends for any reason (a bug of ours, an endpoint
that fails, Ctrl-C) yields a trajectory with `termination: error` and a `RunError`
holding the traceback, so `--json` and `--trace` still have something to write.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable
from typing import Any

from .._secrets import scrubber_for
from ..agent import arun
from ..agent.api import settings_snapshot
from ..config import Settings
from ..llm.base import ChatModel
from ..trace.events import RunEvent
from ..trace.trajectory import RunError, Trajectory
from .progress import EventObserver

__all__ = ["RunOutcome", "run_question"]

EventSink = Callable[[RunEvent], None]


class RunOutcome:
    """The closed trajectory plus what stopped it early, if anything did."""

    def __init__(self, trajectory: Trajectory, exception: BaseException | None = None) -> None:
        self.trajectory = trajectory
        self.exception = exception

    @property
    def interrupted(self) -> bool:
        return isinstance(self.exception, KeyboardInterrupt)


def _progress_kwargs(watcher: EventObserver, sink: EventSink | None) -> dict[str, Any]:
    # `arun(on_event=...)` is arriving with the core branch; until it does, today's
    # `observer=` is bridged to events by EventObserver (drop the bridge once merged).
    if "on_event" in inspect.signature(arun).parameters:
        def on_event(event: RunEvent) -> None:
            if event.kind == "run_finished" and event.branch is None:
                # on Ctrl-C the closed partial record arrives here before the interrupt
                watcher.seen.setdefault(event.trajectory.id, event.trajectory)
            if sink is not None:
                sink(event)

        return {"on_event": on_event}
    return {"observer": watcher}


def run_question(question: str, settings: Settings, sink: EventSink | None, *,
                 model: ChatModel | None = None) -> RunOutcome:
    """Run `question`; never raises (except SystemExit), always returns a trajectory.

    `model` replaces the endpoint's client (tests pass a ScriptedModel)."""
    watcher = EventObserver(sink)
    start = time.monotonic()
    try:
        trajectory = asyncio.run(arun(question, settings, model=model,
                                      **_progress_kwargs(watcher, sink)))
        return RunOutcome(trajectory)
    except KeyboardInterrupt as exc:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        error = RunError("KeyboardInterrupt", "interrupted (Ctrl-C)", tb)
        return RunOutcome(_partial(question, settings, watcher, error, start), exc)
    except Exception as exc:  # the CLI boundary: the record keeps the traceback
        error = RunError.from_exception(exc)
        return RunOutcome(_partial(question, settings, watcher, error, start), exc)


def _partial(question: str, settings: Settings, watcher: EventObserver, error: RunError,
             start: float) -> Trajectory:
    """Close what the run had recorded so far (or an empty record) with `error`."""
    seen = list(watcher.seen.values())
    root = next((t for t in seen if t.mode == settings.mode), None)
    if root is None:
        root = Trajectory(question=question, mode=settings.mode, protocol=settings.protocol,
                          model=settings.llm.model or "",
                          settings=settings_snapshot(settings))  # type: ignore[arg-type]
    for other in seen:  # heavy mode: branches not yet attached to the parent
        if other is not root and all(other is not b for b in root.branches):
            root.branches.append(other)
    for record in [root, *root.branches]:
        if record.termination is None or record is root:
            record.termination = "error"
            record.error = record.error or error
        rounds = [c.round for c in record.model_calls]
        record.rounds = max([record.rounds, *rounds])
    root.error = error
    root.seconds = root.seconds or time.monotonic() - start
    # As `arun` does for a finished run: no known secret leaves in a partial record either.
    return scrubber_for(settings).record(root, Trajectory.to_dict,
                                         Trajectory.from_dict)  # type: ignore[arg-type]
