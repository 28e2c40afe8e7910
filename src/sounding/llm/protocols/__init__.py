"""Wire protocols: `tags` (Tongyi text format) and `native` (OpenAI tool calling)."""

from ...errors import ConfigError
from .base import ProtocolName, Turn, WireProtocol, split_think
from .native import NativeProtocol
from .tags import STOP_SEQUENCES, TagsProtocol, parse_tool_call

__all__ = [
    "STOP_SEQUENCES",
    "NativeProtocol",
    "ProtocolName",
    "TagsProtocol",
    "Turn",
    "WireProtocol",
    "get_protocol",
    "parse_tool_call",
    "split_think",
]


def get_protocol(name: str) -> WireProtocol:
    """The wire protocol called `name`; ConfigError for any other name."""
    if name == "tags":
        return TagsProtocol()
    if name == "native":
        return NativeProtocol()
    raise ConfigError(f"unknown protocol {name!r}: choose tags or native")
