"""The loop toolkit every mode shares: call the model, dispatch tools, check budgets.

Modes (react, iter, resum, heavy) differ only in how they build the next
context; they all use one `RunContext` to talk to the model and the tools, so
recording, budgets and the error rule live in one place:

- a bug of ours (any exception that is not a `SoundingError`) stops the run;
- a mistake of the model becomes an observation and the loop goes on;
- a tool failure becomes an observation; the trajectory keeps the error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from .._templates import load_template, render
from ..config import Sampling, Settings
from ..env import Environment, ToolResult
from ..errors import ConfigError, LLMError, SoundingError
from ..llm.base import ChatModel, ChatRequest, Completion, ToolSchema
from ..llm.protocols import Turn, WireProtocol, get_protocol
from ..tools.base import ToolContext
from ..trace.observers import NullObserver, Observer
from ..trace.trajectory import ModelCallRecord, Termination, ToolCallRecord, Trajectory
from ..types import Message, ToolCall, estimate_tokens

__all__ = ["BudgetReason", "RunContext", "Timer", "TokenMeter", "load_role"]

BudgetReason = Literal["rounds", "context", "time", "tokens"]

_REASON_TEXT: dict[BudgetReason, str] = {
    "rounds": "You have used all the research rounds available for this question.",
    "context": "The conversation has reached the maximum context length you can handle.",
    "time": "The time available for this question has run out.",
    "tokens": "The token budget for this question has been spent.",
}
_TERMINATION: dict[BudgetReason, Termination] = {
    "rounds": "max_rounds", "context": "max_tokens", "time": "max_time", "tokens": "max_tokens",
}


def load_role(settings: Settings, default: str = "role.txt") -> str:
    """The role paragraph: the user's `--system-prompt` file, or our template `default`."""
    path: Path | None = settings.system_prompt_file
    if path is None:
        return load_template("sounding.agent", default)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read system prompt file {path}: {exc}") from exc


