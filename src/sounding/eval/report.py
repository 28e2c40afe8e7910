"""`sounding eval report`: Markdown and a self-contained HTML page for a run.

Both are built from the same sections (tables, plus inline-SVG charts in the
HTML). With a second run to compare, they add per-question wins and losses.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import cast

from ..types import JSON, JSONObject
from .report_sections import (
    MEANING_COLORS,
    VERDICT_CLASS,
    category_rows,
    comparability,
    extras_rows,
    incomplete,
    per_question_rows,
)
from .rows import ResultRow, read_rows
from .runner import write_metrics
from .store import read_manifest
from .svg import Series, bar_chart, strip_plot

__all__ = ["Report", "build_report", "write_report"]


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Shown before everything else in the section, marked (incomplete, not comparable)."""
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sections: list[Section]

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            out += [line for w in s.warnings for line in (f"> **{w}**", "")]
            for t in s.text:
                out += [t, ""]
            for header, rows in s.tables:
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "---|" * len(header))
                out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
                out.append("")
        return "\n".join(out)

    def html(self) -> str:
        body = [f"<h1>{escape(self.title)}</h1>"]
        for s in self.sections:
            body.append(f"<h2>{escape(s.title)}</h2>")
            body += [f'<p class="warn">{escape(w)}</p>' for w in s.warnings]
            body += [f"<p>{escape(t)}</p>" for t in s.text]
            body += [f'<div class="chart">{c}</div>' for c in s.charts]
            body += [_html_table(header, rows) for header, rows in s.tables]
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>"
                f"{escape(self.title)}</title><style>{_CSS}</style></head><body>"
                + "\n".join(body) + "</body></html>\n")


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _cell(text: str) -> str:
    cls = VERDICT_CLASS.get(text)
    return f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


# The page uses the window's width; one colour per meaning (MEANING_COLORS) everywhere.
_CSS = ("body{font-family:sans-serif;margin:1.5em 2vw;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px;"
        "vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}"
        ".scroll{overflow-x:auto}.chart{margin:1em 0}.chart svg{max-width:100%;height:auto}"
        ".warn{border-left:4px solid " + MEANING_COLORS["failed"] + ";padding:.4em .8em;"
        "background:#fff4e0;font-weight:bold}"
        + "".join(f".{k}{{color:{v};font-weight:bold}}" for k, v in MEANING_COLORS.items()))


@dataclass
class _Run:
    name: str
    manifest: JSONObject
    metrics: JSONObject
    rows: list[ResultRow]


def _load(run_dir: Path) -> _Run:
    return _Run(run_dir.name, read_manifest(run_dir) or {}, write_metrics(run_dir),
                list(read_rows(run_dir).values()))


def _pct(v: JSON) -> str:
    return f"{100 * float(v):.1f}%" if isinstance(v, int | float) else "n/a"


def _ci(v: JSON) -> tuple[float, float] | None:
    if isinstance(v, list) and len(v) == 2:
        return (float(cast(float, v[0])), float(cast(float, v[1])))
    return None


def _num(v: JSON, digits: int = 1) -> str:
    return f"{float(v):,.{digits}f}" if isinstance(v, int | float) else "-"


def _dist(m: JSONObject, key: str) -> JSONObject:
    v = m.get(key)
    return v if isinstance(v, dict) else {}


def build_report(run_dir: Path, compare: Path | None = None) -> Report:
    runs = [_load(run_dir)] + ([_load(compare)] if compare is not None else [])
    sections = [_overview(runs), _accuracy(runs), _tools(runs), _cost(runs), _endings(runs)]
    cats = category_rows(runs[0])
    if cats:
        sections.insert(2, Section(f"By category ({runs[0].name})", tables=[
            (["category", "questions", "Avg@k", "Pass@k"], cats)]))
    if len(runs) == 2:
        sections.append(_wins(runs[0], runs[1]))
    sections.append(Section(
        f"Per question ({runs[0].name})",
        text=["One row per question and rollout; verdicts: correct, wrong, not attempted, "
              "failed (agent), failed (judge). Failed rows count wrong in the headline."],
        tables=[(["question id", "gold", "answer", "verdict", "termination", "rounds",
                  "trajectory id"], per_question_rows(runs[0]))]))
    return Report(f"Eval report: {runs[0].name}"
                  + (f" vs {runs[1].name}" if len(runs) == 2 else ""), sections)


