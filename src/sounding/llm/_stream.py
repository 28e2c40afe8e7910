"""Server-sent events of a streamed chat completion, folded back into one reply.

The folded reply has the shape of a non-streamed body, so that `_reply.to_completion`
turns both into the same Completion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..errors import MalformedReplyError
from ..types import JSON, JSONObject
from .base import StreamChannel

__all__ = ["StreamFold", "sse_data"]


async def sse_data(chunks: AsyncIterator[bytes], *, cap: int, where: str
                   ) -> AsyncIterator[bytes]:
    """The payloads of `data:` lines, read with a cap on the whole stream's size."""
    buf = bytearray()
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise MalformedReplyError(f"{where} streamed more than {cap} bytes; refused")
        start = len(buf)
        buf += chunk
        cut = 0
        while (end := buf.find(b"\n", max(cut, start))) >= 0:
            line = bytes(buf[cut:end]).rstrip(b"\r")
            cut = end + 1
            if line.startswith(b"data:"):
                yield line[5:].strip()
        del buf[:cut]
    line = bytes(buf).strip()
    if line.startswith(b"data:"):
        yield line[5:].strip()


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamFold:
    """Accumulates `chat.completion.chunk` events into one chat-completion body."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    saw_content: bool = False
    calls: dict[int, _Call] = field(default_factory=dict)
    finish: JSON = None
    usage: JSON = None
    model: str = ""
    logprobs: list[JSON] = field(default_factory=list)
    token_ids: list[JSON] = field(default_factory=list)
    prompt_token_ids: JSON = None
    extra_reasoning_key: str = "reasoning_content"

    def feed(self, event: JSONObject) -> list[tuple[str, StreamChannel]]:
        """Take one event; returns the (delta, channel) pairs it carried."""
        if isinstance(event.get("model"), str):
            self.model = str(event["model"])
        if event.get("usage") is not None:
            self.usage = event["usage"]
        if event.get("prompt_token_ids") is not None:
            self.prompt_token_ids = event["prompt_token_ids"]
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return []
        choice = choices[0]
        if choice.get("finish_reason") is not None:
            self.finish = choice["finish_reason"]
        self._tokens(choice)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return []
        out: list[tuple[str, StreamChannel]] = []
        for key in ("reasoning", "reasoning_content"):
            piece = delta.get(key)
            if isinstance(piece, str) and piece:
                self.reasoning.append(piece)
                self.extra_reasoning_key = key
                out.append((piece, "reasoning"))
        piece = delta.get("content")
        if isinstance(piece, str):
            self.saw_content = True
            if piece:
                self.content.append(piece)
                out.append((piece, "text"))
        self._calls(delta.get("tool_calls"))
        return out

    def _tokens(self, choice: JSONObject) -> None:
        lp = choice.get("logprobs")
        if isinstance(lp, dict) and isinstance(lp.get("content"), list):
            self.logprobs.extend(lp["content"])  # type: ignore[arg-type]
        ids = choice.get("token_ids")
        if isinstance(ids, list):
            self.token_ids.extend(ids)
        if self.prompt_token_ids is None and choice.get("prompt_token_ids") is not None:
            self.prompt_token_ids = choice["prompt_token_ids"]  # SGLang: per choice

    def _calls(self, raw: JSON) -> None:
        if not isinstance(raw, list):
            return
        for item in raw:
            if not isinstance(item, dict):
                continue
            index = item.get("index")
            call = self.calls.setdefault(index if isinstance(index, int) else len(self.calls),
                                         _Call())
            if isinstance(item.get("id"), str):
                call.id = str(item["id"])
            fn = item.get("function")
            if isinstance(fn, dict):
                if isinstance(fn.get("name"), str):
                    call.name += str(fn["name"])
                if isinstance(fn.get("arguments"), str):
                    call.arguments.append(str(fn["arguments"]))

    def body(self) -> JSONObject:
        """The reply as a non-streamed chat completion."""
        # vLLM opens every stream with content "": a reply of tool calls alone has null
        # content when not streamed, so keep it null here too.
        text = "".join(self.content)
        empty = None if self.calls or not self.saw_content else ""
        message: JSONObject = {"role": "assistant", "content": text or empty}
        if self.reasoning:
            message[self.extra_reasoning_key] = "".join(self.reasoning)
        if self.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": "".join(c.arguments)}}
                for _, c in sorted(self.calls.items())]
        choice: JSONObject = {"index": 0, "message": message, "finish_reason": self.finish,
                              "logprobs": {"content": self.logprobs} if self.logprobs else None}
        if self.token_ids:
            choice["token_ids"] = self.token_ids
        out: JSONObject = {"object": "chat.completion", "model": self.model,
                           "choices": [choice], "usage": self.usage}
        if self.prompt_token_ids is not None:
            out["prompt_token_ids"] = self.prompt_token_ids
        return out
