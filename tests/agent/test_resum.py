"""ReSum: condense at the threshold, restart from system + (question, summary), keep it all."""

from __future__ import annotations

import pytest

from sounding.agent import arun
from sounding.agent.resum import extract_summary
from sounding.config import Settings
from sounding.errors import LLMError
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ScriptedModel

from ._mode_fakes import answer, configure, fixed_env, search_call, text_of

QUESTION = "Who designed the bridge?"
SUMMARY = "Verified: the bridge opened in 1890 (https://example.org/1). Gap: the designer."


def condensing_model(protocol: str, *, summary: object = None,
                     answer_after: int = 6) -> ScriptedModel:
    """Searches until `answer_after` turns, answers summary calls with SUMMARY."""
    def reply(request: ChatRequest) -> str | Completion:
        if request.purpose == "summary":
            if isinstance(summary, Exception):
                raise summary
            return f"<think>condense</think>\n<summary>{SUMMARY}</summary>"
        if request.purpose == "forced_answer":
            return answer("forced")
        turns = sum(1 for r in model.requests if r.purpose == "turn")
        if turns > answer_after:
            return answer("John Fowler")
        return search_call(protocol, f"q{turns}", think=f"old-thought-{turns}")

    model = ScriptedModel.repeat(reply)
    return model


@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_restart_holds_system_question_and_summary_only(
    settings: Settings, protocol: str
) -> None:
    # Each search result is ~500 tokens; at 50% of 4,000 tokens the context condenses.
    cfg = configure(settings, "resum", protocol, **{"budgets.max_context_tokens": 4000,
                                                    "resum.threshold": 0.5})
    model = condensing_model(protocol)
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=2000))
    purposes = [r.purpose for r in model.requests]
    first_summary = purposes.index("summary")
    assert first_summary >= 2
    summary_request = model.requests[first_summary]
    assert "old-thought-1" in text_of(summary_request)  # the summary saw the conversation
    assert "Open gaps" in summary_request.messages[-1].content
    restart = model.requests[first_summary + 1]
    assert restart.purpose == "turn"
    assert [m.role for m in restart.messages] == ["system", "user"]
    assert restart.messages[0] == model.requests[0].messages[0]
    user = restart.messages[1].content
    assert user.startswith(QUESTION) and SUMMARY in user
    assert "old-thought" not in user and "Results for" not in user
    # The trajectory keeps everything: the summary call's full prompt and the summaries.
    record = traj.model_calls[first_summary]
    assert record.purpose == "summary"
    assert traj.prompt_of(record) == list(summary_request.messages)
    summaries = traj.notes["summaries"]
    assert isinstance(summaries, list) and len(summaries) == purposes.count("summary") >= 1
    assert summaries[0]["summary"] == SUMMARY
    assert traj.answer == "John Fowler" and traj.termination == "answer"
    # Every request stayed below the context budget.
    assert all(r.usage.prompt_tokens < 4000 for r in traj.model_calls)


async def test_round_budget_still_forces_answer(settings: Settings) -> None:
    cfg = configure(settings, "resum", **{"budgets.max_rounds": 3,
                                          "budgets.max_context_tokens": 4000,
                                          "resum.threshold": 0.5})
    model = condensing_model("tags", answer_after=100)
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=2000))
    assert model.requests[-1].purpose == "forced_answer"
    assert traj.termination == "forced_answer" and traj.answer == "forced"
    assert traj.rounds == 3


async def test_failed_summary_forces_answer(settings: Settings) -> None:
    cfg = configure(settings, "resum", **{"budgets.max_context_tokens": 4000,
                                          "resum.threshold": 0.5})
    model = condensing_model("tags", summary=LLMError("endpoint down"))
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=2000))
    purposes = [r.purpose for r in model.requests]
    assert purposes[-2:] == ["summary", "forced_answer"]
    assert traj.termination == "forced_answer" and traj.answer == "forced"
    assert traj.notes["summaries"] == []


async def test_below_threshold_behaves_like_react(settings: Settings) -> None:
    model = ScriptedModel([search_call("tags", "q"), answer("A")])
    traj = await arun(QUESTION, configure(settings, "resum"), model=model,
                      environment=fixed_env(size=200))
    model.assert_all_used()
    assert [m.role for m in model.requests[1].messages] == ["system", "user", "assistant", "user"]
    assert traj.answer == "A" and traj.notes["summaries"] == []


def test_extract_summary() -> None:
    assert extract_summary("<think>x</think><summary> S </summary>") == "S"
    assert extract_summary("<think>x</think>plain text") == "plain text"


async def test_spent_round_budget_forces_answer_without_condensing(settings: Settings) -> None:
    # After round 1 the context is over the threshold and the rounds are spent: a summary
    # would cost a call and drop detail, so the answer is forced from the full conversation.
    cfg = configure(settings, "resum", **{"budgets.max_rounds": 1,
                                          "budgets.max_context_tokens": 4000,
                                          "resum.threshold": 0.5})
    model = condensing_model("tags", answer_after=100)
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=9000))
    assert [r.purpose for r in model.requests] == ["turn", "forced_answer"]
    assert "Results for" in text_of(model.requests[-1])  # the newest evidence is kept
    assert (traj.termination, traj.answer) == ("forced_answer", "forced")
    assert traj.notes["summaries"] == []
