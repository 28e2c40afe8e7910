"""The `tags` protocol: the Tongyi DeepResearch text format, exactly.

Tools are listed in the system prompt as JSON lines inside `<tools>`; the model
calls one as `<tool_call>{"name": ..., "arguments": ...}</tool_call>` (with the
PythonInterpreter code in a following `<code>` block); results come back as user
messages wrapped in `<tool_response>`. Calls are routed by `name` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Literal

import json_repair

from ...config import Sampling
from ...types import JSON, Message, ToolCall
from ..base import ChatRequest, Completion, ToolSchema
from .base import Turn, find_answer, split_think

__all__ = ["STOP_SEQUENCES", "TagsProtocol", "parse_tool_call"]

STOP_SEQUENCES = ("\n<tool_response>", "<tool_response>")

_TOOLS_HEADER = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
_TOOLS_FOOTER = (
    "\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)
_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_CODE = re.compile(r"<code>(.*?)(?:</code>|$)", re.S)
_FENCE = re.compile(r"^```(?:json|python|py)?\s*|\s*```$")


class TagsProtocol:
    """Tongyi's trained text protocol."""

    name: Literal["tags"] = "tags"

    def system_prompt(self, role: str, tools: Sequence[ToolSchema], today: date) -> str:
        lines = "\n".join(json.dumps(t.to_openai(), ensure_ascii=False) for t in tools)
        body = role.rstrip() + "\n\n"
        if tools:
            body += _TOOLS_HEADER + lines + _TOOLS_FOOTER + "\n\n"
        return body + f"Current date: {today.isoformat()}"

    def request(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], sampling: Sampling,
        *, final: bool = False, purpose: str = "turn", logprobs: bool = False,
    ) -> ChatRequest:
        return ChatRequest(messages=list(messages), sampling=sampling, stop=STOP_SEQUENCES,
                           purpose=purpose, logprobs=logprobs)

    def parse(self, completion: Completion, tool_names: Sequence[str]) -> Turn:
        think, content = split_think(completion.text)
        answer = find_answer(content)
        if answer is not None and "<tool_call>" not in content.split("<answer>")[0]:
            return Turn(think, content, answer=answer)
        blocks = _CALL.findall(content)
        if not blocks:
            if answer is not None:
                return Turn(think, content, answer=answer)
            return Turn(think, content, problem=_no_action(tool_names))
        calls: list[ToolCall] = []
        errors: list[str | None] = []
        for i, block in enumerate(blocks):
            try:
                calls.append(parse_tool_call(block, i))
                errors.append(None)
            except ValueError as exc:
                calls.append(ToolCall(name="", id=f"call_{i}"))
                errors.append(str(exc))
        return Turn(think, content, tuple(calls), None, tuple(errors))

    def assistant_message(self, completion: Completion, turn: Turn) -> Message:
        return Message("assistant", completion.text)

    def result_messages(
        self, calls: Sequence[ToolCall], observations: Sequence[str]
    ) -> list[Message]:
        body = "\n".join(f"<tool_response>\n{obs}\n</tool_response>" for obs in observations)
        return [Message("user", body)]

    def feedback_message(self, text: str) -> Message:
        return Message("user", text)


def parse_tool_call(block: str, index: int = 0) -> ToolCall:
    """Read one `<tool_call>` body: tolerant JSON, plus a `<code>` block if present.

    Raises ValueError with a sentence fit to show the model.
    """
    code_match = _CODE.search(block)
    code = code_match.group(1).strip("\n") if code_match else None
    head = block[: code_match.start()] if code_match else block
    head = _FENCE.sub("", head.strip()).strip()
    start, end = head.find("{"), head.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the tool call holds no JSON object; write "
                         '{"name": <function-name>, "arguments": <args-json-object>}')
    raw = head[start: end + 1]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = json_repair.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError("the tool call JSON must be an object with a string \"name\" and an "
                         "\"arguments\" object")
    args = data.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            args = json_repair.loads(args)
    if not isinstance(args, dict):
        raise ValueError(f"the arguments of {data['name']} must be a JSON object")
    if code is None and data["name"] == "PythonInterpreter" and isinstance(args.get("code"), str):
        code = str(args.pop("code"))
    arguments: dict[str, JSON] = dict(args)
    return ToolCall(name=data["name"], arguments=arguments, id=f"call_{index}", code=code)


def _no_action(tool_names: Sequence[str]) -> str:
    names = ", ".join(tool_names) if tool_names else "none"
    return ("Your last turn had neither a tool call nor a final answer. Call a tool as "
            '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
            "</tool_call>, or give the final answer inside <answer></answer>. "
            f"Available tools: {names}.")
