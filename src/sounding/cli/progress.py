"""Live progress of a run on stderr: round, tool, arguments, observation size, latency."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from ..trace.observers import NullObserver
from ..trace.trajectory import ModelCallRecord, ToolCallRecord, Trajectory

__all__ = ["ProgressPrinter"]


def _short(value: object, limit: int = 90) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProgressPrinter(NullObserver):
    """Prints one line per round, model call and tool call."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)

    def _prefix(self, branch: str | None) -> str:
        return f"[dim]\\[{escape(branch)}][/] " if branch else ""

    def on_round(self, trajectory: Trajectory, round: int) -> None:
        self.console.print(f"[bold cyan]round {round}[/]")

    def on_model_call(self, trajectory: Trajectory, record: ModelCallRecord) -> None:
        u = record.usage
        est = "~" if u.estimated else ""
        retries = f", {record.retries} retries" if record.retries else ""
        self.console.print(
            f"  {self._prefix(record.branch)}[dim]model ({record.purpose}) "
            f"{record.latency_s:.2f} s, {est}{u.prompt_tokens} prompt + "
            f"{est}{u.completion_tokens} completion tokens{retries}[/]"
        )

    def on_tool_call(self, trajectory: Trajectory, record: ToolCallRecord) -> None:
        call = record.call
        args = dict(call.arguments)
        if call.code is not None:
            args["code"] = call.code
        status = f"[red]{escape(record.error)}[/]" if record.error else (
            f"{len(record.observation):,} chars")
        cache = " (cached)" if record.cache_hit else ""
        self.console.print(
            f"  {self._prefix(record.branch)}[green]{escape(call.name or '?')}[/] "
            f"{escape(_short(args))} → {status} in {record.latency_s:.2f} s{cache}"
        )

    def on_event(self, trajectory: Trajectory, message: str) -> None:
        self.console.print(f"  [yellow]{escape(message)}[/]")

    def on_finish(self, trajectory: Trajectory) -> None:
        u = trajectory.usage
        self.console.print(
            f"[bold]done[/]: {trajectory.termination} after {trajectory.rounds} rounds, "
            f"{trajectory.seconds:.1f} s, {u.prompt_tokens:,} prompt + "
            f"{u.completion_tokens:,} completion tokens"
        )
