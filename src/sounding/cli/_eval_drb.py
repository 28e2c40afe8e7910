"""`sounding eval run --format drb`: each DeepResearch Bench task written by `sounding
report`'s pipeline, then scored by the criteria judge and the citation judge."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..config import LLMSettings, Settings
from ..errors import ConfigError, SoundingError
from ..eval.datasets import Item, file_sha256
from ..eval.judging import JudgeEndpoint
from ..eval.runner import now
from ..eval.store import check_manifest
from ..llm.base import ChatModel
from ..types import JSONObject
from ._console import err, fail, run_resumable

__all__ = ["check_drb_flags", "check_judge_endpoint", "drb_judge", "run_drb_command"]

JUDGE = "drb-criteria+drb-citations"


def check_drb_flags(unsupported: dict[str, object]) -> None:
    """Refuse the eval options a report benchmark has no use for (before any work)."""
    given = [flag for flag, value in unsupported.items() if value not in (None, False, "auto")]
    if given:
        raise ConfigError(f"{', '.join(given)}: not supported with --format drb (one report "
                          "per task, scored by the criteria and citation judges)")


def check_judge_endpoint(endpoint: JudgeEndpoint) -> None:
    """Both judges need an LLM: a DRB run cannot start without one."""
    if not endpoint.model or not endpoint.base_url:
        raise ConfigError("--format drb scores reports with an LLM judge: set --judge-model "
                          "(and --judge-base-url / --judge-api-key when it is not served by "
                          "the agent's endpoint)")


def drb_judge(endpoint: JudgeEndpoint) -> ChatModel:
    """The model behind both judges."""
    check_judge_endpoint(endpoint)
    from ..llm.openai_client import OpenAIChatModel

    return OpenAIChatModel(LLMSettings(base_url=endpoint.base_url, model=endpoint.model,
                                       api_key=endpoint.api_key), name="judge")


def _manifest(dataset: Path, items: list[Item], settings: Settings, judge_model: str,
              limit: int | None) -> JSONObject:
    from ..eval.agent_rollout import agent_identity
    from ..report import ReportOptions

    options = ReportOptions()
    return {"version": 2, "dataset": str(dataset.resolve()),
            "dataset_sha256": file_sha256(dataset), "format": "drb", "judge": JUDGE,
            "judge_model": judge_model, "judge_prompt_sha256": None,
            "agent": {**agent_identity(settings), "report": {
                "max_sections": options.max_sections,
                "on_unsupported": options.on_unsupported}},
            "rollouts": 1, "limit": limit, "n_items": len(items),
            "item_ids": [it.id for it in items], "updated_at": now()}


async def _work(items: list[Item], settings: Settings, out: Path, endpoint: JudgeEndpoint,
                concurrency: int, quiet: bool) -> JSONObject:
    from ..env import build_environment
    from ..eval.drb_run import DrbJudges, run_drb
    from ..eval.drb_score import page_fetcher
    from ..eval.judges.citations import CitationJudge
    from ..eval.judges.drb_criteria import CriteriaJudge
    from ..llm.openai_client import OpenAIChatModel
    from ..report import generate_report

    agent = OpenAIChatModel(settings.llm)
    judge = drb_judge(endpoint)
    env = None
    try:
        env = build_environment(settings, summary_model=agent)
        judges = DrbJudges(CriteriaJudge(judge), CitationJudge(judge, page_fetcher(env)))

        async def write(item: Item, report_dir: Path) -> None:
            await generate_report(item.question, settings, report_dir, model=agent,
                                  environment=env)

        def row_done(row: JSONObject) -> None:
            if not quiet:
                crit = row.get("criteria")
                score = crit.get("overall") if isinstance(crit, dict) else None
                err.print(f"{row['id']}: {row.get('error') or f'overall {score}'}",
                          markup=False)

        return await run_drb(items, out, write=write, judges=judges, concurrency=concurrency,
                             on_row=row_done)
    finally:
        if env is not None:
            await env.aclose()
        await judge.aclose()
        await agent.aclose()


def run_drb_command(dataset: Path, items: list[Item], settings: Settings, out: Path, *,
                    endpoint: JudgeEndpoint, limit: int | None, concurrency: int,
                    quiet: bool) -> None:
    """Write, score, resume; metrics.json and a headline; exit 1 when tasks are missing."""
    from ..eval.drb_run import write_drb_metrics

    try:
        settings.require_llm()
        check_judge_endpoint(endpoint)
        check_manifest(out, _manifest(dataset, items, settings, str(endpoint.model), limit))
    except SoundingError as exc:
        raise fail(str(exc)) from None
    err.print(f"{len(items)} DRB tasks, one report each, judge {JUDGE} -> {out}",
              markup=False)
    metrics = run_resumable(_work(items, settings, out, endpoint, concurrency, quiet), out,
                            write_drb_metrics)
    con = Console(highlight=False)
    con.print(f"overall {metrics.get('overall')} {metrics.get('overall_ci95') or ''}  "
              f"citation accuracy {metrics.get('citation_accuracy')}  effective citations "
              f"{metrics.get('effective_citations')}  scored {metrics.get('rows_scored')}/"
              f"{metrics.get('rows_expected')}", markup=False)
    con.print(f"metrics: {out / 'metrics.json'}", markup=False)
    if not metrics.get("complete"):
        failures = metrics.get("failures")
        for failure in failures if isinstance(failures, list) else []:
            err.print(f"failed: {failure}", markup=False)
        raise typer.Exit(1)
