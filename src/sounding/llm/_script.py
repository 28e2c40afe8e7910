"""The script behind the scripted model and the scripted server: replies in order, cycling
or not, and what happens after the last one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["Script"]

R = TypeVar("R")


class Script(Generic[R]):
    """Replies handed out in order. Cycling: forever, round and round. Otherwise, after the
    last one, `take` returns None when strict (the caller reports the extra call) and the
    last reply again when not."""

    def __init__(self, replies: Iterable[R], *, strict: bool, cycle: bool, owner: str) -> None:
        self.replies = list(replies)
        if cycle and not self.replies:
            raise ValueError(f"a cycling {owner} needs at least one reply")
        self.strict, self.cycle = strict, cycle
        self.next = 0

    @property
    def remaining(self) -> int:
        """Replies not yet used (0 for a cycling script)."""
        return 0 if self.cycle else len(self.replies) - self.next

    def take(self) -> R | None:
        if self.cycle:
            reply = self.replies[self.next % len(self.replies)]
        elif self.next < len(self.replies):
            reply = self.replies[self.next]
        elif self.strict or not self.replies:
            return None
        else:
            return self.replies[-1]
        self.next += 1
        return reply
