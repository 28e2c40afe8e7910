"""`sounding eval`: run a benchmark (the default command), merge shards, write reports.

`sounding eval DATASET --out RUN_DIR ...` runs; `sounding eval merge RUN_DIR...` and
`sounding eval report RUN_DIR` are subcommands. A first argument that is not a
subcommand name is taken as a dataset for `run`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import Settings, load_settings, override_settings
from ..errors import ConfigError, SoundingError
from ..eval.costs import Price, Prices
from ..eval.datasets import FORMATS, Item, file_sha256, load_dataset
from ..eval.judges import JUDGES, Judge, JudgeClient, JudgeParams, check_judge_name
from ..eval.judging import CONFIDENCE_INSTRUCTION, JudgeChoice, JudgeEndpoint, choose_judge
from ..eval.progress import NullProgress, Progress, RichProgress
from ..eval.runner import (
    RunConfig,
    RunOutcome,
    build_manifest,
    run_eval,
    select_items,
    write_metrics,
)
from ..eval.status import incomplete_lines
from ..eval.store import Shard, merge_runs
from ..eval.subsets import dataset_release, select_subset
from ..types import JSONObject
from ._console import err, fail, run_resumable
from ._executor import (
    ExecutorKind,
    RayAddress,
    WorkerConcurrency,
    Workers,
    executor_flags,
    started_executor,
)
from ._options import DefaultRun, RunOptions, with_run_options

__all__ = ["app"]

app = typer.Typer(cls=DefaultRun, help="Benchmark runs with the official judges: "
                  "`sounding eval DATASET --out RUN_DIR`, then `merge` and `report`.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


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
    judge: Annotated[str, typer.Option(help="auto (the benchmark's official grader and its "
                     "published judge model; exact match when no judge endpoint is set), "
                     + ", ".join(JUDGES))] = "auto",
    judge_model: Annotated[str | None, typer.Option(help="Judge model name (default: the "
                           "published one)")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Judge endpoint (default: the "
                              "agent's when --judge-model is set)")] = None,
    judge_api_key: Annotated[str | None, typer.Option(help="Judge key (env "
                             "SOUNDING_JUDGE_API_KEY)")] = None,
    judge_temperature: Annotated[float | None, typer.Option(help="Judge temperature (default: "
                                 "not sent)")] = None,
    judge_max_tokens: Annotated[int, typer.Option(min=1, help="Judge token cap")] = 4096,
    judge_token_param: Annotated[str, typer.Option(help="auto, max_tokens or "
                                 "max_completion_tokens")] = "auto",
    subset: Annotated[str | None, typer.Option(help="Named subset: gaia validation | "
                      "text-only | text-103; hle text-only")] = None,
    subset_ids: Annotated[Path | None, typer.Option(help="Task ids for --subset text-103, one "
                          "per line (default: the shipped list)")] = None,
    ask_confidence: Annotated[bool, typer.Option("--ask-confidence", help="Ask the agent for "
                              "a confidence (HLE calibration error)")] = False,
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
    executor: ExecutorKind = None,
    ray_address: RayAddress = None,
    workers: Workers = None,
    worker_concurrency: WorkerConcurrency = None,
    *,
    run_options: RunOptions,
) -> None:
    """Run (or resume) a benchmark: K rollouts per question, judged, with metrics.json."""
    try:
        # Everything checkable is checked before any work starts.
        _check_judge_flags(judge, judge_token_param)
        settings = override_settings(run_options.settings(), executor_flags(
            executor, ray_address, workers, worker_concurrency))
        name, items = load_dataset(dataset, fmt, text_only=text_only)
        endpoint = _endpoint(settings, judge_model, judge_base_url, judge_api_key,
                             JudgeParams(temperature=judge_temperature,
                                         max_tokens=judge_max_tokens,
                                         token_param=judge_token_param))
        if name == "drb":  # reports, not answers: written, then scored by two judges
            from ._eval_drb import check_drb_flags, run_drb_command

            check_drb_flags({"--shard": shard, "--subset": subset, "--judge": judge,
                             "--ask-confidence": ask_confidence, "--text-only": text_only,
                             "--executor ray": settings.executor.kind == "ray"})
            return run_drb_command(dataset, select_items(items, limit, None), settings, out,
                                   endpoint=endpoint, limit=limit, concurrency=concurrency,
                                   quiet=quiet)
        plan = _plan(name, items, settings, endpoint, judge=judge, subset=subset,
                     subset_ids=subset_ids, ask_confidence=ask_confidence, limit=limit,
                     shard=shard, prices=prices, agent_prices=(price_prompt, price_completion),
                     judge_prices=(judge_price_prompt, judge_price_completion))
    except SoundingError as exc:
        raise fail(str(exc)) from None
    _launch(plan, dataset, out, settings, rollouts=rollouts, concurrency=concurrency,
            limit=limit, text_only=text_only, quiet=quiet)


def _check_judge_flags(judge: str, token_param: str) -> None:
    check_judge_name(judge)
    if token_param not in ("auto", "max_tokens", "max_completion_tokens"):
        raise ConfigError(f"--judge-token-param {token_param!r}: choose auto, "
                          "max_tokens or max_completion_tokens")


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What `run` works on, every part of it checked before any work starts."""

    name: str  # the dataset format
    chosen: list[Item]  # the run's questions (--subset, --ask-confidence, --limit)
    part: Shard | None
    todo: list[Item]  # this shard's share of `chosen`
    choice: JudgeChoice
    prices: Prices
    subset: str | None
    ask_confidence: bool


