"""Agent modes over one loop toolkit: react, iter, heavy, resum; `run_events` and `arun`."""

from .api import MODES, Agent, arun, register_mode, run_events, strict_runs
from .loop import RunContext
from .react import ReActAgent
from .resources import AgentResources, open_agent
from .result import Result

__all__ = ["MODES", "Agent", "AgentResources", "ReActAgent", "Result", "RunContext", "arun",
           "open_agent", "register_mode", "run_events", "strict_runs"]
