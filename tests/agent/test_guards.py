"""Malformed and stuck turns: retried once, then corrected through the protocol; repeats
and streaks are named to the model and as warnings; a replay miss stops the run."""

from __future__ import annotations

import pytest

from sounding.agent import arun, run_events
from sounding.config import Settings
from sounding.env import Environment
from sounding.errors import ReplayMissError
from sounding.llm.protocols import get_protocol
from sounding.llm.testing import ScriptedModel
from sounding.trace.events import Note

from ._mode_fakes import answer, configure, fixed_env, search_call
from .fakes import FakeTool

QUESTION = "Where is it?"


@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_third_identical_call_is_named(settings: Settings, protocol: str) -> None:
    same = search_call(protocol, "the same query")
    model = ScriptedModel([same, same, same, answer("here")])
    notes: list[Note] = []
    cfg = configure(settings, "react", protocol)
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(),
                      on_event=lambda e: notes.append(e) if isinstance(e, Note) else None)
    model.assert_all_used()
    results = [r.messages[-1].content for r in model.requests[1:]]
    assert "in a row" not in results[0] and "in a row" not in results[1]
    assert "call number 3 in a row" in results[2] and "the same query" in results[2]
    warnings = [n for n in notes if n.level == "warning"]
    assert len(warnings) == 1 and warnings[0].round == 3 and warnings[0].data == {"repeats": 3}
    assert traj.answer == "here"
    assert traj.notes["warnings"] == [warnings[0].message]


async def test_three_malformed_turns_in_a_row_are_named(settings: Settings) -> None:
    # Each malformed turn is asked again once first: six empty replies, three turns.
    model = ScriptedModel(["", "  ", "hmm", "", "well", "", answer("here")])
    events = [e async for e in run_events(QUESTION, configure(settings, "react"), model=model,
                                          environment=fixed_env())]
    model.assert_all_used()
    feedback = [r.messages[-1].content for r in model.requests[2::2]]
    assert len(feedback) == 3
    assert "in a row" not in feedback[0] and "in a row" not in feedback[1]
    assert "reply number 3 in a row" in feedback[2]
    warnings = [e for e in events if isinstance(e, Note) and e.level == "warning"]
    assert [w.data for w in warnings] == [{"streak": 3}]


def _wrapped_feedback() -> bool:
    return get_protocol("tags").feedback_message("x").content.startswith("<tool_response>")


@pytest.mark.skipif(not _wrapped_feedback(),
                    reason="needs the llm branch's feedback_message (a <tool_response> wrapper)")
async def test_no_plain_user_message_mid_run(settings: Settings) -> None:
    model = ScriptedModel(["no action", "still none", search_call("tags", "q"),
                           "<tool_call>{broken</tool_call>", answer("here")])
    await arun(QUESTION, configure(settings, "react"), model=model, environment=fixed_env())
    for request in model.requests:
        users = [m for m in request.messages if m.role == "user"]
        assert users[0].content == QUESTION
        assert all(m.content.startswith("<tool_response>") for m in users[1:])


async def test_replay_miss_stops_the_run(settings: Settings,
                                         tools: dict[str, FakeTool]) -> None:
    miss = FakeTool(tools["search"].schema, error=ReplayMissError(
        "no recorded exchange for search 'q'", provider="serper"))
    env = Environment("fake", {"search": miss})
    model = ScriptedModel.repeat(search_call("tags", "q"))
    traj = await arun(QUESTION, configure(settings, "react"), model=model, environment=env)
    assert traj.termination == "error" and traj.rounds == 1
    assert traj.error is not None and traj.error.type == "ReplayMissError"
    assert "replay recording has no exchange for the search call" in traj.error.message
    assert len(model.requests) == 1
