"""MCP servers as toolsets, against a real server written with the same SDK (stdio and HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sounding.config import McpServerSettings, Settings, override_settings
from sounding.env import Environment, StaticToolset, build_environment
from sounding.env.mcp import McpToolset
from sounding.errors import ConfigError
from sounding.tools.base import ToolContext
from sounding.types import ToolCall

pytest.importorskip("mcp", reason="MCP tests need the mcp extra")

SERVER = Path(__file__).with_name("mcp_server.py")
STDIO = f"{sys.executable} {SERVER}"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_stdio_server_tools_are_listed_called_and_the_child_is_gone(
        settings: Settings) -> None:
    configured = override_settings(settings, {"mcp": [{"command": STDIO, "timeout": 2}]})
    env = build_environment(configured, summary_model=None)
    assert "add" not in env.names()  # an MCP server's tools are known once it is open
    async with env:
        assert {"add", "server_pid", "refuse", "sleep"} <= set(env.names())
        add = next(s for s in env.schemas() if s.name == "add")
        assert add.description == "Add two integers." and add.parameters["required"] == ["a", "b"]
        result = await env.call(ToolCall("add", {"a": 2, "b": 40, "extra": 1}), ToolContext())
        assert (result.text, result.error) == ("42", None)
        assert result.provider == "mcp:mcp_server.py"
        assert result.meta == {"ignored_arguments": ["extra"], "mcp_server": "mcp_server.py"}
        refused = await env.call(ToolCall("refuse", {"reason": "closed"}), ToolContext())
        assert refused.text.startswith("Error: the refuse tool failed:")
        assert "refused: closed" in refused.text and refused.error is not None
        slow = await env.call(ToolCall("sleep", {"seconds": 30}), ToolContext())
        assert "did not answer within 2 s" in slow.text
        pid = int((await env.call(ToolCall("server_pid", {}), ToolContext())).text)
        assert pid != os.getpid() and not _gone(pid)
    assert _gone(pid)


async def test_a_server_that_fails_to_start_is_a_clear_config_error() -> None:
    broken = McpServerSettings(
        command=f"{sys.executable} -c \"import sys; sys.stderr.write('no licence'); "
                "sys.exit(3)\"", name="broken")
    env = Environment("x", toolsets=[McpToolset(broken, start_timeout=30)])
    with pytest.raises(ConfigError, match="MCP server broken did not start") as info:
        await env.open()
    assert "no licence" in str(info.value)
    await env.aclose()


async def test_an_mcp_tool_may_not_take_a_name_already_offered() -> None:
    from .sample_tools import shout

    clash = StaticToolset("user", {"add": shout})
    env = Environment("x", toolsets=[clash, McpToolset(McpServerSettings(command=STDIO))])
    with pytest.raises(ConfigError, match="two toolsets offer a tool named 'add'"):
        await env.open()
    await env.aclose()


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """The same server over streamable HTTP on 127.0.0.1 (a free port)."""
    proc = subprocess.Popen([sys.executable, str(SERVER), "--http", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield f"http://127.0.0.1:{int(line.split()[-1])}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_streamable_http_server(http_server: str) -> None:
    toolset = McpToolset(McpServerSettings(url=http_server, name="remote"))
    async with Environment("x", toolsets=[toolset]) as env:
        result = await env.call(ToolCall("add", {"a": 1, "b": 2}), ToolContext())
        assert (result.text, result.provider) == ("3", "mcp:remote")
    assert toolset.client is None and env.names() == ["add", "server_pid", "refuse", "sleep"]


class FlakyClient:
    """Stands in for the SDK client: the first call fails in transport, the next answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def call_tool(self, name: str, arguments: dict[str, object]) -> object:
        from mcp.types import CallToolResult, TextContent

        self.calls += 1
        if self.calls == 1:
            raise ConnectionResetError("pipe closed")
        return CallToolResult(content=[TextContent(text=f"{name} ok")])


@pytest.mark.parametrize(("retry_safe", "expected"), [(True, "lookup ok"), (False, None)])
async def test_only_read_only_or_idempotent_tools_are_retried(retry_safe: bool,
                                                              expected: str | None) -> None:
    from sounding.env.mcp import McpTool

    toolset = McpToolset(McpServerSettings(command="unused", name="flaky"))
    toolset.client = FlakyClient()  # type: ignore[assignment]
    tool = McpTool(toolset, "lookup", "Look up.", {"type": "object"}, retry_safe=retry_safe)
    env = Environment("x", {"lookup": tool})
    result = await env.call(ToolCall("lookup", {}), context := ToolContext())
    if expected:
        assert (result.text, result.retries, context.stats.requests) == (expected, 1, 1)
    else:
        assert result.text == ("Error: the lookup tool failed: the MCP server flaky failed: "
                               "ConnectionResetError: pipe closed")
