"""Report sections beyond the overview: the incomplete-run notice, judge comparability,
benchmark extras (GAIA scorer, SimpleQA, HLE calibration, categories), and the
per-question table (one row per question and rollout)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..types import JSON, JSONObject
from .rows import ResultRow

__all__ = ["MEANING_COLORS", "VERDICT_CLASS", "category_rows", "comparability", "extras_rows",
           "incomplete", "per_question_rows", "verdict_word"]

MEANING_COLORS = {"correct": "#2e7d32", "wrong": "#c62828", "failed": "#ef8f00",
                  "unknown": "#8c8c8c"}
"""One colour per meaning, the same in every table and chart of every report."""
VERDICT_CLASS = {"correct": "correct", "wrong": "wrong", "not attempted": "wrong",
                 "failed (agent)": "failed", "failed (judge)": "failed", "n/a": "unknown"}


class _RunLike(Protocol):
    name: str
    manifest: JSONObject
    metrics: JSONObject
    rows: list[ResultRow]


def _pct(v: JSON) -> str:
    return f"{100 * float(v):.1f}%" if isinstance(v, int | float) else "n/a"


def incomplete(run: _RunLike) -> str | None:
    """The line every report of an incomplete run carries; None when it is complete."""
    m = run.metrics
    if m.get("complete"):
        return None
    failed = m.get("rows_failed")
    n_failed = sum(int(v) for v in failed.values() if isinstance(v, int)) \
        if isinstance(failed, dict) else 0
    return (f"{run.name} is INCOMPLETE: {m.get('rows_judged')} of {m.get('rows_expected')} "
            f"rollouts judged ({n_failed} failed, {m.get('rows_missing', 0)} not run); they "
            "count wrong in the headline numbers. Resume it with the same command.")


def comparability(run: _RunLike) -> str:
    """Whether the run's number can stand beside the published one, and why not."""
    man = run.manifest
    official, published = man.get("official_judge"), man.get("published_judge_model")
    if official is None:
        return "judge comparability unknown (a run made before judges were recorded)"
    judge, model = man.get("judge"), man.get("judge_model") or "(none)"
    if man.get("comparable"):
        return (f"graded like the published numbers: judge text `{judge}` with {model}")
    return (f"NOT comparable with the published numbers: those were graded by `{official}` "
            f"with {published}; this run used `{judge}` with {model}")


def extras_rows(runs: Sequence[_RunLike]) -> list[list[str]]:
    """Rows of benchmark-specific figures that any of `runs` has."""
    table: list[list[str]] = []

    def add(label: str, get: str, key: str) -> None:
        cells = []
        for r in runs:
            block = r.metrics.get(get)
            value = block.get(key) if isinstance(block, dict) else None
            cells.append(_pct(value) if value is not None else "-")
        if any(c != "-" for c in cells):
            table.append([label, *cells])

    add("judged-only Avg@k (failures left out)", "judged_only", "avg_at_k")
    add("judged-only Pass@k", "judged_only", "pass_at_k")
    for k in sorted({j for r in runs for j in _keys(r.metrics, "pass_at_unbiased_judged_only")},
                    key=int):
        add(f"unbiased pass@{k}, judged only", "pass_at_unbiased_judged_only", k)
    add("GAIA scorer Avg@k", "gaia_scorer", "avg_at_k")
    add("GAIA scorer Pass@k", "gaia_scorer", "pass_at_k")
    add("GAIA scorer agrees with the judge", "gaia_scorer", "agreement_with_judge")
    for key, label in (("correct", "correct"), ("not_attempted", "not attempted"),
                       ("accuracy_given_attempted", "accuracy given attempted"),
                       ("f1", "F1")):
        add(f"SimpleQA {label}", "simpleqa", key)
    if any("calibration_error" in r.metrics for r in runs):
        table.append(["HLE calibration error (RMS, bins of 100)",
                      *[_pct(r.metrics.get("calibration_error")) for r in runs]])
    return table


def _keys(m: JSONObject, key: str) -> list[str]:
    v = m.get(key)
    return list(v) if isinstance(v, dict) else []


def category_rows(run: _RunLike) -> list[list[str]]:
    cats = run.metrics.get("by_category")
    if not isinstance(cats, dict):
        return []
    out = []
    for name, v in cats.items():
        if isinstance(v, dict):
            out.append([name, str(v.get("items")), _pct(v.get("avg_at_k")),
                        _pct(v.get("pass_at_k"))])
    return out


def verdict_word(row: ResultRow) -> str:
    if row.status == "error":
        return "failed (agent)"
    if row.status == "judge_error":
        return "failed (judge)"
    if row.grade == "not_attempted":
        return "not attempted"
    return "correct" if row.correct else "wrong"


def per_question_rows(run: _RunLike, clip: int = 160) -> list[list[str]]:
    """question id, gold, answer, verdict, termination, rounds, trajectory id."""
    ids = run.manifest.get("item_ids")
    order = {str(i): n for n, i in enumerate(ids)} if isinstance(ids, list) else {}
    rows = sorted(run.rows, key=lambda r: (order.get(r.item_id, len(order)), r.item_id,
                                           r.rollout))
    return [[f"{r.item_id} #{r.rollout}", _clip(r.gold, clip), _clip(r.answer or "", clip),
             verdict_word(r), r.termination or "-", str(r.rounds), r.trajectory_id or "-"]
            for r in rows]


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