def _plan(name: str, items: list[Item], settings: Settings, endpoint: JudgeEndpoint, *,
          judge: str, subset: str | None, subset_ids: Path | None, ask_confidence: bool,
          limit: int | None, shard: str | None, prices: Path | None,
          agent_prices: tuple[float | None, float | None],
          judge_prices: tuple[float | None, float | None]) -> _Plan:
    """The questions, this shard's part of them, the judge and the prices."""
    items = select_subset(name, items, subset, subset_ids)
    if ask_confidence:
        items = [dataclasses.replace(it, instruction=CONFIDENCE_INSTRUCTION) for it in items]
    chosen = select_items(items, limit, None)
    part = Shard.parse(shard) if shard else None
    todo = select_items(chosen, None, part)
    choice = choose_judge(judge, name, endpoint)
    table = _price_table(prices, settings.llm.model or "", choice.judge, agent_prices,
                         judge_prices)
    return _Plan(name, chosen, part, todo, choice, table, subset, ask_confidence)


def _launch(plan: _Plan, dataset: Path, out: Path, settings: Settings, *, rollouts: int,
            concurrency: int, limit: int | None, text_only: bool, quiet: bool) -> None:
    """Stage the attachments, write the manifest and run the rollouts."""
    from ..eval.agent_rollout import agent_identity, files_settings

    try:
        settings = files_settings(settings, plan.todo, out / "attachments")
    except (OSError, SoundingError) as exc:
        raise fail(f"cannot stage the attachments: {exc}") from None
    name, choice = plan.name, plan.choice
    sha = file_sha256(dataset)
    manifest = build_manifest(
        dataset=dataset, dataset_sha256=sha, fmt=name, judge=choice.judge,
        agent=agent_identity(settings), rollouts=rollouts, limit=limit,
        item_ids=[it.id for it in plan.chosen], text_only=text_only,
        extra={**choice.facts, "subset": plan.subset,
               "release": dataset_release(name, dataset, sha),
               "ask_confidence": plan.ask_confidence})
    cfg = RunConfig(out=out, rollouts=rollouts, concurrency=concurrency, limit=limit,
                    shard=plan.part, prices=plan.prices, gaia_scorer=name == "gaia")
    for warning in choice.warnings:
        err.print(f"warning: {warning}", markup=False)
    progress: Progress = NullProgress() if quiet else RichProgress(f"{name} k={rollouts}")
    err.print(f"{len(plan.todo)} questions x {rollouts} rollouts, judge {choice.judge.name} "
              f"{choice.judge.model}".rstrip() + f" -> {out}", markup=False)
    _execute(_run(settings, plan.todo, manifest, cfg, choice.judge, choice.client, progress),
             out)


def _endpoint(settings: Settings, model: str | None, base_url: str | None,
              api_key: str | None, params: JudgeParams) -> JudgeEndpoint:
    """The judge's endpoint: its own URL, else the agent's when a judge model is named."""
    url = base_url or (settings.llm.base_url if model else None)
    key = api_key or settings.secrets.get("SOUNDING_JUDGE_API_KEY") or (
        settings.llm.api_key if url and url == settings.llm.base_url else None)
    return JudgeEndpoint(model, url, key, params)


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
    outcome = run_resumable(work, out, write_metrics)
    if outcome.skipped_lines:
        err.print(f"skipped {outcome.skipped_lines} unreadable line(s) in the results; their "
                  "rows were run again", markup=False)
    _summary(outcome.metrics, out)


async def _run(settings: Settings, items: list[Item], manifest: JSONObject, cfg: RunConfig,
               judge: Judge, judge_client: JudgeClient | None,
               progress: Progress) -> RunOutcome:
    from ..eval.agent_rollout import AgentRolloutFactory

    try:
        async with started_executor(AgentRolloutFactory(settings), settings,
                                    concurrency=cfg.concurrency) as executor:
            if isinstance(progress, RichProgress):
                progress.detail = lambda: executor.stats().summary()
            return await run_eval(
                items, manifest, progress=progress, judge=judge, rollout=executor.rollout,
                config=dataclasses.replace(cfg, concurrency=executor.concurrency))
    finally:
        if judge_client is not None:
            await judge_client.aclose()


