"""Registers the modes beyond ReAct (iter, heavy, resum) with the agent entry point."""

from __future__ import annotations

from .api import register_mode
from .heavy import HeavyAgent
from .iter import IterAgent
from .resum import ResumAgent

__all__ = ["HeavyAgent", "IterAgent", "ResumAgent"]

register_mode("iter", IterAgent)
register_mode("heavy", HeavyAgent)
register_mode("resum", ResumAgent)
