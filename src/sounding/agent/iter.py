"""IterResearch: each round's workspace is rebuilt from the question, the evolving report
and the last action with its observation, so the context stays bounded however long the run.
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
from ..trace.trajectory import RunError, Termination, Trajectory
from ..types import JSON, Message, ToolCall, estimate_tokens
from .loop import BudgetReason, RunContext, load_role

__all__ = ["IterAgent", "action_message", "clip", "extract_report", "iter_role"]

_REPORT = re.compile(r"<report>(.*?)(?:</report>|(?=<tool_call>|<answer>)|$)", re.S)
_EMPTY_REPORT = "(empty: nothing has been established yet)"


def clip(text: str, max_tokens: int) -> str:
    """`text` cut to about `max_tokens` tokens (head kept), with a marker saying so."""
    total = estimate_tokens(text)
    if total <= max_tokens:
        return text
    marker = f"\n[... truncated: about {max_tokens} of {total} tokens kept]"
    # Tokens are estimated from characters; scale by the text's own density and
    # leave room for the marker so the clipped text really fits the cap.
    keep = max(int(len(text) * (max_tokens - estimate_tokens(marker)) / total), 0)
    while keep > 0 and estimate_tokens(text[:keep] + marker) > max_tokens:
        keep = int(keep * 0.95)
    return text[:keep].rstrip() + marker


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
        self.system: Message | None = None

    async def run(self) -> Trajectory:
        ctx = self.ctx
        try:
            self.system = ctx.system_message(iter_role(ctx))
            return await self._loop()
        except SoundingError as exc:
            ctx.trajectory.error = RunError.from_exception(exc)
            ctx.observer.on_event(ctx.trajectory, f"run failed: {exc}")
            return self._finish(None, "error")

    async def _loop(self) -> Trajectory:
        ctx = self.ctx
        while True:
            reason = ctx.exhausted()
            if reason is not None:
                return await self._force(reason)
            ctx.begin_round()
            completion = await ctx.call_turn(self.workspace())
            if completion is None:
                return await self._force("time")
            turn = self._read(completion)
            if turn.answer is not None and not turn.tool_calls:
                return self._finish(turn.answer, "answer")
            if turn.problem is not None:
                self.last = None
                self.feedback.append(turn.problem)
                continue
            observations = await ctx.run_tools(turn.tool_calls, turn.call_errors)
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
        """Take the report out of the reply, then parse what is left as a normal turn."""
        _think, rest = split_think(completion.text)
        report, remainder = extract_report(rest)
        self.feedback = []
        if report:
            self.report = clip(report, self.caps.report_max_tokens)
        else:
            self.format_errors += 1
            self.feedback.append(load_template("sounding.agent", "iter_missing_report.txt").strip())
        self.reports.append(self.report)
        return self.ctx.parse(dataclasses.replace(completion, text=remainder))

    async def _force(self, reason: BudgetReason) -> Trajectory:
        messages = self.workspace()
        answer, termination = await self.ctx.force_answer(messages, reason)
        if answer is not None and "<report>" in answer:
            report, rest = extract_report(answer)
            if report:
                self.report = clip(report, self.caps.report_max_tokens)
            answer = rest or None
        return self._finish(answer, termination)

    def _finish(self, answer: str | None, termination: Termination) -> Trajectory:
        notes = self.ctx.trajectory.notes
        notes["reports"] = self.reports
        notes["report"] = self.report
        notes["format_errors"] = self.format_errors
        return self.ctx.finish(answer, termination)
