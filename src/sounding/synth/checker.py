"""The answer checker of synthesis: aliases, numbers with a tolerance, set F1.

An LLM judge is only the fallback for free text, and only when the caller passes one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..eval.judges import Judge, grade_answer, normalize_answer

__all__ = ["Accept", "accept", "accept_with_judge", "set_f1"]

_NUM = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?$")
_SPLIT = re.compile(r"\s*(?:[,;、，；]|\band\b|和)\s*")


@dataclass(frozen=True, slots=True)
class Accept:
    ok: bool
    how: str
    """alias, numeric, set_f1, judge or none."""


def _number(text: str) -> float | None:
    cleaned = text.strip().rstrip(".").replace("$", "").replace("%", "").strip()
    return float(cleaned.replace(",", "")) if _NUM.match(cleaned) else None


def set_f1(predicted: str, gold: str) -> float:
    """F1 between the normalised members of two list answers."""
    pred = {normalize_answer(p) for p in _SPLIT.split(predicted) if p.strip()}
    want = {normalize_answer(g) for g in _SPLIT.split(gold) if g.strip()}
    hit = len(pred & want)
    if not hit:
        return 0.0
    precision, recall = hit / len(pred), hit / len(want)
    return 2 * precision * recall / (precision + recall)


def accept(predicted: str | None, answer: str, aliases: Sequence[str] = (), *,
           tolerance: float = 0.01, f1: float = 0.8) -> Accept:
    """Accept by code: any alias after normalisation, a number within `tolerance`
    (relative), or a list answer with set F1 >= `f1`."""
    if predicted is None or not predicted.strip():
        return Accept(False, "none")
    norm = normalize_answer(predicted)
    if any(norm == normalize_answer(a) for a in (answer, *aliases) if a.strip()):
        return Accept(True, "alias")
    gold_num, pred_num = _number(answer), _number(predicted)
    if gold_num is not None and pred_num is not None:
        ok = abs(pred_num - gold_num) <= tolerance * max(abs(gold_num), 1e-9)
        return Accept(ok, "numeric" if ok else "none")
    if _SPLIT.search(answer) and set_f1(predicted, answer) >= f1:
        return Accept(True, "set_f1")
    return Accept(False, "none")


async def accept_with_judge(question: str, predicted: str | None, answer: str,
                            aliases: Sequence[str], judge: Judge | None) -> Accept:
    """`accept`, then the LLM judge for free-text answers the code could not match."""
    verdict = accept(predicted, answer, aliases)
    if verdict.ok or judge is None or predicted is None or _number(answer) is not None:
        return verdict
    graded = await grade_answer(judge, question, answer, predicted)
    return Accept(graded.correct, "judge" if graded.correct else "none")
