"""What one tool call produced, as the environment returns it to the loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..llm.base import ChatRequest, Completion
from ..types import JSON

__all__ = ["ToolResult"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one tool call produced: the observation and the facts of how it was obtained."""

    text: str
    """The observation the model sees (an error observation when the call failed)."""
    sources: tuple[str, ...] = ()
    meta: Mapping[str, JSON] = field(default_factory=dict)
    """The tool's own report, plus `ignored_arguments`, `error_type` and `traceback`."""
    provider: str | None = None
    cache_hit: bool = False
    retries: int = 0
    model_calls: tuple[tuple[ChatRequest, Completion], ...] = ()
    """Model calls the tool made (visit's extraction), for the trajectory."""
    error: str | None = None
    """`ErrorType: message` when the call failed."""
