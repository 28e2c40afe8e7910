"""Small frozen records shared by every layer: messages, tool calls, usage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = ["JSON", "JSONObject", "Message", "Role", "ToolCall", "Usage", "estimate_tokens"]

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"
JSONObject: TypeAlias = "dict[str, JSON]"
Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for.

    `code` carries the `<code>` block of a PythonInterpreter call in the tags
    protocol (the trained format puts code after the JSON, not inside it).
    """

    name: str
    arguments: Mapping[str, JSON] = field(default_factory=dict)
    id: str = ""
    code: str | None = None

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"name": self.name, "arguments": dict(self.arguments), "id": self.id}
        if self.code is not None:
            out["code"] = self.code
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> ToolCall:
        args = data.get("arguments") or {}
        code = data.get("code")
        return cls(
            name=str(data["name"]),
            arguments=dict(args) if isinstance(args, dict) else {},
            id=str(data.get("id") or ""),
            code=str(code) if code is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message as sent to or received from the model."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Message:
        raw_calls = data.get("tool_calls")
        calls = raw_calls if isinstance(raw_calls, list) else []
        role = str(data["role"])
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"unknown message role {role!r}")
        tcid = data.get("tool_call_id")
        return cls(
            role=role,  # type: ignore[arg-type]
            content=str(data.get("content") or ""),
            tool_calls=tuple(ToolCall.from_dict(c) for c in calls if isinstance(c, dict)),
            tool_call_id=str(tcid) if tcid is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one or more model calls; `estimated` when the server gave none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )

    def to_dict(self) -> JSONObject:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "estimated": self.estimated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Usage:
        return cls(
            int(data.get("prompt_tokens") or 0),  # type: ignore[arg-type]
            int(data.get("completion_tokens") or 0),  # type: ignore[arg-type]
            bool(data.get("estimated", False)),
        )


def estimate_tokens(text: str) -> int:
    """Rough token count for text the server has not counted yet.

    About 4 characters per token for Latin text; CJK characters count one each,
    which keeps Chinese questions from being underestimated fourfold.
    """
    if not text:
        return 0
    wide = _WIDE.subn("", text)[1] if not text.isascii() else 0
    return wide + (len(text) - wide + 3) // 4


_WIDE = re.compile("[\u2e80-\U0010ffff]")
