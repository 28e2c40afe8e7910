"""Run options: declared once, shared by `ask` and `eval run`, checked before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sounding.cli._options import RunOptions, with_run_options
from sounding.errors import ConfigError
from sounding.run_options import (
    RUN_OPTIONS,
    RunOption,
    flags_from_options,
    setting_default,
    settings_from_options,
)


def _get(settings: object, dotted: str) -> object:
    for part in dotted.split("."):
        settings = getattr(settings, part)
    return settings


def _sample(option: RunOption, tmp_path: Path) -> tuple[str | None, object]:
    """A command-line value different from the default, and the setting it must give."""
    default = setting_default(option.setting)
    choices = option.all_choices()
    if choices:
        value = next(c for c in reversed(choices) if c != default)
        return value, value
    if option.kind == "flag":
        return None, True
    if option.kind == "int":
        return "3", 3
    if option.kind == "float":
        return "0.5", 0.5
    if option.kind == "path":
        path = tmp_path / option.name
        if option.metavar == "FILE":
            path.write_text("You are a careful researcher.", encoding="utf-8")
        else:
            path.mkdir()
        return str(path), path
    return f"value-{option.name}", f"value-{option.name}"


def _probe_app() -> typer.Typer:
    """A command with the shared options that prints the settings they build."""
    app = typer.Typer()

    @app.command()
    @with_run_options
    def probe(label: str = "x", *, run_options: RunOptions) -> None:
        settings = run_options.settings()
        values = {o.setting: _get(settings, o.setting) for o in RUN_OPTIONS}
        shown = {k: str(v) if isinstance(v, Path | tuple) else v for k, v in values.items()}
        typer.echo(json.dumps({"label": label, **shown}))

    return app


def test_every_run_option_reaches_its_setting(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray sounding.toml
    args, expected = ["--label", "y"], {}
    listed: dict[str, list[str]] = {}  # repeatable options: their values end up in a list
    for option in RUN_OPTIONS:
        if option.kind == "list":
            value = f"value-{option.name}"
            args += [option.flag, value]
            listed.setdefault(option.setting, []).append(value)
            continue
        text, sample = _sample(option, tmp_path)
        args += [option.flag] if text is None else [option.flag, text]
        expected[option.setting] = str(sample) if isinstance(sample, Path) else sample
    result = CliRunner().invoke(_probe_app(), args, env={"SOUNDING_CONFIG": ""})
    assert result.exit_code == 0, result.output
    seen = json.loads(result.output)
    assert seen.pop("label") == "y"
    for setting, values in listed.items():
        shown = seen.pop(setting)
        assert all(v in shown for v in values), (setting, shown)
    assert seen == expected
    # and every one of them differs from its default, so the test proves the flag worked
    assert all(setting_default(k) != v for k, v in expected.items())


def test_ask_and_eval_run_share_the_same_run_options() -> None:
    from sounding.cli import eval as eval_cli
    from sounding.cli.main import app

    def flags(command: typer.Typer, *path: str) -> set[str]:
        result = CliRunner().invoke(command, [*path, "--help"], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        return {o.flag for o in RUN_OPTIONS if o.flag in result.output}

    expected = {o.flag for o in RUN_OPTIONS}
    assert flags(app, "ask") == expected
    assert flags(eval_cli.app, "run") == expected


def test_help_shows_choices_and_defaults_not_type_tags() -> None:
    from sounding.cli.main import app

    result = CliRunner().invoke(app, ["ask", "--help"], env={"COLUMNS": "300"})
    out = result.output.replace("<", "[").replace(">", "]")
    assert "--mode" in out and "[react|iter|heavy|resum]" in out
    assert "Research mode [env SOUNDING_MODE] [default: react]" in out
    assert "[bm25|dense|hybrid]" in out and "--corpus-search" in out
    assert "Most research rounds [default: 100]" in out
    for tag in ("INTEGER", "FLOAT", "TEXT", "PATH", "[int]", "[float]", "[path]"):
        assert tag not in out


def test_shared_endpoint_and_executor_flags_keep_their_env_hints() -> None:
    """The one set of endpoint and executor flags: their `[env ...]` hints are escaped
    (console markup would swallow them) and `eval run` and `synth trajectories` share them."""
    from sounding.cli import eval as eval_cli
    from sounding.cli import report, synth

    apps = {"synth": synth.app, "eval": eval_cli.app, "report": report.app}

    def help_of(group: str, command: str) -> str:
        result = CliRunner().invoke(apps[group], [command, "--help"], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        return result.output

    for path in (("synth", "relations"), ("synth", "trajectories"), ("report", "bench")):
        out = help_of(*path)
        for hint in ("[env SOUNDING_BASE_URL]", "[env SOUNDING_MODEL]", "[env SOUNDING_API_KEY]"):
            assert hint in out, (path, hint)
    executor_flags = ("--executor", "--ray-address", "--workers", "--worker-concurrency")
    for path in (("eval", "run"), ("synth", "trajectories")):
        out = help_of(*path)
        assert all(flag in out for flag in executor_flags), path


def test_python_names_map_to_settings_and_unknown_names_are_listed() -> None:
    flags = flags_from_options({"max_rounds": 5, "files": Path("/tmp"), "no_cache": False,
                                "web.results": 3, "cache_dir": "/c"})
    assert flags == {"budgets.max_rounds": 5, "web.files_dir": "/tmp", "web.results": 3,
                     "cache_dir": "/c"}
    with pytest.raises(ConfigError) as info:
        flags_from_options({"max_round": 5})
    message = str(info.value)
    assert "unknown option 'max_round' (did you mean 'max_rounds'?)" in message
    assert "base_url" in message and "corpus_search" in message


def test_paths_are_checked_whatever_set_them(tmp_path: Path) -> None:
    not_dir = tmp_path / "file.txt"
    not_dir.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        settings_from_options({"files": not_dir, "system_prompt": tmp_path / "missing.txt",
                               "corpus": tmp_path / "nope"}, config_file=None)
    message = str(info.value)
    assert f"--files (web.files_dir): {not_dir} is not a folder" in message
    assert "--system-prompt (system_prompt_file): " in message and "does not exist" in message
    assert "--corpus (corpus): " in message
    # a config file is checked the same way
    cfg = tmp_path / "sounding.toml"
    cfg.write_text(f'[web]\nfiles_dir = "{tmp_path / "gone"}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="gone does not exist"):
        settings_from_options({}, config_file=cfg)


def test_repeatable_options_add_up_into_one_list_setting() -> None:
    table = (RunOption("tool", "tools", "A Python tool", kind="list"),
             RunOption("mcp", "mcp", "stdio server", kind="list", item="command"),
             RunOption("mcp_url", "mcp", "HTTP server", kind="list", item="url"))
    flags = flags_from_options({"tool": ["pkg.mod:fn", "geo.py:distance"], "mcp": ["python3 s.py"],
                                "mcp_url": ["http://127.0.0.1:9/mcp"]}, table)
    assert flags == {"tools": ["pkg.mod:fn", "geo.py:distance"],
                     "mcp": [{"command": "python3 s.py"}, {"url": "http://127.0.0.1:9/mcp"}]}
    assert flags_from_options({"tool": [], "mcp": None}, table) == {}


def test_the_table_names_real_settings_once() -> None:
    names = [o.name for o in RUN_OPTIONS]
    assert len(names) == len(set(names))
    scalar = [o.setting for o in RUN_OPTIONS if o.kind != "list"]
    assert len(scalar) == len(set(scalar))  # only repeatable options may share a setting
    for option in RUN_OPTIONS:
        setting_default(option.setting)  # raises AttributeError for a misspelt setting
        assert option.help and option.help[0].isupper()
