"""Test doubles for the LLM layer, shipped in the package so every layer can test offline.

- `ScriptedModel`: an in-process ChatModel that plays back scripted replies.
- `ScriptedServer`: the same idea over real HTTP, an OpenAI-compatible server on loopback.
- `forbid_real_requests()`: make `OpenAIChatModel` refuse non-loopback endpoints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeAlias

from ..types import Usage, estimate_tokens
from ._script import Script
from ._scripted_server import ScriptedServer, ServerReply
from ._wire import apply_stop, cut_tool_response, estimate_prompt_tokens, message_to_openai
from .base import ChatRequest, Completion, StreamChunk
from .openai_client import set_real_requests_allowed

__all__ = [
    "ModelReply",
    "ScriptExhausted",
    "ScriptedModel",
    "ScriptedServer",
    "ServerReply",
    "forbid_real_requests",
]

ModelReply: TypeAlias = "str | Completion | Exception | Callable[[ChatRequest], str | Completion]"
"""What a ScriptedModel plays back for one call; an Exception is raised."""


_PIECES = re.compile(r"\s*\S+|\s+")


class ScriptExhausted(AssertionError):
    """A strict ScriptedModel was called more often than its script allows."""


class ScriptedModel:
    """A ChatModel that answers from a script, in order, and records every request.

    Like a server, it cuts the reply at the first of `request.stop` and then at
    `<tool_response>`. Usage is estimated unless a scripted Completion carries one.
    Strict (the default): an extra call raises `ScriptExhausted`; otherwise the
    last reply repeats.
    """

    def __init__(self, replies: Iterable[ModelReply] = (), *, strict: bool = True,
                 name: str = "scripted", latency: float = 0.0, cycle: bool = False) -> None:
        self._script = Script(replies, strict=strict, cycle=cycle, owner="ScriptedModel")
        self._name = name
        self.latency = latency
        """Seconds each call takes (asyncio.sleep; concurrent calls overlap)."""
        self.requests: list[ChatRequest] = []
        self.closed = False

    @classmethod
    def cycle(cls, replies: Iterable[ModelReply], *, name: str = "scripted",
              latency: float = 0.0) -> ScriptedModel:
        """A model that repeats `replies` forever (benchmarks, load tests)."""
        return cls(replies, cycle=True, name=name, latency=latency)

    @classmethod
    def repeat(cls, reply: ModelReply, *, name: str = "scripted",
               latency: float = 0.0) -> ScriptedModel:
        """A model that answers every call with `reply`."""
        return cls([reply], cycle=True, name=name, latency=latency)

    @property
    def name(self) -> str:
        return self._name

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used (0 for a cycling model)."""
        return self._script.remaining

    def assert_all_used(self) -> None:
        if self.remaining:
            raise AssertionError(f"ScriptedModel {self._name!r}: {self.remaining} of "
                                 f"{len(self._script.replies)} scripted replies were never used")

    async def aclose(self) -> None:
        self.closed = True

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        reply = self._take(request)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if callable(reply):
            reply = reply(request)
        if isinstance(reply, Exception):
            raise reply
        return self._finish(reply, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """The scripted reply piece by piece (word-sized deltas), then its Completion."""
        done = await self.complete(request)
        for piece in _PIECES.findall(done.text):
            yield StreamChunk(piece)
        yield StreamChunk(completion=done)

    def _take(self, request: ChatRequest) -> ModelReply:
        reply = self._script.take()
        if reply is None:
            raise ScriptExhausted(
                f"ScriptedModel {self._name!r} got call #{len(self.requests)} but its script "
                f"has only {len(self._script.replies)} replies; last message: "
                f"{_last_message(request)}")
        return reply

    def _finish(self, reply: str | Completion, request: ChatRequest) -> Completion:
        completion = reply if isinstance(reply, Completion) else Completion(text=reply)
        text, _matched = apply_stop(completion.text, request.stop)
        text = cut_tool_response(text)
        usage = completion.usage
        if not usage.total_tokens:
            prompt = estimate_prompt_tokens([message_to_openai(m) for m in request.messages])
            usage = Usage(prompt, estimate_tokens(text), estimated=True)
        finish = completion.finish_reason or ("tool_calls" if completion.tool_calls else "stop")
        return dataclasses.replace(completion, text=text, usage=usage, finish_reason=finish,
                                   model=completion.model or self._name)


@contextmanager
def forbid_real_requests() -> Iterator[None]:
    """Within this block `OpenAIChatModel` refuses any endpoint that is not loopback.

    Scripted doubles and loopback `ScriptedServer`s keep working; use it in a
    conftest fixture so no test can reach a paid API by accident.
    """
    old = set_real_requests_allowed(False)
    try:
        yield
    finally:
        set_real_requests_allowed(old)


def _last_message(request: ChatRequest) -> str:
    if not request.messages:
        return "(no messages)"
    last = request.messages[-1]
    return f"{last.role}: {last.content[:300]!r}"

