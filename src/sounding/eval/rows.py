"""One result row per (question, rollout): what the runner writes and metrics read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, cast

from ..types import JSON, JSONObject

__all__ = ["ResultRow", "RowStatus", "latest_rows", "read_rows"]

RowStatus = Literal["ok", "error", "judge_error"]
"""`ok`: judged. `error`: the rollout failed. `judge_error`: the judge failed.
Both failures are retried by a resumed run and never counted as wrong."""


@dataclass(frozen=True, slots=True)
class ResultRow:
    item_id: str
    rollout: int
    status: RowStatus
    question: str = ""
    gold: str = ""
    answer: str | None = None
    correct: bool | None = None
    grade: str | None = None
    score: float | None = None
    verdict: JSONObject | None = None
    """The judge's full verdict (extracted answer, reasoning, confidence, raw reply)."""
    termination: str | None = None
    rounds: int = 0
    tool_counts: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    seconds: float = 0.0
    cost: float | None = None
    """The agent's cost in currency units; None when its model has no price."""
    judge_cost: float | None = 0.0
    """The judge's cost (0 for judges without a model); None when its model has no price."""
    model: str = ""
    trajectory_id: str | None = None
    error: JSONObject | None = None
    """`stage` (agent/judge), `type`, `message`, `traceback`."""
    started_at: str = ""
    finished_at: str = ""
    attempt: int = 1
    shard: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.item_id, self.rollout)

    @property
    def done(self) -> bool:
        return self.status == "ok"

    @property
    def missing_answer(self) -> bool:
        return self.answer is None or not self.answer.strip()

    def to_dict(self) -> JSONObject:
        return cast(JSONObject, asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, JSON]) -> ResultRow:
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in d.items() if k in known}
        return cls(**data)  # type: ignore[arg-type]


def iter_rows(path: Path) -> Iterator[ResultRow]:
    """Rows of one results file; unreadable lines (a crash mid-write) are skipped."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # a partial last line: the row in flight when the run died
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    yield ResultRow.from_dict(obj)
            except (json.JSONDecodeError, TypeError, KeyError, ValueError):
                continue


def latest_rows(rows: Iterable[ResultRow]) -> dict[tuple[str, int], ResultRow]:
    """One row per (item, rollout): a finished row beats a failed one, then the latest."""
    out: dict[tuple[str, int], ResultRow] = {}
    for row in rows:
        old = out.get(row.key)
        if old is None or (row.done, row.finished_at) >= (old.done, old.finished_at):
            out[row.key] = row
    return out


def results_files(run_dir: Path) -> list[Path]:
    """results.jsonl and any shard files, in a stable order."""
    files = sorted(run_dir.glob("results.shard-*.jsonl"))
    main = run_dir / "results.jsonl"
    return [main, *files] if main.is_file() else files


def read_rows(run_dir: Path) -> dict[tuple[str, int], ResultRow]:
    """The latest row per key across the results files of a run directory."""
    def every() -> Iterator[ResultRow]:
        for path in results_files(run_dir):
            yield from iter_rows(path)

    return latest_rows(every())
