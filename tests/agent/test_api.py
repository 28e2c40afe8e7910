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