def _prices(path: Path | None, model: str, prompt: float | None, completion: float | None,
            table: Prices | None = None) -> Prices:
    """The prices file (or `table`), with flags pricing `model` on top of it."""
    table = Prices.load(path) if path is not None else (table or Prices())
    if prompt is not None or completion is not None:
        table = table.with_price(model, Price(prompt or 0.0, completion or 0.0))
    return table


def _summary(metrics: JSONObject, out: Path) -> None:
    """Print the headline; an incomplete run says why and exits non-zero."""
    con = Console(highlight=False)
    k = metrics.get("k")
    con.print(f"Avg@{k} {_pct(metrics.get('avg_at_k'))}{_ci(metrics.get('avg_at_k_ci95'))}  "
              f"Pass@{k} {_pct(metrics.get('pass_at_k'))}  best Pass@1 "
              f"{_pct(metrics.get('best_pass_at_1'))}  judged {metrics.get('rows_judged')}/"
              f"{metrics.get('rows_expected')}", markup=False)
    con.print(f"metrics: {out / 'metrics.json'}", markup=False)
    if metrics.get("complete"):
        return
    for line in incomplete_lines(out, metrics):
        err.print(line, markup=False)
    raise typer.Exit(1)


def _pct(v: object) -> str:
    return f"{100 * float(v):.1f}%" if isinstance(v, int | float) else "n/a"


def _ci(v: object) -> str:
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v):
        return f" [{100 * float(v[0]):.1f}, {100 * float(v[1]):.1f}]"
    return ""


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
        raise fail(str(exc)) from None
    metrics = write_metrics(target)
    err.print(f"merged {n} rows into {target / 'results.jsonl'}", markup=False)
    _summary(metrics, target)


@app.command()
def rejudge(
    run_dir: Annotated[Path, typer.Argument(help="Run directory whose answers to grade")],
    out: Annotated[Path, typer.Option(help="New run directory for the new verdicts")],
    judge: Annotated[str, typer.Option(help="auto or " + ", ".join(JUDGES))] = "auto",
    judge_model: Annotated[str | None, typer.Option(help="Judge model name (default: the "
                           "published one)")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Judge endpoint")] = None,
    judge_api_key: Annotated[str | None, typer.Option(help="Judge key (env "
                             "SOUNDING_JUDGE_API_KEY)")] = None,
    judge_temperature: Annotated[float | None, typer.Option(help="Judge temperature (default: "
                                 "not sent)")] = None,
    judge_max_tokens: Annotated[int, typer.Option(min=1, help="Judge token cap")] = 4096,
    concurrency: Annotated[int, typer.Option(min=1, help="Judge calls in flight")] = 8,
    config: Annotated[Path | None, typer.Option(help="sounding.toml to read")] = None,
) -> None:
    """Grade a run's stored answers again with another judge, into a new run (no rollouts)."""
    from ..eval.rejudge import rejudge_run
    from ..eval.store import read_manifest

    params = JudgeParams(temperature=judge_temperature, max_tokens=judge_max_tokens)
    try:
        check_judge_name(judge)
        manifest = read_manifest(run_dir)
        if manifest is None:
            raise ConfigError(f"{run_dir} is not a run directory (no manifest.json)")
        settings = load_settings({}, config_file=config)
        choice = choose_judge(judge, str(manifest.get("format") or "generic"),
                              _endpoint(settings, judge_model, judge_base_url, judge_api_key,
                                        params))
    except SoundingError as exc:
        raise fail(str(exc)) from None
    for warning in choice.warnings:
        err.print(f"warning: {warning}", markup=False)

    async def work() -> RunOutcome:
        try:
            return await rejudge_run(run_dir, out, choice.judge, facts=choice.facts,
                                     concurrency=concurrency)
        finally:
            if choice.client is not None:
                await choice.client.aclose()

    _execute(work(), out)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory")],
    compare: Annotated[Path | None, typer.Option(help="Another run to compare with")] = None,
) -> None:
    """Write report.md and report.html (self-contained, with charts) into RUN_DIR."""
    from ..eval.report import write_report

    for d in (run_dir, compare):
        if d is not None and not (d / "manifest.json").is_file():
            raise fail(f"{d} is not a run directory (no manifest.json)")
    if _is_drb(run_dir):
        from ..eval.drb_summary import write_drb_summary

        md, html = write_drb_summary(run_dir)
    else:
        md, html = write_report(run_dir, compare)
    Console(highlight=False).print(f"{md}\n{html}", markup=False)


def _is_drb(run_dir: Path) -> bool:
    """A DeepResearch Bench run: scored reports, summarised by `eval.drb_summary`."""
    from ..eval.store import read_manifest

    try:
        manifest = read_manifest(run_dir)
    except SoundingError:
        return False
    return manifest is not None and manifest.get("format") == "drb"
