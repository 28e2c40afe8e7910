"""Run events: the typed stream every mode yields while it runs.

One union of small frozen dataclasses, each with a `kind` literal. Consumers (the
trajectory recorder, the CLI progress display, the HTTP server's SSE stream, the
web page) match on `kind`; nothing parses strings. In heavy mode every event
carries the id of the branch that produced it (`None` for the parent run).

`to_dict()` gives the JSON form used on the wire (SSE, stored job events); the
records inside (model and tool calls) use the Trajectory's own converters, so a
streamed run and a recorded run share one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from ..types import JSON, JSONObject, Message
from .trajectory import ModelCallRecord, RunError, Termination, ToolCallRecord, Trajectory

__all__ = [
    "BranchFinished",
    "BranchStarted",
    "ModelCallFinished",
    "ModelCallStarted",
    "ModelDelta",
    "Note",
    "ReportUpdated",
    "RoundStarted",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "ToolCallFinished",
    "ToolCallStarted",
    "event_to_dict",
]


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run (or a heavy-mode branch's run) began."""

    trajectory_id: str
    question: str
    mode: str
    protocol: str
    model: str
    branch: str | None = None
    kind: Literal["run_started"] = "run_started"
    settings: JSONObject = field(default_factory=dict)
    """The settings snapshot recorded in the trajectory (no secrets)."""
    started_at: str = ""


@dataclass(frozen=True, slots=True)
class RoundStarted:
    """A research round began (rounds count from 1)."""

    round: int
    branch: str | None = None
    kind: Literal["round_started"] = "round_started"


@dataclass(frozen=True, slots=True)
class ModelCallStarted:
    """A model call was sent; `purpose` is turn, forced_answer, summary, synthesis, ..."""

    round: int
    purpose: str
    branch: str | None = None
    kind: Literal["model_call_started"] = "model_call_started"


@dataclass(frozen=True, slots=True)
class ModelDelta:
    """Streamed text of the model call in progress (only when the consumer asked to
    stream). `channel` is `content` or `reasoning` (a server's separate reasoning field)."""

    round: int
    text: str
    channel: Literal["content", "reasoning"] = "content"
    branch: str | None = None
    kind: Literal["model_delta"] = "model_delta"


@dataclass(frozen=True, slots=True)
class ModelCallFinished:
    """A model call came back; `record` is exactly what the Trajectory stores."""

    record: ModelCallRecord
    branch: str | None = None
    kind: Literal["model_call_finished"] = "model_call_finished"
    messages: tuple[Message, ...] = ()
    """Messages new to the trajectory's pool (`record.prompt` points at them)."""


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """A tool call began; `index` is its position among the calls of its turn."""

    round: int
    index: int
    name: str
    arguments: JSONObject = field(default_factory=dict)
    branch: str | None = None
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call came back; `record` is exactly what the Trajectory stores."""

    index: int
    record: ToolCallRecord
    branch: str | None = None
    kind: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass(frozen=True, slots=True)
class ReportUpdated:
    """IterResearch's evolving report after a round (also a heavy branch's)."""

    round: int
    report: str
    branch: str | None = None
    kind: Literal["report_updated"] = "report_updated"


@dataclass(frozen=True, slots=True)
class BranchStarted:
    """Heavy mode started a branch (`seed` is its sampling seed, when set)."""

    branch: str
    seed: int | None = None
    kind: Literal["branch_started"] = "branch_started"


@dataclass(frozen=True, slots=True)
class BranchFinished:
    """Heavy mode finished a branch, with its answer and termination."""

    branch: str
    answer: str | None
    termination: Termination | None
    kind: Literal["branch_finished"] = "branch_finished"


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth showing that is not a call: a budget reached, a repeated call,
    a summary made, a fallback taken. `level` is info or warning."""

    message: str
    level: Literal["info", "warning"] = "info"
    round: int = 0
    branch: str | None = None
    data: JSONObject = field(default_factory=dict)
    kind: Literal["note"] = "note"


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The run ended; `trajectory` is the closed record (always present, also on error)."""

    trajectory: Trajectory
    error: RunError | None = None
    branch: str | None = None
    kind: Literal["run_finished"] = "run_finished"
    messages: tuple[Message, ...] = ()
    """Messages added to the pool at the close (the final assistant turn)."""


RunEvent = (
    RunStarted | RoundStarted | ModelCallStarted | ModelDelta | ModelCallFinished
    | ToolCallStarted | ToolCallFinished | ReportUpdated | BranchStarted | BranchFinished
    | Note | RunFinished
)


_PLAIN = (str, int, float, bool, type(None))


def _value(value: object) -> JSON:
    if type(value) in _PLAIN:  # most fields: checked first, as events are many
        return value  # type: ignore[return-value]
    if isinstance(value, ModelCallRecord | ToolCallRecord | RunError | Message):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    if isinstance(value, Trajectory):
        # On the wire a finished run is summarised; the full record downloads separately.
        return {"id": value.id, "answer": value.answer, "termination": value.termination,
                "rounds": value.rounds, "seconds": round(value.seconds, 6),
                "usage": value.usage.to_dict(), "sources": list(value.sources())}
    return value  # type: ignore[return-value]


_FIELDS: dict[type, tuple[str, ...]] = {}


def event_to_dict(event: RunEvent) -> JSONObject:
    """The JSON form of an event (SSE payloads, stored job events)."""
    names = _FIELDS.get(type(event))
    if names is None:  # (dataclasses.fields builds its tuple anew on every call)
        names = _FIELDS[type(event)] = tuple(f.name for f in fields(event))
    return {name: _value(getattr(event, name)) for name in names}
