"""Score reports on DeepResearch Bench tasks: `sounding report` run directories or a folder
of Markdown files from any system, with the criteria judge and the citation judge."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..types import JSON, JSONObject
from .datasets.base import Item
from .judges.citations import CitationJudge, Fetch
from .judges.drb_criteria import DIMENSIONS, CriteriaJudge, TaskCriteria

if TYPE_CHECKING:
    from ..env import Environment

__all__ = ["ReportFile", "find_reports", "match_task", "page_fetcher", "score_reports",
           "summarize"]


@dataclass(frozen=True)
class ReportFile:
    path: Path
    name: str
    topic: str


def find_reports(path: Path) -> list[ReportFile]:
    """A Markdown file, a run directory (`report.md`), or a folder of either; an
    `eval run --format drb` directory means its `reports/` folder."""
    if (path / "manifest.json").is_file() and (path / "reports").is_dir():
        path = path / "reports"
    if path.is_file():
        return [_report(path, path.stem)]
    if (path / "report.md").is_file():
        return [_report(path / "report.md", path.name)]
    if not path.is_dir():
        raise ConfigError(f"{path} is neither a report, a run directory nor a folder of them")
    found = [_report(p / "report.md", p.name) for p in sorted(path.iterdir())
             if (p / "report.md").is_file()]
    found += [_report(p, p.stem) for p in sorted(path.glob("*.md"))]
    if not found:
        raise ConfigError(f"no reports in {path} (looked for */report.md and *.md)")
    return found


def _report(md: Path, name: str) -> ReportFile:
    topic = ""
    state = md.parent / "state.json"
    if md.name == "report.md" and state.is_file():
        topic = str(json.loads(state.read_text(encoding="utf-8")).get("topic") or "")
    if not topic:
        with md.open(encoding="utf-8") as fh:
            first = next((ln for ln in fh if ln.strip()), "")
        topic = first.lstrip("# ").strip() if first.startswith("#") else ""
    return ReportFile(md, name, topic)


def match_task(report: ReportFile, items: Sequence[Item]) -> Item | None:
    """The task a report answers: by the number in its name (`12.md`, `drb-12`), else by
    its topic being the task's prompt."""
    by_id = {str(it.metadata.get("drb_id", it.id)): it for it in items}
    m = re.search(r"(\d+)$", report.name) or re.search(r"\b(\d+)\b", report.name)
    if m and m.group(1) in by_id:
        return by_id[m.group(1)]
    norm = " ".join(report.topic.split())
    return next((it for it in items if " ".join(it.question.split()) == norm), None)


def page_fetcher(env: Environment) -> Fetch:
    """The citation judge's page reader: the environment's `visit` page source, so that
    cited pages are read as the agent read them (the offline corpus included)."""
    visit = env.tools.get("visit")
    pages = getattr(visit, "pages", None)
    if pages is None:
        raise ConfigError(f"the {env.name} environment has no page reader for the citation "
                          "judge (use --no-citations)")

    async def fetch(url: str) -> str | None:
        page = await pages.fetch(url)
        return page.text if page is not None else None

    return fetch


async def score_reports(reports: Sequence[tuple[ReportFile, Item]],
                        criteria: CriteriaJudge | None, citations: CitationJudge | None,
                        *, concurrency: int = 4) -> list[JSONObject]:
    """One row per report: task id, criteria scores, citation accuracy."""
    sem = asyncio.Semaphore(concurrency)

    async def one(report: ReportFile, item: Item) -> JSONObject:
        async with sem:
            text = report.path.read_text(encoding="utf-8")
            row: JSONObject = {"report": str(report.path), "task": item.id,
                               "language": item.metadata.get("language")}
            if criteria is not None:
                task = TaskCriteria.from_record(item.metadata)
                row["criteria"] = (await criteria.score(item.question, text, task)).to_dict()
            if citations is not None:
                row["citations"] = (await citations.score(text)).to_dict()
            return row

    return list(await asyncio.gather(*(one(r, it) for r, it in reports)))


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _num(data: JSON, *path: str) -> float | None:
    """The number at `path` in nested dicts, or None."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return float(data) if isinstance(data, int | float) else None


def _values(rows: Sequence[JSONObject], *path: str) -> list[float]:
    return [v for r in rows if (v := _num(r, *path)) is not None]


def summarize(rows: Sequence[JSONObject]) -> JSONObject:
    """Means over reports; citation accuracy pooled over all judged pairs (as FACT does)."""
    out: JSONObject = {"reports": len(rows)}
    if any("criteria" in r for r in rows):
        out["overall"] = _mean(_values(rows, "criteria", "overall"))
        out["dimensions"] = {d: _mean(_values(rows, "criteria", "dimensions", d))
                             for d in DIMENSIONS}
    if any("citations" in r for r in rows):
        judged = sum(_values(rows, "citations", "judged"))
        supported = sum(_values(rows, "citations", "supported"))
        out["citation_accuracy"] = round(supported / judged, 4) if judged else None
        out["effective_citations"] = _mean(_values(rows, "citations", "supported"))
    return out
