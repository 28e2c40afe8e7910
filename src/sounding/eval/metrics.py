"""Run metrics from result rows: Avg@k, Pass@k, bootstrap intervals, tools, tokens, cost.

The headline numbers follow the published rules (judges README): every question
counts, and a rollout that failed, gave no answer or could not be judged is wrong.
The judged-only figures and the unbiased pass@j are kept as extra, named fields.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from math import comb

from ..types import JSON, JSONObject
from .metrics_extra import extras
from .rows import ResultRow

__all__ = ["bootstrap_interval", "compute_metrics", "pass_at_estimate"]

BOOTSTRAP_SEED = 20240917
BOOTSTRAP_RESAMPLES = 1000


def pass_at_estimate(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k)."""
    if k > n or n == 0:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    return 1.0 - comb(n - c, k) / comb(n, k)


def bootstrap_interval(values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile interval of the mean of `values`, resampling with a fixed seed."""
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return (means[int(0.025 * (resamples - 1))], means[round(0.975 * (resamples - 1))])


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _dist(xs: Sequence[float]) -> JSONObject:
    if not xs:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0, "total": 0.0}
    ordered = sorted(xs)
    return {
        "mean": round(_mean(ordered), 6),
        "median": round(statistics.median(ordered), 6),
        # Nearest rank: the smallest value with at least 90% of the values at or below it.
        "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], 6),
        "max": round(ordered[-1], 6),
        "total": round(sum(ordered), 6),
    }


def _grid(rows: Iterable[ResultRow], ids: Sequence[str], k: int) -> list[list[bool]]:
    """correct[item][rollout] under the published rule: anything but a judged "correct"
    (a failed rollout, no answer, a judge error, a row not yet run) counts wrong."""
    index = {i: n for n, i in enumerate(ids)}
    grid = [[False] * k for _ in ids]
    for r in rows:
        if r.done and r.correct and r.item_id in index:
            grid[index[r.item_id]][r.rollout] = True
    return grid


def _headline(grid: list[list[bool]], k: int) -> JSONObject:
    """Avg@k, Pass@k (any of k) and best Pass@1, dividing by every question."""
    n = len(grid)
    per_rollout = [sum(g[r] for g in grid) / n if n else 0.0 for r in range(k)]
    item_avg = [sum(g) / k for g in grid]
    item_any = [float(any(g)) for g in grid]
    lo, hi = bootstrap_interval(item_avg)
    plo, phi = bootstrap_interval(item_any)
    return {
        "avg_at_k": round(_mean(per_rollout), 6),
        "avg_at_k_ci95": [round(lo, 6), round(hi, 6)],
        "pass_at_k": round(_mean(item_any), 6),
        "pass_at_k_ci95": [round(plo, 6), round(phi, 6)],
        "best_pass_at_1": round(max(per_rollout), 6) if per_rollout else 0.0,
        "per_rollout_accuracy": [round(x, 6) for x in per_rollout],
    }


_NO_HEADLINE: JSONObject = {key: None for key in (
    "avg_at_k", "avg_at_k_ci95", "pass_at_k", "pass_at_k_ci95", "best_pass_at_1")}


def _judged_only(judged: dict[str, list[ResultRow]], k: int) -> JSONObject:
    """The older figures over judged rows only (failures left out of the denominator)."""
    per_item = {i: [bool(r.correct) for r in rows] for i, rows in judged.items()}
    cells = [c for cs in per_item.values() for c in cs]
    unbiased: JSONObject = {}
    for j in range(1, k + 1):
        vals = [pass_at_estimate(len(cs), sum(cs), j) for cs in per_item.values() if len(cs) >= j]
        if vals:
            unbiased[str(j)] = round(_mean(vals), 6)
    return {
        "judged_only": {
            "avg_at_k": round(_mean([float(c) for c in cells]), 6) if cells else None,
            "pass_at_k": round(_mean([float(any(cs)) for cs in per_item.values()]), 6)
            if per_item else None,
            "items": len(per_item),
            "rows": len(cells),
        },
        "pass_at_unbiased_judged_only": unbiased,
    }


def _failures(kept: list[ResultRow], limit: int = 5) -> list[JSON]:
    """The first failed rows (by key), with the reason each failed."""
    out: list[JSON] = []
    for r in sorted((r for r in kept if not r.done), key=lambda r: (r.item_id, r.rollout)):
        err = r.error or {}
        out.append({"item_id": r.item_id, "rollout": r.rollout, "status": r.status,
                    "stage": err.get("stage"), "type": err.get("type"),
                    "message": str(err.get("message") or "")[:300]})
        if len(out) >= limit:
            break
    return out


def compute_metrics(rows: Iterable[ResultRow], *, k: int, item_ids: Sequence[str] | None = None,
                    judge: str = "", ask_confidence: bool = False) -> JSONObject:
    """metrics.json of a run: `rows` are the latest row per (item, rollout).

    `item_ids` are the run's questions (every one counts in the headline numbers);
    rollouts at index >= k are ignored. `judge` and `ask_confidence` switch on the
    SimpleQA and HLE extras.
    """
    ids = list(dict.fromkeys(item_ids)) if item_ids is not None else None
    wanted = set(ids) if ids is not None else None
    kept = [r for r in rows if r.rollout < k and (wanted is None or r.item_id in wanted)]
    if ids is None:
        ids = sorted({r.item_id for r in kept})
    ok = [r for r in kept if r.done]
    judged: dict[str, list[ResultRow]] = defaultdict(list)
    for r in sorted(ok, key=lambda r: r.rollout):
        judged[r.item_id].append(r)
    # Nothing judged yet: the numbers are unknown (n/a), not 0%.
    none: list[JSON] = [None] * k
    headline: JSONObject = _headline(_grid(kept, ids, k), k) if ok else {
        **_NO_HEADLINE, "per_rollout_accuracy": none}
    expected = len(ids) * k
    out: JSONObject = {
        "k": k,
        "items": len(ids),
        "items_judged": len(judged),
        "rows_expected": expected,
        "rows_judged": len(ok),
        "rows_failed": {s: sum(1 for r in kept if r.status == s) for s in ("error",
                                                                          "judge_error")},
        "rows_missing": expected - len(kept),
        "complete": len(ok) == expected,
        "denominator": "every question; failed, unanswered and unjudged rollouts count wrong",
        **headline,
        **_judged_only(judged, k),
        "first_failures": _failures(kept),
        **_usage(ok, kept),
        **_costs(ok),
    }
    out.update(extras(kept, ids, k, judge=judge, ask_confidence=ask_confidence))
    return out


def _usage(ok: list[ResultRow], kept: list[ResultRow]) -> JSONObject:
    tools: Counter[str] = Counter()
    for r in ok:
        tools.update(r.tool_counts)
    scores = [r.score for r in ok if r.score is not None]
    return {
        "mean_score": round(_mean(scores), 6) if scores else None,
        "grades": dict(Counter(r.grade or "none" for r in ok)),
        "termination": dict(Counter(r.termination or "none" for r in ok)),
        "missing_answer_rate": round(_mean([float(r.missing_answer) for r in ok]), 6)
        if ok else None,
        "tool_calls_per_rollout": {t: round(c / len(ok), 4) for t, c in sorted(tools.items())}
        if ok else {},
        "tool_calls_total": dict(sorted(tools.items())),
        "tool_calls": _dist([float(sum(r.tool_counts.values())) for r in ok]),
        "rounds": _dist([float(r.rounds) for r in ok]),
        "prompt_tokens": _dist([float(r.prompt_tokens) for r in ok]),
        "completion_tokens": _dist([float(r.completion_tokens) for r in ok]),
        "judge_tokens": sum(r.judge_prompt_tokens + r.judge_completion_tokens for r in ok),
        "seconds": _dist([r.seconds for r in ok]),
        "wall_clock_s": _wall([r.started_at for r in kept if r.started_at],
                              [r.finished_at for r in kept if r.finished_at]),
    }


def _costs(ok: list[ResultRow]) -> JSONObject:
    """Agent and judge cost apart, and their total; a part without a price is `unpriced`."""
    agent = [r.cost for r in ok if r.cost is not None]
    judge = [r.judge_cost for r in ok if r.judge_cost is not None]
    parts = {"agent": round(sum(agent), 6) if agent else None,
             "judge": round(sum(judge), 6) if judge else None}
    known = [v for v in parts.values() if v is not None]
    unpriced: list[JSON] = []
    for name, priced in (("agent", agent), ("judge", judge)):
        if ok and not priced:
            unpriced.append(name)
        elif len(priced) < len(ok):  # a total that silently left rows out would mislead
            unpriced.append(f"{name} ({len(ok) - len(priced)} of {len(ok)} rows)")
    return {
        "cost": round(sum(known), 6) if known else None,
        "agent_cost": parts["agent"],
        "judge_cost": parts["judge"],
        "unpriced": unpriced,
    }


def _wall(starts: list[str], ends: list[str]) -> float | None:
    if not starts or not ends:
        return None
    try:
        return round((datetime.fromisoformat(max(ends))
                      - datetime.fromisoformat(min(starts))).total_seconds(), 3)
    except ValueError:
        return None
