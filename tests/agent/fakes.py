"""Deterministic in-process tools for agent tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from sounding.llm.base import ToolSchema
from sounding.tools.base import ToolContext, ToolOutput
from sounding.types import JSON


class FakeTool:
    """Returns `reply` (formatted with the arguments); records every call."""

    def __init__(self, schema: ToolSchema, reply: str = "result for {arguments}",
                 delay: float = 0.0, error: Exception | None = None) -> None:
        self._schema = schema
        self.reply = reply
        self.delay = delay
        self.error = error
        self.calls: list[tuple[dict[str, JSON], str | None]] = []
        self.active = 0
        self.max_active = 0

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        self.calls.append((dict(arguments), code))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.error is not None:
                raise self.error
            return ToolOutput(self.reply.format(arguments=dict(arguments)),
                              sources=("https://example.org/page",))
        finally:
            self.active -= 1


PYTHON_SCHEMA = ToolSchema("PythonInterpreter", "Run Python code.", {
    "type": "object", "properties": {}, "required": []})
