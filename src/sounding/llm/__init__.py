"""The LLM layer: one `ChatModel` interface, the OpenAI-compatible client, scripted doubles.

The client and the doubles are imported on first use, so that `sounding --help` and
the corpus commands do not pay for loading the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import (
    ChatModel,
    ChatRequest,
    Completion,
    StreamChunk,
    ToolSchema,
    complete_streaming,
)

if TYPE_CHECKING:
    from .openai_client import OpenAIChatModel
    from .testing import ScriptedModel, ScriptedServer

__all__ = [
    "ChatModel",
    "ChatRequest",
    "Completion",
    "OpenAIChatModel",
    "ScriptedModel",
    "ScriptedServer",
    "StreamChunk",
    "ToolSchema",
    "complete_streaming",
]

_LAZY = {"OpenAIChatModel": ".openai_client", "ScriptedModel": ".testing",
         "ScriptedServer": ".testing"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
