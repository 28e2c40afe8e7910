"""The Python API (`sounding.ask`) and the trajectory record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sounding
from sounding.errors import ConfigError
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.trace import Trajectory, read_trajectories


def test_ask_over_http_with_offline_corpus(vital_cache: Path, isolated_env: Path) -> None:
    search = json.dumps({"name": "search", "arguments": {"query": ["Marie Curie"]}})
    with ScriptedServer([f"<tool_call>\n{search}\n</tool_call>",
                         "<answer>Marie Curie</answer>"]) as server:
        result = sounding.ask("Who won two Nobel prizes?", base_url=server.base_url,
                              model="tongyi", cache_dir=vital_cache)
        server.assert_all_used()
    assert (result.answer, result.termination) == ("Marie Curie", "answer")
    assert result.tool_calls == {"search": 1}
    observation = result.trajectory.tool_calls[0].observation
    assert "https://en.wikipedia.org/wiki/Marie_Curie" in observation
    assert result.trajectory.tool_calls[0].provider == "corpus"
    data = result.to_dict()
    assert set(data) == {"question", "answer", "termination", "mode", "rounds", "tool_calls",
                         "usage", "seconds", "sources", "trajectory"}
    assert "api_key" not in json.dumps(data["trajectory"]["settings"])


def test_ask_with_a_model_object(settings: sounding.Settings) -> None:
    model = ScriptedModel(["<answer>42</answer>"])
    result = sounding.ask("q", settings=settings, model=model, **{"budgets.max_rounds": 3})
    assert result.answer == "42"
    assert result.trajectory.settings["budgets"]["max_rounds"] == 3  # type: ignore[index]
    assert model.closed is False  # a caller's model is the caller's to close


def test_empty_question_is_refused(settings: sounding.Settings) -> None:
    with pytest.raises(ConfigError, match="empty"):
        sounding.ask("  ", settings=settings, model=ScriptedModel([]))


def test_trajectory_jsonl_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    first = Trajectory(question="a", answer="x", termination="answer")
    first.append_to(path)
    Trajectory(question="b").append_to(path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"question": "c", "mess')  # a crash mid-write
    got = read_trajectories(path)
    assert [t.question for t in got] == ["a", "b"]
    assert got[0].termination == "answer" and got[0].version == 1


def test_newer_trajectory_version_is_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        Trajectory.from_dict({"question": "q", "version": 99})


def test_trajectory_round_trip_keeps_every_field() -> None:
    from sounding.trace import ModelCallRecord, RunError, ToolCallRecord, Trajectory
    from sounding.types import Message, ToolCall, Usage

    call = ToolCall("PythonInterpreter", {"x": [1, None]}, "c1", code="print(1)")
    branch = Trajectory(question="q", mode="iter", termination="cancelled", rounds=2)
    traj = Trajectory(
        question="q", mode="heavy", protocol="native", model="m", settings={"a": 1},
        messages=[Message("assistant", "", tool_calls=(call,)),
                  Message("tool", "out", tool_call_id="c1")],
        model_calls=[ModelCallRecord(
            round=1, purpose="turn", prompt=[0, 1], output="o", usage=Usage(3, 4, True),
            latency_s=0.5, finish_reason="stop", retries=2, tool_calls=(call,), branch="b1",
            token_ids=(1, 2), logprobs=(-0.1, -0.2), error="E: x")],
        tool_calls=[ToolCallRecord(round=1, call=call, observation="obs", latency_s=0.25,
                                   provider="p", cache_hit=True, retries=1, error="E: y",
                                   sources=("https://a",), branch="b1", meta={"k": "v"})],
        answer="A", termination="forced_answer", error=RunError("T", "m", "tb"), rounds=3,
        seconds=1.5, branches=[branch], notes={"report": "R"},
    )
    again = Trajectory.from_json(traj.to_json())
    assert again == traj
    assert again.to_dict() == traj.to_dict()


def test_multi_observer_fans_out_every_event(settings: sounding.Settings) -> None:
    from sounding.trace.observers import MultiObserver, NullObserver

    class Log(NullObserver):
        def __init__(self) -> None:
            self.events: list[str] = []

        def on_round(self, trajectory: Trajectory, round: int) -> None:
            self.events.append(f"round {round}")

        def on_model_call(self, trajectory, record) -> None:  # type: ignore[no-untyped-def]
            self.events.append(record.purpose)

        def on_finish(self, trajectory: Trajectory) -> None:
            self.events.append(str(trajectory.termination))

    first, second = Log(), Log()
    sounding.ask("q", settings=settings, model=ScriptedModel(["<answer>a</answer>"]),
                 observer=MultiObserver(first, second))
    assert first.events == second.events == ["round 1", "turn", "answer"]
