"""`sounding eval`: run a benchmark (the default command), merge shards, write reports.

`sounding eval DATASET --out RUN_DIR ...` runs; `sounding eval merge RUN_DIR...` and
`sounding eval report RUN_DIR` are subcommands. A first argument that is not a
subcommand name is taken as a dataset for `run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..config import LLMSettings, Settings
from ..errors import ConfigError, SoundingError
from ..eval.costs import Price, Prices
from ..eval.datasets import FORMATS, Item, file_sha256, load_dataset, official_judge
from ..eval.judges import JUDGES, Judge, build_judge
from ..eval.progress import NullProgress, Progress, RichProgress
from ..eval.runner import (
    RunConfig,
    RunOutcome,
    build_manifest,
    run_eval,
    select_items,
    write_metrics,
)
from ..eval.store import Shard, merge_runs
from ..llm.base import ChatModel
from ..types import JSONObject
from ._options import RunOptions, with_run_options

__all__ = ["app"]

err = Console(stderr=True, highlight=False, soft_wrap=True)


class _DefaultRun(TyperGroup):
    """Routes `sounding eval DATASET ...` to the `run` command."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        known = set(self.list_commands(ctx))
        if args and args[0] not in known and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultRun, help="Benchmark runs with the official judges: "
                  "`sounding eval DATASET --out RUN_DIR`, then `merge` and `report`.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


@app.command()
@with_run_options
def run(
    dataset: Annotated[Path, typer.Argument(help="Benchmark file (csv, tsv, json, jsonl, "
                                            "xlsx, parquet)")],
    out: Annotated[Path, typer.Option(help="Run directory (created; resumed if it exists)")],
    rollouts: Annotated[int, typer.Option(min=1, help="Rollouts per question (k)")] = 3,
    concurrency: Annotated[int, typer.Option(min=1, help="Rollouts in flight")] = 8,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions")] = None,
    shard: Annotated[str | None, typer.Option(help="I/N: run shard I (0-based) of N")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Dataset format: "
                   + ", ".join(FORMATS))] = None,
    judge: Annotated[str, typer.Option(help="auto (the benchmark's official grader when a "
                     "judge model is set, else exact), " + ", ".join(JUDGES))] = "auto",
    judge_model: Annotated[str | None, typer.Option(help="Judge model name")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Judge endpoint (default: the "
                              "agent's)")] = None,
    judge_api_key: Annotated[str | None, typer.Option(help="Judge key [env "
                             "SOUNDING_JUDGE_API_KEY]")] = None,
    prices: Annotated[Path | None, typer.Option(help="TOML/JSON: model -> {prompt, "
                      "completion} per 1M tokens")] = None,
    price_prompt: Annotated[float | None, typer.Option(help="Agent model price per 1M "
                            "prompt tokens")] = None,
    price_completion: Annotated[float | None, typer.Option(help="Agent model price per 1M "
                                "completion tokens")] = None,
    judge_price_prompt: Annotated[float | None, typer.Option(help="Judge model price per "
                                  "1M prompt tokens")] = None,
    judge_price_completion: Annotated[float | None, typer.Option(help="Judge model price "
                                      "per 1M completion tokens")] = None,
    text_only: Annotated[bool, typer.Option("--text-only", help="Skip questions with an "
                         "attached file (GAIA's text-only subset)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    *,
    run_options: RunOptions,
) -> None:
    """Run (or resume) a benchmark: K rollouts per question, judged, with metrics.json."""
    try:
        settings = run_options.settings()
        name, items = load_dataset(dataset, fmt, text_only=text_only)
        chosen = select_items(items, limit, None)
        part = Shard.parse(shard) if shard else None
        todo = select_items(chosen, None, part)
        judge_obj, judge_client = _judge(judge, name, settings, judge_model, judge_base_url,
                                         judge_api_key)
        table = _price_table(prices, settings.llm.model or "", judge_obj,
                             (price_prompt, price_completion),
                             (judge_price_prompt, judge_price_completion))
    except SoundingError as exc:
        raise _fail(str(exc)) from None
    from ..eval.agent_rollout import agent_identity, files_settings

    try:
        settings = files_settings(settings, todo, out / "attachments")
    except (OSError, SoundingError) as exc:
        raise _fail(f"cannot stage the attachments: {exc}") from None
    manifest = build_manifest(dataset=dataset, dataset_sha256=file_sha256(dataset), fmt=name,
                              judge=judge_obj, agent=agent_identity(settings), rollouts=rollouts,
                              limit=limit, item_ids=[it.id for it in chosen],
                              text_only=text_only)
    cfg = RunConfig(out=out, rollouts=rollouts, concurrency=concurrency, limit=limit,
                    shard=part, prices=table)
    progress: Progress = NullProgress() if quiet else RichProgress(f"{name} k={rollouts}")
    err.print(f"{len(todo)} questions x {rollouts} rollouts, judge {judge_obj.name} "
              f"{judge_obj.model}".rstrip() + f" -> {out}", markup=False)
    _execute(_run(settings, todo, manifest, cfg, judge_obj, judge_client, progress), out)


def _price_table(prices: Path | None, agent_model: str, judge: Judge,
                 agent: tuple[float | None, float | None],
                 judge_prices: tuple[float | None, float | None]) -> Prices:
    """Prices from the file plus the per-model flags for the agent and the judge."""
    table = _prices(prices, agent_model, agent[0], agent[1])
    if judge_prices == (None, None):
        return table
    if not judge.model:
        raise ConfigError(f"--judge-price-*: judge {judge.name!r} has no model to price "
                          "(set --judge-model)")
    return _prices(None, judge.model, judge_prices[0], judge_prices[1], table)


def _execute(work: Coroutine[object, object, RunOutcome], out: Path) -> None:
    """Run the eval; Ctrl-C keeps finished rows and writes metrics (exit 130)."""
    try:
        outcome = asyncio.run(work)
    except KeyboardInterrupt:
        write_metrics(out)
        err.print(f"interrupted: finished rows are kept in {out}; run the same command to "
                  "resume.", markup=False)
        raise typer.Exit(130) from None
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    except SoundingError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}", code=1) from None
    _summary(outcome.metrics, out)


