"""The recorder: builds a run's Trajectory (and its heavy-mode branches) from run events.

The agent loop feeds its own recorder as it emits, so the live record and a record
rebuilt later from the same events (a stream received over the wire, a test) are one
and the same by construction.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigError
from .events import (
    ModelCallFinished,
    Note,
    RoundStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from .trajectory import Trajectory

__all__ = ["Recorder"]


class Recorder:
    """Feed it every event of a run (`recorder(event)`); `trajectory` is the record.

    Events with a `branch` go to that branch's trajectory, nested in the root's
    `branches` in the order the branches started. Calls, tool calls and pool messages
    come from their events; the closing facts (answer, termination, error, rounds,
    seconds, notes) come from `RunFinished`. Warnings (`Note(level="warning")`) are
    kept in `notes["warnings"]`, so the record says what the progress display said.
    """

    def __init__(self, root: Trajectory | None = None) -> None:
        self._runs: dict[str | None, Trajectory] = {} if root is None else {None: root}
        # One handler per event type: a dict lookup keeps the per-event cost tiny.
        self._handlers: dict[type, Callable[[RunEvent], None]] = {
            RunStarted: self._started,  # type: ignore[dict-item]
            RoundStarted: self._round,  # type: ignore[dict-item]
            ModelCallFinished: self._model_call,  # type: ignore[dict-item]
            ToolCallFinished: self._tool_call,  # type: ignore[dict-item]
            Note: self._note,  # type: ignore[dict-item]
            RunFinished: self._finished,  # type: ignore[dict-item]
        }

    @property
    def trajectory(self) -> Trajectory:
        """The root run's record (available once its RunStarted was seen)."""
        try:
            return self._runs[None]
        except KeyError:
            raise ConfigError("the recorder has not seen a RunStarted event yet") from None

    def branch(self, name: str) -> Trajectory:
        """A heavy-mode branch's record, by branch id."""
        return self._runs[name]

    def __call__(self, event: RunEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _started(self, event: RunStarted) -> None:
        if event.branch in self._runs:
            return  # the root handed to the constructor: already the live record
        traj = Trajectory(question=event.question, mode=event.mode, protocol=event.protocol,
                          model=event.model, settings=dict(event.settings),
                          id=event.trajectory_id, started_at=event.started_at)
        if event.branch is not None:
            self.trajectory.branches.append(traj)
        self._runs[event.branch] = traj

    def _round(self, event: RoundStarted) -> None:
        self._runs[event.branch].rounds = event.round

    def _model_call(self, event: ModelCallFinished) -> None:
        traj = self._runs[event.branch]
        traj.messages.extend(event.messages)
        traj.model_calls.append(event.record)

    def _tool_call(self, event: ToolCallFinished) -> None:
        self._runs[event.branch].tool_calls.append(event.record)

    def _note(self, event: Note) -> None:
        if event.level == "warning":
            warnings = self._runs[event.branch].notes.setdefault("warnings", [])
            if isinstance(warnings, list):
                warnings.append(event.message)

    def _finished(self, event: RunFinished) -> None:
        traj = self._runs[event.branch]
        source = event.trajectory
        if source is not traj:
            traj.answer, traj.termination = source.answer, source.termination
            traj.rounds, traj.seconds = source.rounds, source.seconds
            traj.notes = dict(source.notes)
        if event.error is not None:
            traj.error = event.error
        traj.messages.extend(event.messages)
