"""The `sounding` command line: parse -> settings -> library call -> print."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from ..agent import Result, arun
from ..config import Settings, load_settings
from ..errors import ConfigError, SoundingError
from .progress import ProgressPrinter

__all__ = ["app", "main"]

app = typer.Typer(
    name="sounding",
    help="Sounding: an open deep-research agent (Tongyi DeepResearch format).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"sounding {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Sounding: an open deep-research agent (Tongyi DeepResearch format)."""


def check_endpoint(settings: Settings) -> None:
    """Fail fast (before any work) when the LLM endpoint cannot be reached at all."""
    url = (settings.llm.base_url or "").rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {settings.llm.api_key}"} if settings.llm.api_key else {}
    try:
        httpx.get(url, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"cannot reach the LLM endpoint {settings.llm.base_url} ({type(exc).__name__}); "
            "check --base-url / SOUNDING_BASE_URL and that the server is running"
        ) from exc


def _flags(**values: object) -> dict[str, object]:
    keys = {
        "base_url": "llm.base_url", "model": "llm.model", "api_key": "llm.api_key",
        "summary_model": "summary.model", "summary_base_url": "summary.base_url",
        "summary_api_key": "summary.api_key", "max_rounds": "budgets.max_rounds",
        "max_context_tokens": "budgets.max_context_tokens",
        "max_seconds": "budgets.max_seconds", "max_total_tokens": "budgets.max_total_tokens",
        "temperature": "sampling.temperature", "top_p": "sampling.top_p",
        "presence_penalty": "sampling.presence_penalty", "max_tokens": "sampling.max_tokens",
        "system_prompt": "system_prompt_file", "files": "web.files_dir",
        "no_cache": "web.no_cache", "record": "web.record_dir", "replay": "web.replay_dir",
        "branches": "heavy.branches", "branch_mode": "heavy.branch_mode",
        "early_stop": "heavy.early_stop_majority", "tool": "tools",
    }
    out: dict[str, object] = {}
    for name, value in values.items():
        if value is None or value is False:
            continue
        out[keys.get(name, name)] = value
    return out


_NOT_SETTINGS = frozenset({"question", "config", "as_json", "trace", "quiet", "mcp_url"})


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to research.")],
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint, e.g. "
                        "http://localhost:8000/v1 \\[env SOUNDING_BASE_URL]")] = None,
    model: Annotated[str | None, typer.Option(help="Model name \\[env SOUNDING_MODEL]")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key \\[env SOUNDING_API_KEY]")] = None,
    protocol: Annotated[str | None, typer.Option(help="tags (Tongyi format, default) or "
                        "native \\[env SOUNDING_PROTOCOL]")] = None,
    env: Annotated[str | None, typer.Option(help="offline (local corpus, default) or web")] = None,
    mode: Annotated[str | None, typer.Option(help="react (default), iter, heavy or resum")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus built with `sounding corpus "
                      "build` (default: embedded Wikipedia vital articles)")] = None,
    corpus_search: Annotated[str | None, typer.Option(help="Offline search: bm25, dense or "
                             "hybrid (dense needs embeddings: `sounding corpus embed`)")] = None,
    summary_model: Annotated[str | None, typer.Option(help="Model that extracts evidence "
                             "in visit (default: --model)")] = None,
    summary_base_url: Annotated[str | None, typer.Option(help="Endpoint of the summary "
                                "model")] = None,
    summary_api_key: Annotated[str | None, typer.Option(help="Key of the summary model")] = None,
    system_prompt: Annotated[Path | None, typer.Option(help="File replacing the role "
                             "paragraph of the system prompt")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Most research rounds (100)")] = None,
    max_context_tokens: Annotated[int | None, typer.Option(help="Context budget (112640)")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Wall-time budget (9000)")] = None,
    max_total_tokens: Annotated[int | None, typer.Option(help="Token ceiling of the run")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature (0.85)")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling (0.95)")] = None,
    presence_penalty: Annotated[float | None, typer.Option(help="Presence penalty (1.1)")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="New tokens per turn (10000)")] = None,
    branches: Annotated[int | None, typer.Option(help="heavy mode: parallel branches")] = None,
    branch_mode: Annotated[str | None, typer.Option(help="heavy mode: iter, react or "
                           "resum")] = None,
    early_stop: Annotated[float | None, typer.Option(help="heavy mode: stop once this share "
                          "of branches agree, e.g. 0.5")] = None,
    files: Annotated[Path | None, typer.Option(help="Directory parse_file may read")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the tool cache")] = False,
    record: Annotated[Path | None, typer.Option(help="Record provider exchanges here")] = None,
    replay: Annotated[Path | None, typer.Option(help="Answer tools only from a "
                      "recording")] = None,
    tool: Annotated[list[str] | None, typer.Option(help="A Python tool to offer, "
                    "module:function or file.py:function (repeatable)")] = None,
    mcp: Annotated[list[str] | None, typer.Option(help="An MCP server over stdio to offer, "
                   "\"COMMAND ARGS\" (repeatable)")] = None,
    mcp_url: Annotated[list[str] | None, typer.Option(help="An MCP server over streamable "
                       "HTTP to offer, its URL (repeatable)")] = None,
    config: Annotated[Path | None, typer.Option(help="sounding.toml to read")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    trace: Annotated[Path | None, typer.Option(help="Append the trajectory (JSONL) here")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr")] = False,
) -> None:
    """Research a question and print the answer with its sources."""
    if not question.strip():
        raise fail("the question is empty: sounding ask \"YOUR QUESTION\"")
    # Every option but these is a setting; `_flags` maps each to its dotted name.
    options = {k: v for k, v in locals().items() if k not in _NOT_SETTINGS}
    options["mcp"] = ([{"command": c} for c in mcp or ()]
                      + [{"url": u} for u in mcp_url or ()]) or None
    flags = _flags(**options)
    try:
        settings = load_settings(flags, config_file=config)
        settings.require_llm()
        check_endpoint(settings)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    observer = None if quiet else ProgressPrinter(err)
    try:
        trajectory = asyncio.run(arun(question, settings, observer=observer))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except SoundingError as exc:
        raise fail(f"{type(exc).__name__}: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise fail("interrupted", code=130) from None
    if trace is not None:
        trajectory.append_to(trace)
    result = Result.from_trajectory(trajectory)
    _print_result(result, as_json)
    if result.termination == "error":
        err_text = trajectory.error.message if trajectory.error else "unknown error"
        raise fail(f"the run ended with an error: {err_text}", code=1)


def _print_result(result: Result, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    if result.answer is None:
        out.print("(no answer)")
    else:
        out.print(result.answer, markup=False)
    if result.sources:
        out.print("\nSources:")
        for url in result.sources:
            out.print(f"  - {url}", markup=False)


def _mount_subcommands() -> None:
    # Imported when the CLI starts rather than with this module, so importing `app` (as the
    # tests do) does not pull in the corpus, eval and tool stacks.
    from . import corpus, eval, report, tool

    app.add_typer(corpus.app, name="corpus")
    app.add_typer(eval.app, name="eval")
    tool.register(app)
    report.register(app)


def main() -> None:
    _mount_subcommands()
    app()
