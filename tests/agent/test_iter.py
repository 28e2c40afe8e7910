"""IterResearch: a bounded workspace rebuilt each round, report carried, forced answer."""

from __future__ import annotations

import pytest

from sounding._templates import load_template
from sounding.agent import arun
from sounding.agent.iter import action_message, clip, extract_report
from sounding.config import Settings
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.protocols import get_protocol
from sounding.llm.testing import ScriptedModel
from sounding.types import ToolCall, estimate_tokens

from ._mode_fakes import answer, configure, fixed_env, search_call, text_of

PROTOCOLS = ["tags", "native"]
QUESTION = "Which engineer's company built the tower?"


def growing_turn(protocol: str) -> ScriptedModel:
    """A model whose report grows by 2,000 characters every round and that never answers."""
    def reply(request: ChatRequest) -> str | Completion:
        n = len(model.requests)  # this request is call number n
        if request.purpose == "forced_answer":
            return answer("Gustave Eiffel")
        report = f"finding {n} https://example.org/x " + "z" * 2000 * n
        return search_call(protocol, f"q{n}", report=report, think=f"secret-thought-{n}")

    model = ScriptedModel.repeat(reply)
    return model


def prompt_tokens(request: ChatRequest) -> int:
    return int(sum(estimate_tokens(m.content) + 4 for m in request.messages) + sum(
        estimate_tokens(str(c.arguments)) for m in request.messages for c in m.tool_calls))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_round_30_request_is_bounded(settings: Settings, protocol: str) -> None:
    cfg = configure(settings, "iter", protocol, **{"budgets.max_rounds": 30,
                                           "iter.report_max_tokens": 600,
                                           "iter.observation_max_tokens": 800})
    model = growing_turn(protocol)
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=40_000))
    turns = [r for r in model.requests if r.purpose == "turn"]
    assert len(turns) == 30
    system = turns[0].messages[0]
    bound = estimate_tokens(system.content) + estimate_tokens(QUESTION) + 600 + 800 + 400
    round30 = turns[29]
    assert prompt_tokens(round30) <= bound
    assert prompt_tokens(round30) <= prompt_tokens(turns[4]) + 50  # flat, not growing
    # Round 30 holds the report of round 29 and round 29's action only: no old thoughts,
    # no older actions.
    body = text_of(round30)
    assert "finding 29 " in body and "finding 28 " not in body
    assert "'q29'" in body and "'q28'" not in body
    assert "secret-thought" not in body
    assert "[... truncated" in body
    assert traj.termination == "forced_answer" and traj.answer == "Gustave Eiffel"
    assert len(traj.model_calls) == 31
    reports = traj.notes["reports"]
    assert isinstance(reports, list) and len(reports) == 30
    assert all(estimate_tokens(str(r)) <= 600 for r in reports)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_workspace_shape_and_answer(settings: Settings, protocol: str) -> None:
    model = ScriptedModel([
        search_call(protocol, "tower engineer", report="nothing yet; try a search"),
        answer("Gustave Eiffel", report="Eiffel's company built it https://example.org/1"),
    ])
    traj = await arun(QUESTION, configure(settings, "iter", protocol), model=model,
                      environment=fixed_env())
    model.assert_all_used()
    first, second = model.requests
    assert [m.role for m in first.messages] == ["system", "user"]
    assert "<report>" in first.messages[0].content  # the workspace format is explained
    roles = [m.role for m in second.messages]
    if protocol == "native":
        assert roles == ["system", "user", "assistant", "tool"]
        assert second.messages[2].tool_calls[0].arguments == {"query": ["tower engineer"]}
    else:
        assert roles == ["system", "user", "assistant", "user"]
        assert second.messages[2].content.startswith("<tool_call>")
        assert second.messages[3].content.startswith("<tool_response>")
    assert "nothing yet; try a search" in second.messages[1].content
    assert QUESTION in second.messages[1].content
    assert traj.answer == "Gustave Eiffel" and traj.termination == "answer"
    assert traj.notes["report"] == "Eiffel's company built it https://example.org/1"
    assert traj.prompt_of(traj.model_calls[1]) == list(second.messages)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_missing_report_keeps_previous_and_gives_feedback(
    settings: Settings, protocol: str
) -> None:
    model = ScriptedModel([
        search_call(protocol, "a", report="first report"),
        search_call(protocol, "b"),  # forgot the report
        answer("X", report="final report"),
    ])
    traj = await arun(QUESTION, configure(settings, "iter", protocol), model=model,
                      environment=fixed_env())
    feedback = load_template("sounding.agent", "iter_missing_report.txt").strip()
    third = model.requests[2]
    assert "first report" in third.messages[1].content
    expected = get_protocol(protocol).feedback_message(feedback)  # tags wraps it
    assert third.messages[-1] == expected and expected.role == "user"
    assert feedback not in text_of(model.requests[1])
    assert traj.notes["reports"] == ["first report", "first report", "final report"]
    assert traj.notes["format_errors"] == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_round_budget_forces_answer_with_report(settings: Settings, protocol: str) -> None:
    model = ScriptedModel([search_call(protocol, f"q{i}", report=f"report {i}")
                           for i in range(3)] + [answer("forced guess")])
    cfg = configure(settings, "iter", protocol, **{"budgets.max_rounds": 3})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    model.assert_all_used()
    forced = model.requests[-1]
    assert forced.purpose == "forced_answer"
    assert "report 2" in forced.messages[1].content
    assert "Do not call any more tools" in forced.messages[-1].content
    if protocol == "native":
        assert forced.tool_choice == "none"
    assert traj.termination == "forced_answer" and traj.answer == "forced guess"
    assert traj.rounds == 3 and len(traj.tool_calls) == 3


