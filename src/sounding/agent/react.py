"""ReAct: think, act, observe, with the whole history kept in context."""

from __future__ import annotations

from ..errors import SoundingError
from ..trace.trajectory import Termination, Trajectory
from ..types import Message
from .loop import RunContext

__all__ = ["Outcome", "ReActAgent"]

Outcome = tuple[str | None, Termination]
"""How a run ends: the answer (if any) and the termination reason."""


class ReActAgent:
    """The Tongyi ReAct loop under explicit budgets; every path ends in an answer.

    Subclasses change how the context evolves by overriding `step` (ReSum
    condenses the conversation before a round) and `finish` (to record notes).
    """

    mode = "react"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def run(self) -> Trajectory:
        ctx = self.ctx
        try:
            messages = [ctx.system_message(), Message("user", ctx.trajectory.question)]
            while True:
                outcome = await self.step(messages)
                if outcome is not None:
                    return self.finish(*outcome)
        except SoundingError as exc:
            # The endpoint failed after its retries (or a tool setup failed): end
            # with what we have; never pass the error off as the model's words.
            self.before_finish()
            return ctx.fail(exc)

    async def step(self, messages: list[Message]) -> Outcome | None:
        """One round (budget check, model turn, tools); an Outcome ends the run."""
        ctx = self.ctx
        reason = ctx.exhausted()
        if reason is not None:
            return await ctx.force_answer(messages, reason)
        ctx.begin_round()
        taken = await ctx.take_turn(messages)
        if isinstance(taken, str):
            return await ctx.force_answer(messages, taken)
        completion, turn = taken
        messages.append(ctx.protocol.assistant_message(completion, turn))
        if turn.answer is not None and not turn.tool_calls:
            ctx.guard.on_answer()
            return turn.answer, "answer"
        if turn.problem is not None:
            # Never a plain user message mid-run: the protocol wraps the feedback.
            feedback = [ctx.protocol.feedback_message(ctx.malformed_feedback(turn.problem))]
        else:
            observations = await ctx.act(turn)
            feedback = ctx.protocol.result_messages(turn.tool_calls, observations)
        messages.extend(feedback)
        ctx.note_added(feedback)
        return None

    def before_finish(self) -> None:
        """Write mode-specific notes into the record (subclasses); runs on every end."""

    def finish(self, answer: str | None, termination: Termination) -> Trajectory:
        self.before_finish()
        return self.ctx.finish(answer, termination)
