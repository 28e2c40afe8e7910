"""Sounding: an open deep-research agent system.

    import sounding
    result = sounding.ask("Who ...?", base_url="http://localhost:8000/v1",
                          model="Alibaba-NLP/Tongyi-DeepResearch-30B-A3B", max_rounds=20)
    print(result.answer, result.sources)
"""

from __future__ import annotations

import asyncio
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from .agent import Result, arun, run_events
from .config import Settings, load_settings
from .errors import SoundingError
from .run_options import settings_from_options
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
    config: str | PathLike[str] | None = None,
    **options: object,
) -> Result:
    """Research `question` and return the answer with its trajectory (blocking).

    Options take the names of `sounding ask`'s flags (`base_url`, `api_key`, `mode`,
    `env`, `corpus`, `files`, `max_rounds`, `temperature`, ...: `sounding.run_options`
    lists them), paths as `str` or `Path`; a dotted setting (`**{"web.results": 5}`) works
    too. `model` is a model name on the endpoint or a `ChatModel` object. Unset settings
    come from SOUNDING_* variables and sounding.toml (or `config`). An unknown name is a
    ConfigError that lists the valid ones; paths are checked before any model call.
    """
    if isinstance(model, str):
        options["model"] = model
        model = None
    settings = settings_from_options(options, base=settings,
                                     config_file=Path(config) if config is not None else None)
    trajectory = asyncio.run(arun(question, settings, model=model, observer=observer))
    return Result.from_trajectory(trajectory)
