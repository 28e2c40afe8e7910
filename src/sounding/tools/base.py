"""What every tool shares: its schema, argument checking, context and output.

A tool turns validated arguments into observation text. Tools raise errors from
`sounding.errors`; the agent loop (one place) turns them into observations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import ToolArgumentError
from ..llm.base import ChatModel, ChatRequest, Completion, ToolSchema
from ..providers.base import CallStats
from ..types import JSON

__all__ = [
    "Tool",
    "ToolContext",
    "ToolOutput",
    "check_arguments",
    "join_observations",
    "split_arguments",
    "string_list",
]


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may know about the run that calls it (no globals, no context variables).

    The environment opens one per call; its `stats` travel down the provider layers
    (cache, retry, fallback...) and come back as the call's recorded facts.
    """

    question: str = ""
    round: int = 0
    summary_model: ChatModel | None = None
    deadline: float | None = None
    """time.monotonic() value after which the run has no time left."""
    stats: CallStats = field(default_factory=CallStats)
    """Per-call facts: providers used, requests, cache hits, retries, the tool's model calls."""

    def record_model_call(self, request: ChatRequest, completion: Completion) -> None:
        """Keep a model call the tool made (e.g. visit's extraction) for the trajectory."""
        self.stats.record_model_call(request, completion)


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """An observation plus the sources it rests on.

    Provider, cache hits and retries are not reported here: the provider stack
    reports them into the call's `ToolContext.stats`, which the environment returns.
    """

    text: str
    sources: tuple[str, ...] = ()
    """URLs the observation rests on (search results listed, pages read)."""
    meta: Mapping[str, JSON] = field(default_factory=dict)
    """Anything else worth recording (e.g. extraction fallbacks)."""


@runtime_checkable
class Tool(Protocol):
    """A callable tool as the model sees it."""

    @property
    def schema(self) -> ToolSchema: ...

    async def __call__(
        self, arguments: Mapping[str, JSON], context: ToolContext, *, code: str | None = None
    ) -> ToolOutput: ...


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def check_arguments(schema: ToolSchema, arguments: Mapping[str, JSON]) -> dict[str, JSON]:
    """Validate arguments against the tool's (flat) JSON schema; return a normalised copy.

    A lone string where an array of strings is expected becomes a one-item array,
    since models often do that and the intent is clear. Keys the schema does not
    name are dropped (see `split_arguments`, which also says which).
    """
    return split_arguments(schema, arguments)[0]


def split_arguments(schema: ToolSchema, arguments: Mapping[str, JSON]
                    ) -> tuple[dict[str, JSON], list[str]]:
    """The checked arguments, and the keys ignored because the schema does not name them.

    Unknown keys are ignored rather than refused: the trained model sometimes adds
    one, and refusing the whole call would cost a round for nothing. A schema that
    allows extra properties (`additionalProperties` not false, no `properties`)
    keeps them.
    """
    params = schema.parameters
    props = params.get("properties") or {}
    assert isinstance(props, dict)
    required = params.get("required") or []
    assert isinstance(required, list)
    for name in required:
        if name not in arguments:
            raise ToolArgumentError(
                f"{schema.name} needs the argument {name!r}; "
                f"expected arguments: {_signature(props)}"
            )
    open_schema = not props and params.get("additionalProperties") is not False
    out: dict[str, JSON] = {}
    ignored: list[str] = []
    for name, value in arguments.items():
        spec = props.get(name)
        if isinstance(spec, dict):
            out[name] = _check_value(schema.name, name, spec, value)
        elif open_schema or params.get("additionalProperties") is True:
            out[name] = value
        else:
            ignored.append(name)
    return out, ignored


def _check_value(tool: str, name: str, spec: Mapping[str, JSON], value: JSON) -> JSON:
    kind = spec.get("type")
    if kind == "array":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ToolArgumentError(f"{tool}: {name!r} must be an array, got {_kind(value)}")
        items = spec.get("items")
        if isinstance(items, dict) and items.get("type") == "string":
            bad = [v for v in value if not isinstance(v, str)]
            if bad:
                raise ToolArgumentError(f"{tool}: {name!r} must be an array of strings")
        min_items = spec.get("minItems")
        if isinstance(min_items, int) and len(value) < min_items:
            raise ToolArgumentError(f"{tool}: {name!r} needs at least {min_items} item(s)")
        return value
    if isinstance(kind, str) and kind in _JSON_TYPES:
        ok = isinstance(value, _JSON_TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            raise ToolArgumentError(f"{tool}: {name!r} must be a {kind}, got {_kind(value)}")
    return value


def _kind(value: JSON) -> str:
    return {str: "a string", list: "an array", dict: "an object", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value), "a value")


def _signature(props: Mapping[str, JSON]) -> str:
    parts = [f"{k}: {v.get('type', 'any')}" for k, v in props.items() if isinstance(v, dict)]
    return "{" + ", ".join(parts) + "}" if parts else "{} (none)"


def join_observations(parts: Sequence[str], separator: str = "\n=======\n") -> str:
    """Join per-item observations the way the trained format does."""
    return separator.join(parts)


def string_list(arguments: Mapping[str, JSON], name: str) -> list[str]:
    """The strings of an array argument (a lone string counts as a one-item array)."""
    raw = arguments.get(name) or []
    return [v for v in (raw if isinstance(raw, list) else [raw]) if isinstance(v, str)]
