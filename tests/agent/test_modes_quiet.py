"""Modes that used to fail quietly: heavy's synthesis against the branches, resum's unusable
summaries, iter's report in the native protocol; the one registry; shared resources."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sounding.agent import MODES, arun, open_agent
from sounding.agent.modes import get_mode
from sounding.agent.resum import KEEP_OBSERVATIONS
from sounding.config import Settings
from sounding.errors import ConfigError
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ScriptedModel
from sounding.types import ToolCall

from ._mode_fakes import FixedSearch, answer, configure, fixed_env, search_call, text_of
from .test_heavy import QUESTION, by_seed

AGENT = Path(__file__).parents[2] / "src" / "sounding" / "agent"


async def test_synthesis_against_a_clear_majority_is_flagged(settings: Settings) -> None:
    model = by_seed({0: "Paris", 1: "Paris", 2: "Lyon"},
                    synthesis="<report>r</report><answer>Marseille</answer>")
    warnings: list[str] = []
    cfg = configure(settings, "heavy", **{"heavy.branches": 3, "sampling.seed": 0})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(),
                      on_event=lambda e: warnings.append(e.message)
                      if e.kind == "note" and e.level == "warning" else None)
    # Not unanimous: the synthesis answer stands, but the record says it contradicts 2 of 3.
    assert traj.answer == "Marseille" and traj.notes["fused_by"] == "synthesis"
    assert traj.notes["synthesis_contradicts"] == {
        "synthesis": "Marseille", "branches": "Paris", "votes": 2, "answering": 3,
        "kind": "majority"}
    assert len(warnings) == 1 and "contradicts the majority" in warnings[0]


async def test_unanimous_branches_keep_their_answer(settings: Settings) -> None:
    model = by_seed({0: "Paris", 1: "the Paris"},
                    synthesis="<report>r</report><answer>Lyon</answer>")
    cfg = configure(settings, "heavy", **{"heavy.branches": 2, "sampling.seed": 0})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    assert traj.answer == "Paris" and traj.notes["fused_by"] == "unanimous"
    assert traj.notes["synthesis_contradicts"]["kind"] == "unanimous"  # type: ignore[index]


async def test_agreeing_synthesis_is_not_flagged(settings: Settings) -> None:
    model = by_seed({0: "Paris", 1: "Paris"},
                    synthesis="<report>r</report><answer>paris.</answer>")
    cfg = configure(settings, "heavy", **{"heavy.branches": 2, "sampling.seed": 0})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    assert traj.answer == "paris." and "synthesis_contradicts" not in traj.notes


def summary_model(summaries: list[str | Completion]) -> ScriptedModel:
    """Searches; summary calls get `summaries` in order (the last repeats)."""
    def reply(request: ChatRequest) -> str | Completion:
        if request.purpose == "summary":
            done = sum(1 for r in model.requests if r.purpose == "summary") - 1
            return summaries[min(done, len(summaries) - 1)]
        turns = sum(1 for r in model.requests if r.purpose == "turn")
        return answer("Fowler") if turns > 8 else search_call("tags", f"q{turns}")
    model = ScriptedModel.repeat(reply)
    return model


# Room for upstream's five tool lines in the tags system prompt plus three kept exchanges.
RESUM = {"budgets.max_context_tokens": 6000, "resum.threshold": 0.5}


async def test_empty_summary_is_asked_again(settings: Settings) -> None:
    model = summary_model(["<summary>  </summary>", "<summary>Facts: 1890.</summary>"])
    traj = await arun(QUESTION, configure(settings, "resum", **RESUM), model=model,
                      environment=fixed_env(size=2000))
    purposes = [r.purpose for r in model.requests]
    first = purposes.index("summary")
    assert purposes[first:first + 3] == ["summary", "summary", "turn"]
    assert "Facts: 1890." in text_of(model.requests[first + 2])
    summaries = traj.notes["summaries"]
    assert isinstance(summaries, list) and summaries[0]["summary"] == "Facts: 1890."  # type: ignore[index]
    assert traj.answer == "Fowler"
    assert any("the summary was empty: refused, asking again" in w
               for w in traj.notes["warnings"])  # type: ignore[union-attr]


@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_summary_that_is_a_tool_call_falls_back_to_the_newest(
    settings: Settings, protocol: str
) -> None:
    call = ToolCall("search", {"query": ["more"]}, "call_9")
    bad: str | Completion = (Completion(text="", tool_calls=(call,)) if protocol == "native"
                             else '<tool_call>\n{"name": "search", "arguments": {}}\n</tool_call>')

    def reply(request: ChatRequest) -> str | Completion:
        if request.purpose == "summary":
            return bad
        turns = sum(1 for r in model.requests if r.purpose == "turn")
        return answer("Fowler") if turns > 8 else search_call(protocol, f"q{turns}")
    model = ScriptedModel.repeat(reply)
    cfg = configure(settings, "resum", protocol, **RESUM)
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=2000))
    purposes = [r.purpose for r in model.requests]
    first = purposes.index("summary")
    assert purposes[first:first + 3] == ["summary", "summary", "turn"]
    restart = model.requests[first + 2].messages
    assert restart[:2] == model.requests[0].messages[:2]  # system + question kept
    assert sum(1 for m in restart if m.role == "assistant") == KEEP_OBSERVATIONS
    kept = traj.notes["summaries"][0]  # type: ignore[index]
    assert kept["summary"] is None and kept["kept_exchanges"] == KEEP_OBSERVATIONS  # type: ignore[index]
    assert traj.answer == "Fowler" and traj.termination == "answer"


async def test_iter_native_report_beside_the_call_or_as_argument(settings: Settings) -> None:
    with_argument = Completion(text="<think>t</think>", tool_calls=(
        ToolCall("search", {"query": ["b"], "report": "from the argument"}, "c2"),))
    model = ScriptedModel([search_call("native", "a", report="beside the call"),
                           with_argument, answer("done", report="final")])
    env = fixed_env()
    traj = await arun(QUESTION, configure(settings, "iter", "native"), model=model,
                      environment=env)
    model.assert_all_used()
    assert "beside the call" in text_of(model.requests[1])
    assert "from the argument" in text_of(model.requests[2])
    search = env.tools["search"]
    assert isinstance(search, FixedSearch)
    assert [dict(c) for c in search.calls] == [{"query": ["a"]}, {"query": ["b"]}]
    assert traj.notes["format_errors"] == 0 and traj.answer == "done"


async def test_iter_missing_reports_are_named(settings: Settings) -> None:
    model = ScriptedModel([search_call("native", f"q{i}") for i in range(3)] + [answer("x")])
    warnings: list[str] = []
    traj = await arun(QUESTION, configure(settings, "iter", "native"), model=model,
                      environment=fixed_env(), on_event=lambda e: warnings.append(e.message)
                      if e.kind == "note" and e.level == "warning" else None)
    assert "reply number 3 in a row without a <report>" in text_of(model.requests[3])
    assert len(warnings) == 2 and traj.notes["format_errors"] == 4  # the answer had none too


def test_one_registry_without_a_late_import() -> None:
    assert set(MODES) >= {"react", "iter", "heavy", "resum"}
    with pytest.raises(ConfigError, match="choose one of react, iter, heavy, resum"):
        get_mode("nope")
    # modes.py is the registry; api.py reads it; nothing imports api back.
    for name in ("modes.py", "react.py", "iter.py", "heavy.py", "resum.py", "loop.py"):
        tree = ast.parse((AGENT / name).read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "api" not in imported, name
    api = (AGENT / "api.py").read_text(encoding="utf-8")
    assert "_load_modes" not in api


async def test_open_agent_closes_only_what_it_opened(settings: Settings) -> None:
    mine = ScriptedModel([])
    async with open_agent(settings, model=mine) as res:
        assert res.model is mine and res.summary_model is mine
        assert "search" in res.environment.tools
    assert mine.closed is False
    env = fixed_env()
    async with open_agent(settings, model=mine, environment=env) as res:
        assert res.environment is env
