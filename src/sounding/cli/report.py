"""`sounding report`: long reports with checked citations (plan, write, check, render),
`verify` on an existing report, and DeepResearch Bench scoring (`score`, `bench`)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from ..config import LLMSettings, Settings, load_settings
from ..errors import ConfigError, SoundingError
from ..llm.base import ChatModel
from .main import _flags, check_endpoint, err, fail
from .progress import ProgressPrinter

if TYPE_CHECKING:
    from ..report import ReportResult
    from ..report.check import ClaimJudge

__all__ = ["app", "register"]

T = TypeVar("T")


class _DefaultRun(TyperGroup):
    """Routes `sounding report "TOPIC" ...` to the `run` command."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        known = set(self.list_commands(ctx))
        if args and args[0] not in known and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultRun, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Long research reports whose every citation is checked: "
                       "`sounding report \"TOPIC\" --out DIR`, then `verify`, `score`.")

_ACTIONS = ("rewrite", "remove", "flag")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="report")


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


def claim_judge(model: ChatModel | None, nli_model: str | None) -> ClaimJudge | None:
    """The NLI judge when asked for, else an LLM judge on `model` (None: the agent's)."""
    from ..report import LLMClaimJudge

    if nli_model:
        from ..report.nli import NLIJudge, load_cross_encoder

        return NLIJudge(load_cross_encoder(nli_model))
    return LLMClaimJudge(model) if model is not None else None


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


def _slug(topic: str) -> str:
    import hashlib
    import re

    words = re.sub(r"[^\w]+", "-", topic.lower()).strip("-")[:40].strip("-")
    return f"{words or 'report'}-{hashlib.sha256(topic.encode()).hexdigest()[:6]}"


