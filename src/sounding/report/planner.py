"""The planner: research with the environment's tools, keep an evidence bank, and draft and
revise an outline (WebWeaver's first stage) until coverage is judged sufficient or the
budget ends."""

from __future__ import annotations

from dataclasses import replace
from itertools import islice

from .._templates import load_template, render
from ..agent.loop import RunContext
from ..env import Environment
from ..errors import ConfigError
from ..tools.base import Tool
from ..trace.trajectory import Termination
from ..types import Message
from ._text import json_object
from ._tools import EvidenceTool, OutlineTool, PlannerState, verify_cited
from .evidence import EvidenceBank
from .outline import Outline, Point, Section, parse_outline_json

__all__ = ["PlanResult", "planner_environment", "run_planner"]

_HARVEST = ("search", "google_scholar", "visit")
_REASONS = {
    "rounds": "You have used all the research rounds available.",
    "context": "The conversation has reached the maximum context length.",
    "time": "The time for research has run out.",
    "tokens": "The token budget has been spent.",
}


def planner_environment(env: Environment, state: PlannerState) -> Environment:
    """`env`'s tools, with search and visit feeding the bank, plus write_outline."""
    tools: dict[str, Tool] = {
        name: EvidenceTool(tool, state) if name in _HARVEST else tool
        for name, tool in env.tools.items()
    }
    tools["write_outline"] = OutlineTool(state)
    return Environment(name=f"{env.name}+report", tools=tools)


PlanResult = tuple[Outline, Termination]


async def run_planner(ctx: RunContext, state: PlannerState, max_sections: int) -> PlanResult:
    """Research until the model says coverage is sufficient (with an outline saved) or a
    budget ends; then the newest outline, or one asked for in a closing call."""
    messages = [ctx.system_message(load_template("sounding.report", "planner_role.txt")),
                Message("user", render("sounding.report", "planner_task.txt",
                                       topic=state.topic, max_sections=max_sections))]
    termination: Termination = "answer"
    while True:
        reason = ctx.exhausted()
        if reason is not None:
            termination = "max_rounds" if reason == "rounds" else "max_time" \
                if reason == "time" else "max_tokens"
            break
        ctx.begin_round()
        completion = await ctx.call_turn(messages)
        if completion is None:
            termination = "max_time"
            break
        turn = ctx.parse(completion)
        messages.append(ctx.protocol.assistant_message(completion, turn))
        if turn.answer is not None and not turn.tool_calls:
            if state.outline is not None and state.outline.sections:
                break
            feedback = [ctx.protocol.feedback_message(
                "Save an outline with write_outline before you finish.")]
        elif turn.problem is not None:
            feedback = [ctx.protocol.feedback_message(turn.problem)]
        else:
            observations = await ctx.run_tools(turn.tool_calls, turn.call_errors)
            feedback = ctx.protocol.result_messages(turn.tool_calls, observations)
        messages.extend(feedback)
        ctx.note_added(feedback)
    outline = state.outline
    if outline is None or not outline.sections:
        outline = await _closing_outline(ctx, state, messages, termination, max_sections)
    outline = _clean(outline, state.bank, max_sections)
    await verify_cited(state, outline.evidence())
    return outline, termination


async def _closing_outline(ctx: RunContext, state: PlannerState, messages: list[Message],
                           termination: Termination, max_sections: int) -> Outline:
    """One call with no tools for the outline; failing that, one built from the bank."""
    key = {"max_rounds": "rounds", "max_time": "time"}.get(termination, "tokens")
    listing = "\n".join(ev.line(160) for ev in islice(state.bank, 80))
    prompt = render("sounding.report", "planner_final.txt", reason=_REASONS[key],
                    max_sections=max_sections, evidence=listing or "(none)")
    messages.append(ctx.protocol.feedback_message(prompt))
    completion = await ctx.call_final(messages, purpose="outline", tools=[])
    turn = ctx.parse(completion)
    text = turn.answer if turn.answer is not None else turn.content
    data = json_object(text)
    if data is not None:
        try:
            return parse_outline_json(state.topic, data.get("sections"))
        except ConfigError:
            pass
    return fallback_outline(state.topic, state.bank, max_sections)


def fallback_outline(topic: str, bank: EvidenceBank, max_sections: int) -> Outline:
    """One section per source page, in the order found: a plan that needs no model."""
    by_url: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for ev in bank:
        by_url.setdefault(ev.url, []).append(ev.id)
        titles.setdefault(ev.url, ev.title or ev.url)
    sections = [Section(titles[url], (Point(titles[url], tuple(ids)),))
                for url, ids in islice(by_url.items(), max_sections)]
    if not sections:
        raise ConfigError("the planner found no evidence and wrote no outline")
    return Outline(topic, tuple(sections))


def _clean(outline: Outline, bank: EvidenceBank, max_sections: int) -> Outline:
    """Drop unknown evidence ids and sections beyond the limit."""
    sections = []
    for sec in outline.sections[:max_sections]:
        points = tuple(replace(p, evidence=tuple(i for i in p.evidence if i in bank))
                       for p in sec.points)
        sections.append(Section(sec.title, points))
    return Outline(outline.topic, tuple(sections))
