"""`sounding tool NAME 'JSON_ARGS'`: run one tool and print its observation (setup debugging)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import Settings, load_settings
from ..env import Environment
from ..errors import ConfigError, SoundingError
from ..llm.base import ChatModel
from ..tools.base import ToolContext, ToolOutput, check_arguments
from ..types import JSON

__all__ = ["app", "register", "run_tool", "tool_command"]

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _summary_model(settings: Settings) -> ChatModel | None:
    summary = settings.summary_llm()
    if summary.missing():
        return None  # visit falls back to the passages that best match the goal
    from ..llm.openai_client import OpenAIChatModel

    return OpenAIChatModel(summary)


def _environment(settings: Settings, name: str, model: ChatModel | None) -> Environment:
    """Only what `name` needs: in the web environment, just that tool and its providers."""
    if settings.env == "web":
        from ..env.web import web_environment

        return web_environment(settings, summary_model=model, only={name})
    from ..env import build_environment

    return build_environment(settings, summary_model=model)


async def run_tool(settings: Settings, name: str, arguments: dict[str, JSON]
                   ) -> tuple[ToolOutput, dict[str, JSON]]:
    """Build `name` in the environment `settings.env` names, run it, return output and stats.

    For PythonInterpreter the code may come as `arguments["code"]` (the tags schema
    takes it outside the arguments; it is moved there).
    """
    model = _summary_model(settings) if name == "visit" else None
    try:
        environment = _environment(settings, name, model)
    except BaseException:
        if model is not None:
            await model.aclose()
        raise
    try:
        tool = environment.tools.get(name)
        if tool is None:
            raise ConfigError(f"the {settings.env} environment has no tool {name!r}; it has "
                              + ", ".join(environment.names()))
        args = dict(arguments)
        code = args.pop("code", None) if "code" not in _properties(tool.schema.parameters) \
            else None
        if code is not None and not isinstance(code, str):
            raise ConfigError("\"code\" must be a string of Python source")
        checked = check_arguments(tool.schema, args)
        await environment.open()
        context = ToolContext(summary_model=model)
        stats = context.stats
        start = time.perf_counter()
        output = await tool(checked, context, code=code)
        info: dict[str, JSON] = {
            "provider": stats.provider, "requests": stats.requests,
            "cache_hit": stats.cache_hit, "cache_hits": stats.cache_hits,
            "retries": stats.retries, "latency_s": round(time.perf_counter() - start, 4)}
        return output, info
    finally:
        await environment.aclose()
        if model is not None:
            await model.aclose()


def _properties(parameters: object) -> dict[str, object]:
    props = parameters.get("properties") if isinstance(parameters, dict) else None
    return props if isinstance(props, dict) else {}


def tool_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="search, visit, google_scholar, "
                    "PythonInterpreter or parse_file")],
    args_json: Annotated[str, typer.Argument(metavar="JSON_ARGS", help="The tool's arguments "
                         "as a JSON object, e.g. '{\"query\": [\"tongyi\"]}'")] = "{}",
    env: Annotated[str, typer.Option(help="web (real providers) or offline")] = "web",
    code: Annotated[str | None, typer.Option(help="Code for PythonInterpreter ('-' reads "
                    "stdin)")] = None,
    files: Annotated[Path | None, typer.Option(help="Directory parse_file may read")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the tool cache")] = False,
    record: Annotated[Path | None, typer.Option(help="Record provider exchanges here")] = None,
    replay: Annotated[Path | None, typer.Option(help="Answer only from a recording")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Run one tool and print its observation; provider, cache and retries go to stderr."""
    flags: dict[str, object] = {"env": env, "web.files_dir": files, "web.record_dir": record,
                                "web.replay_dir": replay}
    if no_cache:
        flags["web.no_cache"] = True
    try:
        arguments = json.loads(args_json)
        if not isinstance(arguments, dict):
            raise ConfigError("JSON_ARGS must be a JSON object, e.g. '{\"query\": [\"x\"]}'")
        if code is not None:
            arguments["code"] = sys.stdin.read() if code == "-" else code
        settings = load_settings(flags)
        output, info = asyncio.run(run_tool(settings, name, arguments))
    except json.JSONDecodeError as exc:
        err.print(f"[bold red]error:[/] JSON_ARGS is not valid JSON: {exc}")
        raise typer.Exit(2) from None
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except SoundingError as exc:
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    if as_json:
        record_out = {"tool": name, "observation": output.text, "sources": list(output.sources),
                      "meta": dict(output.meta), **info}
        sys.stdout.write(json.dumps(record_out, ensure_ascii=False) + "\n")
        return
    sys.stdout.write(output.text.rstrip("\n") + "\n")
    err.print(f"[dim]provider={info['provider']} requests={info['requests']} "
              f"cache_hits={info['cache_hits']} retries={info['retries']} "
              f"latency={info['latency_s']}s[/]")


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command(name="tool")(tool_command)


def register(parent: typer.Typer) -> None:
    """Mount `sounding tool` on the main app."""
    parent.command(name="tool")(tool_command)
