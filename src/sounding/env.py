"""Environment: the bundle of tools a run may use, and where they get their facts.

`offline` answers `search` and `visit` from a local corpus (the embedded
Wikipedia vital articles by default, or one built with `sounding corpus build`);
`web` assembles real providers from the settings. The agent cannot tell the two
apart except by content, and only the tools an environment really provides are
offered to the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .config import Settings
from .errors import ConfigError
from .llm.base import ChatModel, ToolSchema
from .tools.base import Tool

__all__ = ["Environment", "build_environment"]


@dataclass
class Environment:
    """Named tools plus the resources to release when the run ends."""

    name: str
    tools: Mapping[str, Tool]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def schemas(self) -> list[ToolSchema]:
        return [tool.schema for tool in self.tools.values()]

    def names(self) -> Sequence[str]:
        return list(self.tools)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


def build_environment(settings: Settings, *, summary_model: ChatModel | None) -> Environment:
    """The environment `settings.env` names, with `summary_model` serving `visit`."""
    if settings.env == "offline":
        from .corpus.environment import offline_environment

        return offline_environment(settings, summary_model=summary_model)
    if settings.env == "web":
        from .providers.web import web_environment

        return web_environment(settings, summary_model=summary_model)
    raise ConfigError(f"unknown environment {settings.env!r}: choose offline or web")
