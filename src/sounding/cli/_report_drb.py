"""`sounding report score` and `sounding report bench`: DeepResearch Bench for reports.

`sounding eval run --format drb` does what `bench` does as a resumable eval run (one row
per task, metrics.json); both score with `sounding.eval.drb_score`, as `score` does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import Settings
from ..env import build_environment
from ..errors import ConfigError
from ..eval.datasets import drb
from ..eval.datasets.base import Item
from ..llm.base import ChatModel
from ._console import err, fail
from ._options import ApiKey, BaseUrl, ConfigFile, ModelName
from ._report_common import _flags, _settings, app, execute, judge_client


def _tasks(path: Path, language: str | None, limit: int | None) -> list[Item]:
    try:
        items = drb.load(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if language:
        items = [it for it in items if it.metadata.get("language") == language]
    return items[:limit] if limit else items


async def _score(paths: list[Path], items: list[Item], settings: Settings,
                 judge: ChatModel, *, criteria: bool, citations: bool) -> list[Any]:
    from ..eval.drb_score import find_reports, match_task, page_fetcher, score_reports
    from ..eval.judges.citations import CitationJudge
    from ..eval.judges.drb_criteria import CriteriaJudge

    pairs = []
    for path in paths:
        for report in find_reports(path):
            item = match_task(report, items)
            if item is None:
                err.print(f"skipped {report.path}: no DRB task matches its name or topic",
                          markup=False)
                continue
            pairs.append((report, item))
    env = build_environment(settings, summary_model=None) if citations else None
    try:
        cit = CitationJudge(judge, page_fetcher(env)) if env is not None else None
        return await score_reports(pairs, CriteriaJudge(judge) if criteria else None, cit)
    finally:
        if env is not None:
            await env.aclose()


def _print(rows: list[Any], out: Path, as_json: bool) -> None:
    from ..eval.drb_score import summarize

    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary = summarize(rows)
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    typer.echo(f"{summary['reports']} reports scored -> {out}")
    for key, value in summary.items():
        if key != "reports":
            typer.echo(f"  {key}: {value}")


JudgeModel = Annotated[str | None, typer.Option(help="Judge model (default: --model)")]
JudgeBaseUrl = Annotated[str | None, typer.Option(help="Judge endpoint")]
JudgeApiKey = Annotated[str | None, typer.Option(help="Judge key")]
Tasks = Annotated[Path, typer.Option(help="DRB query.jsonl (criteria.jsonl beside it) or "
                                     "the folder holding both")]


@app.command()
def score(
    reports: Annotated[list[Path], typer.Argument(help="Report run dirs, Markdown files, or "
                       "folders of them (named by task id, e.g. 12.md, or titled with the "
                       "task's prompt)")],
    tasks: Tasks,
    out: Annotated[Path | None, typer.Option(help="scores.jsonl to write")] = None,
    no_criteria: Annotated[bool, typer.Option("--no-criteria")] = False,
    no_citations: Annotated[bool, typer.Option("--no-citations")] = False,
    judge_model: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_api_key: JudgeApiKey = None,
    base_url: BaseUrl = None,
    model: ModelName = None,
    api_key: ApiKey = None,
    env: Annotated[str | None, typer.Option(help="Where cited pages are read: offline or "
                   "web")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus for --env offline")] = None,
    config: ConfigFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Score reports on DeepResearch Bench: criteria (per dimension) and citation accuracy."""
    items = _tasks(tasks, None, None)
    settings = _settings(_flags(base_url=base_url, model=model, api_key=api_key, env=env,
                                corpus=corpus), config)

    async def go() -> list[Any]:
        from ..llm.openai_client import OpenAIChatModel

        judge = judge_client(settings, judge_model, judge_base_url, judge_api_key) \
            or OpenAIChatModel(settings.llm)
        try:
            return await _score(reports, items, settings, judge, criteria=not no_criteria,
                                citations=not no_citations)
        finally:
            await judge.aclose()

    rows = execute(go())
    first = reports[0]
    _print(rows, out or (first if first.is_dir() else first.parent) / "scores.jsonl", as_json)


@app.command()
def bench(
    tasks: Tasks,
    out: Annotated[Path, typer.Option(help="Folder of run directories (resumed)")],
    limit: Annotated[int | None, typer.Option(min=1, help="First N tasks")] = None,
    language: Annotated[str | None, typer.Option(help="en or zh only")] = None,
    max_sections: Annotated[int, typer.Option(min=1)] = 8,
    on_unsupported: Annotated[str, typer.Option(help="rewrite, remove or flag")] = "rewrite",
    judge_model: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_api_key: JudgeApiKey = None,
    base_url: BaseUrl = None,
    model: ModelName = None,
    api_key: ApiKey = None,
    env: Annotated[str | None, typer.Option(help="offline or web")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus for --env offline")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Research rounds per report")] = None,
    config: ConfigFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Write a report for each DRB task (`sounding report`), then score them all."""
    from ..report import ReportOptions, generate_report

    items = _tasks(tasks, language, limit)
    settings = _settings(_flags(base_url=base_url, model=model, api_key=api_key, env=env,
                                corpus=corpus, max_rounds=max_rounds), config)
    options = ReportOptions(max_sections=max_sections,
                            on_unsupported=on_unsupported)  # type: ignore[arg-type]

    async def go() -> list[Any]:
        from ..llm.openai_client import OpenAIChatModel

        agent = OpenAIChatModel(settings.llm)
        environment = build_environment(settings, summary_model=agent)
        judge = judge_client(settings, judge_model, judge_base_url, judge_api_key) or agent
        try:
            for n, item in enumerate(items, 1):
                err.print(f"[{n}/{len(items)}] {item.id}: {item.question[:70]}", markup=False)
                await generate_report(item.question, settings, out / item.id, options,
                                      model=agent, environment=environment)
            return await _score([out], items, settings, judge, criteria=True, citations=True)
        finally:
            await environment.aclose()
            if judge is not agent:
                await judge.aclose()
            await agent.aclose()

    _print(execute(go()), out / "scores.jsonl", as_json)
