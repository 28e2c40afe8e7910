"""Judges: reply parsing (JSON and text), structured-output fallback, deterministic scores."""

from __future__ import annotations

import json

import pytest

from sounding.errors import ConfigError, LLMResponseError
from sounding.eval.judges import (
    build_judge,
    check_judge_name,
    exact_match,
    grade_answer,
    token_f1,
)
from sounding.eval.judges.specs import (
    parse_equivalence,
    parse_hle,
    parse_simpleqa,
    parse_xbench,
)
from sounding.llm.testing import ScriptedModel


def test_hle_json_and_text() -> None:
    v = parse_hle(json.dumps({"extracted_final_answer": "42", "reasoning": "same",
                              "correct": "yes", "confidence": 85}))
    assert v.correct and v.extracted == "42" and v.confidence == 85.0
    text = ("<think>hmm</think>\n**extracted_final_answer:** None\n\nreasoning: the response "
            "gives no answer,\nso nothing matches.\n\ncorrect: no\n\nconfidence: 100%")
    v = parse_hle(text)
    assert not v.correct and v.extracted is None and "nothing matches" in v.reasoning
    assert v.grade == "incorrect" and v.confidence == 100.0
    with pytest.raises(LLMResponseError):
        parse_hle("I think it is right")


def test_xbench_text() -> None:
    v = parse_xbench("最终答案：北京\n解释：与标准答案一致。\n结论：正确")
    assert v.correct and v.extracted == "北京" and "一致" in v.reasoning
    assert not parse_xbench("最终答案: 上海\n解释: 不一致\n结论: 错误").correct
    reply = json.dumps({"最终答案": "无", "解释": "没有答案", "结论": "错误"})
    assert parse_xbench(reply).extracted is None
    with pytest.raises(LLMResponseError):
        parse_xbench("无法判断")


@pytest.mark.parametrize(("reply", "ok"), [
    ("Correct", True), ("Correct.", True), ("**Correct**", True), ("correct\n", True),
    ("Incorrect", False), ("Incorrect.", False), ('{"judgement": "Correct"}', True),
    ("<think>compare</think> Incorrect", False),
])
def test_equivalence_counts_correct_dot(reply: str, ok: bool) -> None:
    assert parse_equivalence(reply).correct is ok


@pytest.mark.parametrize(("reply", "grade"), [
    ('{"grade": "correct"}', "correct"), ("B", "incorrect"), ("C", "not_attempted"),
    ("NOT_ATTEMPTED", "not_attempted"), ('{"grade": "not attempted"}', "not_attempted"),
])
def test_simpleqa_three_way(reply: str, grade: str) -> None:
    v = parse_simpleqa(reply)
    assert v.grade == grade and v.correct is (grade == "correct")


async def test_llm_judge_asks_structured_output_and_renders_prompt() -> None:
    model = ScriptedModel([json.dumps({"extracted_final_answer": "Paris", "reasoning": "ok",
                                       "correct": "yes", "confidence": 90, "strict": True})],
                          name="judge-m")
    judge = build_judge("hle", model)
    v = await judge.grade("Capital of France?", "Paris", "It is Paris.")
    assert v.correct and v.raw and v.usage.total_tokens > 0 and v.confidence == 90.0
    req = model.requests[0]
    assert req.purpose == "judge"
    fmt = req.response_format
    assert fmt is not None and fmt["type"] == "json_schema"
    schema = fmt["json_schema"]["schema"]  # type: ignore[index]
    assert set(schema["required"]) == {"extracted_final_answer", "reasoning", "correct",  # type: ignore[index]
                                       "confidence", "strict"}
    prompt = req.messages[0].content
    assert "[question]: Capital of France?" in prompt
    assert "[response]: It is Paris." in prompt and "[correct_answer]: Paris" in prompt
    assert judge.model == "judge-m"
    model.assert_all_used()


async def test_sounding_wordings_stay_available_by_name() -> None:
    model = ScriptedModel(["Correct.", '{"grade": "not attempted"}'])
    eq = build_judge("sounding-equivalence", model)
    assert (await eq.grade("q", "a", "a")).correct  # tolerant: "Correct." counts
    assert "Labelled answer: a" in model.requests[0].messages[0].content
    sq = await build_judge("sounding-simpleqa", model).grade("q", "a", "b")
    assert sq.grade == "not_attempted"
    assert eq.prompt_sha256 != build_judge("equivalence", model).prompt_sha256  # type: ignore[attr-defined]


async def test_judge_failure_raises_and_missing_answer_is_not_attempted() -> None:
    judge = build_judge("hle", ScriptedModel(["no verdict here"]))
    with pytest.raises(LLMResponseError):
        await judge.grade("q", "a", "b")
    v = await grade_answer(judge, "q", "a", None)  # no model call for a missing answer
    assert v.grade == "not_attempted" and not v.correct
    with pytest.raises(ConfigError, match="judge-model"):
        build_judge("xbench")
    with pytest.raises(ConfigError, match="unknown judge"):
        build_judge("nope")
    with pytest.raises(ConfigError, match="unknown judge"):
        check_judge_name("hle-oficial")
    check_judge_name("auto")


def test_exact_match_and_f1() -> None:
    assert exact_match("The Eiffel Tower!", "eiffel tower")
    assert exact_match("$1,000", "1000") and not exact_match("1001", "1000")
    assert exact_match("a, b ,c", "A,B,C") and not exact_match("a, b", "a, b, c")
    # Commas in a gold answer separate list items unless they group thousands.
    assert not exact_match("12", "1,2") and exact_match("1, 2", "1,2")
    assert exact_match("1000", "1,000") and exact_match("$1,234.5", "1,234.5")
    assert exact_match("0.1", ".1") and exact_match("5.", "5")
    assert token_f1("Paris France", "Paris") == pytest.approx(2 / 3)
    assert token_f1("北京市", "北京") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


async def test_deterministic_judges() -> None:
    assert (await build_judge("exact").grade("q", "Paris", "paris.")).correct
    v = await build_judge("f1").grade("q", "Paris", "Paris France")
    assert v.correct and v.score == pytest.approx(2 / 3)