async def _run(settings: Settings, items: list[Item], manifest: JSONObject, cfg: RunConfig,
               judge: Judge, judge_client: ChatModel | None, progress: Progress) -> RunOutcome:
    from ..eval.agent_rollout import agent_rollout, open_agent

    resources = open_agent(settings)
    try:
        return await run_eval(items, manifest, config=cfg, judge=judge, progress=progress,
                              rollout=agent_rollout(settings, resources))
    finally:
        await resources.aclose()
        if judge_client is not None:
            await judge_client.aclose()


def _judge(name: str, fmt: str, settings: Settings, model: str | None, base_url: str | None,
           api_key: str | None) -> tuple[Judge, ChatModel | None]:
    if name == "auto":
        name = official_judge(fmt) if model else "exact"
        if not model:
            err.print(f"no --judge-model: grading with normalised exact match (the official "
                      f"grader of {fmt} is `{official_judge(fmt)}`)", markup=False)
    if name in ("exact", "f1"):
        return build_judge(name), None
    if not model:
        raise ConfigError(f"judge {name!r} needs --judge-model (and --judge-base-url)")
    from ..llm.openai_client import OpenAIChatModel

    url = base_url or settings.llm.base_url
    key = api_key or settings.secrets.get("SOUNDING_JUDGE_API_KEY") or (
        settings.llm.api_key if url == settings.llm.base_url else None)
    client = OpenAIChatModel(LLMSettings(base_url=url, model=model, api_key=key))
    return build_judge(name, client), client


def _prices(path: Path | None, model: str, prompt: float | None, completion: float | None,
            table: Prices | None = None) -> Prices:
    """The prices file (or `table`), with flags pricing `model` on top of it."""
    table = Prices.load(path) if path is not None else (table or Prices())
    if prompt is not None or completion is not None:
        table = table.with_price(model, Price(prompt or 0.0, completion or 0.0))
    return table


def _summary(metrics: JSONObject, out: Path) -> None:
    con = Console(highlight=False)

    def pct(key: str) -> str:
        v = metrics.get(key)
        return f"{100 * float(v):.1f}%" if isinstance(v, int | float) else "-"

    ci = metrics.get("avg_at_k_ci95")
    ci_text = (f" [{100 * float(ci[0]):.1f}, {100 * float(ci[1]):.1f}]"  # type: ignore[arg-type]
               if isinstance(ci, list) else "")
    con.print(f"Avg@{metrics.get('k')} {pct('avg_at_k')}{ci_text}  Pass@{metrics.get('k')} "
              f"{pct('pass_at_k')}  best Pass@1 {pct('best_pass_at_1')}  "
              f"judged {metrics.get('rows_judged')}/{metrics.get('rows_expected')}", markup=False)
    con.print(f"metrics: {out / 'metrics.json'}", markup=False)
    if not metrics.get("complete"):
        err.print(f"incomplete: failed rows {metrics.get('rows_failed')}; rerun the same "
                  "command to retry them", markup=False)


@app.command()
def merge(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (shards)")],
    out: Annotated[Path | None, typer.Option(help="Target run directory (default: the "
                   "first one)")] = None,
) -> None:
    """Join shard results (results.shard-I-of-N.jsonl) into results.jsonl, then metrics."""
    target = out or run_dirs[0]
    try:
        n = merge_runs(run_dirs, target)
    except SoundingError as exc:
        raise _fail(str(exc)) from None
    metrics = write_metrics(target)
    err.print(f"merged {n} rows into {target / 'results.jsonl'}", markup=False)
    _summary(metrics, target)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory")],
    compare: Annotated[Path | None, typer.Option(help="Another run to compare with")] = None,
) -> None:
    """Write report.md and report.html (self-contained, with charts) into RUN_DIR."""
    from ..eval.report import write_report

    for d in (run_dir, compare):
        if d is not None and not (d / "manifest.json").is_file():
            raise _fail(f"{d} is not a run directory (no manifest.json)")
    md, html = write_report(run_dir, compare)
    Console(highlight=False).print(f"{md}\n{html}", markup=False)
