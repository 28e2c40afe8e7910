"""A DeepResearch Bench criteria judge: per-dimension scores from the task's weighted criteria.

For each of the four dimensions (comprehensiveness, insight, instruction following,
readability) one judge call scores every criterion of the task 0-10; a dimension's score
is the weighted mean of its criteria (0-100), and the overall score is the mean of the
dimensions under the task's `dimension_weight`.

How it differs from DRB's RACE: RACE scores the target report *and a reference report*
on each criterion and reports target / (target + reference), so 50 means "as good as the
reference". The reference reports are not distributed with the tasks, so this judge scores
on an absolute 0-10 scale: its numbers rank systems against each other under the same
judge model, but are not comparable with published RACE numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..._templates import render
from ...errors import DatasetError, LLMResponseError
from ...llm.base import ChatModel, ChatRequest
from ...types import JSON, JSONObject, Message, Usage
from ._parse import json_object
from .llm import JUDGE_SAMPLING

__all__ = ["DIMENSIONS", "CriteriaJudge", "Criterion", "DRBScore", "TaskCriteria"]

DIMENSIONS = ("comprehensiveness", "insight", "instruction_following", "readability")
_MAX_REPORT_CHARS = 120_000


@dataclass(frozen=True, slots=True)
class Criterion:
    text: str
    explanation: str
    weight: float


@dataclass(frozen=True)
class TaskCriteria:
    """One task's weighted criteria (DRB `criteria.jsonl` record, or an Item's metadata)."""

    dimension_weight: Mapping[str, float]
    criteria: Mapping[str, tuple[Criterion, ...]]

    @classmethod
    def from_record(cls, rec: Mapping[str, JSON]) -> TaskCriteria:
        weights, crit = rec.get("dimension_weight"), rec.get("criterions")
        if not isinstance(weights, dict) or not isinstance(crit, dict):
            raise DatasetError("a DRB task needs `dimension_weight` and `criterions`")
        out: dict[str, tuple[Criterion, ...]] = {}
        for dim, rows in crit.items():
            items = [Criterion(str(r.get("criterion") or ""), str(r.get("explanation") or ""),
                               float(r.get("weight") or 0.0))  # type: ignore[arg-type]
                     for r in (rows if isinstance(rows, list) else []) if isinstance(r, dict)]
            if items:
                out[dim] = tuple(items)
        return cls({k: float(v) for k, v in weights.items()
                    if isinstance(v, int | float)}, out)


@dataclass
class DRBScore:
    """Scores 0-100: overall and per dimension; per-criterion scores 0-10 with reasons."""

    overall: float
    dimensions: dict[str, float]
    criteria: list[JSONObject] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> JSONObject:
        return {"overall": round(self.overall, 3),
                "dimensions": {k: round(v, 3) for k, v in self.dimensions.items()},
                "criteria": list(self.criteria), "usage": self.usage.to_dict()}


class CriteriaJudge:
    """One judge call per dimension (all four concurrently)."""

    name = "drb-criteria"

    def __init__(self, model: ChatModel) -> None:
        self._model = model

    @property
    def model(self) -> str:
        return self._model.name

    async def score(self, task: str, report: str, criteria: TaskCriteria) -> DRBScore:
        dims = [d for d in criteria.criteria if criteria.dimension_weight.get(d, 0) > 0]
        results = await asyncio.gather(*(self._dimension(task, report, d, criteria.criteria[d])
                                         for d in dims))
        dimensions = {d: r[0] for d, r in zip(dims, results, strict=True)}
        total_w = sum(criteria.dimension_weight[d] for d in dims)
        overall = sum(criteria.dimension_weight[d] * dimensions[d] for d in dims) / total_w \
            if total_w else 0.0
        usage = Usage()
        rows: list[JSONObject] = []
        for _score, part_rows, part_usage in results:
            rows.extend(part_rows)
            usage = usage + part_usage
        return DRBScore(overall, dimensions, rows, usage)

    def prompt(self, task: str, report: str, dimension: str,
               criteria: tuple[Criterion, ...]) -> str:
        listing = "\n".join(f"{n}. {c.text}: {c.explanation}" for n, c in enumerate(criteria, 1))
        if len(report) > _MAX_REPORT_CHARS:
            report = report[:_MAX_REPORT_CHARS] + "\n[... report cut for length ...]"
        return render("sounding.eval", "drb_criteria_judge.txt", task=task, report=report,
                      dimension=dimension, criteria=listing)

    async def _dimension(self, task: str, report: str, dimension: str,
                         criteria: tuple[Criterion, ...]) -> tuple[float, list[JSONObject], Usage]:
        request = ChatRequest([Message("user", self.prompt(task, report, dimension, criteria))],
                              sampling=JUDGE_SAMPLING, purpose="judge",
                              response_format={"type": "json_object"})
        usage = Usage()
        for _attempt in range(2):
            completion = await self._model.complete(request)
            usage = usage + completion.usage
            scores = _scores(completion.text, len(criteria))
            if scores is not None:
                break
        else:
            raise LLMResponseError(f"the criteria judge gave no score for every {dimension} "
                                   f"criterion: {completion.text[:200]!r}")
        total = sum(c.weight for c in criteria) or 1.0
        value = sum(c.weight * scores[n][0] for n, c in enumerate(criteria, 1)) / total * 10
        rows: list[JSONObject] = [
            {"dimension": dimension, "criterion": c.text, "weight": c.weight,
             "score": scores[n][0], "reason": scores[n][1]} for n, c in enumerate(criteria, 1)]
        return value, rows, usage


def _scores(text: str, count: int) -> dict[int, tuple[float, str]] | None:
    data = json_object(text) or {}
    rows = data.get("scores")
    out: dict[int, tuple[float, str]] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        try:
            n, score = int(str(row.get("criterion"))), float(str(row.get("score")))
        except ValueError:
            continue
        out[n] = (min(10.0, max(0.0, score)), str(row.get("reason") or ""))
    return out if all(n in out for n in range(1, count + 1)) else None
