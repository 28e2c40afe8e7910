"""Small frozen records shared by every layer: messages, tool calls, usage."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "CJK_RUN",
    "JSON",
    "JSONObject",
    "Message",
    "Role",
    "ToolCall",
    "Usage",
    "cjk_count",
    "estimate_tokens",
    "is_cjk",
]

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


# Scripts written without spaces between words: CJK ideographs, kana, Hangul, Thai, Lao,
# Khmer, Myanmar. The one definition every layer uses (search locale, bigram index, F1
# tokens, token estimate).
_CJK_CHARS = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f"
    "\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
"""One run of unsegmented-script characters."""
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


def is_cjk(text: str, *, han_only: bool = False) -> bool:
    """True when `text` holds a character of a script written without spaces
    (Chinese ideographs only with `han_only`)."""
    if text.isascii():
        return False
    return (_HAN if han_only else CJK_RUN).search(text) is not None


def cjk_count(text: str) -> int:
    """How many characters of `text` belong to scripts written without spaces."""
    if text.isascii():
        return 0
    return sum(len(run) for run in CJK_RUN.findall(text))


# Pieces as Qwen's pre-tokenizer cuts them, coarsely: a digit run (one token per digit),
# a CJK run, a letter run, a newline run, an indentation run, a punctuation run, a space
# before a digit (a token of its own: digits never absorb it). Any other single space is
# free (it joins the next word), so it is not matched at all: the scan skips it in C,
# which roughly halves the matches the loop below visits.
_PIECE = re.compile(f"(\\d+)|([{_CJK_CHARS}]+)|([^\\W\\d_{_CJK_CHARS}]+)|([^\\S\\r\\n]*[\\r\\n]+)"
                    "|([^\\S\\r\\n]{2,})|([^\\w\\s]+[\\r\\n]*|_+)|( (?=\\d))")
# Calibrated against the Qwen vocabulary (benchmarks/token_estimate.py): an ASCII word
# costs one token per 8 letters begun, other letters (Cyrillic, Greek, accents) 0.4 each,
# CJK 0.7 each (Qwen merges common pairs; rare characters cost more, so not lower).
_WORD_LETTERS = 8
_OTHER_LETTER = 0.4
_CJK_CHAR = 0.7
_INDENT = 1.0


def estimate_tokens(text: str) -> int:
    """Token count of `text` for a Qwen-family model, estimated so as not to undercount.

    Digits count one each (Qwen splits every digit), CJK characters 0.7 each, ASCII
    words one per 8 letters, punctuation runs 1 plus 0.5 per further character. Within
    0.95..1.3 of the true count for prose, code, numbers, URLs, Chinese and Russian.
    `sounding.llm.tokens` holds exact counters (tiktoken, HF tokenizers, the server).
    """
    if not text:
        return 0
    total = 0.0
    cjk = 0
    for m in _PIECE.finditer(text):
        kind = m.lastindex
        if kind == 1:
            total += m.end() - m.start()
        elif kind == 4:
            total += 1
        elif kind == 2:
            cjk += m.end() - m.start()
        elif kind == 3:
            word = m.group(3)
            total += (1 + (len(word) - 1) // _WORD_LETTERS if word.isascii()
                      else len(word) * _OTHER_LETTER)
        elif kind == 5:
            total += 2.0 if text[m.end():m.end() + 1].isdigit() else _INDENT
        elif kind == 6:
            total += 1 + (len(m.group(6).rstrip("\r\n")) - 1) * 0.5
        elif kind == 7:
            total += 1
    return max(1, math.ceil(total + cjk * _CJK_CHAR))
