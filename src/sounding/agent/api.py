"""Entry points: `arun` (async, one question -> Trajectory) and the mode registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from .._secrets import scrubber_for, strip_url_credentials
from ..config import Settings
from ..env import Environment, build_environment
from ..errors import ConfigError
from ..llm.base import ChatModel
from ..trace.observers import Observer
from ..trace.trajectory import Trajectory
from .loop import RunContext

__all__ = ["MODES", "Agent", "arun", "register_mode", "settings_snapshot"]


class Agent(Protocol):
    """A mode's agent: built from a RunContext, runs once, returns the closed record."""

    mode: str

    async def run(self) -> Trajectory: ...


AgentFactory = Callable[[RunContext], Agent]
MODES: dict[str, AgentFactory] = {}


def register_mode(name: str, factory: AgentFactory) -> None:
    """Make a mode available to `arun`, the CLI and the eval runner."""
    MODES[name] = factory


def _load_modes() -> None:
    # Imported late: `modes` imports this module to register iter, heavy and resum.
    if "react" not in MODES:
        from .react import ReActAgent

        register_mode("react", ReActAgent)
    from . import modes  # noqa: F401


def settings_snapshot(settings: Settings) -> dict[str, object]:
    """Settings as recorded in a trajectory: no secrets, paths as strings."""
    data = dataclasses.asdict(settings)
    data.pop("secrets", None)
    for section in ("llm", "summary"):
        if isinstance(data.get(section), dict):
            data[section].pop("api_key", None)

    def clean(value: object) -> object:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if "key" not in k.lower()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return strip_url_credentials(value)  # a base URL may carry user:key@ or ?key=
        if isinstance(value, int | float | bool) or value is None:
            return value
        return str(value)

    return clean(data)  # type: ignore[return-value]


async def arun(
    question: str,
    settings: Settings,
    *,
    model: ChatModel | None = None,
    environment: Environment | None = None,
    observer: Observer | None = None,
    seed: int | None = None,
) -> Trajectory:
    """Research one question and return its trajectory.

    `model` and `environment` may be shared by many concurrent runs (the eval
    runner does); those created here are closed here.
    """
    if not question.strip():
        raise ConfigError("the question is empty")
    _load_modes()
    factory = MODES.get(settings.mode)
    if factory is None:
        raise ConfigError(f"unknown mode {settings.mode!r}: choose one of {', '.join(MODES)}")
    own_model = model is None
    own_env = environment is None
    if model is None:
        from ..llm.openai_client import OpenAIChatModel

        settings.require_llm()
        model = OpenAIChatModel(settings.llm)
    summary = model
    try:
        if environment is None:
            if settings.summary.base_url or settings.summary.model:
                from ..llm.openai_client import OpenAIChatModel

                summary = OpenAIChatModel(settings.summary_llm(), name="summary")
            environment = build_environment(settings, summary_model=summary)
        sampling = settings.sampling if seed is None else dataclasses.replace(
            settings.sampling, seed=seed)
        trajectory = Trajectory(
            question=question, mode=settings.mode, protocol=settings.protocol,
            model=settings.llm.model or model.name,
            settings=settings_snapshot(settings),  # type: ignore[arg-type]
        )
        ctx = RunContext(trajectory, settings, model, environment, observer=observer,
                         sampling=sampling)
        trajectory = await factory(ctx).run()
        # The one place every record of a run passes: mask every known secret in it.
        return scrubber_for(settings).record(trajectory, Trajectory.to_dict,
                                             Trajectory.from_dict)  # type: ignore[arg-type]
    finally:
        if own_env and environment is not None:
            await environment.aclose()
        if summary is not model:
            await summary.aclose()
        if own_model:
            await model.aclose()
