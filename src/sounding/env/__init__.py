"""Environments: the toolsets a run may use, and where their tools get their facts.

`offline` answers `search` and `visit` from a local corpus (the embedded
Wikipedia vital articles by default, or one built with `sounding corpus build`);
`web` assembles real providers from the settings. The agent cannot tell the two
apart except by content. User tools (`@tool` functions: `--tool`, `[[tools]]`,
the `sounding.tools` entry points) and MCP servers (`--mcp`, `--mcp-url`,
`[[mcp]]`) are added to either as further toolsets.
"""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from ..llm.base import ChatModel
from .base import Environment, StaticToolset, Toolset
from .result import ToolResult

__all__ = [
    "Environment",
    "StaticToolset",
    "ToolResult",
    "Toolset",
    "build_environment",
    "open_environment",
]


def build_environment(settings: Settings, *, summary_model: ChatModel | None) -> Environment:
    """The environment `settings.env` names, with `summary_model` serving `visit`, plus the
    user tools and MCP servers the settings list (MCP servers connect on `open()`)."""
    from .extra import extra_toolsets

    if settings.env not in ("offline", "web"):
        raise ConfigError(f"unknown environment {settings.env!r}: choose offline or web")
    extra = extra_toolsets(settings)  # first: it opens nothing, so a failure leaks nothing
    if settings.env == "offline":
        from .offline import offline_toolset

        base: Toolset = offline_toolset(settings, summary_model=summary_model)
    else:
        from .web import web_toolset

        base = web_toolset(settings, summary_model=summary_model)
    return Environment(settings.env, toolsets=[base, *extra])


async def open_environment(settings: Settings, *,
                           summary_model: ChatModel | None) -> Environment:
    """`build_environment`, opened (MCP servers started, their tools listed)."""
    env = build_environment(settings, summary_model=summary_model)
    try:
        return await env.open()
    except BaseException:
        await env.aclose()
        raise
