"""Run events: every mode streams typed events in order, and the record rebuilt from them
equals the run's own trajectory."""

from __future__ import annotations

import json

import pytest

import sounding
from sounding.agent import arun, run_events
from sounding.config import Settings
from sounding.env import Environment
from sounding.llm.base import ChatModel, ChatRequest, Completion
from sounding.llm.testing import ScriptedModel
from sounding.trace.events import (
    BranchFinished,
    BranchStarted,
    ModelCallFinished,
    ModelDelta,
    Note,
    ReportUpdated,
    RoundStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
    event_to_dict,
)
from sounding.trace.observers import NullObserver
from sounding.trace.recorder import Recorder
from sounding.trace.trajectory import Trajectory

from ._mode_fakes import answer, configure, fixed_env, search_call

QUESTION = "Which engineer built the tower?"


async def collect(question: str, settings: Settings, model: ChatModel,
                  environment: Environment, **kwargs: object) -> list[RunEvent]:
    return [e async for e in run_events(question, settings, model=model,
                                        environment=environment, **kwargs)]  # type: ignore[arg-type]


def rebuilt(events: list[RunEvent]) -> Trajectory:
    recorder = Recorder()
    for event in events:
        recorder(event)
    return recorder.trajectory


def two_rounds(protocol: str) -> ScriptedModel:
    """Search, then answer (with reports for iter); heavy's synthesis agrees."""
    def reply(request: ChatRequest) -> str | Completion:
        if request.purpose == "synthesis":
            return "<report>merged</report>\n<answer>Eiffel</answer>"
        if request.purpose == "summary":
            return "<summary>the tower is Eiffel's</summary>"
        last = request.messages[-1]
        restarted = "<summary>" in last.content  # resum's restart: the summary settles it
        if last.role == "tool" or last.content.startswith("<tool_response>") or restarted:
            return answer("Eiffel", report="Eiffel built it https://example.org/1")
        return search_call(protocol, "tower engineer", report="searching")
    return ScriptedModel.repeat(reply)


@pytest.mark.parametrize("mode", ["react", "iter", "heavy", "resum"])
@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_events_rebuild_the_trajectory(settings: Settings, mode: str,
                                             protocol: str) -> None:
    cfg = configure(settings, mode, protocol, **{"heavy.branches": 2, "sampling.seed": 3,
                                                 "resum.threshold": 0.01})
    events = await collect(QUESTION, cfg, two_rounds(protocol), fixed_env())
    first, last = events[0], events[-1]
    assert isinstance(first, RunStarted) and first.branch is None and first.mode == mode
    assert isinstance(last, RunFinished) and last.branch is None
    live = last.trajectory
    assert live.answer == "Eiffel" and live.error is None
    again = rebuilt(events)
    assert again is not live
    assert again.to_dict() == live.to_dict()
    # The final assistant turn is in the message pool.
    assert "<answer>Eiffel</answer>" in live.messages[-1].content
    assert live.messages[-1].role == "assistant"
    # Every event has a JSON form.
    json.dumps([event_to_dict(e) for e in events])


async def test_react_events_in_order(settings: Settings) -> None:
    events = await collect(QUESTION, configure(settings, "react"), two_rounds("tags"),
                           fixed_env())
    kinds = [e.kind for e in events]
    assert kinds == [
        "run_started",
        "round_started", "model_call_started", "model_call_finished",
        "tool_call_started", "tool_call_finished",
        "round_started", "model_call_started", "model_call_finished",
        "run_finished",
    ]
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert (started.round, started.index, started.name) == (1, 0, "search")
    assert started.arguments == {"query": ["tower engineer"]}
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.record.observation.startswith("Results for")
    calls = [e for e in events if isinstance(e, ModelCallFinished)]
    assert [len(c.messages) for c in calls] == [2, 2]  # system + question; reply + result


