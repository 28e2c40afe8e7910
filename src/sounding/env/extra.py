"""User tools and MCP servers from the settings, as toolsets added to the built-in world.

User tools come from `module:function` (or `path/to/file.py:function`) specs
(`--tool`, `[[tools]]`) and from the `sounding.tools` entry-point group of installed
plugins; an entry point may name one tool or a list of them. A plain function with a
docstring is wrapped with `@tool` on load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from ..config import McpServerSettings, Settings
from ..errors import ConfigError
from ..tools.base import Tool
from ..tools.decorator import FunctionTool
from .base import StaticToolset, Toolset

__all__ = ["BUILTIN_NAMES", "ENTRY_POINT_GROUP", "extra_toolsets", "load_tool", "user_toolset"]

ENTRY_POINT_GROUP = "sounding.tools"
BUILTIN_NAMES = frozenset({"search", "visit", "google_scholar", "PythonInterpreter",
                           "parse_file"})
"""Upstream's five tools: a user tool may not take their names (the prompt lists them)."""


def extra_toolsets(settings: Settings) -> list[Toolset]:
    """The user toolset (when there are user tools) and one toolset per MCP server."""
    out: list[Toolset] = []
    user = user_toolset(settings.tools, entry_points=True)
    if user.tools():
        out.append(user)
    out.extend(mcp_toolset(server) for server in settings.mcp)
    return out


def mcp_toolset(server: McpServerSettings) -> Toolset:
    from .mcp import McpToolset

    return McpToolset(server)


def user_toolset(specs: Iterable[str], *, entry_points: bool = False) -> StaticToolset:
    """The tools `specs` name, plus (when asked) those of installed plugins."""
    tools: dict[str, Tool] = {}
    found = [load_tool(spec) for spec in specs]
    if entry_points:
        found += _entry_point_tools()
    for tool in found:
        name = tool.schema.name
        if name in BUILTIN_NAMES:
            raise ConfigError(f"a user tool may not be named {name!r}: that is a built-in tool")
        if name in tools:
            raise ConfigError(f"two user tools are named {name!r}")
        tools[name] = tool
    return StaticToolset("tools", tools)


def load_tool(spec: str) -> Tool:
    """`module:function` or `file.py:function` as a tool (a plain function is wrapped)."""
    module_name, sep, attr = spec.strip().rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--tool {spec!r}: write it as module:function or file.py:function")
    module = _import(module_name, spec)
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"--tool {spec!r}: {module_name} has no {attr!r}")
        obj = getattr(obj, part)
    return as_tool(obj, spec)


def as_tool(obj: object, origin: str) -> Tool:
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return FunctionTool(obj)
    raise ConfigError(f"{origin}: {obj!r} is neither a tool nor a function")


def _import(module_name: str, spec: str) -> object:
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser().resolve()
            if not path.is_file():
                raise ConfigError(f"--tool {spec!r}: no file {path}")
            name = f"sounding_user_tool_{path.stem}"
            file_spec = importlib.util.spec_from_file_location(name, path)
            if file_spec is None or file_spec.loader is None:
                raise ConfigError(f"--tool {spec!r}: cannot load {path}")
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[name] = module
            file_spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_name)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module failed to import: say so, with the cause
        raise ConfigError(f"--tool {spec!r}: cannot import {module_name}: "
                          f"{type(exc).__name__}: {exc}") from exc


def _entry_point_tools() -> list[Tool]:
    tools: list[Tool] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin is named, not a traceback
            raise ConfigError(f"the {ENTRY_POINT_GROUP} plugin {entry.name!r} "
                              f"({entry.value}) cannot be loaded: {exc}") from exc
        items = loaded if isinstance(loaded, list | tuple) else [loaded]
        tools.extend(as_tool(item, f"plugin {entry.name!r}") for item in items)
    return tools
