"""ReSum: ReAct whose conversation is condensed into a summary when it nears the context
budget, then restarted from system + (question, summary); the trajectory keeps everything.
"""

from __future__ import annotations

import re

from .._templates import render
from ..errors import SoundingError
from ..llm.protocols import split_think
from ..trace.trajectory import Termination, Trajectory
from ..types import JSON, Message, estimate_tokens
from .loop import RunContext
from .react import Outcome, ReActAgent

__all__ = ["ResumAgent", "extract_summary"]

_SUMMARY = re.compile(r"<summary>(.*?)(?:</summary>|$)", re.S)


def extract_summary(text: str) -> str:
    """The text inside <summary>, else everything outside the thinking."""
    _think, rest = split_think(text)
    match = _SUMMARY.search(rest) or _SUMMARY.search(text)
    return (match.group(1) if match else rest).strip()


class ResumAgent(ReActAgent):
    """ReAct with summarise-and-restart at `resum.threshold` of the context budget."""

    mode = "resum"

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.summaries: list[JSON] = []

    @property
    def limit(self) -> float:
        return self.ctx.settings.resum.threshold * self.ctx.budgets.max_context_tokens

    async def step(self, messages: list[Message]) -> Outcome | None:
        """Condense first when the context nears its budget, then a normal ReAct round.

        When another budget (rounds, time, tokens) already forbids a round, the
        answer is forced from the full conversation: a summary would only cost a call
        and lose detail.
        """
        reason = self.ctx.exhausted()
        if reason not in (None, "context"):
            return await self.ctx.force_answer(messages, reason)
        if self.ctx.context_tokens >= self.limit and len(messages) > 2:
            restarted = await self.condense(messages)
            if restarted is None:
                return await self.ctx.force_answer(messages, "context")
            messages[:] = restarted  # the trajectory's message pool keeps the old ones
        return await super().step(messages)

    async def condense(self, messages: list[Message]) -> list[Message] | None:
        """Summarise the conversation and return the restarted one; None if that failed."""
        ctx = self.ctx
        system = messages[0]
        before = ctx.context_tokens
        ctx.observer.on_event(ctx.trajectory, f"context at {before} tokens: condensing")
        instruction = render("sounding.agent", "resum_summary.txt",
                             question=ctx.trajectory.question)
        request = [*messages, ctx.protocol.feedback_message(instruction)]
        try:
            completion = await ctx.call_final(request, purpose="summary")
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
        restarted = [system, Message("user", user)]
        ctx.context_tokens = sum(estimate_tokens(m.content) + 4 for m in restarted)
        return restarted

    def finish(self, answer: str | None, termination: Termination) -> Trajectory:
        self.ctx.trajectory.notes["summaries"] = self.summaries
        return super().finish(answer, termination)
