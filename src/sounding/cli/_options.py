"""Typer flags built from the one table of run options (`sounding.run_options`).

`@with_run_options` adds every run option (plus `--config`) to a command and hands the
command one `RunOptions` value: `ask` and `eval run` share the same flags this way, and
no command keeps a second list of names or a map from names to settings.
"""

from __future__ import annotations

import enum
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar, overload

import typer
from typer.core import TyperGroup

from ..config import Settings
from ..run_options import RUN_OPTIONS, RunOption, setting_default, settings_from_options

__all__ = ["ApiKey", "BaseUrl", "ConfigFile", "DefaultRun", "ModelName", "RunOptions",
           "choice_type", "choice_value", "with_run_options"]

R = TypeVar("R")

_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "path": Path}
_CONFIG = "config"

# The endpoint flags of the commands that take only these few (synth, report score and
# bench). Brackets are escaped: help text is console markup.
BaseUrl = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="Model endpoint \\[env SOUNDING_BASE_URL]")]
ModelName = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--model", help="Model \\[env SOUNDING_MODEL]")]
ApiKey = Annotated[Optional[str], typer.Option(  # noqa: UP045
    help="Model key \\[env SOUNDING_API_KEY]")]
ConfigFile = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--config", help="sounding.toml to read")]


class DefaultRun(TyperGroup):
    """A command group whose first argument, when not a subcommand, goes to `run`:
    `sounding eval DATASET ...` and `sounding report "TOPIC" ...`."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        known = set(self.list_commands(ctx))
        if args and args[0] not in known and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@dataclass(frozen=True)
class RunOptions:
    """The run options a command was given (None: not given) and the config file."""

    values: dict[str, object] = field(default_factory=dict)
    config: Path | None = None

    def settings(self) -> Settings:
        """Defaults < sounding.toml < SOUNDING_* < these flags, with paths checked."""
        return settings_from_options(self.values, config_file=self.config)


def _help(option: RunOption) -> str:
    # The default is read from Settings() and written into the help text: the flag itself
    # defaults to None ("not given"), so that sounding.toml and SOUNDING_* still apply.
    text = option.help + (f" \\[env {option.env}]" if option.env else "")
    default = setting_default(option.setting)
    if option.kind not in ("flag", "list") and default is not None:
        text += f" \\[default: {default}]"
    return text


def _parameter(option: RunOption) -> inspect.Parameter:
    help_text = _help(option)
    if option.kind == "flag":
        spec = typer.Option(option.flag, help=help_text, rich_help_panel=option.panel,
                            metavar="")
        return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=False,
                                 annotation=Annotated[bool, spec])
    if option.kind == "list":
        spec = typer.Option(option.flag, help=help_text, rich_help_panel=option.panel,
                            metavar=option.metavar or "VALUE")
        return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=Annotated[Optional[list[str]], spec])  # noqa: UP045
    choices = option.all_choices()
    # Choices show as `[react|iter|heavy|resum]` and are checked by click itself.
    extra: dict[str, Any] = {} if choices else {"metavar": option.metavar or "VALUE"}
    spec = typer.Option(option.flag, help=help_text, rich_help_panel=option.panel, **extra)
    kind: Any = choice_type(option.name, choices) if choices else _TYPES[option.kind]
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[kind], spec])  # noqa: UP045


def choice_type(name: str, choices: tuple[str, ...]) -> type[enum.Enum]:
    """An Enum of `choices` for a flag (every typer version renders and checks those)."""
    return enum.Enum(name.title().replace("_", ""), [(c, c) for c in choices],  # type: ignore[return-value]
                     type=str)


def choice_value(value: object) -> object:
    """The plain string of a choice flag's value (other values unchanged)."""
    return value.value if isinstance(value, enum.Enum) else value


def _config_parameter() -> inspect.Parameter:
    spec = typer.Option("--config", help="sounding.toml to read (default: ./sounding.toml, "
                        "then the user config folder) \\[env SOUNDING_CONFIG]",
                        metavar="FILE", rich_help_panel="Run")
    return inspect.Parameter(_CONFIG, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Path | None, spec])


@overload
def with_run_options(func: Callable[..., R]) -> Callable[..., R]: ...


@overload
def with_run_options(func: None = None, *, only: tuple[str, ...]
                     ) -> Callable[[Callable[..., R]], Callable[..., R]]: ...


def with_run_options(func: Callable[..., R] | None = None, *,
                     only: tuple[str, ...] | None = None) -> Any:
    """Give `func` every run option (or those named in `only`) and --config; it receives
    them as `run_options: RunOptions`. Use as `@with_run_options` or
    `@with_run_options(only=(...))`."""
    if func is None:
        return functools.partial(with_run_options, only=only)
    chosen = [o for o in RUN_OPTIONS if only is None or o.name in only]
    hints = typing.get_type_hints(func, include_extras=True)
    signature = inspect.signature(func)
    own = [p.replace(annotation=hints.get(p.name, p.annotation))
           for p in signature.parameters.values() if p.name != "run_options"]
    added = [_parameter(o) for o in chosen] + [_config_parameter()]
    names = {o.name for o in chosen}

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> R:
        values = {name: choice_value(kwargs.pop(name)) for name in list(kwargs) if name in names}
        options = RunOptions(values, kwargs.pop(_CONFIG, None))
        return func(**kwargs, run_options=options)

    params = own + added
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the new signature, not the wrapped one
    return wrapper
