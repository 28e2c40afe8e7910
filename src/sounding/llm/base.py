"""The one small interface between the agent and a model: `ChatModel.complete` / `stream`.

An HTTP endpoint (`OpenAIChatModel`), a scripted double (`ScriptedModel`) and,
later, a trainer's token-level engine all implement it. A `Completion` carries
what RL needs when the backend has it (token ids, log-probs, prompt token ids, raw text).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ..config import Sampling
from ..errors import MalformedReplyError
from ..types import JSON, Message, ToolCall, Usage

__all__ = [
    "ChatModel",
    "ChatRequest",
    "Completion",
    "DeltaCallback",
    "StreamChannel",
    "StreamChunk",
    "ToolSchema",
    "complete_streaming",
]


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
    """Ids of the sampled tokens, when the server returned them (vLLM `return_token_ids`)."""
    logprobs: tuple[float, ...] | None = None
    """Log-probability of each sampled token, when the server returned them."""
    prompt_token_ids: tuple[int, ...] | None = None
    """The prompt exactly as the server tokenised it (vLLM, with `return_token_ids`)."""
    raw_text: str | None = None
    """The content as the server sent it, before reasoning was put back and the text cut
    at `<tool_response>`; None when the server sent no content string."""


StreamChannel = Literal["text", "reasoning"]


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a streamed reply: a text or reasoning delta, or (last) the Completion,
    equal to what `complete` would have returned for the same reply."""

    delta: str = ""
    channel: StreamChannel = "text"
    completion: Completion | None = None


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns a ChatRequest into a Completion.

    Implementations raise `LLMError` (or a subclass) when no completion can be had.
    """

    @property
    def name(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Deltas as they arrive, then one chunk holding the final Completion."""
        ...

    async def aclose(self) -> None: ...


DeltaCallback = Callable[[str, StreamChannel], "Awaitable[None] | None"]
"""Called with each delta and its channel; may be a plain function or a coroutine function."""


async def complete_streaming(model: ChatModel, request: ChatRequest,
                             on_delta: DeltaCallback) -> Completion:
    """The Completion of `request`, calling `on_delta(text, channel)` as text arrives.

    Models without `stream` (a trainer's engine, a test double) are called with
    `complete`, and the whole text is passed to `on_delta` once.
    """
    stream = getattr(model, "stream", None)
    if stream is None:
        done = await model.complete(request)
        if done.text:
            await _call(on_delta, done.text, "text")
        return done
    final: Completion | None = None
    async for chunk in stream(request):
        if chunk.completion is not None:
            final = chunk.completion
        elif chunk.delta:
            await _call(on_delta, chunk.delta, chunk.channel)
    if final is None:
        raise MalformedReplyError(f"model {model.name} ended its stream without a completion")
    return final


async def _call(on_delta: DeltaCallback, text: str, channel: StreamChannel) -> None:
    result = on_delta(text, channel)
    if inspect.isawaitable(result):
        await result
