"""MCP servers as toolsets, with the official `mcp` SDK: stdio (`--mcp "COMMAND ARGS"`) and
streamable HTTP (`--mcp-url URL`).

The connection lives in one background task that enters the SDK's client context and
leaves it when the toolset closes: the SDK's cancel scopes must be entered and left in
the same task, while the environment may be opened and closed from different ones.
Closing a stdio toolset ends the server process (the SDK closes its stdin, then
terminates it). A failed call is retried once only when the server marks the tool read-only or
idempotent (an MCP tool need not be).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shlex
import tempfile
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from ..config import McpServerSettings
from ..errors import ConfigError, ToolError
from ..llm.base import ToolSchema
from ..tools.base import Tool, ToolContext, ToolOutput
from ..types import JSON

if TYPE_CHECKING:
    from mcp import Client

__all__ = ["McpTool", "McpToolset"]

log = logging.getLogger(__name__)

_START_TIMEOUT = 60.0
"""Seconds a server may take to start and list its tools."""
_STOP_TIMEOUT = 10.0


class McpToolset:
    """The tools one MCP server lists, called over its session."""

    def __init__(self, server: McpServerSettings, *, start_timeout: float = _START_TIMEOUT
                 ) -> None:
        if bool(server.command) == bool(server.url):
            raise ConfigError("an MCP server needs exactly one of command or url")
        self.server = server
        self.name = f"mcp:{server.label}"
        self.start_timeout = start_timeout
        self.client: Client | None = None
        self._tools: dict[str, Tool] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._errlog: TextIO = io.StringIO()

    def tools(self) -> Mapping[str, Tool]:
        return self._tools

    def _target(self, errlog: TextIO) -> object:
        from mcp import StdioServerParameters, stdio_client

        if self.server.url:
            return self.server.url
        argv = shlex.split(self.server.command or "")
        if not argv:
            raise ConfigError(f"--mcp {self.server.command!r}: the command is empty")
        # The server's stderr goes to a file: its logs would garble the progress display,
        # and its last lines explain a server that fails to start.
        return stdio_client(StdioServerParameters(command=argv[0], args=argv[1:]),
                            errlog=errlog)

    async def open(self) -> None:
        if self._task is not None:
            return
        try:
            import mcp  # noqa: F401
        except ImportError as exc:
            raise ConfigError("MCP servers need the official SDK: pip install "
                              "'sounding[mcp]'") from exc
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._errlog = tempfile.TemporaryFile(  # noqa: SIM115 (closed by aclose)
            "w+", encoding="utf-8", errors="replace")
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._serve(ready), name=self.name)
        try:
            async with asyncio.timeout(self.start_timeout):
                await asyncio.shield(ready)
        except BaseException as exc:
            await self.aclose(keep_log=True)
            tail = self._stderr_tail()
            self._errlog.close()
            if isinstance(exc, Exception):
                raise ConfigError(f"MCP server {self.server.label} did not start: "
                                  f"{_reason(exc)}{tail}") from exc
            raise

    def _stderr_tail(self) -> str:
        try:
            self._errlog.seek(0)
            tail = self._errlog.read()[-1500:].strip()
        except (OSError, ValueError):
            return ""
        return f"; its stderr ends with:\n{tail}" if tail else ""

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        from mcp import Client

        assert self._stop is not None
        try:
            # "legacy" is the initialize handshake that every MCP server speaks.
            target: Any = self._target(self._errlog)
            async with Client(target, mode="legacy") as client:
                self._tools = {t.schema.name: t for t in await self._list(client)}
                self.client = client
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not isinstance(exc, asyncio.CancelledError):
                log.warning("MCP server %s stopped: %s", self.server.label, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.client = None

    async def _list(self, client: Client) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor: str | None = None
        for _ in range(100):  # a server whose pages never end cannot hang the start
            listed = await client.list_tools(cursor=cursor)
            tools.extend(McpTool(self, t.name, t.description or "", t.input_schema,
                                 retry_safe=_retry_safe(t.annotations)) for t in listed.tools)
            cursor = listed.next_cursor
            if not cursor:
                break
        return tools

    async def aclose(self, *, keep_log: bool = False) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop is not None:
            self._stop.set()
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # a start failure, already reported by `open`
            pass
        self._tools = {}
        if not keep_log:
            self._errlog.close()


class McpTool:
    """One tool of an MCP server, as the model sees it."""

    def __init__(self, owner: McpToolset, name: str, description: str,
                 input_schema: Mapping[str, Any], *, retry_safe: bool = False) -> None:
        self.owner = owner
        self.retry_safe = retry_safe
        """The server marked the tool read-only or idempotent: a failed call is tried again."""
        params: dict[str, JSON] = json.loads(json.dumps(dict(input_schema) or {}))
        params.setdefault("type", "object")
        self._schema = ToolSchema(name=name, description=description, parameters=params)

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        owner = self.owner
        client = owner.client
        label = owner.server.label
        if client is None:
            raise ToolError(f"the MCP server {label} is not connected")
        context.stats.used(owner.name)
        context.stats.requests += 1
        seconds = owner.server.timeout
        if context.deadline is not None:
            seconds = max(0.001, min(seconds, context.deadline - time.monotonic()))
        attempts = 2 if self.retry_safe else 1
        for attempt in range(attempts):
            try:
                async with asyncio.timeout(seconds):
                    result = await client.call_tool(self._schema.name, dict(arguments))
                break
            except TimeoutError:
                raise ToolError(f"the MCP server {label} did not answer within {seconds:g} s"
                                ) from None
            except Exception as exc:  # the server's or the SDK's failure, not ours
                if attempt + 1 < attempts:
                    context.stats.retries += 1
                    continue
                raise ToolError(f"the MCP server {label} failed: {type(exc).__name__}: "
                                f"{exc}") from exc
        text = _text(result.content, result.structured_content)
        if result.is_error:
            raise ToolError(text or "the tool reported an error")
        return ToolOutput(text=text, meta={"mcp_server": label})


def _text(content: list[Any], structured: object) -> str:
    """The observation: text blocks joined; other blocks named; else the structured value."""
    parts: list[str] = []
    for block in content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(str(block.text))
        elif kind == "resource_link":
            parts.append(f"[resource: {block.uri}]")
        elif kind == "resource":
            inner = block.resource
            parts.append(str(getattr(inner, "text", "")) or f"[resource: {inner.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content omitted]")
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, indent=2, default=str))
    return "\n".join(parts)


def _reason(exc: BaseException) -> str:
    """The innermost message of an exception group (anyio wraps a failed start in one)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _retry_safe(annotations: Any) -> bool:
    """Only a tool its server calls read-only or idempotent may be called twice."""
    return bool(getattr(annotations, "read_only_hint", False)
                or getattr(annotations, "idempotent_hint", False))
