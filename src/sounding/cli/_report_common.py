"""What the `sounding report` commands share: the command group, settings from options,
the judge client and the one place where a library call's errors become an exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from ..config import LLMSettings, Settings, load_settings
from ..errors import ConfigError, SoundingError
from ..llm.base import ChatModel
from ..run_options import flags_from_options
from ._console import check_endpoint, fail
from ._options import DefaultRun

__all__ = ["_flags", "_settings", "app", "execute", "judge_client"]

T = TypeVar("T")


def _flags(**values: object) -> dict[str, object]:
    """Dotted settings from run options given by their CLI names (the one option table)."""
    return flags_from_options(values)


app = typer.Typer(cls=DefaultRun, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Long research reports whose every citation is checked: "
                       "`sounding report \"TOPIC\" --out DIR`, then `verify`, `score`.")


def _settings(flags: dict[str, object], config: Path | None, *, check: bool = True) -> Settings:
    try:
        settings = load_settings(flags, config_file=config)
        settings.require_llm()
        if check:
            check_endpoint(settings)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return settings


def judge_client(settings: Settings, model: str | None, base_url: str | None,
                 api_key: str | None) -> ChatModel | None:
    """A separate judge model when `--judge-model` is set; None: judge with the agent's."""
    if not model:
        return None
    from ..llm.openai_client import OpenAIChatModel

    url = base_url or settings.llm.base_url
    key = api_key or settings.secrets.get("SOUNDING_JUDGE_API_KEY") or (
        settings.llm.api_key if url == settings.llm.base_url else None)
    return OpenAIChatModel(LLMSettings(base_url=url, model=model, api_key=key), name="judge")


def execute(coro: Coroutine[Any, Any, T]) -> T:
    """Run the library call; errors become one line and an exit code."""
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except SoundingError as exc:
        raise fail(f"{type(exc).__name__}: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise fail("interrupted (run the same command again to resume)", code=130) from None
