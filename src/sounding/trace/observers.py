"""Observers: the older, callback-style view of a run (kept for existing users).

Runs now yield typed events (`trace/events.py`); `observer_callback` turns an
Observer into an event consumer, so code written against `Observer` keeps working.
New code should consume the events directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .events import RunEvent
from .recorder import Recorder
from .trajectory import ModelCallRecord, ToolCallRecord, Trajectory

__all__ = ["MultiObserver", "NullObserver", "Observer", "observer_callback"]


class Observer(Protocol):
    def on_round(self, trajectory: Trajectory, round: int) -> None: ...
    def on_model_call(self, trajectory: Trajectory, record: ModelCallRecord) -> None: ...
    def on_tool_call(self, trajectory: Trajectory, record: ToolCallRecord) -> None: ...
    def on_event(self, trajectory: Trajectory, message: str) -> None: ...
    def on_finish(self, trajectory: Trajectory) -> None: ...


class NullObserver:
    """Observes nothing; subclass it and override what you need."""

    def on_round(self, trajectory: Trajectory, round: int) -> None:
        pass

    def on_model_call(self, trajectory: Trajectory, record: ModelCallRecord) -> None:
        pass

    def on_tool_call(self, trajectory: Trajectory, record: ToolCallRecord) -> None:
        pass

    def on_event(self, trajectory: Trajectory, message: str) -> None:
        pass

    def on_finish(self, trajectory: Trajectory) -> None:
        pass


class MultiObserver(NullObserver):
    """Fans each event out to several observers."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = list(observers)

    def on_round(self, trajectory: Trajectory, round: int) -> None:
        for o in self.observers:
            o.on_round(trajectory, round)

    def on_model_call(self, trajectory: Trajectory, record: ModelCallRecord) -> None:
        for o in self.observers:
            o.on_model_call(trajectory, record)

    def on_tool_call(self, trajectory: Trajectory, record: ToolCallRecord) -> None:
        for o in self.observers:
            o.on_tool_call(trajectory, record)

    def on_event(self, trajectory: Trajectory, message: str) -> None:
        for o in self.observers:
            o.on_event(trajectory, message)

    def on_finish(self, trajectory: Trajectory) -> None:
        for o in self.observers:
            o.on_finish(trajectory)


def observer_callback(observer: Observer, recorder: Recorder) -> Callable[[RunEvent], None]:
    """An event consumer that calls `observer` as the loop used to: rounds, calls and
    notes of heavy-mode branches arrive as notes prefixed with the branch id."""

    def on_event(event: RunEvent) -> None:
        traj = recorder.trajectory
        branch = getattr(event, "branch", None)
        if event.kind == "round_started":
            if branch is None:
                observer.on_round(traj, event.round)
            else:
                observer.on_event(traj, f"{branch}: round {event.round}")
        elif event.kind == "model_call_finished":
            observer.on_model_call(traj, event.record)
        elif event.kind == "tool_call_finished":
            observer.on_tool_call(traj, event.record)
        elif event.kind == "note":
            observer.on_event(traj, event.message if branch is None
                              else f"{branch}: {event.message}")
        elif event.kind == "branch_finished":
            observer.on_event(traj, f"{event.branch} finished: {event.termination}")
        elif event.kind == "run_finished" and branch is None:
            observer.on_finish(traj)

    return on_event