@dataclass
class Timer:
    """The wall-clock budget of a run (heavy-mode branches share one)."""

    started: float
    deadline: float

    @classmethod
    def start(cls, seconds: float) -> Timer:
        now = time.monotonic()
        return cls(now, now + seconds)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class TokenMeter:
    """Tokens spent by every context that shares it (heavy-mode branches share one),
    so that `budgets.max_total_tokens` holds across concurrent branches."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, tokens: int) -> None:
        self.total += tokens


class RunContext:
    """One run's model, tools, budgets and record."""

    def __init__(
        self,
        trajectory: Trajectory,
        settings: Settings,
        model: ChatModel,
        environment: Environment,
        *,
        observer: Observer | None = None,
        protocol: WireProtocol | None = None,
        sampling: Sampling | None = None,
        branch: str | None = None,
        timer: Timer | None = None,
        meter: TokenMeter | None = None,
    ) -> None:
        self.trajectory = trajectory
        self.settings = settings
        self.model = model
        self.env = environment
        self.observer: Observer = observer or NullObserver()
        self.protocol = protocol or get_protocol(settings.protocol)
        self.sampling = sampling or settings.sampling
        self.branch = branch
        self.timer = timer or Timer.start(settings.budgets.max_seconds)
        self.meter = meter or TokenMeter()
        self.budgets = settings.budgets
        self.round = 0
        self.context_tokens = 0
        self._pool: dict[int, int] = {}

    # -- prompts ---------------------------------------------------------------
    @property
    def schemas(self) -> list[ToolSchema]:
        return self.env.schemas()

    def system_message(self, role: str | None = None) -> Message:
        text = self.protocol.system_prompt(role or load_role(self.settings), self.schemas,
                                           date.today())
        return Message("system", text)

    # -- model -----------------------------------------------------------------
    def _index(self, message: Message) -> int:
        key = id(message)
        index = self._pool.get(key)
        if index is None or self.trajectory.messages[index] is not message:
            index = self.trajectory.add_message(message)
            self._pool[key] = index
        return index

    async def call_model(
        self, messages: Sequence[Message], *, purpose: str = "turn", final: bool = False,
        tools: Sequence[ToolSchema] | None = None,
    ) -> Completion:
        """Call the model once and record the call; LLMError propagates (the run ends)."""
        request = self.protocol.request(
            messages, self.schemas if tools is None else tools, self.sampling,
            final=final, purpose=purpose,
        )
        completion = await self.model.complete(request)
        self.record_call(request, completion)
        self.context_tokens = completion.usage.prompt_tokens + completion.usage.completion_tokens
        return completion

    def begin_round(self) -> None:
        """Count a new research round and tell the observer."""
        self.round += 1
        self.observer.on_round(self.trajectory, self.round)

    async def call_turn(self, messages: Sequence[Message]) -> Completion | None:
        """Call the model for an agent turn within the time left; None when the time
        budget ran out mid-call (the caller then forces an answer)."""
        try:
            async with asyncio.timeout(max(self.timer.remaining(), 0.001)):
                return await self.call_model(messages)
        except TimeoutError:
            return None

    async def call_final(self, messages: Sequence[Message], *, purpose: str,
                         tools: Sequence[ToolSchema] | None = None) -> Completion:
        """A closing call (forced answer, summary, synthesis): no tool calls allowed, and
        at most `budgets.answer_grace_seconds`, since it may run past the wall limit."""
        grace = self.budgets.answer_grace_seconds
        try:
            async with asyncio.timeout(grace):
                return await self.call_model(messages, purpose=purpose, final=True, tools=tools)
        except TimeoutError:
            raise LLMError(f"no reply to the {purpose} call within {grace:g} s") from None

    def record_call(self, request: ChatRequest, completion: Completion) -> None:
        """Add a model call (the agent's, or one a tool made) to the record and the meter."""
        record = ModelCallRecord(
            round=self.round, purpose=request.purpose,
            prompt=[self._index(m) for m in request.messages], output=completion.text,
            usage=completion.usage, latency_s=completion.latency_s,
            finish_reason=completion.finish_reason, retries=completion.retries,
            tool_calls=completion.tool_calls, branch=self.branch,
            token_ids=completion.token_ids, logprobs=completion.logprobs,
        )
        self.trajectory.model_calls.append(record)
        self.meter.add(completion.usage.total_tokens)
        self.observer.on_model_call(self.trajectory, record)

    def parse(self, completion: Completion) -> Turn:
        """Read a completion as a turn (calls, answer or problem) under this run's tools."""
        return self.protocol.parse(completion, list(self.env.tools))

    def note_added(self, messages: Sequence[Message]) -> None:
        """Count messages appended since the last call toward the context estimate."""
        self.context_tokens += sum(estimate_tokens(m.content) + 4 for m in messages)

    # -- tools -----------------------------------------------------------------
    async def run_tools(
        self, calls: Sequence[ToolCall], errors: Sequence[str | None] = ()
    ) -> list[str]:
        """Run every call of a turn concurrently; observations in call order.

        When one call fails with a bug of ours the others are cancelled before the
        error propagates, so no tool is left running against a closed environment.
        """
        errs = list(errors) or [None] * len(calls)
        tasks = [asyncio.create_task(self._run_tool(c, e))
                 for c, e in zip(calls, errs, strict=True)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _run_tool(self, call: ToolCall, parse_error: str | None) -> str:
        started = time.monotonic()
        result = await self._invoke(call, parse_error)
        for request, completion in result.model_calls:  # e.g. visit's extraction calls
            self.record_call(request, completion)
        record = ToolCallRecord(
            round=self.round, call=call, observation=result.text,
            latency_s=time.monotonic() - started, provider=result.provider,
            cache_hit=result.cache_hit, retries=result.retries, error=result.error,
            sources=result.sources, branch=self.branch, meta=dict(result.meta),
        )
        self.trajectory.tool_calls.append(record)
        self.observer.on_tool_call(self.trajectory, record)
        return result.text

    async def _invoke(self, call: ToolCall, parse_error: str | None = None) -> ToolResult:
        """One call through the environment's boundary (it never raises for a tool's fault)."""
        context = ToolContext(question=self.trajectory.question, round=self.round,
                              deadline=self.timer.deadline)
        return await self.env.call(call, context, parse_error=parse_error)

    # -- budgets ---------------------------------------------------------------
    def exhausted(self) -> BudgetReason | None:
        """Which budget (if any) forbids another research round."""
        if self.timer.remaining() <= 0:
            return "time"
        if self.round >= self.budgets.max_rounds:
            return "rounds"
        if self.context_tokens >= self.budgets.max_context_tokens:
            return "context"
        ceiling = self.budgets.max_total_tokens
        # Every model call of the run (and of sibling branches sharing the meter) is counted
        # in the meter, tools' calls included, so it alone holds the total.
        if ceiling is not None and self.meter.total >= ceiling:
            return "tokens"
        return None

    async def force_answer(
        self, messages: list[Message], reason: BudgetReason
    ) -> tuple[str | None, Termination]:
        """Ask once more, with no tools, for a final answer; keep the newest evidence."""
        instruction = render("sounding.agent", "force_answer.txt", reason=_REASON_TEXT[reason])
        messages.append(self.protocol.feedback_message(instruction))
        self.observer.on_event(self.trajectory, f"budget reached ({reason}): asking for an answer")
        try:
            completion = await self.call_final(messages, purpose="forced_answer")
        except SoundingError as exc:
            self.observer.on_event(self.trajectory, f"forced answer failed: {exc}")
            return None, _TERMINATION[reason]
        messages.append(Message("assistant", completion.text))
        turn = self.parse(completion)
        if turn.answer:
            return turn.answer, "forced_answer"
        fallback = turn.content.strip() if not turn.tool_calls else ""
        return (fallback or None), _TERMINATION[reason]

    def finish(self, answer: str | None, termination: Termination) -> Trajectory:
        """Close the record: answer, termination, rounds and time; tell the observer."""
        self.trajectory.answer = answer
        self.trajectory.termination = termination
        self.trajectory.rounds = self.round
        self.trajectory.seconds = self.timer.elapsed()
        self.observer.on_finish(self.trajectory)
        return self.trajectory
