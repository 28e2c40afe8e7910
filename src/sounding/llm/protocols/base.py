"""A wire protocol decides how tools, tool calls and results travel as messages.

`tags` is the Tongyi DeepResearch text format (tools in the system prompt, calls
as `<tool_call>` text, results as `<tool_response>` user messages); `native` is
OpenAI function calling. The agent loop talks only to this interface.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from ...config import Sampling
from ...types import Message, ToolCall
from ..base import ChatRequest, Completion, ToolSchema

__all__ = ["ProtocolName", "Turn", "WireProtocol", "split_think"]

ProtocolName = Literal["tags", "native"]


@dataclass(frozen=True, slots=True)
class Turn:
    """A model turn, parsed.

    Exactly one of `tool_calls` / `answer` is expected. `call_errors` runs beside
    `tool_calls`: None for a readable call, else a sentence saying what is wrong
    with it (bad JSON), shown back to the model as that call's result. `problem`
    is set when the turn has neither a call nor an answer.
    """

    think: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    answer: str | None = None
    call_errors: tuple[str | None, ...] = ()
    problem: str | None = None


class WireProtocol(Protocol):
    @property
    def name(self) -> ProtocolName: ...

    def system_prompt(self, role: str, tools: Sequence[ToolSchema], today: date) -> str: ...

    def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], sampling: Sampling,
        *, final: bool = False, purpose: str = "turn", logprobs: bool = False,
    ) -> ChatRequest: ...

    def parse(self, completion: Completion, tool_names: Sequence[str]) -> Turn: ...

    def assistant_message(self, completion: Completion, turn: Turn) -> Message: ...

    def result_messages(
        self, calls: Sequence[ToolCall], observations: Sequence[str]
    ) -> list[Message]: ...

    def feedback_message(self, text: str) -> Message: ...


_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def split_think(text: str) -> tuple[str, str]:
    """(think, rest): the reasoning block(s) and the text outside them.

    A reply that opens `<think>` and never closes it is all thinking; a reply
    with only a closing `</think>` (templates that pre-open the block) is split there.
    """
    thinks = _THINK.findall(text)
    rest = _THINK.sub("", text)
    if "<think>" in rest:
        head, _, tail = rest.partition("<think>")
        return "\n".join([*thinks, tail]).strip(), head.strip()
    if "</think>" in rest:
        head, _, tail = rest.partition("</think>")
        return "\n".join([*thinks, head]).strip(), tail.strip()
    return "\n".join(thinks).strip(), rest.strip()


_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)


def find_answer(text: str) -> str | None:
    """The text inside <answer>...</answer> (an unclosed tag runs to the end)."""
    match = _ANSWER.search(text)
    return match.group(1).strip() if match else None
