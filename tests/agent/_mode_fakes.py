"""Shared doubles for the iter, heavy and resum tests: a fixed-size search tool and replies."""

from __future__ import annotations

import json
from collections.abc import Mapping

from sounding.config import Settings, override_settings
from sounding.env import Environment
from sounding.llm.base import ChatRequest, Completion, ToolSchema
from sounding.tools.base import ToolContext, ToolOutput
from sounding.types import JSON, ToolCall

SEARCH_SCHEMA = ToolSchema(
    "search", "Search the web.",
    {"type": "object", "properties": {"query": {"type": "array", "items": {"type": "string"}}},
     "required": ["query"]},
)


class FixedSearch:
    """Deterministic search: `size` characters of text per call, naming the query."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self.calls: list[Mapping[str, JSON]] = []

    @property
    def schema(self) -> ToolSchema:
        return SEARCH_SCHEMA

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        self.calls.append(arguments)
        head = f"Results for {arguments['query']!r} (round {context.round}): "
        body = (head + "lorem ipsum dolor sit amet " * (self.size // 27 + 1))[: self.size]
        return ToolOutput(body, sources=(f"https://example.org/{len(self.calls)}",))


def fixed_env(size: int = 2000) -> Environment:
    return Environment("fake", {"search": FixedSearch(size)})


def configure(settings: Settings, mode: str, protocol: str = "tags", /,
              **flags: object) -> Settings:
    return override_settings(settings, {"mode": mode, "protocol": protocol, **flags})


def search_call(protocol: str, query: str, *, report: str | None = None,
                think: str = "thinking") -> str | Completion:
    """One agent turn that calls search (with a <report> block when given)."""
    head = f"<think>{think}</think>\n" + (f"<report>{report}</report>\n" if report else "")
    if protocol == "native":
        call = ToolCall("search", {"query": [query]}, "call_1")
        return Completion(text=head, tool_calls=(call,))
    body = json.dumps({"name": "search", "arguments": {"query": [query]}})
    return f"{head}<tool_call>\n{body}\n</tool_call>"


def answer(text: str, *, report: str | None = None) -> str:
    block = f"<report>{report}</report>\n" if report else ""
    return f"<think>done</think>\n{block}<answer>{text}</answer>"


def text_of(request: ChatRequest) -> str:
    return "\n".join(m.content for m in request.messages)
