"""Live progress of a run on stderr, drawn from the typed run events.

`ProgressDisplay(console)` is a callable that takes one `RunEvent` at a time: rounds,
model calls, tool calls with their arguments, observation size and latency, branch
prefixes in heavy mode, and warnings. Every piece of run content is printed as plain
text (rich `Text`), so a page or a model reply cannot inject console markup.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from rich.console import Console
from rich.text import Text

from ..trace.events import (
    BranchFinished,
    BranchStarted,
    ModelCallFinished,
    Note,
    ReportUpdated,
    RoundStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from ..trace.observers import NullObserver
from ..trace.trajectory import ModelCallRecord, ToolCallRecord, Trajectory
from ._console import printable

__all__ = ["EventObserver", "ProgressDisplay", "short"]


def short(value: object, limit: int = 90) -> str:
    """One line of at most `limit` characters (JSON for non-strings)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProgressDisplay:
    """Prints one line per round, model call, tool call, branch and warning."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)

    def __call__(self, event: RunEvent) -> None:
        line = self.render(event)
        if line is not None:
            self.console.print(line)

    def render(self, event: RunEvent) -> Text | None:
        """The line an event shows, or None for events shown by others (deltas, starts)."""
        match event.kind:
            case "run_started":
                return self._run_started(event)
            case "round_started":
                return self._line(event.branch, (f"round {event.round}", "bold cyan"))
            case "model_call_finished":
                return self._model_call(event)
            case "tool_call_finished":
                return self._tool_call(event)
            case "report_updated":
                return self._report(event)
            case "branch_started":
                return self._branch_started(event)
            case "branch_finished":
                return self._branch_finished(event)
            case "note":
                return self._note(event)
            case "run_finished":
                return self._finished(event)
        return None  # model_call_started, tool_call_started, model_delta

    @staticmethod
    def _line(branch: str | None, *parts: str | tuple[str, str], indent: str = "") -> Text:
        text = Text(indent)
        if branch:
            text.append(f"[{printable(branch)}] ", style="dim")
        text.append_text(Text.assemble(*parts))
        return text

    def _run_started(self, event: RunStarted) -> Text | None:
        if event.branch:
            return None  # branch_started already said it
        return self._line(None, (f"{event.mode} run", "bold"),
                          f" ({event.protocol}, {event.model or '?'})")

    def _model_call(self, event: ModelCallFinished) -> Text:
        record = event.record
        u = record.usage
        est = "~" if u.estimated else ""
        retries = f", {record.retries} retries" if record.retries else ""
        failed = f", failed: {short(record.error, 120)}" if record.error else ""
        return self._line(event.branch or record.branch, (
            f"model ({record.purpose}) {record.latency_s:.2f} s, {est}{u.prompt_tokens:,} "
            f"prompt + {est}{u.completion_tokens:,} completion tokens{retries}{failed}", "dim"),
            indent="  ")

    def _tool_call(self, event: ToolCallFinished) -> Text:
        record = event.record
        call = record.call
        args = dict(call.arguments)
        if call.code is not None:
            args["code"] = call.code
        status: tuple[str, str] | str = ((short(record.error, 120), "red") if record.error
                                         else f"{len(record.observation):,} chars")
        cache = " (cached)" if record.cache_hit else ""
        return self._line(event.branch or record.branch, (call.name or "?", "green"),
                          " ", short(args), " → ", status,
                          f" in {record.latency_s:.2f} s{cache}", indent="  ")

    def _report(self, event: ReportUpdated) -> Text:
        return self._line(event.branch, (f"report updated ({len(event.report):,} chars)",
                                         "dim"), indent="  ")

    def _branch_started(self, event: BranchStarted) -> Text:
        seed = f" (seed {event.seed})" if event.seed is not None else ""
        return self._line(event.branch, ("started", "bold"), seed)

    def _branch_finished(self, event: BranchFinished) -> Text:
        answer = short(event.answer, 60) if event.answer is not None else "no answer"
        return self._line(event.branch, (f"finished: {event.termination}", "bold"),
                          f" – {answer}")

    def _note(self, event: Note) -> Text:
        if event.level == "warning":
            return self._line(event.branch, ("warning: ", "bold yellow"),
                              (printable(event.message), "yellow"), indent="  ")
        return self._line(event.branch, (printable(event.message), "yellow"), indent="  ")

    def _finished(self, event: RunFinished) -> Text | None:
        if event.branch:
            return None
        t = event.trajectory
        u = t.usage
        text = self._line(None, ("done", "bold"), f": {t.termination} after {t.rounds} "
                          f"rounds, {t.seconds:.1f} s, {u.prompt_tokens:,} prompt + "
                          f"{u.completion_tokens:,} completion tokens")
        return text


class EventObserver(NullObserver):
    """Turns today's `observer=` callbacks into run events for a consumer.

    A bridge until `arun(on_event=...)` is everywhere: records carry their branch; the
    heavy mode's string messages ("b1: round 2") become notes. It also remembers every
    trajectory it sees, so a run cut short can still be written (see `partial`).
    """

    def __init__(self, consumer: object | None) -> None:
        self.consumer = consumer
        self.seen: dict[str, Trajectory] = {}

    def _emit(self, event: RunEvent) -> None:
        if callable(self.consumer):
            self.consumer(event)

    def _see(self, trajectory: Trajectory) -> None:
        self.seen.setdefault(trajectory.id, trajectory)

    def on_round(self, trajectory: Trajectory, round: int) -> None:
        self._see(trajectory)
        self._emit(RoundStarted(round=round))

    def on_model_call(self, trajectory: Trajectory, record: ModelCallRecord) -> None:
        self._see(trajectory)
        self._emit(ModelCallFinished(record=record, branch=record.branch))

    def on_tool_call(self, trajectory: Trajectory, record: ToolCallRecord) -> None:
        self._see(trajectory)
        self._emit(ToolCallFinished(index=0, record=record, branch=record.branch))

    def on_event(self, trajectory: Trajectory, message: str) -> None:
        self._see(trajectory)
        branch_round = _BRANCH_ROUND.fullmatch(message)
        if branch_round:
            self._emit(RoundStarted(round=int(branch_round[2]), branch=branch_round[1]))
            return
        level: Literal["info", "warning"] = (
            "warning" if "warning" in message or "repeated" in message else "info")
        self._emit(Note(message=message, level=level))

    def on_finish(self, trajectory: Trajectory) -> None:
        self._see(trajectory)  # branches report their end through on_event
        self._emit(RunFinished(trajectory=trajectory))


_BRANCH_ROUND = re.compile(r"(\S+): round (\d+)")
