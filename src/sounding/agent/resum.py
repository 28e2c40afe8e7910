"""ReSum: ReAct whose conversation is condensed into a summary when it nears the context
budget, then restarted from system + (question, summary); the trajectory keeps everything.
"""

from __future__ import annotations

import re

from .._templates import render
from ..errors import SoundingError
from ..llm.protocols import split_think
from ..types import JSON, Message
from .loop import RunContext
from .react import Outcome, ReActAgent

__all__ = ["KEEP_OBSERVATIONS", "ResumAgent", "extract_summary", "summary_problem"]

_SUMMARY = re.compile(r"<summary>(.*?)(?:</summary>|$)", re.S)
KEEP_OBSERVATIONS = 3
"""When no usable summary can be had: how many of the newest tool results are kept."""


def extract_summary(text: str) -> str:
    """The text inside <summary>, else everything outside the thinking."""
    _think, rest = split_think(text)
    match = _SUMMARY.search(rest) or _SUMMARY.search(text)
    return (match.group(1) if match else rest).strip()


def summary_problem(summary: str, has_calls: bool) -> str | None:
    """Why a summary cannot replace the conversation (None when it can)."""
    if has_calls or "<tool_call>" in summary:
        return "the summary was a tool call"
    if not summary:
        return "the summary was empty"
    return None


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

    async def _summarise(self, messages: list[Message]) -> str | bool:
        """A usable summary: an empty one or a tool call is refused and asked once more.
        False when the call failed; True when both replies were refused."""
        ctx = self.ctx
        instruction = render("sounding.agent", "resum_summary.txt",
                             question=ctx.trajectory.question)
        request = [*messages, ctx.protocol.feedback_message(instruction)]
        for attempt in (1, 2):
            try:
                completion = await ctx.call_final(request, purpose="summary")
            except SoundingError as exc:
                ctx.note(f"summary failed: {exc}", "warning")
                return False
            summary = extract_summary(completion.text)
            problem = summary_problem(summary, bool(completion.tool_calls))
            if problem is None:
                return summary
            ctx.note(f"{problem}: refused" + (", asking again" if attempt == 1 else ""),
                     "warning")
        return True

    async def condense(self, messages: list[Message]) -> list[Message] | None:
        """Summarise the conversation and return the restarted one; None when the summary
        call failed. When the model gives no usable summary (twice), the newest
        KEEP_OBSERVATIONS exchanges are kept instead (None if that would not shrink it)."""
        ctx = self.ctx
        before = ctx.context_tokens
        ctx.note(f"context at {before} tokens: condensing")
        summary = await self._summarise(messages)
        if isinstance(summary, bool):
            return self._keep_newest(messages, before) if summary else None
        self.summaries.append({"round": ctx.round, "context_tokens": before,
                               "summary": summary})
        user = render("sounding.agent", "resum_restart.txt",
                      question=ctx.trajectory.question, summary=summary).rstrip()
        restarted = [messages[0], Message("user", user)]
        ctx.context_tokens = ctx.measure(restarted)
        return restarted

    def _keep_newest(self, messages: list[Message], before: int) -> list[Message] | None:
        """System + question + the newest KEEP_OBSERVATIONS exchanges (assistant turn and
        its results), so the run goes on with its freshest evidence."""
        starts = [i for i, m in enumerate(messages) if i >= 2 and m.role == "assistant"]
        if len(starts) <= KEEP_OBSERVATIONS:
            return None
        kept = [*messages[:2], *messages[starts[-KEEP_OBSERVATIONS]:]]
        self.summaries.append({"round": self.ctx.round, "context_tokens": before,
                               "summary": None, "kept_exchanges": KEEP_OBSERVATIONS})
        self.ctx.note(f"no usable summary: keeping the newest {KEEP_OBSERVATIONS} exchanges",
                      "warning")
        self.ctx.context_tokens = self.ctx.measure(kept)
        return kept

    def before_finish(self) -> None:
        self.ctx.trajectory.notes["summaries"] = self.summaries
