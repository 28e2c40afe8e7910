"""The `web` toolset: search, visit, google_scholar, PythonInterpreter and parse_file over
the provider chains of `sounding.providers.web`.

Only the tools asked for are built, so `sounding tool PythonInterpreter` needs no
search key. The sandboxed interpreter is shared with the offline world.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from ..config import Settings
from ..errors import ConfigError, SandboxError
from ..llm.base import ChatModel
from ..providers.web import ChainBuilder, build_chain
from ..tools.base import Tool
from .base import Environment, StaticToolset

__all__ = ["WEB_TOOLS", "python_tool", "web_environment", "web_toolset"]

log = logging.getLogger(__name__)


def python_tool(settings: Settings, *, required: bool) -> Tool | None:
    """The sandboxed interpreter; without bubblewrap, None (or, when `required`, a ConfigError
    saying how to get it) unless the user allowed running code unsandboxed."""
    from ..providers.sandbox import BubblewrapSandbox, CodeRunner, SandboxLimits, UnsandboxedRunner
    from ..tools.python import PythonTool

    web = settings.web
    limits = SandboxLimits(timeout=web.sandbox_timeout, memory_mb=web.sandbox_memory_mb,
                           max_processes=web.sandbox_max_processes,
                           max_file_mb=web.sandbox_max_file_mb,
                           max_output=web.sandbox_max_output)
    runner: CodeRunner
    try:
        runner = BubblewrapSandbox(limits, python=web.sandbox_python)
    except SandboxError as exc:
        if not web.allow_unsandboxed:
            if required:
                raise ConfigError(str(exc)) from exc
            log.warning("PythonInterpreter is not offered: %s", exc)
            return None
        log.warning("PythonInterpreter runs WITHOUT a sandbox (web.allow_unsandboxed)")
        runner = UnsandboxedRunner(limits, python=web.sandbox_python)
    return PythonTool(runner, timeout=web.sandbox_timeout,
                      native=settings.protocol == "native")


WEB_TOOLS = ("search", "visit", "google_scholar", "PythonInterpreter", "parse_file")
"""Every tool the web environment can offer, in the order the system prompt lists them."""
_CHAIN_OF = {"search": "search", "visit": "fetch", "google_scholar": "scholar"}


def _tool(name: str, builder: ChainBuilder, summary_model: ChatModel | None, *, required: bool
          ) -> Tool | None:
    """One tool with the providers it needs; None for an optional tool that cannot be had."""
    from ..tools.parse_file import ParseFileTool
    from ..tools.search import SearchTool
    from ..tools.visit import VisitTool

    web = builder.web
    if name in _CHAIN_OF:
        chain = build_chain(builder, _CHAIN_OF[name], getattr(web, _CHAIN_OF[name]))
        builder.chains.append(chain)
        if name == "visit":
            return VisitTool(chain, summary_model, chunk_tokens=web.visit_chunk_tokens)
        return SearchTool(chain, scholar=name == "google_scholar", num=web.results)
    if name == "PythonInterpreter":
        return python_tool(builder.settings, required=required)
    if web.files_dir is None:
        if required:
            raise ConfigError("parse_file needs the folder it may read: pass --files DIR "
                              "(web.files_dir)")
        return None
    return ParseFileTool(web.files_dir)


def web_toolset(settings: Settings, *, summary_model: ChatModel | None,
                only: Collection[str] | None = None) -> StaticToolset:
    """search, visit, google_scholar, PythonInterpreter (when it can be sandboxed or the user
    allowed no sandbox) and parse_file (when `web.files_dir` is set), from the settings.

    `only` builds just the named tools, so only their providers need keys; a tool named
    there that cannot be built is a ConfigError saying why.
    """
    web = settings.web
    unknown = sorted(set(only or ()) - set(WEB_TOOLS))
    if unknown:
        raise ConfigError(f"the web environment has no tool {unknown[0]!r}; it has "
                          + ", ".join(WEB_TOOLS))
    if web.files_dir is not None and not web.files_dir.is_dir():
        raise ConfigError(f"--files / web.files_dir: {web.files_dir} is not a directory")
    builder = ChainBuilder(settings)
    tools: dict[str, Tool] = {}
    try:
        for name in WEB_TOOLS if only is None else [n for n in WEB_TOOLS if n in only]:
            tool = _tool(name, builder, summary_model, required=only is not None)
            if tool is not None:
                tools[name] = tool
    except BaseException:
        builder.close_cache()  # the chains built so far hold no connections yet
        raise
    return StaticToolset("web", tools, [*(chain.aclose for chain in builder.chains),
                                        builder.close])


def web_environment(settings: Settings, *, summary_model: ChatModel | None,
                    only: Collection[str] | None = None) -> Environment:
    """The `web` environment: one toolset (see `web_toolset`)."""
    return Environment("web", toolsets=[web_toolset(settings, summary_model=summary_model,
                                                    only=only)])
