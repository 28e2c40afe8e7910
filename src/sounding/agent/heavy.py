"""Heavy mode (Research-Synthesis): N researchers run concurrently on one question under
shared budgets; a synthesis call fuses their reports and answers (a vote if it fails).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from .._templates import load_template, render
from ..errors import SoundingError
from ..llm.protocols import split_think
from ..llm.protocols.base import find_answer
from ..trace.observers import NullObserver, Observer
from ..trace.trajectory import ModelCallRecord, RunError, Termination, ToolCallRecord, Trajectory
from ..types import Message
from .iter import IterAgent, clip, extract_report
from .loop import RunContext
from .react import ReActAgent
from .resum import ResumAgent

__all__ = ["BranchOutcome", "HeavyAgent", "majority_vote", "normalise_answer"]

_BRANCH_AGENTS: dict[str, Callable[[RunContext], IterAgent | ReActAgent | ResumAgent]] = {
    "iter": IterAgent, "react": ReActAgent, "resum": ResumAgent,
}


def normalise_answer(answer: str) -> str:
    """Lower case, no punctuation, articles or extra spaces: for comparing answers."""
    text = unicodedata.normalize("NFKC", answer).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class BranchOutcome:
    """What one branch hands to the synthesis: its report and answer."""

    name: str
    answer: str | None
    report: str
    termination: Termination | None


def majority_vote(outcomes: Sequence[BranchOutcome]) -> str | None:
    """The most common answer (normalised); ties go to the branch that finished first."""
    answered = [o for o in outcomes if o.answer and normalise_answer(o.answer)]
    if not answered:
        return None
    counts = Counter(normalise_answer(o.answer or "") for o in answered)
    best = counts.most_common(1)[0][0]  # most_common keeps first-seen order among ties
    return next(o.answer for o in answered if normalise_answer(o.answer or "") == best)


def branch_report(trajectory: Trajectory, max_tokens: int) -> str:
    """An iter branch's report; a resum branch's last summary; else react's last thought."""
    report = trajectory.notes.get("report")
    summaries = trajectory.notes.get("summaries")
    if isinstance(report, str) and report:
        text = report
    elif isinstance(summaries, list) and summaries and isinstance(summaries[-1], dict):
        text = str(summaries[-1].get("summary") or "")
    elif trajectory.model_calls:
        think, rest = split_think(trajectory.model_calls[-1].output)
        text = think or rest
    else:
        text = ""
    return clip(text.strip(), max_tokens)


class _BranchObserver(NullObserver):
    """Forwards a branch's events to the run's observer, named by branch."""

    def __init__(self, inner: Observer, name: str) -> None:
        self.inner = inner
        self.name = name

    def on_round(self, trajectory: Trajectory, round: int) -> None:
        self.inner.on_event(trajectory, f"{self.name}: round {round}")

    def on_model_call(self, trajectory: Trajectory, record: ModelCallRecord) -> None:
        self.inner.on_model_call(trajectory, record)

    def on_tool_call(self, trajectory: Trajectory, record: ToolCallRecord) -> None:
        self.inner.on_tool_call(trajectory, record)

    def on_event(self, trajectory: Trajectory, message: str) -> None:
        self.inner.on_event(trajectory, f"{self.name}: {message}")

    def on_finish(self, trajectory: Trajectory) -> None:
        self.inner.on_event(trajectory, f"{self.name} finished: {trajectory.termination} "
                                        f"after {trajectory.rounds} rounds")


