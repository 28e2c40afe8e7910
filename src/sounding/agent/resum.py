"""ReSum: ReAct whose conversation is condensed into a summary when it nears the context
budget, then restarted from system + (question, summary); the trajectory keeps everything.
"""

from __future__ import annotations

import asyncio
import re

from .._templates import render
from ..errors import SoundingError
from ..llm.protocols import split_think
from ..trace.trajectory import RunError, Termination, Trajectory
from ..types import JSON, Message, estimate_tokens
from .loop import RunContext

__all__ = ["ResumAgent", "extract_summary"]

_SUMMARY = re.compile(r"<summary>(.*?)(?:</summary>|$)", re.S)


def extract_summary(text: str) -> str:
    """The text inside <summary>, else everything outside the thinking."""
    _think, rest = split_think(text)
    match = _SUMMARY.search(rest) or _SUMMARY.search(text)
    return (match.group(1) if match else rest).strip()


class ResumAgent:
    """ReAct with summarise-and-restart at `resum.threshold` of the context budget."""

    mode = "resum"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.summaries: list[JSON] = []
        self.system: Message | None = None

    async def run(self) -> Trajectory:
        ctx = self.ctx
        try:
            self.system = ctx.system_message()
            messages = [self.system, Message("user", ctx.trajectory.question)]
            return await self._loop(messages)
        except SoundingError as exc:
            ctx.trajectory.error = RunError.from_exception(exc)
            ctx.observer.on_event(ctx.trajectory, f"run failed: {exc}")
            return self._finish(None, "error")

    @property
    def limit(self) -> float:
        return self.ctx.settings.resum.threshold * self.ctx.budgets.max_context_tokens

    async def _loop(self, messages: list[Message]) -> Trajectory:
        ctx = self.ctx
        while True:
            if ctx.context_tokens >= self.limit and len(messages) > 2:
                restarted = await self.condense(messages)
                if restarted is None:
                    answer, termination = await ctx.force_answer(messages, "context")
                    return self._finish(answer, termination)
                messages = restarted
            reason = ctx.exhausted()
            if reason is not None:
                answer, termination = await ctx.force_answer(messages, reason)
                return self._finish(answer, termination)
            ctx.round += 1
            ctx.observer.on_round(ctx.trajectory, ctx.round)
            try:
                async with asyncio.timeout(max(ctx.timer.remaining(), 0.001)):
                    completion = await ctx.call_model(messages)
            except TimeoutError:
                answer, termination = await ctx.force_answer(messages, "time")
                return self._finish(answer, termination)
            turn = ctx.parse(completion)
            messages.append(ctx.protocol.assistant_message(completion, turn))
            if turn.answer is not None and not turn.tool_calls:
                return self._finish(turn.answer, "answer")
            if turn.problem is not None:
                feedback = [ctx.protocol.feedback_message(turn.problem)]
            else:
                observations = await ctx.run_tools(turn.tool_calls, turn.call_errors)
                feedback = ctx.protocol.result_messages(turn.tool_calls, observations)
            messages.extend(feedback)
            ctx.note_added(feedback)

    async def condense(self, messages: list[Message]) -> list[Message] | None:
        """Summarise the conversation and return the restarted one; None if that failed."""
        ctx = self.ctx
        assert self.system is not None
        before = ctx.context_tokens
        ctx.observer.on_event(ctx.trajectory, f"context at {before} tokens: condensing")
        instruction = render("sounding.agent", "resum_summary.txt",
                             question=ctx.trajectory.question)
        request = [*messages, ctx.protocol.feedback_message(instruction)]
        try:
            completion = await ctx.call_model(request, purpose="summary", final=True)
        except SoundingError as exc:
            ctx.observer.on_event(ctx.trajectory, f"summary failed: {exc}")
            return None
        summary = extract_summary(completion.text)
        if not summary:
            ctx.observer.on_event(ctx.trajectory, "summary was empty")
            return None
        self.summaries.append({"round": ctx.round, "context_tokens": before,
                               "summary": summary})
        user = render("sounding.agent", "resum_restart.txt",
                      question=ctx.trajectory.question, summary=summary).rstrip()
        restarted = [self.system, Message("user", user)]
        ctx.context_tokens = sum(estimate_tokens(m.content) + 4 for m in restarted)
        return restarted

    def _finish(self, answer: str | None, termination: Termination) -> Trajectory:
        self.ctx.trajectory.notes["summaries"] = self.summaries
        return self.ctx.finish(answer, termination)
