"""The `tags` protocol: the Tongyi DeepResearch text format, exactly.

Tools are listed in the system prompt inside `<tools>`: upstream's five lines byte for byte
(the model saw them in every training prompt), then any other tool as one more JSON line.
The model calls one as `<tool_call>{"name": ..., "arguments": ...}</tool_call>` (with the
PythonInterpreter code in a following `<code>` block); results and feedback come back as
user messages wrapped in `<tool_response>`. Calls are routed by `name` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Literal, cast

import json_repair

from ..._templates import load_template
from ...config import Sampling
from ...types import JSON, Message, ToolCall
from .._wire import too_deep
from ..base import ChatRequest, Completion, ToolSchema
from .base import Turn, find_answer, split_think

__all__ = [
    "OVERFLOW_SENTENCE",
    "STOP_SEQUENCES",
    "UPSTREAM_TOOL_NAMES",
    "TagsProtocol",
    "parse_tool_call",
    "tools_block",
]

STOP_SEQUENCES = ("\n<tool_response>", "<tool_response>")

UPSTREAM_TOOL_NAMES = ("search", "visit", "PythonInterpreter", "google_scholar", "parse_file")
"""The five tools of the training prompt, in its order."""

OVERFLOW_SENTENCE = (
    "You have now reached the maximum context length you can handle. You should stop making "
    "tool calls and, based on all the information above, think again and provide what you "
    "consider the most likely answer in the following format:<think>your final thinking"
    "</think>\n<answer>your answer</answer>"
)
"""Upstream's exact request for the final answer when the context is full."""

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
        """Role, the `<tools>` block (none when `tools` is empty: a prompt without tools,
        such as synthesis), and the date line."""
        body = role.rstrip() + "\n\n"
        if tools:
            body += _TOOLS_HEADER + tools_block(tools) + _TOOLS_FOOTER + "\n\n"
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
        return Message("assistant", completion.text.strip())  # upstream strips each turn

    def result_messages(
        self, calls: Sequence[ToolCall], observations: Sequence[str]
    ) -> list[Message]:
        body = "\n".join(f"<tool_response>\n{obs}\n</tool_response>" for obs in observations)
        return [Message("user", body)]

    def feedback_message(self, text: str) -> Message:
        """Feedback as the trained format carries it: a plain user message mid-run would be
        a new query to Qwen's chat template, which then drops every earlier `<think>`."""
        return Message("user", f"<tool_response>\n{text}\n</tool_response>")


def tools_block(tools: Sequence[ToolSchema]) -> str:
    """The lines inside `<tools>`: upstream's five, byte for byte and in upstream's order
    whatever `tools` holds, then every other schema of `tools` as one more JSON line."""
    extra = [json.dumps(t.to_openai(), ensure_ascii=False) for t in tools
             if t.name not in UPSTREAM_TOOL_NAMES]
    return "\n".join([_upstream_lines(), *extra])


def _upstream_lines() -> str:
    global _UPSTREAM
    if _UPSTREAM is None:
        _UPSTREAM = load_template("sounding.llm.protocols", "upstream_tools.txt").rstrip("\n")
    return _UPSTREAM


_UPSTREAM: str | None = None


def parse_tool_call(block: str, index: int = 0) -> ToolCall:
    """Read one `<tool_call>` body: tolerant JSON, plus a `<code>` block if present.

    Raises ValueError with a sentence fit to show the model.
    """
    code_match = _CODE.search(block)
    code = code_match.group(1).strip() if code_match else None
    head = block[: code_match.start()] if code_match else block
    head = _FENCE.sub("", head.strip()).strip()
    start, end = head.find("{"), head.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the tool call holds no JSON object; write "
                         '{"name": <function-name>, "arguments": <args-json-object>}')
    raw = head[start: end + 1]
    data = _loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError("the tool call JSON must be an object with a string \"name\" and an "
                         "\"arguments\" object")
    args = data.get("arguments", {})
    if isinstance(args, str):
        args = _loads(args) if args.strip() else {}
    if not isinstance(args, dict):
        raise ValueError(f"the arguments of {data['name']} must be a JSON object")
    if data["name"] == "PythonInterpreter" and isinstance(args.get("code"), str):
        inline = str(args.pop("code")).strip()
        if code is None and inline:  # else an empty `code` beside a <code> block: dropped
            code = inline
    arguments: dict[str, JSON] = dict(args)
    return ToolCall(name=str(data["name"]), arguments=arguments, id=f"call_{index}", code=code)


def _loads(raw: str) -> JSON:
    """Tolerant JSON: repaired when broken; ValueError when nested too deep to read."""
    try:
        try:
            value: JSON = json.loads(raw)
        except json.JSONDecodeError:
            value = cast(JSON, json_repair.loads(raw))
    except RecursionError as exc:
        raise ValueError("the tool call JSON is nested too deeply to read") from exc
    if too_deep(value):
        raise ValueError("the tool call JSON is nested too deeply to read")
    return value


def _no_action(tool_names: Sequence[str]) -> str:
    names = ", ".join(tool_names) if tool_names else "none"
    return ("Your last turn had neither a tool call nor a final answer. Call a tool as "
            '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
            "</tool_call>, or give the final answer inside <answer></answer>. "
            f"Available tools: {names}.")
