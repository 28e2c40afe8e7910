"""ReAct: think, act, observe, with the whole history kept in context."""

from __future__ import annotations

from ..errors import SoundingError
from ..trace.trajectory import RunError, Termination, Trajectory
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
            ctx.trajectory.error = RunError.from_exception(exc)
            ctx.observer.on_event(ctx.trajectory, f"run failed: {exc}")
            return self.finish(None, "error")

    async def step(self, messages: list[Message]) -> Outcome | None:
        """One round (budget check, model turn, tools); an Outcome ends the run."""
        ctx = self.ctx
        reason = ctx.exhausted()
        if reason is not None:
            return await ctx.force_answer(messages, reason)
        ctx.begin_round()
        completion = await ctx.call_turn(messages)
        if completion is None:
            return await ctx.force_answer(messages, "time")
        turn = ctx.parse(completion)
        messages.append(ctx.protocol.assistant_message(completion, turn))
        if turn.answer is not None and not turn.tool_calls:
            return turn.answer, "answer"
        if turn.problem is not None:
            feedback = [ctx.protocol.feedback_message(turn.problem)]
        else:
            observations = await ctx.run_tools(turn.tool_calls, turn.call_errors)
            feedback = ctx.protocol.result_messages(turn.tool_calls, observations)
        messages.extend(feedback)
        ctx.note_added(feedback)
        return None

    def finish(self, answer: str | None, termination: Termination) -> Trajectory:
        return self.ctx.finish(answer, termination)
