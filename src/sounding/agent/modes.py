"""The mode registry: one table from a mode's name to its agent (react, iter, heavy, resum),
read by `run_events`/`arun`, the CLI and the eval runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..errors import ConfigError
from ..trace.trajectory import Trajectory
from .heavy import HeavyAgent
from .iter import IterAgent
from .loop import RunContext
from .react import ReActAgent
from .resum import ResumAgent

__all__ = ["MODES", "Agent", "AgentFactory", "HeavyAgent", "IterAgent", "ResumAgent",
           "get_mode", "register_mode"]


class Agent(Protocol):
    """A mode's agent: built from a RunContext, runs once, returns the closed record."""

    mode: str

    async def run(self) -> Trajectory: ...


AgentFactory = Callable[[RunContext], Agent]
MODES: dict[str, AgentFactory] = {
    "react": ReActAgent, "iter": IterAgent, "heavy": HeavyAgent, "resum": ResumAgent,
}


def register_mode(name: str, factory: AgentFactory) -> None:
    """Make a mode available to `arun`, the CLI and the eval runner."""
    MODES[name] = factory


def get_mode(name: str) -> AgentFactory:
    """The agent factory of mode `name`; ConfigError naming the choices otherwise."""
    factory = MODES.get(name)
    if factory is None:
        raise ConfigError(f"unknown mode {name!r}: choose one of {', '.join(MODES)}")
    return factory
