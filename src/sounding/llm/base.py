"""The one small interface between the agent and a model: `ChatModel.complete`.

An HTTP endpoint (`OpenAIChatModel`), a scripted double (`ScriptedModel`) and,
later, a trainer's token-level engine all implement it. A `Completion` carries
what RL needs when the backend has it (token ids, log-probs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..config import Sampling
from ..types import JSON, Message, ToolCall, Usage

__all__ = ["ChatModel", "ChatRequest", "Completion", "ToolSchema"]


@dataclass(frozen=True, slots=True)
class ToolSchema:
    """A function signature as the model sees it (JSON Schema parameters)."""

    name: str
    description: str
    parameters: Mapping[str, JSON]

    def to_openai(self) -> dict[str, JSON]:
        return {"type": "function", "function": self.to_function()}

    def to_function(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call to a model: messages plus how to sample."""

    messages: Sequence[Message]
    sampling: Sampling = field(default_factory=Sampling)
    stop: tuple[str, ...] = ()
    tools: Sequence[ToolSchema] = ()
    """Native function calling only; empty for the tags protocol."""
    tool_choice: str | None = None
    """`none` forbids tool calls (native protocol, forced final answer)."""
    response_format: Mapping[str, JSON] | None = None
    """Structured output, e.g. {"type": "json_object"}, where the server supports it."""
    logprobs: bool = False
    purpose: str = "turn"
    """What the call is for (turn, forced_answer, extract, summary, synthesis, judge)."""


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's reply, normalised.

    `text` is the assistant content with any separate `reasoning` put back in
    front as `<think>...</think>`, and with anything from `<tool_response>` on
    already cut away.
    """

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    latency_s: float = 0.0
    retries: int = 0
    model: str = ""
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns a ChatRequest into a Completion.

    Implementations raise `LLMError` (or a subclass) when no completion can be had.
    """

    @property
    def name(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None: ...
