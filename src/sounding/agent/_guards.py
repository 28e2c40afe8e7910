"""Loop guards: notice a model that repeats one tool call or keeps replying without action.

A stuck model otherwise burns every round in silence; the guard names the pattern in
the next observation (so the model can change course) and as a warning event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..types import ToolCall

__all__ = ["STREAK", "TurnGuard"]

STREAK = 3
"""Consecutive identical calls (or malformed turns) that count as stuck."""


def _signature(calls: Sequence[ToolCall]) -> tuple[tuple[str, str, str | None], ...]:
    return tuple((c.name, json.dumps(dict(c.arguments), sort_keys=True, default=str), c.code)
                 for c in calls)


def describe(calls: Sequence[ToolCall]) -> str:
    """`search({"query": [...]})`, shortened, for a warning sentence."""
    text = ", ".join(f"{c.name}({json.dumps(dict(c.arguments), ensure_ascii=False)})"
                     for c in calls)
    return text if len(text) <= 200 else text[:197] + "..."


class TurnGuard:
    """Counts identical consecutive tool calls and consecutive turns without action."""

    def __init__(self) -> None:
        self._last: tuple[tuple[str, str, str | None], ...] | None = None
        self.repeats = 0
        self.malformed = 0

    def on_calls(self, calls: Sequence[ToolCall]) -> str | None:
        """A warning sentence when this turn repeats the last one for the STREAK-th time."""
        self.malformed = 0
        signature = _signature(calls)
        self.repeats = self.repeats + 1 if signature == self._last else 1
        self._last = signature
        if self.repeats < STREAK:
            return None
        return (f"Note: this is call number {self.repeats} in a row of exactly the same "
                f"tool call ({describe(calls)}); its result will not change. Try a different "
                "query, page or tool, or give your final answer.")

    def on_malformed(self) -> str | None:
        """A warning sentence when this is the STREAK-th turn in a row without action."""
        self._last = None
        self.repeats = 0
        self.malformed += 1
        if self.malformed < STREAK:
            return None
        return (f"Note: this is reply number {self.malformed} in a row with neither a tool "
                "call nor a final answer.")

    def on_answer(self) -> None:
        self._last, self.repeats, self.malformed = None, 0, 0
