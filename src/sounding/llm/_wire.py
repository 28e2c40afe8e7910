"""OpenAI chat-completions wire helpers shared by the HTTP client and the test doubles."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence

from ..types import JSON, JSONObject, Message, ToolCall
from .tokens import TokenCounter, count_messages

__all__ = [
    "TOOL_RESPONSE_TAG",
    "apply_stop",
    "cut_tool_response",
    "estimate_prompt_tokens",
    "message_to_openai",
    "parse_tool_calls",
    "too_deep",
]

TOOL_RESPONSE_TAG = "<tool_response>"


def message_to_openai(message: Message) -> JSONObject:
    """One Message as the chat-completions API expects it."""
    out: JSONObject = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [_call_to_openai(c, i) for i, c in enumerate(message.tool_calls)]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _call_to_openai(call: ToolCall, index: int) -> JSONObject:
    args: dict[str, JSON] = dict(call.arguments)
    if call.code is not None and "code" not in args:
        # Native function calling has no place for a trailing <code> block.
        args["code"] = call.code
    return {
        "id": call.id or f"call_{index}",
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(args, ensure_ascii=False)},
    }


def parse_tool_calls(raw: object) -> tuple[ToolCall, ...]:
    """OpenAI `tool_calls` (arguments as JSON strings) -> ToolCall records.

    Arguments that are not a JSON object are kept as `{"__raw__": text}` so the
    agent loop can show the model what went wrong instead of losing the call.
    """
    if not isinstance(raw, list):
        return ()
    calls: list[ToolCall] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        fn = item.get("function")
        fn = fn if isinstance(fn, dict) else {}
        calls.append(ToolCall(
            name=str(fn.get("name") or ""),
            arguments=_parse_arguments(fn.get("arguments")),
            id=str(item.get("id") or ""),
        ))
    return tuple(calls)


def _parse_arguments(raw: object) -> dict[str, JSON]:
    if isinstance(raw, dict):  # a few servers send an object instead of a string
        return {str(k): v for k, v in raw.items()}
    if raw is None or raw == "":
        return {}
    text = _SURROGATE.sub("\ufffd", str(raw))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting: shown to the model as unreadable
        return {"__raw__": text[:2000]}
    if not isinstance(value, dict) or too_deep(value):
        return {"__raw__": text[:2000]}
    if "\\u" in text:  # escapes may have made lone surrogates
        value = json.loads(_SURROGATE.sub("\ufffd", json.dumps(value, ensure_ascii=False)))
    return {str(k): v for k, v in value.items()}


_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 64


def too_deep(value: JSON) -> bool:
    """Nested deeper than _MAX_DEPTH: such arguments could not be encoded again safely."""
    level: list[JSON] = [value]
    for _ in range(_MAX_DEPTH):
        level = [v for node in level if isinstance(node, dict | list)
                 for v in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return True


def apply_stop(text: str, stop: Iterable[str]) -> tuple[str, str | None]:
    """Cut `text` at the earliest stop string, as a server does; returns (text, matched)."""
    best: tuple[int, str] | None = None
    for s in stop:
        if not s:
            continue
        pos = text.find(s)
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def cut_tool_response(text: str) -> str:
    """Drop anything from `<tool_response>` on: the model must not write observations."""
    pos = text.find(TOOL_RESPONSE_TAG)
    return text if pos < 0 else text[:pos]


def estimate_prompt_tokens(messages: Sequence[Mapping[str, object]],
                           counter: TokenCounter | None = None) -> int:
    """Prompt size of OpenAI-style message dicts (content plus tool calls)."""
    return count_messages(messages, counter)
