"""The `native` protocol: OpenAI function calling (`tools` parameter, `tool` messages).

For models trained on function calling rather than on Tongyi's text format. A
reply with no tool calls is the final answer (the `<answer>` tag is used when
present, else the whole visible text).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from ...config import Sampling
from ...types import Message, ToolCall
from ..base import ChatRequest, Completion, ToolSchema
from .base import Turn, find_answer, split_think

__all__ = ["NativeProtocol"]


class NativeProtocol:
    """OpenAI-style tool calling."""

    name: Literal["native"] = "native"

    def system_prompt(self, role: str, tools: Sequence[ToolSchema], today: date) -> str:
        return role.rstrip() + f"\n\nCurrent date: {today.isoformat()}"

    def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], sampling: Sampling,
        *, final: bool = False, purpose: str = "turn", logprobs: bool = False,
    ) -> ChatRequest:
        # A forced final answer still sends the tools (the history contains tool
        # messages, which some servers reject without them) but forbids calling one.
        return ChatRequest(
            messages=list(messages), sampling=sampling, tools=list(tools),
            tool_choice=("none" if final else "auto") if tools else None,
            purpose=purpose, logprobs=logprobs,
        )

    def parse(self, completion: Completion, tool_names: Sequence[str]) -> Turn:
        think, content = split_think(completion.text)
        if completion.tool_calls:
            calls: list[ToolCall] = []
            errors: list[str | None] = []
            for i, call in enumerate(completion.tool_calls):
                args = dict(call.arguments)
                call_id = call.id or f"call_{i}"
                if "__raw__" in args:
                    calls.append(ToolCall(call.name, {}, call_id))
                    errors.append(f"the arguments of {call.name} are not a valid JSON object")
                    continue
                code = call.code
                if call.name == "PythonInterpreter" and isinstance(args.get("code"), str):
                    # The native schema requires `code` among the arguments: it stays there
                    # (the argument check looks for it) and also travels as the call's code.
                    code = str(args["code"]).strip()
                    args["code"] = code
                calls.append(ToolCall(call.name, args, call_id, code))
                errors.append(None)
            return Turn(think, content, tuple(calls), None, tuple(errors))
        answer = find_answer(content)
        if answer is None and content.strip():
            answer = content.strip()
        if answer is None:
            names = ", ".join(tool_names) or "none"
            return Turn(think, content, problem=(
                "Your last turn was empty: call one of the tools or write the final answer. "
                f"Available tools: {names}."))
        return Turn(think, content, answer=answer)

    def assistant_message(self, completion: Completion, turn: Turn) -> Message:
        return Message("assistant", completion.text, tool_calls=tuple(completion.tool_calls))

    def result_messages(
        self, calls: Sequence[ToolCall], observations: Sequence[str]
    ) -> list[Message]:
        return [Message("tool", obs, tool_call_id=call.id)
                for call, obs in zip(calls, observations, strict=True)]

    def feedback_message(self, text: str) -> Message:
        return Message("user", text)
