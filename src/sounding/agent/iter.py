"""IterResearch: each round's workspace is rebuilt from the question, the evolving report
and the last action with its observation, so the context stays bounded however long the run.

The report travels in the reply's text as a `<report>` block, in both protocols (in
`native` it is the message content beside the tool call); a `report` argument on the
tool call is accepted too and taken off before the call is dispatched.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

from .._templates import load_template, render
from ..errors import SoundingError
from ..llm.base import Completion
from ..llm.protocols import Turn, split_think
from ..trace.events import ReportUpdated
from ..trace.trajectory import Termination, Trajectory
from ..types import JSON, Message, ToolCall
from ._context import clip
from ._guards import STREAK
from .loop import BudgetReason, RunContext, load_role

__all__ = ["IterAgent", "action_message", "clip", "extract_report", "iter_role"]

_REPORT = re.compile(r"<report>(.*?)(?:</report>|(?=<tool_call>|<answer>)|$)", re.S)
_EMPTY_REPORT = "(empty: nothing has been established yet)"


def extract_report(text: str) -> tuple[str | None, str]:
    """(the report, the text without the report block); None when there is no report."""
    match = _REPORT.search(text)
    if match is None:
        return None, text
    return match.group(1).strip(), (text[: match.start()] + text[match.end():]).strip()


def iter_role(ctx: RunContext) -> str:
    """The role paragraph (the user's file, or ours) followed by the workspace rules."""
    role = load_role(ctx.settings, default="iter_role.txt")
    return role.rstrip() + "\n\n" + load_template("sounding.agent", "iter_format.txt").rstrip()


def action_message(protocol: str, calls: Sequence[ToolCall]) -> Message:
    """The last action alone (no thought, no report), as the wire protocol writes it."""
    if protocol == "native":
        return Message("assistant", "", tool_calls=tuple(calls))
    blocks = []
    for call in calls:
        body: dict[str, JSON] = {"name": call.name, "arguments": dict(call.arguments)}
        code = f"\n<code>\n{call.code}\n</code>" if call.code is not None else ""
        blocks.append(f"<tool_call>\n{json.dumps(body, ensure_ascii=False)}{code}\n</tool_call>")
    return Message("assistant", "\n".join(blocks))


class IterAgent:
    """IterResearch under the shared budgets; every path ends in an answer."""

    mode = "iter"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.caps = ctx.settings.iter
        self.report = ""
        self.reports: list[JSON] = []
        self.last: tuple[tuple[ToolCall, ...], list[str]] | None = None
        self.feedback: list[str] = []
        self.format_errors = 0
        self.missing_streak = 0
        self.system: Message | None = None
        self._read_report: str | None = None

    async def run(self) -> Trajectory:
        ctx = self.ctx
        try:
            self.system = ctx.system_message(iter_role(ctx))
            return await self._loop()
        except SoundingError as exc:
            self._notes()
            return ctx.fail(exc)

    async def _loop(self) -> Trajectory:
        ctx = self.ctx
        while True:
            reason = ctx.exhausted()
            if reason is not None:
                return await self._force(reason)
            ctx.begin_round()
            taken = await ctx.take_turn(self.workspace(), read=self._read)
            if isinstance(taken, str):
                return await self._force(taken)
            _completion, turn = taken
            self._keep_report()
            if turn.answer is not None and not turn.tool_calls:
                ctx.guard.on_answer()
                return self._finish(turn.answer, "answer")
            if turn.problem is not None:
                self.last = None
                self.feedback.append(ctx.malformed_feedback(turn.problem))
                continue
            observations = await ctx.act(turn)
            self.last = (turn.tool_calls, observations)

    def workspace(self) -> list[Message]:
        """This round's whole context: system, question + report, last action + result."""
        ctx = self.ctx
        assert self.system is not None
        if self.last is None:
            status = ("This is the first round: nothing has been done yet." if ctx.round <= 1
                      else "Your last reply contained no action; see the note below.")
        else:
            status = "Your last action and its result follow."
        user = render("sounding.agent", "iter_workspace.txt", question=ctx.trajectory.question,
                      round=ctx.round, report=self.report or _EMPTY_REPORT, status=status)
        messages = [self.system, Message("user", user.rstrip())]
        if self.last is not None:
            calls, observations = self.last
            share = max(self.caps.observation_max_tokens // max(len(observations), 1), 1)
            messages.append(action_message(ctx.protocol.name, calls))
            messages.extend(ctx.protocol.result_messages(
                calls, [clip(obs, share) for obs in observations]))
        if self.feedback:
            messages.append(ctx.protocol.feedback_message("\n\n".join(self.feedback)))
        return messages

    def _read(self, completion: Completion) -> Turn:
        """Take the report out of the reply (a `<report>` block, else a `report` argument
        of a tool call), then parse what is left as a normal turn."""
        _think, rest = split_think(completion.text)
        report, remainder = extract_report(rest)
        turn = self.ctx.parse(dataclasses.replace(completion, text=remainder))
        calls = []
        for call in turn.tool_calls:
            given = call.arguments.get("report")
            if given is not None:
                if not report and isinstance(given, str):
                    report = given.strip()
                call = dataclasses.replace(
                    call, arguments={k: v for k, v in call.arguments.items() if k != "report"})
            calls.append(call)
        self._read_report = report or None
        return dataclasses.replace(turn, tool_calls=tuple(calls))

    def _keep_report(self) -> None:
        """Fold the reply's report into the workspace, or say that it was missing."""
        ctx = self.ctx
        self.feedback = []
        if self._read_report:
            self.report = clip(self._read_report, self.caps.report_max_tokens)
            self.missing_streak = 0
            ctx.emit(ReportUpdated(ctx.round, self.report, ctx.branch))
        else:
            self.format_errors += 1
            self.missing_streak += 1
            missing = load_template("sounding.agent", "iter_missing_report.txt").strip()
            if self.missing_streak >= STREAK:
                warning = f"Note: this is reply number {self.missing_streak} in a row " \
                          "without a <report> block."
                ctx.note(warning, "warning", streak=self.missing_streak)
                missing = f"{missing}\n\n{warning}"
            self.feedback.append(missing)
        self.reports.append(self.report)

    async def _force(self, reason: BudgetReason) -> Trajectory:
        messages = self.workspace()
        answer, termination = await self.ctx.force_answer(messages, reason)
        if answer is not None and "<report>" in answer:
            report, rest = extract_report(answer)
            if report:
                self.report = clip(report, self.caps.report_max_tokens)
            answer = rest or None
        return self._finish(answer, termination)

    def _notes(self) -> None:
        notes = self.ctx.trajectory.notes
        notes["reports"] = self.reports
        notes["report"] = self.report
        notes["format_errors"] = self.format_errors

    def _finish(self, answer: str | None, termination: Termination) -> Trajectory:
        self._notes()
        return self.ctx.finish(answer, termination)
