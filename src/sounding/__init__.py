"""Sounding: an open deep-research agent system.

    import sounding
    result = sounding.ask("Who ...?", base_url="http://localhost:8000/v1",
                          model="Alibaba-NLP/Tongyi-DeepResearch-30B-A3B")
    print(result.answer, result.sources)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .agent import Result, arun, run_events
from .config import Settings, load_settings, override_settings
from .errors import SoundingError
from .tools.decorator import tool
from .trace import Trajectory

if TYPE_CHECKING:
    from .llm.base import ChatModel
    from .trace.observers import Observer

__all__ = ["Result", "Settings", "SoundingError", "Trajectory", "arun", "ask", "load_settings",
           "run_events", "tool"]
__version__ = "0.1.0"


def ask(
    question: str,
    *,
    settings: Settings | None = None,
    model: ChatModel | str | None = None,
    observer: Observer | None = None,
    **overrides: object,
) -> Result:
    """Research `question` and return the answer with its trajectory (blocking).

    `model` is a model name on the configured endpoint or a `ChatModel` object.
    Other keyword arguments are settings: the short names `base_url`, `api_key`,
    `protocol`, `env`, `mode`, or dotted keys, e.g. `**{"budgets.max_rounds": 20}`.
    Unset settings come from SOUNDING_* variables and sounding.toml.
    """
    aliases = {"base_url": "llm.base_url", "api_key": "llm.api_key"}
    flags = {aliases.get(k, k): v for k, v in overrides.items()}
    if isinstance(model, str):
        flags["llm.model"] = model
        model = None
    settings = load_settings(flags) if settings is None else override_settings(settings, flags)
    trajectory = asyncio.run(arun(question, settings, model=model, observer=observer))
    return Result.from_trajectory(trajectory)
