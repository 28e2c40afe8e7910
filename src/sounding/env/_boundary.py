"""The tool boundary: every tool call runs here, and no exception from a tool escapes it.

The one rule (issue 11): an exception from a tool, a provider, a parser or a URL
library becomes an error observation that names the problem, and the record keeps
its type, message and traceback. A user's run never dies from a tool. In strict
mode (the test suite's), an exception that is not a `SoundingError` is a bug of
ours and is raised again so the test sees it; user and MCP tools are foreign code,
so they report through `ToolError` and never count as our bugs.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from ..errors import (
    ModelFormatError,
    SoundingError,
    ToolCallParseError,
    ToolError,
    UnknownToolError,
)
from ..tools.base import ToolContext, ToolOutput, split_arguments
from ..types import JSON, ToolCall
from .result import ToolResult

if TYPE_CHECKING:  # the environment calls this module, so only its type is named here
    from .base import Environment

__all__ = ["run_call"]

_MAX_ERROR_TEXT = 500
"""An error message longer than this is cut in the observation (the record keeps it whole)."""


async def run_call(env: Environment, call: ToolCall, ctx: ToolContext, *,
                   parse_error: str | None = None, strict: bool | None = None) -> ToolResult:
    """Run `call` against `env`; the result carries an error observation on any failure.

    `strict` (the run's switch, when a run calls) applies unless the environment has its own."""
    meta: dict[str, JSON] = {}
    try:
        if parse_error is not None:
            raise ToolCallParseError(f"Your tool call could not be read: {parse_error}.")
        output = await _invoke(env, call, ctx, meta)
        # Inside the boundary too: a foreign tool may return something that is not a
        # ToolOutput at all.
        return _result(ctx, output.text, tuple(output.sources), {**output.meta, **meta}, None)
    except Exception as exc:  # the boundary: see the module docstring
        if _strict(env, strict) and not isinstance(exc, SoundingError):
            raise
        return _failure(env, call, ctx, exc, meta)


def _strict(env: Environment, run_strict: bool | None) -> bool:
    """An environment's own `strict=` wins; else the calling run's switch; else the default."""
    if env.strict is not None or run_strict is None:
        return env.is_strict
    return run_strict


async def _invoke(env: Environment, call: ToolCall, ctx: ToolContext,
                  meta: dict[str, JSON]) -> ToolOutput:
    tool = env.tools.get(call.name)
    if tool is None:
        raise UnknownToolError(f"There is no tool named {call.name!r} in this environment "
                               f"({env.name}).")
    arguments, ignored = split_arguments(tool.schema, call.arguments)
    if ignored:
        meta["ignored_arguments"] = list(ignored)
    code = call.code
    if code is not None and not code.strip():
        code = None
    return await tool(arguments, ctx, code=code)


def _failure(env: Environment, call: ToolCall, ctx: ToolContext, exc: Exception,
             meta: dict[str, JSON]) -> ToolResult:
    message = _short(exc)
    if isinstance(exc, ModelFormatError):
        text = f"{exc} Available tools: {', '.join(env.names()) or 'none'}."
    elif isinstance(exc, ToolError):
        text = f"Error: the {call.name} tool failed: {exc}"
    else:
        # Not an error raised on purpose: say what kind of failure, so the model can
        # try another source, and keep the traceback for whoever reads the record.
        text = (f"Error: the {call.name} tool failed unexpectedly "
                f"({type(exc).__name__}: {message}). Try other arguments or another tool.")
    meta["error_type"] = type(exc).__name__
    if not isinstance(exc, ModelFormatError):
        meta["traceback"] = "".join(traceback.format_exception(exc))
    return _result(ctx, text, (), meta, f"{type(exc).__name__}: {exc}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if len(text) > _MAX_ERROR_TEXT:
        text = text[:_MAX_ERROR_TEXT] + " [...]"
    return text


def _result(ctx: ToolContext, text: str, sources: tuple[str, ...], meta: dict[str, JSON],
            error: str | None) -> ToolResult:
    stats = ctx.stats
    return ToolResult(text=text, sources=sources, meta=meta, provider=stats.provider,
                      cache_hit=stats.cache_hit, retries=stats.retries,
                      model_calls=tuple(stats.model_calls), error=error)