async def test_heavy_branches_stream_into_the_parent(settings: Settings) -> None:
    cfg = configure(settings, "heavy", **{"heavy.branches": 3, "sampling.seed": 10})
    events = await collect(QUESTION, cfg, two_rounds("tags"), fixed_env())
    for name in ("b1", "b2", "b3"):
        mine = [i for i, e in enumerate(events) if getattr(e, "branch", None) == name
                and not isinstance(e, BranchStarted | BranchFinished)]
        opened = next(i for i, e in enumerate(events)
                      if isinstance(e, BranchStarted) and e.branch == name)
        closed = next(i for i, e in enumerate(events)
                      if isinstance(e, BranchFinished) and e.branch == name)
        # BranchStarted ... every event of the branch ... BranchFinished
        assert opened < min(mine) and max(mine) < closed
        kinds = {events[i].kind for i in mine}
        assert {"run_started", "round_started", "model_call_finished", "tool_call_finished",
                "report_updated", "run_finished"} <= kinds
        done = events[closed]
        assert isinstance(done, BranchFinished)
        assert (done.answer, done.termination) == ("Eiffel", "answer")
    seeds = [e.seed for e in events if isinstance(e, BranchStarted)]
    assert seeds == [10, 11, 12]
    synthesis = [e for e in events if isinstance(e, ModelCallFinished) and e.branch is None]
    assert [e.record.purpose for e in synthesis] == ["synthesis"]
    reports = [e for e in events if isinstance(e, ReportUpdated)]
    assert reports and all(r.branch in ("b1", "b2", "b3") for r in reports)
    notes = [e.message for e in events if isinstance(e, Note) and e.branch is None]
    assert any("fused by synthesis: 3 of 3" in m for m in notes)


async def test_arun_on_event_and_old_observer(settings: Settings) -> None:
    seen: list[str] = []

    class Log(NullObserver):
        def __init__(self) -> None:
            self.calls: list[str] = []

        def on_round(self, trajectory: Trajectory, round: int) -> None:
            self.calls.append(f"round {round}")

        def on_tool_call(self, trajectory, record) -> None:  # type: ignore[no-untyped-def]
            self.calls.append(record.call.name)

        def on_finish(self, trajectory: Trajectory) -> None:
            self.calls.append(f"{trajectory.termination} {trajectory.answer}")

    log = Log()
    traj = await arun(QUESTION, configure(settings, "react"), model=two_rounds("tags"),
                      environment=fixed_env(), on_event=lambda e: seen.append(e.kind),
                      observer=log)
    assert seen[0] == "run_started" and seen[-1] == "run_finished"
    assert log.calls == ["round 1", "search", "round 2", "answer Eiffel"]
    assert traj.answer == "Eiffel"


def test_run_events_is_exported() -> None:
    assert sounding.run_events is run_events


async def test_stream_yields_deltas(settings: Settings) -> None:
    cfg = configure(settings, "react")
    events = await collect(QUESTION, cfg, two_rounds("tags"), fixed_env(), stream=True)
    deltas = [e for e in events if isinstance(e, ModelDelta)]
    assert deltas and {d.round for d in deltas} == {1, 2}
    calls = [e.record for e in events if isinstance(e, ModelCallFinished)]
    for call in calls:
        streamed = "".join(d.text for d in deltas if d.round == call.round)
        assert call.output[:12] in streamed
    # Deltas of a call come between its start and its finish.
    first_finish = next(i for i, e in enumerate(events) if isinstance(e, ModelCallFinished))
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, ModelDelta))
    assert first_delta < first_finish
    without = await collect(QUESTION, cfg, two_rounds("tags"), fixed_env())
    assert not [e for e in without if isinstance(e, ModelDelta)]


async def test_round_events_count_rounds(settings: Settings) -> None:
    events = await collect(QUESTION, configure(settings, "react", "native"), two_rounds("native"),
                           fixed_env())
    assert [e.round for e in events if isinstance(e, RoundStarted)] == [1, 2]

