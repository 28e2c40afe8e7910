"""The loop toolkit every mode shares: call the model, dispatch tools, check budgets.

Modes (react, iter, resum, heavy) differ only in how they build the next
context; they all use one `RunContext` to talk to the model and the tools, so
events, recording, budgets and the error rule live in one place:

- a bug of ours (any exception that is not a `SoundingError`) stops the run;
- a mistake of the model becomes an observation and the loop goes on;
- a tool failure becomes an observation; the trajectory keeps the error.

Everything the run does is emitted as a typed event (`trace/events.py`); the
context's `Recorder` builds the Trajectory from those same events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from .._templates import load_template, render
from ..config import Sampling, Settings
from ..env import Environment, ToolResult
from ..errors import (
    ConfigError,
    ContextLengthError,
    LLMError,
    ReplayMissError,
    SoundingError,
)
from ..llm._reply import context_limit
from ..llm.base import (
    ChatModel,
    ChatRequest,
    Completion,
    StreamChannel,
    ToolSchema,
    complete_streaming,
)
from ..llm.protocols import Turn, WireProtocol, get_protocol
from ..llm.tokens import shared_counter
from ..tools.base import ToolContext
from ..trace.events import (
    ModelCallFinished,
    ModelCallStarted,
    ModelDelta,
    Note,
    RoundStarted,
    RunEvent,
    RunFinished,
    ToolCallFinished,
    ToolCallStarted,
)
from ..trace.recorder import Recorder
from ..trace.trajectory import (
    ModelCallRecord,
    RunError,
    Termination,
    ToolCallRecord,
    Trajectory,
)
from ..types import JSON, JSONObject, Message, ToolCall
from ._context import TokenCache, fit_messages, prompt_tokens, shrink_factor
from ._guards import TurnGuard

__all__ = ["OVERFLOW_SENTENCE", "BudgetReason", "RunContext", "Timer", "TokenMeter",
           "load_role"]

BudgetReason = Literal["rounds", "context", "time", "tokens"]

OVERFLOW_SENTENCE = (
    "You have now reached the maximum context length you can handle. You should stop making "
    "tool calls and, based on all the information above, think again and provide what you "
    "consider the most likely answer in the following format:<think>your final thinking"
    "</think>\n<answer>your answer</answer>"
)
"""Upstream's exact request for the final answer when the context is full (`tags`)."""

