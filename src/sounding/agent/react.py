"""ReAct: think, act, observe, with the whole history kept in context."""

from __future__ import annotations

import asyncio

from ..errors import SoundingError
from ..trace.trajectory import RunError, Trajectory
from ..types import Message
from .loop import RunContext

__all__ = ["ReActAgent"]


class ReActAgent:
    """The Tongyi ReAct loop under explicit budgets; every path ends in an answer."""

    mode = "react"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def run(self) -> Trajectory:
        ctx = self.ctx
        messages = [ctx.system_message(), Message("user", ctx.trajectory.question)]
        try:
            return await self._loop(messages)
        except SoundingError as exc:
            # The endpoint failed after its retries (or a tool setup failed): end
            # with what we have; never pass the error off as the model's words.
            ctx.trajectory.error = RunError.from_exception(exc)
            ctx.observer.on_event(ctx.trajectory, f"run failed: {exc}")
            return ctx.finish(None, "error")

    async def _loop(self, messages: list[Message]) -> Trajectory:
        ctx = self.ctx
        while True:
            reason = ctx.exhausted()
            if reason is not None:
                answer, termination = await ctx.force_answer(messages, reason)
                return ctx.finish(answer, termination)
            ctx.round += 1
            ctx.observer.on_round(ctx.trajectory, ctx.round)
            try:
                async with asyncio.timeout(max(ctx.timer.remaining(), 0.001)):
                    completion = await ctx.call_model(messages)
            except TimeoutError:
                answer, termination = await ctx.force_answer(messages, "time")
                return ctx.finish(answer, termination)
            turn = ctx.parse(completion)
            messages.append(ctx.protocol.assistant_message(completion, turn))
            if turn.answer is not None and not turn.tool_calls:
                return ctx.finish(turn.answer, "answer")
            if turn.problem is not None:
                feedback = [ctx.protocol.feedback_message(turn.problem)]
            else:
                observations = await ctx.run_tools(turn.tool_calls, turn.call_errors)
                feedback = ctx.protocol.result_messages(turn.tool_calls, observations)
            messages.extend(feedback)
            ctx.note_added(feedback)
