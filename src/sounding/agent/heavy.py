"""Heavy mode (Research-Synthesis): N researchers run concurrently on one question under
shared budgets; a synthesis call fuses their reports and answers (a vote if it fails).

Branch events stream into the parent's stream, each carrying its branch id, between a
BranchStarted and a BranchFinished. When every answering branch agrees, the answer is
theirs whatever the synthesis says; a synthesis that contradicts a unanimous or clear
majority is flagged (`notes["synthesis_contradicts"]` and a warning Note).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from .._templates import load_template, render
from ..errors import SoundingError
from ..llm.protocols import split_think
from ..llm.protocols.base import find_answer
from ..trace.events import BranchFinished, BranchStarted, RunStarted
from ..trace.trajectory import RunError, Termination, Trajectory
from ..types import Message
from .iter import IterAgent, clip, extract_report
from .loop import RunContext
from .react import ReActAgent
from .resum import ResumAgent

__all__ = ["BranchOutcome", "HeavyAgent", "consensus", "majority_vote", "normalise_answer"]

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


def consensus(outcomes: Sequence[BranchOutcome]) -> tuple[str | None, int, int]:
    """(the most common answer, how many branches gave it, how many answered)."""
    answered = [o for o in outcomes if o.answer and normalise_answer(o.answer)]
    top = majority_vote(answered)
    if top is None:
        return None, 0, 0
    agree = sum(1 for o in answered if normalise_answer(o.answer or "") == normalise_answer(top))
    return top, agree, len(answered)


class HeavyAgent:
    """N branches of iter (or react/resum) in parallel, fused by one synthesis call."""

    mode = "heavy"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.heavy = ctx.settings.heavy

    async def run(self) -> Trajectory:
        ctx = self.ctx
        try:
            children = self._children()
            finished = await self._run_branches(children)
            ctx.round = sum(c.round for c in children)
            cap = ctx.settings.iter.report_max_tokens
            outcomes = [BranchOutcome(c.branch or "", c.trajectory.answer,
                                      branch_report(c.trajectory, cap), c.trajectory.termination)
                        for c in finished]
            answer, termination = await self._fuse(outcomes)
        except SoundingError as exc:
            return ctx.fail(exc)
        return ctx.finish(answer, termination)

    def _children(self) -> list[RunContext]:
        """One context per branch; each is announced (BranchStarted, RunStarted with its
        id) so that the recorder nests its trajectory in this run's `branches`."""
        ctx = self.ctx
        n = max(self.heavy.branches, 1)
        base = ctx.sampling.seed
        if base is None:  # distinct, recorded seeds even when the user set none
            base = random.randrange(2**31 - n)
        ctx.trajectory.notes["seeds"] = [base + i for i in range(n)]
        children = []
        for i in range(n):
            name = f"b{i + 1}"
            ctx.emit(BranchStarted(name, base + i))
            ctx.emit(RunStarted(
                trajectory_id=uuid.uuid4().hex, question=ctx.trajectory.question,
                mode=self.heavy.branch_mode, protocol=ctx.trajectory.protocol,
                model=ctx.trajectory.model, branch=name,
                started_at=datetime.now(UTC).isoformat()))
            children.append(RunContext(
                ctx.recorder.branch(name), ctx.settings, ctx.model, ctx.env,
                emit=ctx.consumer, recorder=ctx.recorder, protocol=ctx.protocol,
                sampling=dataclasses.replace(ctx.sampling, seed=base + i), branch=name,
                timer=ctx.timer, meter=ctx.meter, stream=ctx.stream, strict=ctx.strict,
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
                    finished.append(self._branch_done(tasks[task]))
                if pending and self._quorum(finished, len(children)):
                    self.ctx.note(f"enough branches agree: stopping {len(pending)} others")
                    break
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in sorted(pending, key=order.__getitem__):
            if task.cancelled():
                tasks[task].finish(None, "cancelled")
                self._branch_done(tasks[task])
            else:
                task.result()  # finished before the cancel landed (or failed: re-raise)
                finished.append(self._branch_done(tasks[task]))
        self.ctx.trajectory.notes["early_stop"] = bool(pending)
        return finished

    def _branch_done(self, child: RunContext) -> RunContext:
        traj = child.trajectory
        self.ctx.emit(BranchFinished(child.branch or "", traj.answer, traj.termination))
        return child

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
        top, votes, answering = consensus(outcomes)
        unanimous = answering >= 2 and votes == answering
        majority = votes >= 2 and votes * 2 > answering
        answer = await self._synthesize(outcomes) if self.heavy.synthesis else None
        fused_by = "synthesis" if answer is not None else "vote"
        if answer is not None and top is not None and majority \
                and normalise_answer(answer) != normalise_answer(top):
            self._flag(answer, top, votes, answering)
            if unanimous:  # every answering branch agrees: the answer is theirs
                answer, fused_by = top, "unanimous"
        if answer is None:
            answer = top
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
        ctx.note(f"fused by {fused_by}: {agree} of {len(answered)} answering branches agree")
        return answer, self._termination(answer, outcomes)

    def _flag(self, synthesis: str, top: str, votes: int, answering: int) -> None:
        """Record a synthesis that contradicts a unanimous or clear majority."""
        kind = "unanimous" if votes == answering else "majority"
        self.ctx.trajectory.notes["synthesis_contradicts"] = {
            "synthesis": synthesis, "branches": top, "votes": votes, "answering": answering,
            "kind": kind}
        self.ctx.note(f"the synthesis answer {synthesis!r} contradicts the {kind} of the "
                      f"branches ({votes} of {answering}: {top!r})", "warning")

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
            ctx.note(f"synthesis failed: {exc}", "warning")
            return None
        _think, rest = split_think(completion.text)
        report, remainder = extract_report(rest)
        answer = find_answer(remainder)
        if not answer:
            ctx.trajectory.notes["synthesis_error"] = "the synthesis gave no <answer>"
            ctx.note("synthesis gave no answer", "warning")
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
