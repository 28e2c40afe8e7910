"""The curriculum during training: mastered prompts retired, their places refilled from the
pool by a background task that never holds a step up."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..eval.judges import Judge
from .hooks import pass_rates
from .rollouts import RLItem, Rollout
from .sampling import BACKGROUND

__all__ = ["PromptPool"]

Spawn = Callable[[Coroutine[Any, Any, None]], object]


class PromptPool:
    """Which item each training prompt (a row of TRL's dataset) stands for now.

    An item is retired after `retire_after` all-right groups in a row; each row that held
    it gets a refresh in the background: candidates from the pool are rolled out `k` times
    with the current policy, and the first one the policy gets neither always right nor
    always wrong takes the row. Until then the row lends an open item's place (the step
    never waits). A candidate the policy never got right goes back to the pool's end."""

    def __init__(self, items: Sequence[RLItem], pool: Sequence[RLItem], rollout: Rollout,
                 judge: Judge, *, retire_after: int, k: int, spawn: Spawn,
                 seed: int = 0) -> None:
        self.rows = {it.prompt: it for it in items}
        self.pool = deque(it for it in pool if it.prompt not in self.rows)
        self.rollout, self.judge, self.k, self.spawn = rollout, judge, max(1, k), spawn
        self.retire_after = retire_after
        self.streak: dict[str, int] = {}
        self.retired: set[str] = set()
        self.refreshing: set[str] = set()
        self.refreshed: list[RLItem] = []
        self.tasks: list[object] = []
        """What `spawn` returned for each refresh (the loop's futures)."""
        self._rng = random.Random(seed)

    def item_for(self, row: str) -> RLItem:
        """The item the row stands for: its own, its replacement, or (while a refresh
        runs, or when the pool is spent) an open item of another row."""
        item = self.rows[row]
        if item.prompt not in self.retired:
            return item
        open_items = [it for it in self.rows.values() if it.prompt not in self.retired]
        return self._rng.choice(open_items) if open_items else item

    def record(self, item: RLItem, rewards: Sequence[float]) -> None:
        """One group's rewards; a mastered item is retired and its rows refreshed."""
        if not self.retire_after or item.prompt in self.retired:
            return
        key = item.prompt
        self.streak[key] = self.streak.get(key, 0) + 1 if all(r >= 1.0 for r in rewards) else 0
        if self.streak[key] < self.retire_after:
            return
        self.retired.add(key)
        for row, held in self.rows.items():
            if held.prompt == key and row not in self.refreshing:
                self.refreshing.add(row)
                self.tasks.append(self.spawn(self._refresh(row)))

    @property
    def mastered(self) -> set[str]:
        return set(self.retired)

    async def _refresh(self, row: str) -> None:
        BACKGROUND.set(True)  # this task's samples yield to a step's (its own context)
        try:
            for _ in range(len(self.pool)):  # each candidate tried at most once per refresh
                if not self.pool:
                    return
                cand = self.pool.popleft()
                rate = (await pass_rates([cand], self.rollout, self.judge, self.k))[0]
                if 0.0 < rate < 1.0:
                    self.rows[row] = cand
                    self.refreshed.append(cand)
                    return
                if rate == 0.0:
                    self.pool.append(cand)  # too hard for now; the policy may grow into it
        finally:
            self.refreshing.discard(row)
