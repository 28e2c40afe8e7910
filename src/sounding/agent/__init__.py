"""Agent modes over one loop toolkit: react (and iter, heavy, resum as modes)."""

from .api import MODES, Agent, arun, register_mode
from .loop import RunContext
from .react import ReActAgent
from .result import Result

__all__ = ["MODES", "Agent", "ReActAgent", "Result", "RunContext", "arun", "register_mode"]
