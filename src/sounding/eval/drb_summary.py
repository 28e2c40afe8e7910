"""`sounding eval report` for a DeepResearch Bench run: report.md and a self-contained
report.html with the criteria and citation metrics (the generic report shows accuracy)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..types import JSON, JSONObject
from .drb_run import read_rows, write_drb_metrics
from .judges.drb_criteria import DIMENSIONS

__all__ = ["write_drb_summary"]


def _fmt(value: JSON | None) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) <= 1.0 else f"{value:.1f}"
    return "n/a" if value is None else str(value)


def _headline(name: str, summary: JSONObject) -> list[str]:
    dims = summary.get("dimensions")
    dims = dims if isinstance(dims, dict) else {}
    return [name, str(summary.get("reports", 0)), _fmt(summary.get("overall")),
            *(_fmt(dims.get(d)) for d in DIMENSIONS),
            _fmt(summary.get("citation_accuracy")), _fmt(summary.get("effective_citations"))]


HEAD = ["", "reports", "overall", *DIMENSIONS, "citation accuracy", "effective citations"]
TASK_HEAD = ["task", "language", "overall", "citation accuracy", "effective citations",
             "error"]


def _tables(run_dir: Path, metrics: JSONObject) -> tuple[list[list[str]], list[list[str]]]:
    langs = metrics.get("by_language")
    langs = langs if isinstance(langs, dict) else {}
    summary = [_headline("all", metrics)] + [
        _headline(lang, s) for lang, s in langs.items() if isinstance(s, dict)]
    tasks = []
    for row in read_rows(run_dir).values():
        crit = row.get("criteria")
        cit = row.get("citations")
        crit = crit if isinstance(crit, dict) else {}
        cit = cit if isinstance(cit, dict) else {}
        tasks.append([str(row.get("id")), str(row.get("language")), _fmt(crit.get("overall")),
                      _fmt(cit.get("accuracy")), _fmt(cit.get("effective_citations")),
                      str(row.get("error") or "")])
    return summary, tasks


def _markdown(title: str, metrics: JSONObject, tables: list[tuple[list[str],
                                                                  list[list[str]]]]) -> str:
    lines = [f"# {title}", "",
             f"Scored {metrics.get('rows_scored')}/{metrics.get('rows_expected')} tasks; "
             f"overall 95% CI: {metrics.get('overall_ci95') or 'n/a'}.", ""]
    for head, rows in tables:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def _html(title: str, markdown_intro: str,
          tables: list[tuple[list[str], list[list[str]]]]) -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
             "padding:.3em .6em}table{border-collapse:collapse;margin:1em 0}</style>",
             f"<h1>{html.escape(title)}</h1><p>{html.escape(markdown_intro)}</p>"]
    for head, rows in tables:
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                     + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                  for r in rows]
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def write_drb_summary(run_dir: Path) -> tuple[Path, Path]:
    """Refresh metrics.json from the rows, then write report.md and report.html."""
    metrics = write_drb_metrics(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    title = f"DeepResearch Bench: {manifest.get('agent', {}).get('model') or 'agent'}"
    summary, tasks = _tables(run_dir, metrics)
    tables = [(HEAD, summary), (TASK_HEAD, tasks)]
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(_markdown(title, metrics, tables), encoding="utf-8")
    intro = (f"Scored {metrics.get('rows_scored')}/{metrics.get('rows_expected')} tasks; "
             f"overall 95% CI: {metrics.get('overall_ci95') or 'n/a'}.")
    page.write_text(_html(title, intro, tables), encoding="utf-8")
    return md, page
