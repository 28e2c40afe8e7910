"""One result row per (question, rollout): what the runner writes and metrics read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, cast

from ..types import JSON, JSONObject

__all__ = ["ResultRow", "RowStatus", "iter_rows", "latest_rows", "read_rows", "skipped_lines"]

RowStatus = Literal["ok", "error", "judge_error"]
"""`ok`: judged. `error`: the rollout failed. `judge_error`: the judge failed.
A resumed run retries both; the headline metrics count them wrong (the published rule)."""


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
    category: str | None = None
    """The question's category (HLE's category, BrowseComp's topic, GAIA's level)."""
    gaia_scorer: bool | None = None
    """GAIA's own scorer on the answer, beside the judge's verdict (GAIA rows only)."""

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


def iter_rows(path: Path, skipped: list[int] | None = None) -> Iterator[ResultRow]:
    """Rows of one results file; unreadable lines (a crash mid-write, a bad disk) are
    skipped, and counted in `skipped[0]` when given."""
    if not path.is_file():
        return
    with path.open("rb") as fh:
        for raw in fh:
            try:
                obj = json.loads(raw) if raw.endswith(b"\n") else None
                row = ResultRow.from_dict(obj) if isinstance(obj, dict) else None
            except (ValueError, TypeError, KeyError):  # UnicodeDecodeError is a ValueError
                row = None
            if row is None:
                if skipped is not None:
                    skipped[0] += 1
                continue
            yield row


def skipped_lines(run_dir: Path) -> int:
    """How many lines of the run's results files could not be read as rows."""
    count = [0]
    for path in results_files(run_dir):
        for _ in iter_rows(path, count):
            pass
    return count[0]


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