_REASON_TEXT: dict[BudgetReason, str] = {
    "rounds": "You have used all the research rounds available for this question.",
    "context": "The conversation has reached the maximum context length you can handle.",
    "time": "The time available for this question has run out.",
    "tokens": "The token budget for this question has been spent.",
}
_TERMINATION: dict[BudgetReason, Termination] = {
    "rounds": "max_rounds", "context": "max_tokens", "time": "max_time", "tokens": "max_tokens",
}
_FIT_ATTEMPTS = 4

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
    """One run's model, tools, budgets, events and record."""

    def __init__(
        self,
        trajectory: Trajectory,
        settings: Settings,
        model: ChatModel,
        environment: Environment,
        *,
        emit: Callable[[RunEvent], None] | None = None,
        recorder: Recorder | None = None,
        protocol: WireProtocol | None = None,
        sampling: Sampling | None = None,
        branch: str | None = None,
        timer: Timer | None = None,
        meter: TokenMeter | None = None,
        stream: bool = False,
        strict: bool = False,
    ) -> None:
        self.trajectory = trajectory
        self.settings = settings
        self.model = model
        self.env = environment
        self.recorder = recorder or Recorder(trajectory)
        self.consumer = emit
        """Who gets every event after the recorder (the run_events queue); may be None."""
        self.protocol = protocol or get_protocol(settings.protocol)
        self.sampling = sampling or settings.sampling
        self.branch = branch
        self.timer = timer or Timer.start(settings.budgets.max_seconds)
        self.meter = meter or TokenMeter()
        self.budgets = settings.budgets
        self.stream = stream
        self.strict = strict
        """Bugs of ours are raised, not recorded and survived (the test suite's mode)."""
        self.window = settings.llm.context_window
        self.round = 0
        self.context_tokens = 0
        self.guard = TurnGuard()
        self._pool: dict[int, int] = {}
        self._final: Message | None = None
        self._shrink = 1.0
        self._call_index: dict[int, int] = {}
        self.counter = shared_counter(settings.llm.tokenizer)
        """Token counts for the context check: exact with `llm.tokenizer`, else estimated."""
        self._sizes = TokenCache(self.counter.count)
        self._last_prompt: list[Message] = []
        self._last_indices: list[int] = []
        self._tools_size: int | None = None

    # -- events ----------------------------------------------------------------
    def emit(self, event: RunEvent) -> None:
        """Record the event, then hand it to the consumer."""
        self.recorder(event)
        if self.consumer is not None:
            self.consumer(event)

    def note(self, message: str, level: Literal["info", "warning"] = "info",
             **data: JSON) -> None:
        """A Note event of this run (and branch)."""
        self.emit(Note(message, level, self.round, self.branch, dict(data)))

    # -- prompts ---------------------------------------------------------------
    @property
    def schemas(self) -> list[ToolSchema]:
        return self.env.schemas()

    def system_message(self, role: str | None = None) -> Message:
        text = self.protocol.system_prompt(role or load_role(self.settings), self.schemas,
                                           date.today())
        return Message("system", text)

    # -- model -----------------------------------------------------------------
    def _pooled(self, messages: Sequence[Message]) -> tuple[list[int], tuple[Message, ...]]:
        """Pool indices of `messages`, and those of them new to the pool."""
        pool = self.trajectory.messages
        base = len(pool)
        known = len(self._last_prompt)
        # React's prompt extends the last one: reuse its indices (identity-checked in C).
        if known and len(messages) >= known and list(messages[:known]) == self._last_prompt:
            indices, rest = list(self._last_indices), messages[known:]
        else:
            indices, rest = [], messages
        new: list[Message] = []
        for message in rest:
            index = self._pool.get(id(message))
            if index is None or not (pool[index] is message if index < base
                                     else new[index - base] is message):
                index = base + len(new)
                new.append(message)
                self._pool[id(message)] = index
            indices.append(index)
        self._last_prompt, self._last_indices = list(messages), indices
        return indices, tuple(new)

    def _wire_tools(self, tools: Sequence[ToolSchema]) -> Sequence[ToolSchema]:
        """The schemas a request carries beside its messages (native only)."""
        return tools if self.protocol.name == "native" else ()

    async def call_model(
        self, messages: Sequence[Message], *, purpose: str = "turn", final: bool = False,
        tools: Sequence[ToolSchema] | None = None,
    ) -> Completion:
        """Call the model once and record the call; LLMError propagates (recorded)."""
        request = self.protocol.request(
            messages, self.schemas if tools is None else tools, self.sampling,
            final=final, purpose=purpose,
        )
        self.emit(ModelCallStarted(self.round, purpose, self.branch))
        started = time.monotonic()
        try:
            completion = await self._complete(request)
        except LLMError as exc:
            failed = Completion(text="", latency_s=time.monotonic() - started,
                                retries=exc.retries)
            self.record_call(request, failed, error=f"{type(exc).__name__}: {exc}")
            raise
        self.record_call(request, completion)
        self.context_tokens = completion.usage.prompt_tokens + completion.usage.completion_tokens
        self._final = Message("assistant", completion.text, tool_calls=completion.tool_calls)
        return completion

    async def _complete(self, request: ChatRequest) -> Completion:
        if not self.stream:
            return await self.model.complete(request)
        return await complete_streaming(self.model, request, self._delta)

    def _delta(self, text: str, channel: StreamChannel) -> None:
        self.emit(ModelDelta(self.round, text, "reasoning" if channel == "reasoning"
                             else "content", self.branch))

    def begin_round(self) -> None:
        """Count a new research round."""
        self.round += 1
        self.emit(RoundStarted(self.round, self.branch))

    def fits(self, messages: Sequence[Message]) -> bool:
        """Whether the prompt plus `max_tokens` fits the model's context window."""
        if self._tools_size is None:  # the tools of a run do not change
            self._tools_size = prompt_tokens([], self._wire_tools(self.schemas),
                                             text_count=self.counter.count)
        size = self._sizes.prompt(messages) + self._tools_size
        return size + self.sampling.max_tokens <= self.window * self._shrink

    def _refused(self, exc: ContextLengthError, sent: Sequence[Message],
                 wire: Sequence[ToolSchema]) -> None:
        """Learn from a server's context refusal. With its numbers (vLLM, SGLang: the
        window and the tokens asked for), the window becomes the server's, and our counts
        are scaled by how much they undercounted this prompt; without, ask for a quarter
        less."""
        numbers = context_limit(str(exc))
        # Counted as `fits` counts (the run's counter, cached per message), so the scale
        # learnt here applies to what `fits` measures.
        ours = prompt_tokens(sent, wire, count=self._sizes, text_count=self.counter.count) \
            + self.sampling.max_tokens
        if numbers is None or numbers[1] <= 0:
            self._shrink *= shrink_factor(str(exc))
            return
        limit, asked = numbers
        self.window = min(self.window, limit)
        self._shrink = min(self._shrink, ours / asked) * 0.97

    async def call_turn(self, messages: Sequence[Message]) -> Completion | BudgetReason:
        """Call the model for an agent turn within the time left; else the budget that
        forbids it: `time` when the wall limit ran out mid-call, `context` when the
        prompt would not fit the window (or the server said it does not)."""
        if not self.fits(messages):
            self.note("the next prompt would not fit the context window", "warning")
            return "context"
        try:
            async with asyncio.timeout(max(self.timer.remaining(), 0.001)):
                return await self.call_model(messages)
        except TimeoutError:
            return "time"
        except ContextLengthError as exc:
            self._refused(exc, messages, self._wire_tools(self.schemas))
            self.note(f"the server refused the prompt as too long: {exc}", "warning")
            return "context"

    async def take_turn(
        self, messages: Sequence[Message], read: Callable[[Completion], Turn] | None = None,
    ) -> tuple[Completion, Turn] | BudgetReason:
        """A turn, read as calls or an answer. A turn with neither (or an empty reply)
        is asked again once, as upstream does, before the caller gives feedback."""
        read = read or self.parse
        result = await self.call_turn(messages)
        if isinstance(result, str):
            return result
        turn = read(result)
        if turn.problem is not None and not turn.tool_calls:
            self.note("the reply had neither a tool call nor an answer: asking again")
            again = await self.call_turn(messages)
            if isinstance(again, str):
                return again
            result, turn = again, read(again)
        return result, turn

    def malformed_feedback(self, problem: str) -> str:
        """The feedback for a turn without action, naming a streak of them."""
        warning = self.guard.on_malformed()
        if warning is None:
            return problem
        self.note(warning, "warning", streak=self.guard.malformed)
        return f"{problem}\n\n{warning}"

    async def call_final(self, messages: Sequence[Message], *, purpose: str,
                         tools: Sequence[ToolSchema] | None = None) -> Completion:
        """A closing call (forced answer, summary, synthesis): no tool calls allowed, and
        at most `budgets.answer_grace_seconds`, since it may run past the wall limit.

        The prompt is trimmed to fit the window first (`fit_messages`); a server that
        still refuses it as too long gets a shorter one, a few times over.
        """
        grace = self.budgets.answer_grace_seconds
        wire = self._wire_tools(self.schemas if tools is None else tools)
        for attempt in range(_FIT_ATTEMPTS):
            budget = int((self.window - self.sampling.max_tokens) * self._shrink)
            fitted = fit_messages(messages, budget, wire)
            try:
                async with asyncio.timeout(grace):
                    return await self.call_model(fitted, purpose=purpose, final=True,
                                                 tools=tools)
            except TimeoutError:
                raise LLMError(f"no reply to the {purpose} call within {grace:g} s") from None
            except ContextLengthError as exc:
                if attempt == _FIT_ATTEMPTS - 1:
                    raise
                self._refused(exc, fitted, wire)
                self.note(f"the {purpose} prompt was refused as too long: trimming more",
                          "warning")
        raise AssertionError("unreachable")  # pragma: no cover

    def record_call(self, request: ChatRequest, completion: Completion, *,
                    error: str | None = None) -> None:
        """Add a model call (the agent's, or one a tool made) to the record and the meter."""
        prompt, new = self._pooled(request.messages)
        record = ModelCallRecord(
            round=self.round, purpose=request.purpose, prompt=prompt, output=completion.text,
            usage=completion.usage, latency_s=completion.latency_s,
            finish_reason=completion.finish_reason, retries=completion.retries,
            tool_calls=completion.tool_calls, branch=self.branch,
            token_ids=completion.token_ids, logprobs=completion.logprobs, error=error,
            prompt_token_ids=completion.prompt_token_ids, raw_output=completion.raw_text,
        )
        self.meter.add(completion.usage.total_tokens)
        self.emit(ModelCallFinished(record, self.branch, messages=new))

    def parse(self, completion: Completion) -> Turn:
        """Read a completion as a turn (calls, answer or problem) under this run's tools."""
        return self.protocol.parse(completion, list(self.env.tools))

    def measure(self, messages: Sequence[Message]) -> int:
        """The run's size of `messages` (cached per message, so the next `fits` finds
        them counted; exact with `llm.tokenizer`)."""
        return sum(self._sizes(m) for m in messages)

    def note_added(self, messages: Sequence[Message]) -> None:
        """Count messages appended since the last call toward the context estimate."""
        self.context_tokens += self.measure(messages)

    # -- tools -----------------------------------------------------------------
    async def act(self, turn: Turn) -> list[str]:
        """Run a turn's tool calls; a third identical call in a row is named in the
        last observation (and as a warning); a replay miss stops the run."""
        warning = self.guard.on_calls(turn.tool_calls)
        before = len(self.trajectory.tool_calls)
        observations = await self.run_tools(turn.tool_calls, turn.call_errors)
        for record in self.trajectory.tool_calls[before:]:
            if record.error and record.error.startswith("ReplayMissError"):
                raise ReplayMissError(
                    f"the replay recording has no exchange for the {record.call.name} call "
                    f"of round {record.round} ({record.error.partition(': ')[2]}); the run "
                    "has left what was recorded: record it again or run without --replay")
        if warning is not None:
            self.note(warning, "warning", repeats=self.guard.repeats)
            observations[-1] = f"{observations[-1]}\n\n{warning}"
        return observations

    def record_tool(self, record: ToolCallRecord) -> None:
        """Add a finished tool call to the record (as a ToolCallFinished event)."""
        index = self._call_index.get(id(record.call), 0)
        self.emit(ToolCallFinished(index, record, self.branch))

    async def run_tools(
        self, calls: Sequence[ToolCall], errors: Sequence[str | None] = ()
    ) -> list[str]:
        """Run every call of a turn concurrently; observations in call order.

        When one call fails with a bug of ours the others are cancelled before the
        error propagates, so no tool is left running against a closed environment.
        """
        errs = list(errors) or [None] * len(calls)
        self._call_index.clear()  # one turn at a time per context
        for index, call in enumerate(calls):
            self._call_index[id(call)] = index
            arguments: JSONObject = dict(call.arguments)
            self.emit(ToolCallStarted(self.round, index, call.name, arguments, self.branch))
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
        self.record_tool(record)
        return result.text

    async def _invoke(self, call: ToolCall, parse_error: str | None = None) -> ToolResult:
        """One call through the environment's boundary (it never raises for a tool's fault)."""
        context = ToolContext(question=self.trajectory.question, round=self.round,
                              deadline=self.timer.deadline)
        return await self.env.call(call, context, parse_error=parse_error,
                                   strict=self.strict)

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
        """Ask once more, with no tools, for a final answer; keep the newest evidence.

        The request is a user message at the very end of the run (no turn follows it).
        For a full context in `tags` it is upstream's exact sentence; the prompt is
        trimmed to fit the window by `call_final`.
        """
        if reason == "context" and self.protocol.name == "tags":
            instruction = OVERFLOW_SENTENCE
        else:
            instruction = render("sounding.agent", "force_answer.txt",
                                 reason=_REASON_TEXT[reason])
        messages.append(Message("user", instruction))
        self.note(f"budget reached ({reason}): asking for an answer", reason=reason)
        try:
            completion = await self.call_final(messages, purpose="forced_answer")
        except SoundingError as exc:
            self.note(f"forced answer failed: {exc}", "warning")
            return None, _TERMINATION[reason]
        messages.append(Message("assistant", completion.text))
        turn = self.parse(completion)
        if turn.answer:
            return turn.answer, "forced_answer"
        fallback = turn.content.strip() if not turn.tool_calls else ""
        return (fallback or None), _TERMINATION[reason]

    def fail(self, exc: BaseException, *, message: str | None = None) -> Trajectory:
        """Close the run in `error`, keeping the exception (and its traceback)."""
        error = RunError.from_exception(exc)
        if message is not None:
            error.message = message
        self.trajectory.error = error
        self.note(f"run failed: {error.type}: {error.message}", "warning")
        return self.finish(None, "error")

    def finish(self, answer: str | None, termination: Termination) -> Trajectory:
        """Close the record: answer, termination, rounds and time; the final assistant
        turn joins the message pool; emits RunFinished."""
        self.trajectory.answer = answer
        self.trajectory.termination = termination
        self.trajectory.rounds = self.round
        self.trajectory.seconds = self.timer.elapsed()
        final: tuple[Message, ...] = ()
        if self._final is not None:
            _indices, final = self._pooled([self._final])
        self.emit(RunFinished(self.trajectory, self.trajectory.error, self.branch,
                              messages=final))
        return self.trajectory
