"""The LLM layer: one `ChatModel` interface, the OpenAI-compatible client, scripted doubles."""

from .base import ChatModel, ChatRequest, Completion, ToolSchema
from .openai_client import OpenAIChatModel
from .testing import ScriptedModel, ScriptedServer

__all__ = [
    "ChatModel",
    "ChatRequest",
    "Completion",
    "OpenAIChatModel",
    "ScriptedModel",
    "ScriptedServer",
    "ToolSchema",
]
