"""The service: research jobs over HTTP (with SSE), an OpenAI-compatible endpoint, an MCP
server and a web page, all over `run_events` (needs the `serve` extra)."""

from __future__ import annotations

from ._context import ServeConfig
from .app import create_app

__all__ = ["ServeConfig", "create_app"]
