"""The run options shared by `sounding ask`, `sounding eval run` and `sounding.ask()`.

Each option is declared once, here: its name, the setting it sets, its help text and
choices. The CLI builds its flags from this table (`cli/_options.py`), the Python API
takes the same names, and the default shown in help is read from `Settings()` itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from .config import Settings, load_settings, override_settings
from .errors import ConfigError

__all__ = [
    "RUN_OPTIONS",
    "RunOption",
    "check_settings",
    "flags_from_options",
    "setting_default",
    "settings_from_options",
]

Kind = Literal["str", "int", "float", "path", "flag", "list"]
"""`list`: a repeatable string flag; its values are collected into a list setting."""


@dataclass(frozen=True)
class RunOption:
    """One run option: `name` (the Python keyword; the flag is `--name-with-dashes`) sets
    the dotted `setting`. `choices` empty means: take them from the setting's Literal."""

    name: str
    setting: str
    help: str
    kind: Kind = "str"
    metavar: str = ""
    choices: tuple[str, ...] = ()
    env: str = ""
    """The environment variable that also sets it (shown in help; read by config.py)."""
    panel: str = "Run"
    item: str = ""
    """For a `list` option: wrap each value as `{item: value}` (so that `--mcp CMD` and
    `--mcp-url URL` both add to the one `mcp` setting)."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def all_choices(self) -> tuple[str, ...]:
        return self.choices or _literal_choices(self.setting)


def _o(name: str, setting: str, help: str, kind: Kind = "str", metavar: str = "",
       choices: tuple[str, ...] = (), env: str = "", panel: str = "Run",
       item: str = "") -> RunOption:
    return RunOption(name, setting, help, kind, metavar, choices, env, panel, item)


_MODEL, _BUDGET, _SAMPLING, _HEAVY, _TOOLS = "Model", "Budgets", "Sampling", "Heavy mode", "Tools"

RUN_OPTIONS: tuple[RunOption, ...] = (
    _o("base_url", "llm.base_url", "OpenAI-compatible endpoint, e.g. http://localhost:8000/v1",
       metavar="URL", env="SOUNDING_BASE_URL", panel=_MODEL),
    _o("model", "llm.model", "Model name as the server knows it", metavar="NAME",
       env="SOUNDING_MODEL", panel=_MODEL),
    _o("api_key", "llm.api_key", "API key of the endpoint", metavar="KEY",
       env="SOUNDING_API_KEY", panel=_MODEL),
    _o("protocol", "protocol", "Wire format: tags (Tongyi's text format) or native (OpenAI "
       "tool calling)",
       env="SOUNDING_PROTOCOL", panel=_MODEL),
    _o("summary_model", "summary.model", "Model that extracts evidence in visit "
       "(default: --model)", metavar="NAME", env="SOUNDING_SUMMARY_MODEL", panel=_MODEL),
    _o("summary_base_url", "summary.base_url", "Endpoint of the summary model (default: "
       "--base-url)", metavar="URL", env="SOUNDING_SUMMARY_BASE_URL", panel=_MODEL),
    _o("summary_api_key", "summary.api_key", "Key of the summary model", metavar="KEY",
       env="SOUNDING_SUMMARY_API_KEY", panel=_MODEL),
    _o("mode", "mode", "Research mode", choices=("react", "iter", "heavy", "resum"),
       env="SOUNDING_MODE"),
    _o("env", "env", "Where tools get their facts: offline (local corpus) or web",
       choices=("offline", "web"), env="SOUNDING_ENV"),
    _o("corpus", "corpus", "Corpus built with `sounding corpus build` (default: the "
       "embedded Wikipedia vital articles)", kind="path", metavar="DIR", env="SOUNDING_CORPUS"),
    _o("corpus_search", "corpus_search", "How the offline search ranks (dense and hybrid "
       "need `sounding corpus embed`)", env="SOUNDING_CORPUS_SEARCH"),
    _o("system_prompt", "system_prompt_file", "File whose text replaces the role paragraph "
       "of the system prompt", kind="path", metavar="FILE"),
    _o("max_rounds", "budgets.max_rounds", "Most research rounds", kind="int", metavar="N",
       panel=_BUDGET),
    _o("max_context_tokens", "budgets.max_context_tokens", "Context budget in tokens",
       kind="int", metavar="N", panel=_BUDGET),
    _o("max_seconds", "budgets.max_seconds", "Wall-time budget", kind="float",
       metavar="SECONDS", panel=_BUDGET),
    _o("max_total_tokens", "budgets.max_total_tokens", "Token ceiling of the whole run "
       "(all branches)", kind="int", metavar="N", panel=_BUDGET),
    _o("temperature", "sampling.temperature", "Sampling temperature", kind="float",
       metavar="T", panel=_SAMPLING),
    _o("top_p", "sampling.top_p", "Nucleus sampling", kind="float", metavar="P",
       panel=_SAMPLING),
    _o("presence_penalty", "sampling.presence_penalty", "Presence penalty", kind="float",
       metavar="X", panel=_SAMPLING),
    _o("max_tokens", "sampling.max_tokens", "New tokens per turn", kind="int", metavar="N",
       panel=_SAMPLING),
    _o("seed", "sampling.seed", "Sampling seed", kind="int", metavar="N", panel=_SAMPLING),
    _o("branches", "heavy.branches", "Parallel researchers", kind="int", metavar="N",
       panel=_HEAVY),
    _o("branch_mode", "heavy.branch_mode", "The mode each branch runs", panel=_HEAVY),
    _o("early_stop", "heavy.early_stop_majority", "Stop once this share of branches agree, "
       "e.g. 0.5", kind="float", metavar="SHARE", panel=_HEAVY),
    _o("files", "web.files_dir", "Folder parse_file may read", kind="path", metavar="DIR",
       panel=_TOOLS),
    _o("no_cache", "web.no_cache", "Bypass the tool cache", kind="flag", panel=_TOOLS),
    _o("record", "web.record_dir", "Record provider exchanges in this folder", kind="path",
       metavar="DIR", panel=_TOOLS),
    _o("replay", "web.replay_dir", "Answer tools only from recordings in this folder",
       kind="path", metavar="DIR", panel=_TOOLS),
    _o("tool", "tools", "A Python tool to offer, module:function or file.py:function "
       "(repeatable)", kind="list", metavar="MODULE:FN", panel=_TOOLS),
    _o("mcp", "mcp", "An MCP server over stdio to offer, \"COMMAND ARGS\" (repeatable)",
       kind="list", metavar="COMMAND", item="command", panel=_TOOLS),
    _o("mcp_url", "mcp", "An MCP server over streamable HTTP to offer, its URL (repeatable)",
       kind="list", metavar="URL", item="url", panel=_TOOLS),
    _o("context_window", "llm.context_window", "The model's context window in tokens",
       kind="int", metavar="N", panel=_MODEL),
    _o("tokenizer", "llm.tokenizer", "A tiktoken file or Hugging Face tokenizer folder for "
       "exact token counts (default: a calibrated estimate)", kind="path", metavar="FILE",
       panel=_MODEL),
    _o("record_tokens", "llm.record_tokens", "Ask the server for token ids and log-probs "
       "and keep them in the trajectory", kind="flag", panel=_MODEL),
)
# Top-level settings that are values, not sections (cache_dir, corpus, ...): their own names.
_TOP_LEVEL = frozenset(name for name, hint in typing.get_type_hints(Settings).items()
                       if not dataclasses.is_dataclass(hint) and name != "secrets")


def _field_hint(setting: str) -> object:
    """The type annotation of a dotted setting, e.g. `heavy.branch_mode`."""
    cls: object = Settings
    hint: object = None
    for part in setting.split("."):
        hint = typing.get_type_hints(cls)[part]
        cls = hint
    return hint


def _literal_choices(setting: str) -> tuple[str, ...]:
    hint = _field_hint(setting)
    if typing.get_origin(hint) is Literal:
        return tuple(str(a) for a in typing.get_args(hint))
    return ()


def setting_default(setting: str) -> object:
    """The default of a dotted setting, read from a fresh `Settings()`."""
    return _get(Settings(), setting)


def flags_from_options(values: Mapping[str, object],
                       table: Sequence[RunOption] = RUN_OPTIONS) -> dict[str, object]:
    """Dotted settings from option values by name; None (and an unset flag or an empty
    list) means "not given". List options naming the same setting add up.

    Unknown names raise a ConfigError listing the valid ones; dotted keys pass through.
    """
    by_name = {o.name: o for o in table}
    flags: dict[str, object] = {}
    for name, value in values.items():
        option = by_name.get(name)  # an option's name wins over a setting of that name
        if option is None and ("." in name or name in _TOP_LEVEL):
            flags[name] = value  # a setting by its own key, e.g. cache_dir, web.results
            continue
        if option is None:
            valid = [*by_name, *sorted(_TOP_LEVEL)]
            near = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"unknown option {name!r}{hint}; valid options: "
                              + ", ".join(valid) + ", or a dotted setting like "
                              "'budgets.max_rounds'")
        if value is None or (option.kind == "flag" and value is False) or value == []:
            continue
        if option.kind == "list":
            items = [value] if isinstance(value, str) else list(cast(Iterable[object], value))
            listed = cast(list[object], flags.setdefault(option.setting, []))
            listed.extend({option.item: v} if option.item else v for v in items)
            continue
        flags[option.setting] = os.fspath(value) if isinstance(value, os.PathLike) else value
    return flags


def settings_from_options(values: Mapping[str, object], *, config_file: Path | None = None,
                          base: Settings | None = None,
                          environ: Mapping[str, str] | None = None) -> Settings:
    """Checked settings from option values: the loader (defaults < file < environment <
    these options; or `base` < these options), then `check_settings`."""
    flags = flags_from_options(values)
    settings = (load_settings(flags, config_file=config_file, environ=environ) if base is None
                else override_settings(base, flags))
    check_settings(settings)
    return settings


def _is_dir(path: Path) -> str | None:
    if not path.exists():
        return f"{path} does not exist"
    return None if path.is_dir() else f"{path} is not a folder"


def _readable_file(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} does not exist" if not path.exists() else f"{path} is not a file"
    try:
        path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path} cannot be read ({type(exc).__name__}: {exc})"
    return None


def _exists(path: Path) -> str | None:
    return None if path.exists() else f"{path} does not exist"


# What can be known wrong before a run starts, per setting (whatever set it: flag, file, env).
_PATH_CHECKS: dict[str, Callable[[Path], str | None]] = {
    "web.files_dir": _is_dir,
    "system_prompt_file": _readable_file,
    "corpus": _exists,
    "web.replay_dir": _is_dir,
}


def check_settings(settings: Settings) -> None:
    """Raise one ConfigError naming every path setting that cannot work, before any work."""
    problems = []
    for setting, check in _PATH_CHECKS.items():
        value = _get(settings, setting)
        if isinstance(value, Path):
            problem = check(value)
            if problem:
                problems.append(f"{_label(setting)}: {problem}")
    if problems:
        raise ConfigError("; ".join(problems))


def _label(setting: str) -> str:
    names = [o.flag for o in RUN_OPTIONS if o.setting == setting]
    return f"{names[0]} ({setting})" if names else setting


def _get(settings: object, setting: str) -> object:
    value = settings
    for part in setting.split("."):
        value = getattr(value, part)
    return value
