"""Live progress of an eval on stderr: done/total, ETA, running accuracy, tokens, cost."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .rows import ResultRow

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["NullProgress", "Progress", "RichProgress", "Tally"]


@dataclass
class Tally:
    """Running totals over the rows of this run (resumed rows included)."""

    done: int = 0
    judged: int = 0
    correct: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True

    @classmethod
    def from_rows(cls, rows: Iterable[ResultRow]) -> Tally:
        tally = cls()
        for row in rows:
            tally.add(row)
        return tally

    def add(self, row: ResultRow) -> None:
        self.prompt_tokens += row.prompt_tokens + row.judge_prompt_tokens
        self.completion_tokens += row.completion_tokens + row.judge_completion_tokens
        for cost in (row.cost, row.judge_cost):
            if cost is None:
                self.cost_known = False
            else:
                self.cost += cost
        if row.done:
            self.done += 1
            self.judged += 1
            self.correct += bool(row.correct)
        else:
            self.failed += 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.judged if self.judged else 0.0

    def summary(self) -> str:
        cost = f"${self.cost:.2f}" if self.cost_known and self.cost else "cost n/a"
        acc = f"{100 * self.accuracy:.1f}%" if self.judged else "n/a"
        return (f"acc {acc} (n={self.judged}, judged only)  failed {self.failed}  "
                f"tok {_fmt(self.prompt_tokens)} in / {_fmt(self.completion_tokens)} out  {cost}")


def _fmt(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(n)


class Progress(Protocol):
    def start(self, total: int, tally: Tally) -> None: ...
    def advance(self, tally: Tally) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    """Shows nothing (tests, library use)."""

    def start(self, total: int, tally: Tally) -> None:
        pass

    def advance(self, tally: Tally) -> None:
        pass

    def stop(self) -> None:
        pass


class RichProgress:
    """A rich progress bar on stderr; failed rows count as progress (they are retried later)."""

    def __init__(self, description: str = "eval") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as _Bar

        self._bar = _Bar(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=Console(stderr=True), transient=False,
        )
        self._description = description
        self.detail: Callable[[], str] | None = None
        """More status text (the Ray executor's workers, retries)."""
        self._task: TaskID | None = None
        self._failed_at_start = 0

    def start(self, total: int, tally: Tally) -> None:
        self._bar.start()
        self._failed_at_start = tally.failed
        self._task = self._bar.add_task(self._description, total=total,
                                        completed=tally.done, stats=self._stats(tally))

    def advance(self, tally: Tally) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=tally.done + tally.failed
                             - self._failed_at_start, stats=self._stats(tally))

    def _stats(self, tally: Tally) -> str:
        extra = self.detail() if self.detail is not None else ""
        return f"{tally.summary()}  {extra}" if extra else tally.summary()

    def stop(self) -> None:
        self._bar.stop()
