"""The `@tool` decorator: a typed function with a docstring becomes a tool the model can call.

The JSON schema comes from the signature (str, int, float, bool, list[...], dict,
Literal[...], optional parameters) and each argument's description from the
docstring's `Args:` section; the tool's description is the docstring before it.
Async functions are awaited; sync ones run in a worker thread so they never stall
the event loop. A parameter annotated `ToolContext` receives the call's context.

    @tool
    def distance(a: str, b: str, unit: Literal["km", "mi"] = "km") -> str:
        '''Great-circle distance between two cities.

        Args:
            a: The first city.
            b: The second city.
            unit: Kilometres or miles.
        '''
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, overload

from ..errors import ConfigError, SoundingError, ToolError
from ..llm.base import ToolSchema
from ..types import JSON
from .base import ToolContext, ToolOutput

__all__ = ["FunctionTool", "tool"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$")


class FunctionTool:
    """A Python function offered to the model as a tool (see the module docstring)."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 description: str | None = None) -> None:
        self.fn = fn
        tool_name = name or fn.__name__
        if not _NAME.match(tool_name):
            raise ConfigError(f"{tool_name!r} is not a usable tool name (letters, digits, _ . -)")
        summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
        text = description or summary
        if not text:
            raise ConfigError(f"tool {tool_name!r} needs a docstring: the model reads it to "
                              "know what the tool does")
        self.context_param: str | None = None
        parameters = self._parameters(fn, arg_docs)
        self._schema = ToolSchema(name=tool_name, description=text, parameters=parameters)
        self.is_async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self._schema.name

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    def _parameters(self, fn: Callable[..., Any], docs: Mapping[str, str]) -> dict[str, JSON]:
        hints = typing.get_type_hints(fn)
        props: dict[str, JSON] = {}
        required: list[JSON] = []
        for param in inspect.signature(fn).parameters.values():
            hint = hints.get(param.name, str)
            if hint is ToolContext:
                self.context_param = param.name
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            spec, optional = json_type(hint)
            if param.name in docs:
                spec["description"] = docs[param.name]
            if param.default is not param.empty and _jsonable(param.default):
                spec["default"] = param.default
            props[param.name] = spec
            if param.default is param.empty and not optional:
                required.append(param.name)
        return {"type": "object", "properties": props, "required": required}

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        kwargs: dict[str, Any] = dict(arguments)
        if self.context_param is not None:
            kwargs[self.context_param] = context
        try:
            if self.is_async:
                result = await typing.cast(Awaitable[Any], self.fn(**kwargs))
            else:
                result = await asyncio.to_thread(self.fn, **kwargs)
        except SoundingError:
            raise
        except Exception as exc:
            # The user's code, not ours: the model learns what failed and the run goes on.
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        return to_output(result)


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(*, name: str | None = None, description: str | None = None
         ) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         description: str | None = None
         ) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a typed function with a docstring into a tool (`@tool` or `@tool(name=...)`)."""
    if fn is not None:
        return FunctionTool(fn, name=name, description=description)
    return lambda f: FunctionTool(f, name=name, description=description)


def to_output(result: object) -> ToolOutput:
    """A function's return value as an observation: text as is, anything else as JSON."""
    if isinstance(result, ToolOutput):
        return result
    if isinstance(result, str):
        return ToolOutput(text=result)
    if result is None:
        return ToolOutput(text="(the tool returned nothing)")
    return ToolOutput(text=json.dumps(result, ensure_ascii=False, indent=2, default=str))


def json_type(hint: Any) -> tuple[dict[str, JSON], bool]:
    """The JSON schema of a type hint, and whether None is allowed (the argument optional)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        spec, _ = json_type(inner[0]) if len(inner) == 1 else ({}, False)
        return spec, type(None) in args
    if origin is Literal:
        values: list[JSON] = [a for a in args if isinstance(a, str | int | float | bool)]
        kind = "string" if all(isinstance(v, str) for v in values) else "integer"
        return {"type": kind, "enum": values}, False
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple, set):
        item = json_type(args[0])[0] if args and args[0] is not Ellipsis else {}
        return ({"type": "array", "items": item} if item else {"type": "array"}), False
    if origin is dict or hint is dict:
        return {"type": "object"}, False
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple:
        return {"type": simple[hint]}, False
    return {}, False


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {argument: description}) from a Google-style docstring."""
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    current_indent = 0  # the indent of `current`'s own line; deeper lines continue it
    for raw in doc.splitlines():
        line = raw.strip()
        heading = _SECTION.match(line)
        if heading:
            section, current = heading.group(1), None
            continue
        if section is None:
            summary.append(raw)
        elif section in ("Args", "Arguments", "Parameters") and line:
            match = _ARG_LINE.match(line)
            indent = len(raw) - len(raw.lstrip())
            if match and (current is None or indent <= current_indent):
                current, current_indent = match.group(1).lstrip("*"), indent
                args[current] = match.group(2).strip()
            elif current is not None:
                args[current] = f"{args[current]} {line}".strip()
    return "\n".join(summary).strip(), args


def _jsonable(value: object) -> bool:
    return isinstance(value, str | int | float | bool)
