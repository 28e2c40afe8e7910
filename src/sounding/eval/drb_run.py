"""`sounding eval run --format drb`: one report per DeepResearch Bench task, scored by the
criteria and citation judges; resumable, one row per task in `results.jsonl`."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SoundingError
from ..types import JSON, JSONObject
from .datasets.base import Item
from .drb_score import find_reports, score_reports, summarize
from .judges.citations import CitationJudge
from .judges.drb_criteria import CriteriaJudge
from .metrics import bootstrap_interval
from .runner import now
from .store import write_json

__all__ = ["REPORTS", "RESULTS", "WriteReport", "drb_metrics", "read_rows", "run_drb",
           "write_drb_metrics"]

RESULTS = "results.jsonl"
REPORTS = "reports"
METRICS = "metrics.json"

WriteReport = Callable[[Item, Path], Awaitable[None]]
"""Writes (or resumes) the report for one task into the given run directory. The caller
supplies it (`sounding.report.generate_report`), so that eval does not import report."""


@dataclass(frozen=True)
class DrbJudges:
    criteria: CriteriaJudge
    citations: CitationJudge | None


def read_rows(run_dir: Path) -> dict[str, JSONObject]:
    """The last row per task id; a torn last line (a kill mid-write) is skipped."""
    path = run_dir / RESULTS
    rows: dict[str, JSONObject] = {}
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            rows[row["id"]] = row
    return rows


def _append(path: Path, row: JSONObject) -> None:
    # A torn line from a kill would glue onto this row; start on a fresh line then.
    with path.open("a+b") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell():
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())


async def _one(item: Item, out: Path, write: WriteReport, judges: DrbJudges) -> JSONObject:
    """Write the task's report, then score it; a failure becomes an error row."""
    started = now()
    report_dir = out / REPORTS / item.id
    row: JSONObject
    try:
        await write(item, report_dir)
        report = find_reports(report_dir)[0]
        [row] = await score_reports([(report, item)], judges.criteria, judges.citations)
    except SoundingError as exc:
        row = {"task": item.id, "language": item.metadata.get("language"),
               "error": f"{type(exc).__name__}: {exc}"}
    row["report"] = f"{REPORTS}/{item.id}/report.md"
    return {"id": item.id, **row, "started": started, "finished": now()}


async def run_drb(items: Sequence[Item], out: Path, *, write: WriteReport, judges: DrbJudges,
                  concurrency: int = 1,
                  on_row: Callable[[JSONObject], None] | None = None) -> JSONObject:
    """Run every task without a scored row (error rows run again), then write metrics.json.

    Rows are appended as tasks finish, so a killed run resumes where it stopped; a report
    half written resumes inside its own directory (`generate_report` resumes).
    """
    out.mkdir(parents=True, exist_ok=True)
    done = {k for k, r in read_rows(out).items() if "error" not in r}
    sem = asyncio.Semaphore(concurrency)

    async def task(item: Item) -> None:
        async with sem:
            row = await _one(item, out, write, judges)
        _append(out / RESULTS, row)
        if on_row is not None:
            on_row(row)

    await asyncio.gather(*(task(it) for it in items if it.id not in done))
    return write_drb_metrics(out, [it.id for it in items])


def drb_metrics(rows: dict[str, JSONObject], item_ids: Sequence[str]) -> JSONObject:
    """Means over scored reports (the summary of `report score`), a 95% bootstrap interval
    of the overall score, and the same summary per language."""
    kept = [rows[i] for i in item_ids if i in rows]
    scored = [r for r in kept if "error" not in r]
    out: JSONObject = {"format": "drb", "rows_expected": len(item_ids),
                       "rows_scored": len(scored), "errors": len(kept) - len(scored),
                       "complete": len(scored) == len(item_ids), **summarize(scored)}
    overall = [float(v) for r in scored if isinstance(c := r.get("criteria"), dict)
               and isinstance(v := c.get("overall"), int | float)]
    if len(overall) >= 2:
        low, high = bootstrap_interval(overall)
        out["overall_ci95"] = [round(low, 3), round(high, 3)]
    langs = sorted({str(r.get("language")) for r in scored})
    out["by_language"] = {lang: summarize([r for r in scored if str(r.get("language")) == lang])
                          for lang in langs}
    failures: list[JSON] = [{"id": r["id"], "error": r["error"]} for r in kept if "error" in r]
    out["failures"] = failures[:5]
    return out


def write_drb_metrics(run_dir: Path, item_ids: Sequence[str] | None = None) -> JSONObject:
    """Metrics from the rows on disk (item ids from the manifest when not given)."""
    if item_ids is None:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        item_ids = [str(i) for i in manifest.get("item_ids") or []]
    metrics = drb_metrics(read_rows(run_dir), item_ids)
    write_json(run_dir / METRICS, metrics)
    return metrics
