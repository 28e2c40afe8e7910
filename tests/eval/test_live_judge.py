"""Live: one HLE-grader judgement each way against a real endpoint (`pytest -m live`).

Set SOUNDING_JUDGE_BASE_URL and SOUNDING_JUDGE_MODEL (and SOUNDING_JUDGE_API_KEY if the
endpoint needs one); without them the test is skipped.
"""

from __future__ import annotations

import os

import pytest

from sounding.eval.judges import JudgeClient, build_judge
from sounding.llm.openai_client import set_real_requests_allowed

QUESTION = "What is the capital of Australia?"


@pytest.mark.live
async def test_hle_grader_on_a_real_endpoint() -> None:
    base_url = os.environ.get("SOUNDING_JUDGE_BASE_URL")
    model = os.environ.get("SOUNDING_JUDGE_MODEL")
    if not base_url or not model:
        pytest.skip("set SOUNDING_JUDGE_BASE_URL and SOUNDING_JUDGE_MODEL to run")
    allowed = set_real_requests_allowed(True)  # the autouse fixture forbids real endpoints
    client = JudgeClient(base_url, model, os.environ.get("SOUNDING_JUDGE_API_KEY"))
    try:
        judge = build_judge("hle", client)
        right = await judge.grade(QUESTION, "Canberra", "Explanation: it was purpose-built "
                                  "as the capital.\nExact Answer: Canberra\nConfidence: 95%")
        wrong = await judge.grade(QUESTION, "Canberra", "Explanation: it is the largest "
                                  "city.\nExact Answer: Sydney\nConfidence: 60%")
    finally:
        await client.aclose()
        set_real_requests_allowed(allowed)
    assert right.correct and right.grade == "correct"
    assert right.extracted is not None and "canberra" in right.extracted.lower()
    assert not wrong.correct and wrong.grade == "incorrect"
    assert right.usage.total_tokens > 0 and right.reasoning