@app.command()
def run(
    topic: Annotated[str | None, typer.Argument(help="The topic to research (optional when "
                     "--out holds a started run).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (created; resumed if it "
                   "exists). Default: reports/<topic-slug>")] = None,
    max_sections: Annotated[int, typer.Option(min=1, help="Most sections")] = 8,
    on_unsupported: Annotated[str, typer.Option(help="What to do with a cited sentence its "
                              "evidence does not support: rewrite, remove or flag")] = "rewrite",
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Stop after the outline "
                         "(DIR/outline.md, editable)")] = False,
    outline: Annotated[Path | None, typer.Option(help="Write from this (edited) outline; "
                       "--out must be the run that planned it")] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write report.pdf (needs the pdf "
                   "extra)")] = False,
    judge_model: Annotated[str | None, typer.Option(help="Claim-check model (default: "
                           "--model)")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Claim-check endpoint")] = None,
    judge_api_key: Annotated[str | None, typer.Option(help="Claim-check key \\[env "
                             "SOUNDING_JUDGE_API_KEY]")] = None,
    nli_model: Annotated[str | None, typer.Option(help="Check claims with this local "
                         "cross-encoder NLI model instead of an LLM")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint "
                        "\\[env SOUNDING_BASE_URL]")] = None,
    model: Annotated[str | None, typer.Option(help="Model name \\[env SOUNDING_MODEL]")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key \\[env SOUNDING_API_KEY]")] = None,
    protocol: Annotated[str | None, typer.Option(help="tags (default) or native")] = None,
    env: Annotated[str | None, typer.Option(help="offline (default) or web")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus for --env offline")] = None,
    corpus_search: Annotated[str | None, typer.Option(help="bm25, dense or hybrid")] = None,
    summary_model: Annotated[str | None, typer.Option(help="Model for visit's "
                             "extraction")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Most research rounds")] = None,
    max_context_tokens: Annotated[int | None, typer.Option(help="Planner context "
                                  "budget")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Research wall-time budget")] = None,
    max_total_tokens: Annotated[int | None, typer.Option(help="Token ceiling")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="New tokens per call")] = None,
    config: Annotated[Path | None, typer.Option(help="sounding.toml to read")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr")] = False,
) -> None:
    """Research a topic and write a report whose citations are checked."""
    from ..report import ReportOptions, generate_report

    if on_unsupported not in _ACTIONS:
        raise fail(f"--on-unsupported must be one of: {', '.join(_ACTIONS)}")
    if out is None:
        if not topic:
            raise fail("give a topic or --out of a started run")
        out = Path("reports") / _slug(topic)
    settings = _settings(_flags(
        base_url=base_url, model=model, api_key=api_key, protocol=protocol, env=env,
        corpus=corpus, corpus_search=corpus_search, summary_model=summary_model,
        max_rounds=max_rounds, max_context_tokens=max_context_tokens, max_seconds=max_seconds,
        max_total_tokens=max_total_tokens, temperature=temperature, max_tokens=max_tokens),
        config)
    options = ReportOptions(max_sections=max_sections,
                            on_unsupported=on_unsupported,  # type: ignore[arg-type]
                            plan_only=plan_only, outline_file=outline, pdf=pdf)
    observer = None if quiet else ProgressPrinter(err)

    async def go() -> ReportResult:
        judge = judge_client(settings, judge_model, judge_base_url, judge_api_key)
        try:
            return await generate_report(topic, settings, out, options,
                                         judge=claim_judge(judge, nli_model),
                                         observer=observer)
        finally:
            if judge is not None:
                await judge.aclose()

    _print_run(execute(go()), out, as_json)


def _print_run(result: ReportResult, out: Path, as_json: bool) -> None:
    """The summary (JSON or the report's path) on stdout; the closing note on stderr."""
    calls = ", ".join(f"{k} {v}" for k, v in sorted(result.calls.items()))
    summary = {"out": str(out), "stage": result.stage, "sections": len(result.outline.sections),
               "model_calls": result.model_calls, "calls": result.calls,
               "check": result.stats.to_dict() if result.stats else None}
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    elif result.stage == "planned":
        typer.echo(f"outline: {out / 'outline.md'} (edit it, then: sounding report --out {out} "
                   f"--outline {out / 'outline.md'})")
    else:
        typer.echo(str(out / "report.md"))
        if result.stats is not None:
            err.print(result.stats.sentence(), markup=False, highlight=False)
    err.print(f"done: {len(result.outline.sections)} sections, {result.model_calls} model calls "
              f"this run ({calls or 'none'})", markup=False, highlight=False)


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A report run directory (report.md and "
                       "evidence.jsonl); report.md may have been edited")],
    on_unsupported: Annotated[str, typer.Option(help="rewrite, remove or flag")] = "flag",
    judge_model: Annotated[str | None, typer.Option(help="Judge model (default: "
                           "--model)")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Judge endpoint")] = None,
    judge_api_key: Annotated[str | None, typer.Option(help="Judge key")] = None,
    nli_model: Annotated[str | None, typer.Option(help="A local cross-encoder NLI model "
                         "instead of an LLM judge")] = None,
    base_url: Annotated[str | None, typer.Option(help="Endpoint \\[env "
                        "SOUNDING_BASE_URL]")] = None,
    model: Annotated[str | None, typer.Option(help="Model \\[env SOUNDING_MODEL]")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key \\[env SOUNDING_API_KEY]")] = None,
    config: Annotated[Path | None, typer.Option(help="sounding.toml to read")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON")] = False,
) -> None:
    """Check every cited sentence of an existing report again and rewrite its files."""
    from ..llm.openai_client import OpenAIChatModel
    from ..report import verify_report

    if on_unsupported not in _ACTIONS:
        raise fail(f"--on-unsupported must be one of: {', '.join(_ACTIONS)}")
    settings = _settings(_flags(base_url=base_url, model=model, api_key=api_key), config)

    async def go() -> Any:
        client = judge_client(settings, judge_model, judge_base_url, judge_api_key) \
            or OpenAIChatModel(settings.llm)
        try:
            judge = claim_judge(client, nli_model)
            assert judge is not None
            return await verify_report(run_dir, judge, on_unsupported)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    stats, claims = execute(go())
    if as_json:
        sys.stdout.write(json.dumps({**stats.to_dict(), "claims": len(claims)}) + "\n")
    else:
        typer.echo(stats.sentence())
        for c in claims:
            if c.label != "supported":
                typer.echo(f"  {c.label:11s} {c.outcome:9s} {c.text}")
from . import _report_drb  # noqa: E402,F401  (registers `score` and `bench`)
