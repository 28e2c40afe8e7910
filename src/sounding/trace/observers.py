"""Observers watch a run as it happens (progress display, logging, spans).

The loop calls them; they never change the run. Recording into the Trajectory
is done by the loop itself, so an observer may be slow or absent.
"""

from __future__ import annotations

from typing import Protocol

from .trajectory import ModelCallRecord, ToolCallRecord, Trajectory

__all__ = ["MultiObserver", "NullObserver", "Observer"]


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