def write_report(run_dir: Path, compare: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into `run_dir`; return their paths."""
    report = build_report(run_dir, compare)
    md, html = run_dir / "report.md", run_dir / "report.html"
    md.write_text(report.markdown(), encoding="utf-8")
    html.write_text(report.html(), encoding="utf-8")
    return md, html


def _overview(runs: list[_Run]) -> Section:
    rows = []
    for r in runs:
        m, man = r.metrics, r.manifest
        agent = man.get("agent") if isinstance(man.get("agent"), dict) else {}
        subset = "/".join(str(x) for x in (man.get("subset"), man.get("release") and
                                           f"release {man.get('release')}") if x) or "all"
        sha = str(man.get("judge_prompt_sha256") or "")[:12]
        rows.append([r.name, Path(str(man.get("dataset", "?"))).name, str(man.get("format", "?")),
                     subset, str(cast(JSONObject, agent).get("model") or "?"),
                     str(cast(JSONObject, agent).get("mode") or "?"),
                     f"{man.get('judge', '?')}" + (f" (prompt {sha})" if sha else ""),
                     str(man.get("judge_model") or "-"),
                     str(man.get("published_judge_model") or "?"),
                     str(m.get("items")), str(m.get("k")),
                     f"{m.get('rows_judged')}/{m.get('rows_expected')}"])
    s = Section("Run", tables=[(["run", "dataset", "format", "subset", "model", "mode",
                                 "judge text", "judge model", "published judge model",
                                 "items", "k", "rows judged"], rows)])
    for r in runs:
        line = incomplete(r)
        if line:
            s.warnings.append(line)
        verdict = comparability(r)
        (s.text if r.manifest.get("comparable") else s.warnings).append(f"{r.name}: {verdict}")
        if r.manifest.get("rejudged_from"):
            s.text.append(f"{r.name} re-grades the answers of {r.manifest['rejudged_from']}.")
    return s


def _accuracy(runs: list[_Run]) -> Section:
    header = ["metric", *[r.name for r in runs]]
    table = []
    for label, key, ci in (("Avg@k", "avg_at_k", "avg_at_k_ci95"),
                           ("Pass@k", "pass_at_k", "pass_at_k_ci95"),
                           ("best Pass@1", "best_pass_at_1", None)):
        cells = []
        for r in runs:
            iv = _ci(r.metrics.get(ci)) if ci else None
            cells.append(_pct(r.metrics.get(key))
                         + (f" [{100 * iv[0]:.1f}, {100 * iv[1]:.1f}]" if iv else ""))
        table.append([label, *cells])
    k = max(int(cast(int, r.metrics.get("k") or 1)) for r in runs)
    for i in range(k):
        table.append([f"rollout {i}", *[_pct(_at(r.metrics.get("per_rollout_accuracy"), i))
                                        for r in runs]])
    table.append(["missing answers", *[_pct(r.metrics.get("missing_answer_rate")) for r in runs]])
    table += extras_rows(runs)
    cats = ["Avg@k", "Pass@k", "best Pass@1"]
    series = [Series(r.name, [_f(r.metrics.get("avg_at_k")), _f(r.metrics.get("pass_at_k")),
                              _f(r.metrics.get("best_pass_at_1"))],
                     [_ci(r.metrics.get("avg_at_k_ci95")), _ci(r.metrics.get("pass_at_k_ci95")),
                      None]) for r in runs]
    return Section("Accuracy", text=["Every question counts; a rollout that failed, gave no "
                                      "answer or was not judged counts wrong (the published "
                                      "rule). Brackets: bootstrap 95% interval over questions."],
                   tables=[(header, table)],
                   charts=[bar_chart("Accuracy (whiskers: 95% bootstrap interval)", cats,
                                     series, ymax=1.0, ylabel="accuracy")])


def _at(v: JSON, i: int) -> JSON:
    return v[i] if isinstance(v, list) and i < len(v) else None


def _f(v: JSON) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def _tools(runs: list[_Run]) -> Section:
    names = sorted({t for r in runs for t in _dist(r.metrics, "tool_calls_per_rollout")})
    table = [[t, *[_num(_dist(r.metrics, "tool_calls_per_rollout").get(t), 2) for r in runs]]
             for t in names]
    table.append(["all tools", *[_num(_dist(r.metrics, "tool_calls").get("mean"), 2)
                                 for r in runs]])
    table.append(["rounds", *[_num(_dist(r.metrics, "rounds").get("mean"), 2) for r in runs]])
    return Section("Tool use (mean per rollout)", tables=[(["tool", *[r.name for r in runs]],
                                                           table)], charts=[_tool_hist(runs)])


def _tool_hist(runs: list[_Run]) -> str:
    """Rollouts by number of tool calls, all runs on the same bins (at most ~25)."""
    counts = [[sum(row.tool_counts.values()) for row in r.rows if row.done] for r in runs]
    top = max((c for cs in counts for c in cs), default=0)
    width = next(w for w in (1, 2, 5, 10, 20, 50, 100, 10**9) if top // w < 25)
    n_bins = top // width + 1
    cats = [f"{b * width}" if width == 1 else f"{b * width}-{b * width + width - 1}"
            for b in range(n_bins)]
    series = []
    for r, cs in zip(runs, counts, strict=True):
        hist = Counter(c // width for c in cs)
        series.append(Series(r.name, [float(hist.get(b, 0)) for b in range(n_bins)]))
    return bar_chart("Tool calls per rollout", cats if any(counts) else [], series,
                     percent=False, xlabel="tool calls in the rollout", ylabel="rollouts")


def _cost(runs: list[_Run]) -> Section:
    table = []
    for label, key, stat in (("prompt tokens / rollout", "prompt_tokens", "mean"),
                             ("completion tokens / rollout", "completion_tokens", "mean"),
                             ("prompt tokens, total", "prompt_tokens", "total"),
                             ("completion tokens, total", "completion_tokens", "total"),
                             ("seconds / rollout", "seconds", "mean"),
                             ("seconds / rollout, p90", "seconds", "p90")):
        digits = 0 if stat == "total" else 1
        table.append([label, *[_num(_dist(r.metrics, key).get(stat), digits) for r in runs]])
    table.append(["wall clock (s)", *[_num(r.metrics.get("wall_clock_s")) for r in runs]])
    table.append(["judge tokens", *[_num(r.metrics.get("judge_tokens"), 0) for r in runs]])
    for label, key in (("cost, agent", "agent_cost"), ("cost, judge", "judge_cost"),
                       ("cost, total", "cost")):
        table.append([label, *[_num(r.metrics.get(key), 4) for r in runs]])
    groups: dict[str, list[float]] = {}
    colors: dict[str, str] = {}
    for r in runs:  # one chart, one x scale: runs are compared at a glance
        for verdict in ("correct", "wrong"):
            name = f"{r.name}: {verdict}" if len(runs) > 1 else verdict
            colors[name] = MEANING_COLORS[verdict]
            groups[name] = [float(row.prompt_tokens + row.completion_tokens) for row in r.rows
                            if row.done and bool(row.correct) == (verdict == "correct")]
    return Section("Tokens, time and cost", tables=[(["", *[r.name for r in runs]], table)],
                   charts=[strip_plot("Tokens per rollout, correct vs wrong", groups,
                                      xlabel="prompt + completion tokens per rollout",
                                      colors=colors)])


def _endings(runs: list[_Run]) -> Section:
    reasons = sorted({k for r in runs for k in _dist(r.metrics, "termination")})
    grades = sorted({k for r in runs for k in _dist(r.metrics, "grades")})
    table = [[f"termination: {k}", *[str(_dist(r.metrics, "termination").get(k, 0))
                                     for r in runs]] for k in reasons]
    table += [[f"grade: {k}", *[str(_dist(r.metrics, "grades").get(k, 0)) for r in runs]]
              for k in grades]
    series = [Series(r.name, [float(cast(int, _dist(r.metrics, "termination").get(k, 0)))
                              for k in reasons]) for r in runs]
    return Section("How rollouts ended", tables=[(["", *[r.name for r in runs]], table)],
                   charts=[bar_chart("How judged rollouts ended", reasons, series,
                                     percent=False, ylabel="rollouts")])


def _per_item(run: _Run) -> dict[str, tuple[float, str]]:
    """Per question: correct rollouts / k, a failed rollout counting wrong (as the headline)."""
    k = max(1, int(cast(int, run.metrics.get("k") or 1)))
    acc: dict[str, float] = defaultdict(float)
    questions: dict[str, str] = {}
    for row in run.rows:
        if row.rollout < k:
            acc[row.item_id] += float(bool(row.done and row.correct))
            questions[row.item_id] = row.question
    return {i: (v / k, questions[i]) for i, v in acc.items()}


def _wins(a: _Run, b: _Run) -> Section:
    pa, pb = _per_item(a), _per_item(b)
    shared = sorted(set(pa) & set(pb))
    wins = [i for i in shared if pa[i][0] > pb[i][0]]
    losses = [i for i in shared if pa[i][0] < pb[i][0]]
    ties = len(shared) - len(wins) - len(losses)
    text = [f"{len(shared)} questions in both runs: {a.name} wins {len(wins)}, "
            f"loses {len(losses)}, ties {ties} (per-question mean accuracy over rollouts)."]
    rows = [[("win" if i in wins else "loss"), i, _clip(pa[i][1]), _pct(pa[i][0]),
             _pct(pb[i][0])] for i in sorted(wins + losses, key=lambda i: pb[i][0] - pa[i][0])]
    return Section(f"Per question: {a.name} vs {b.name}", text=text,
                   tables=[(["", "id", "question", a.name, b.name], rows)] if rows else [])


def _clip(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