class HeavyAgent:
    """N branches of iter (or react/resum) in parallel, fused by one synthesis call."""

    mode = "heavy"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.heavy = ctx.settings.heavy

    async def run(self) -> Trajectory:
        ctx = self.ctx
        children = self._children()
        ctx.trajectory.branches.extend(c.trajectory for c in children)
        finished = await self._run_branches(children)
        ctx.round = sum(c.round for c in children)
        cap = ctx.settings.iter.report_max_tokens
        outcomes = [BranchOutcome(c.branch or "", c.trajectory.answer,
                                  branch_report(c.trajectory, cap), c.trajectory.termination)
                    for c in finished]
        answer, termination = await self._fuse(outcomes)
        return ctx.finish(answer, termination)

    def _children(self) -> list[RunContext]:
        ctx = self.ctx
        n = max(self.heavy.branches, 1)
        base = ctx.sampling.seed
        if base is None:  # distinct, recorded seeds even when the user set none
            base = random.randrange(2**31 - n)
        ctx.trajectory.notes["seeds"] = [base + i for i in range(n)]
        children = []
        for i in range(n):
            name = f"b{i + 1}"
            child = Trajectory(question=ctx.trajectory.question, mode=self.heavy.branch_mode,
                               protocol=ctx.trajectory.protocol, model=ctx.trajectory.model)
            children.append(RunContext(
                child, ctx.settings, ctx.model, ctx.env,
                observer=_BranchObserver(ctx.observer, name), protocol=ctx.protocol,
                sampling=dataclasses.replace(ctx.sampling, seed=base + i), branch=name,
                timer=ctx.timer, meter=ctx.meter,
            ))
        return children

    async def _run_branches(self, children: list[RunContext]) -> list[RunContext]:
        """Run every branch; returns those that finished, in the order they finished."""
        factory = _BRANCH_AGENTS[self.heavy.branch_mode]
        tasks = {asyncio.create_task(factory(c).run(), name=f"sounding-{c.branch}"): c
                 for c in children}
        order = {task: i for i, task in enumerate(tasks)}
        pending = set(tasks)
        finished: list[RunContext] = []
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=order.__getitem__):
                    task.result()  # a bug of ours in a branch stops the run
                    finished.append(tasks[task])
                if pending and self._quorum(finished, len(children)):
                    self.ctx.observer.on_event(self.ctx.trajectory, "enough branches agree: "
                                               f"stopping {len(pending)} others")
                    break
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in pending:
            if task.cancelled():
                tasks[task].finish(None, "cancelled")
            else:
                task.result()  # finished before the cancel landed (or failed: re-raise)
                finished.append(tasks[task])
        self.ctx.trajectory.notes["early_stop"] = bool(pending)
        return finished

    def _quorum(self, finished: Sequence[RunContext], n: int) -> bool:
        share = self.heavy.early_stop_majority
        if share is None:
            return False
        need = max(2, math.ceil(share * n - 1e-9))
        counts = Counter(normalise_answer(c.trajectory.answer) for c in finished
                         if c.trajectory.answer and normalise_answer(c.trajectory.answer))
        return bool(counts) and counts.most_common(1)[0][1] >= need

    async def _fuse(self, outcomes: list[BranchOutcome]) -> tuple[str | None, Termination]:
        ctx = self.ctx
        notes = ctx.trajectory.notes
        notes["branches"] = [{"branch": o.name, "answer": o.answer, "termination": o.termination}
                             for o in outcomes]
        answer: str | None = None
        if self.heavy.synthesis:
            answer = await self._synthesize(outcomes)
        fused_by = "synthesis" if answer is not None else "vote"
        if answer is None:
            answer = majority_vote(outcomes)
            if answer is not None:
                best = max((o for o in outcomes if o.report and o.answer == answer),
                           key=lambda o: len(o.report), default=None)
                notes["report"] = best.report if best else ""
        notes["fused_by"] = fused_by
        answered = [o for o in outcomes if o.answer]
        agree = sum(1 for o in answered if answer is not None
                    and normalise_answer(o.answer or "") == normalise_answer(answer))
        notes["agreement"] = {"agree": agree, "answered": len(answered),
                              "branches": len(ctx.trajectory.branches)}
        ctx.observer.on_event(ctx.trajectory, f"fused by {fused_by}: {agree} of "
                              f"{len(answered)} answering branches agree")
        return answer, self._termination(answer, outcomes)

    async def _synthesize(self, outcomes: Sequence[BranchOutcome]) -> str | None:
        """The synthesis call; None (and the reason in notes) when it fails or is unreadable."""
        ctx = self.ctx
        role = load_template("sounding.agent", "synthesis_role.txt")
        system = Message("system", ctx.protocol.system_prompt(role, [], date.today()))
        blocks = "\n\n".join(
            f"## Researcher {o.name} (ended: {o.termination})\n"
            f"Answer: {o.answer or '(none given)'}\nReport:\n{o.report or '(no report)'}"
            for o in outcomes)
        user = render("sounding.agent", "synthesis.txt", question=ctx.trajectory.question,
                      count=len(outcomes), branches=blocks or "(no researcher finished)")
        try:
            completion = await ctx.call_final([system, Message("user", user)],
                                              purpose="synthesis", tools=[])
        except SoundingError as exc:
            ctx.trajectory.notes["synthesis_error"] = f"{type(exc).__name__}: {exc}"
            ctx.observer.on_event(ctx.trajectory, f"synthesis failed: {exc}")
            return None
        _think, rest = split_think(completion.text)
        report, remainder = extract_report(rest)
        answer = find_answer(remainder)
        if not answer:
            ctx.trajectory.notes["synthesis_error"] = "the synthesis gave no <answer>"
            ctx.observer.on_event(ctx.trajectory, "synthesis gave no answer")
            return None
        ctx.trajectory.notes["report"] = report or ""
        return answer

    def _termination(self, answer: str | None, outcomes: Sequence[BranchOutcome]) -> Termination:
        ctx = self.ctx
        ends = [o.termination for o in outcomes]
        if answer is not None:
            return "answer" if ends and all(e == "answer" for e in ends) else "forced_answer"
        budget: list[Termination] = [e for e in ends if e not in (None, "answer", "error")]
        if budget:
            return budget[0]
        errors = [b.error for b in ctx.trajectory.branches if b.error is not None]
        synthesis_error = ctx.trajectory.notes.get("synthesis_error")
        if errors:
            ctx.trajectory.error = errors[0]
        elif isinstance(synthesis_error, str):
            ctx.trajectory.error = RunError("SynthesisError", synthesis_error)
        return "error"