async def test_token_ceiling_forces_answer(settings: Settings) -> None:
    from sounding.types import Usage

    turn = search_call("tags", "q", report="r")
    assert isinstance(turn, str)
    model = ScriptedModel([Completion(turn, usage=Usage(900, 100))] * 2 + [answer("A")])
    cfg = configure(settings, "iter", **{"budgets.max_total_tokens": 2000})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    model.assert_all_used()
    assert traj.termination == "forced_answer" and traj.rounds == 2


def test_clip_and_extract() -> None:
    text = "word " * 2000
    cut = clip(text, 100)
    assert estimate_tokens(cut) <= 100 and cut.endswith("tokens kept]")
    assert clip("short", 100) == "short"
    report, rest = extract_report("<report>R</report>\n<tool_call>{}</tool_call>")
    assert (report, rest) == ("R", "<tool_call>{}</tool_call>")
    report, rest = extract_report("<report>cut short<tool_call>{}</tool_call>")
    assert (report, rest) == ("cut short", "<tool_call>{}</tool_call>")
    assert extract_report("no report") == (None, "no report")


def test_action_message_formats() -> None:
    call = ToolCall("PythonInterpreter", {}, "call_0", code="print(1)")
    tags = action_message("tags", [call])
    assert tags.content == ('<tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n'
                            "<code>\nprint(1)\n</code>\n</tool_call>")
    native = action_message("native", [call])
    assert native.tool_calls == (call,) and native.content == ""


def rendered_prompts() -> str:
    """Our mode prompts rendered with fixed values (iter, resum and synthesis)."""
    from datetime import date

    from sounding._templates import render
    from sounding.llm.protocols import TagsProtocol

    role = (load_template("sounding.agent", "iter_role.txt").rstrip() + "\n\n"
            + load_template("sounding.agent", "iter_format.txt").rstrip())
    parts = [
        TagsProtocol().system_prompt(role, [], date(2026, 1, 2)),
        render("sounding.agent", "iter_workspace.txt", question="Q?", round=3,
               report="R [1]", status="Your last action and its result follow."),
        render("sounding.agent", "resum_summary.txt", question="Q?"),
        render("sounding.agent", "resum_restart.txt", question="Q?", summary="S"),
        load_template("sounding.agent", "synthesis_role.txt"),
        render("sounding.agent", "synthesis.txt", question="Q?", count=2, branches="B"),
    ]
    return "\n-----\n".join(p.rstrip() for p in parts) + "\n"


def test_mode_prompts_snapshot() -> None:
    from pathlib import Path

    snapshot = Path(__file__).parent / "snapshots" / "mode_prompts.txt"
    assert rendered_prompts() == snapshot.read_text(encoding="utf-8")
    from sounding._templates import render

    with pytest.raises(KeyError, match="summary"):
        render("sounding.agent", "resum_restart.txt", question="Q?")
