"""Environments as toolsets: an async context manager that lists tool schemas and calls tools.

An `Environment` is composed of toolsets (built-in web/offline tools, user Python
tools, MCP servers). `async with env:` opens them (connects MCP servers, lists their
tools); exit closes them. The loop knows only `schemas()`, `names()` and
`call(call, ctx)`, which runs every call inside one boundary (see `_boundary.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import ClassVar, Protocol, runtime_checkable

from ..errors import ConfigError
from ..llm.base import ToolSchema
from ..tools.base import Tool, ToolContext
from ..types import ToolCall
from ._boundary import run_call
from .result import ToolResult

__all__ = ["Environment", "StaticToolset", "ToolResult", "Toolset"]

Closer = Callable[[], Awaitable[None]]


@runtime_checkable
class Toolset(Protocol):
    """A group of tools with a lifecycle (a built-in world, user functions, an MCP server)."""

    name: str

    def tools(self) -> Mapping[str, Tool]:
        """The tools available now (an MCP server's only after `open`)."""
        ...

    async def open(self) -> None:
        """Connect or start what the tools need; idempotent."""
        ...

    async def aclose(self) -> None: ...


class StaticToolset:
    """Tools known up front, plus what to release when the environment closes."""

    def __init__(self, name: str, tools: Mapping[str, Tool],
                 closers: Sequence[Closer] = ()) -> None:
        self.name = name
        self._tools = dict(tools)
        self.closers: list[Closer] = list(closers)

    def tools(self) -> Mapping[str, Tool]:
        return self._tools

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            await close()


class Environment:
    """Named toolsets a run may use; `async with` opens and closes them.

    `Environment(name, tools)` still builds a one-toolset environment, as before
    toolsets existed. `strict` (default `Environment.strict_default`, which the test
    suite turns on) re-raises bugs of ours from tools instead of reporting them to
    the model, so tests see them.
    """

    strict_default: ClassVar[bool] = False

    def __init__(self, name: str, tools: Mapping[str, Tool] | None = None,
                 closers: Sequence[Closer] = (), *, toolsets: Sequence[Toolset] = (),
                 strict: bool | None = None) -> None:
        self.name = name
        first = [StaticToolset(name, tools or {})] if tools is not None or closers else []
        self.toolsets: list[Toolset] = [*first, *toolsets]
        self.closers: list[Closer] = list(closers)
        self.strict = strict
        self._opened = False
        self._opening = asyncio.Lock()  # runs sharing one environment may open it at once
        self._tools: dict[str, Tool] = {}
        self._collect()

    # -- composition -------------------------------------------------------------
    def with_toolsets(self, *toolsets: Toolset) -> Environment:
        """This environment plus more toolsets; the new one owns (and closes) them all."""
        env = Environment(self.name, toolsets=[*self.toolsets, *toolsets], strict=self.strict)
        env.closers = self.closers
        self.toolsets, self.closers = [], []  # ownership moves to `env`
        self._tools = {}
        return env

    def _collect(self) -> None:
        tools: dict[str, Tool] = {}
        owner: dict[str, str] = {}
        for toolset in self.toolsets:
            for tool_name, tool in toolset.tools().items():
                if tool_name in tools:
                    raise ConfigError(f"two toolsets offer a tool named {tool_name!r}: "
                                      f"{owner[tool_name]} and {toolset.name}; rename one")
                tools[tool_name] = tool
                owner[tool_name] = toolset.name
        self._tools = tools

    # -- what the loop sees ------------------------------------------------------
    @property
    def tools(self) -> Mapping[str, Tool]:
        return self._tools

    @property
    def is_strict(self) -> bool:
        return Environment.strict_default if self.strict is None else self.strict

    def schemas(self) -> list[ToolSchema]:
        return [tool.schema for tool in self._tools.values()]

    def names(self) -> list[str]:
        return list(self._tools)

    async def call(self, call: ToolCall, ctx: ToolContext, *,
                   parse_error: str | None = None, strict: bool | None = None) -> ToolResult:
        """Run one tool call inside the boundary: any failure becomes an error observation.
        `strict` (a run's own switch) re-raises bugs of ours; None uses `is_strict`."""
        return await run_call(self, call, ctx, parse_error=parse_error, strict=strict)

    # -- lifecycle ---------------------------------------------------------------
    async def open(self) -> Environment:
        """Open every toolset (idempotent); on a failure, close the ones already open."""
        async with self._opening:
            if self._opened:
                return self
            opened: list[Toolset] = []
            try:
                for toolset in self.toolsets:
                    await toolset.open()
                    opened.append(toolset)
                self._collect()
            except BaseException:
                for toolset in reversed(opened):
                    await toolset.aclose()
                raise
            self._opened = True
            return self

    async def aclose(self) -> None:
        """Close toolsets (newest first) and run the closers; safe to call twice."""
        toolsets, self.toolsets = self.toolsets, []
        closers, self.closers = self.closers, []
        try:
            for toolset in reversed(toolsets):
                await toolset.aclose()
        finally:
            for close in reversed(closers):
                await close()
            self._opened = False

    async def __aenter__(self) -> Environment:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()
