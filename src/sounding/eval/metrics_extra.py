"""Benchmark-specific extras of metrics.json: GAIA's scorer, categories, SimpleQA, HLE.

Each follows the published rule of its benchmark and, like the headline numbers,
counts every question (a failed or unjudged rollout is wrong).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

from ..types import JSON, JSONObject
from .rows import ResultRow

__all__ = ["calibration_error", "extras", "simpleqa_scores"]

CALIBRATION_BIN = 100
"""HLE's bin size: calibration error is computed over bins of 100 answers."""


def extras(kept: list[ResultRow], ids: Sequence[str], k: int, *, judge: str,
           ask_confidence: bool) -> JSONObject:
    out: JSONObject = {}
    if any(r.gaia_scorer is not None for r in kept):
        out["gaia_scorer"] = _gaia(kept, ids, k)
    if any(r.category for r in kept):
        out["by_category"] = _by_category(kept, ids, k)
    if judge.endswith("simpleqa"):
        out["simpleqa"] = simpleqa_scores(kept, len(ids) * k)
    if ask_confidence:
        pairs = [(_confidence(r), bool(r.correct)) for r in kept if r.done]
        known = [(c, ok) for c, ok in pairs if c is not None]
        out["calibration_error"] = calibration_error([c for c, _ in known],
                                                     [ok for _, ok in known])
        out["calibration_rows"] = len(known)
    return out


def _rates(kept: list[ResultRow], ids: Sequence[str], k: int,
           hit: Callable[[ResultRow], bool]) -> JSONObject:
    """Avg@k, Pass@k and best Pass@1 of `ids` where `hit` says which rows are correct."""
    index = {i: n for n, i in enumerate(ids)}
    grid = [[False] * k for _ in ids]
    for r in kept:
        if r.item_id in index and hit(r):
            grid[index[r.item_id]][r.rollout] = True
    n = len(ids) or 1
    per = [sum(g[j] for g in grid) / n for j in range(k)]
    return {"avg_at_k": round(sum(per) / k, 6),
            "pass_at_k": round(sum(any(g) for g in grid) / n, 6),
            "best_pass_at_1": round(max(per), 6) if per else 0.0}


def _gaia(kept: list[ResultRow], ids: Sequence[str], k: int) -> JSONObject:
    both = [r for r in kept if r.done and r.gaia_scorer is not None]
    agree = sum(1 for r in both if bool(r.correct) == r.gaia_scorer)
    return {**_rates(kept, ids, k, lambda r: bool(r.gaia_scorer)),
            "agreement_with_judge": round(agree / len(both), 6) if both else None,
            "rows": len(both)}


def _by_category(kept: list[ResultRow], ids: Sequence[str], k: int) -> JSONObject:
    """Per category (taken from the rows): questions, Avg@k and Pass@k by the published rule."""
    cat_of: dict[str, str] = {}
    for r in kept:
        if r.category:
            cat_of.setdefault(r.item_id, r.category)
    groups: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        groups[cat_of.get(i, "(unknown)")].append(i)
    out: JSONObject = {}
    for cat in sorted(groups):
        members = set(groups[cat])
        rates = _rates([r for r in kept if r.item_id in members], groups[cat], k,
                       lambda r: bool(r.done and r.correct))
        out[cat] = {"items": len(groups[cat]), **rates}
    return out


def simpleqa_scores(kept: list[ResultRow], expected: int) -> JSONObject:
    """SimpleQA's figures over every expected row: a failed or missing row is incorrect.

    accuracy given attempted = correct / (correct + incorrect); F1 is the harmonic mean
    of overall correct and accuracy given attempted (openai/simple-evals).
    """
    n = expected or 1
    correct = sum(1 for r in kept if r.done and r.grade == "correct") / n
    not_attempted = sum(1 for r in kept if r.done and r.grade == "not_attempted") / n
    attempted = 1.0 - not_attempted
    given = correct / attempted if attempted > 0 else 0.0
    f1 = 2 * given * correct / (given + correct) if given + correct > 0 else 0.0
    return {"correct": round(correct, 6), "incorrect": round(attempted - correct, 6),
            "not_attempted": round(not_attempted, 6),
            "accuracy_given_attempted": round(given, 6), "f1": round(f1, 6)}


def _confidence(row: ResultRow) -> float | None:
    value: JSON = (row.verdict or {}).get("confidence")
    return float(value) / 100.0 if isinstance(value, int | float) else None


def calibration_error(confidence: Sequence[float], correct: Sequence[bool],
                      beta: int = CALIBRATION_BIN) -> float | None:
    """HLE's RMS calibration error (its `calib_err` with p="2"), confidences in [0, 1].

    Answers sorted by confidence fill bins of `beta`; the last bin takes the remainder.
    As in HLE's code, the loop stops before the last bin, so fewer than 2 * beta answers
    give 0.0. None when there are fewer than `beta` answers (HLE's code fails there).
    """
    if len(confidence) < beta:
        return None
    pairs = sorted(zip(confidence, correct, strict=True), key=lambda p: p[0])
    total = len(pairs)
    bounds = [[i * beta, (i + 1) * beta] for i in range(total // beta)]
    bounds[-1][1] = total
    err = 0.0
    for start, end in bounds[:-1]:
        chunk = pairs[start:end]
        diff = abs(sum(c for c, _ in chunk) / len(chunk)
                   - sum(float(ok) for _, ok in chunk) / len(chunk))
        err += len(chunk) / total * diff * diff
    return round(math.sqrt(err), 6)
