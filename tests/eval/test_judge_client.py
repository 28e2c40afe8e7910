"""The judge client against scripted servers that refuse like o-series and Gemini endpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from sounding.errors import LLMResponseError
from sounding.eval.judges import JudgeClient, JudgeParams, build_judge
from sounding.llm.testing import ScriptedServer

HLE_REPLY = json.dumps({"extracted_final_answer": "Paris", "reasoning": "same",
                        "correct": "yes", "confidence": 100, "strict": True})
FAST = JudgeParams(backoff_base=0.01)


@asynccontextmanager
async def opened(server: ScriptedServer, model: str, key: str | None,
                 params: JudgeParams = FAST) -> AsyncIterator[JudgeClient]:
    """A judge client on `server`, closed on the way out."""
    client = JudgeClient(server.base_url, model, key, params)
    try:
        yield client
    finally:
        await client.aclose()


def refusing(rules: dict[str, str], content: str = HLE_REPLY,
             status: int = 400) -> Callable[[dict[str, object]], object]:
    """A server that refuses a request holding any key of `rules` with that message."""
    def reply(body: dict[str, object]) -> object:
        for key, message in rules.items():
            if key in body:
                return (status, {"error": {"message": message, "type": "invalid_request_error",
                                           "param": None, "code": None}})
        return content
    return reply


O_SERIES = {
    "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                  "Use 'max_completion_tokens' instead.",
    "temperature": "Unsupported parameter: 'temperature' is not supported with this model.",
    "top_p": "Unsupported parameter: 'top_p' is not supported with this model.",
    "presence_penalty": "Unsupported parameter: 'presence_penalty' is not supported with "
                        "this model.",
}


async def test_o3_mini_gets_no_sampling_and_max_completion_tokens() -> None:
    with ScriptedServer.repeat(refusing(O_SERIES)) as server:
        async with opened(server, "o3-mini", "k") as client:
            judge = build_judge("hle", client)
            v = await judge.grade("Capital of France?", "Paris", "Paris.")
        assert v.correct
        body = server.requests[0]
        assert body["max_completion_tokens"] == 4096
        for key in ("temperature", "top_p", "presence_penalty", "max_tokens", "seed"):
            assert key not in body
        assert body["response_format"]["type"] == "json_schema"  # type: ignore[index]
        assert len(server.requests) == 1


async def test_unknown_reasoning_model_learns_max_completion_tokens_once() -> None:
    with ScriptedServer.repeat(refusing(O_SERIES)) as server:
        async with opened(server, "my-reasoner", None) as client:
            judge = build_judge("hle", client)
            assert (await judge.grade("q", "Paris", "Paris")).correct
            assert (await judge.grade("q", "Paris", "Paris")).correct
        keys = [("max_tokens" in b, "max_completion_tokens" in b) for b in server.requests]
        assert keys == [(True, False), (False, True), (False, True)]


async def test_a_set_temperature_is_sent_and_dropped_when_refused() -> None:
    params = JudgeParams(temperature=0.0, backoff_base=0.01)
    with ScriptedServer.repeat(refusing(O_SERIES)) as server:
        async with opened(server, "o3-mini", None, params) as client:
            assert (await build_judge("hle", client).grade("q", "Paris", "x")).correct
        assert server.requests[0]["temperature"] == 0.0
        assert "temperature" not in server.requests[1]
        assert client.dropped == {"temperature"}


GEMINI = {"response_format": 'Invalid JSON payload received. Unknown name "response_format": '
                             "Cannot find field."}


async def test_gemini_without_structured_output_grades_plain_text() -> None:
    reply = "最终答案: 北京\n解释: 一致\n结论: 正确"
    with ScriptedServer.repeat(refusing(GEMINI, reply)) as server:
        async with opened(server, "gemini-2.0-flash-001", None) as client:
            judge = build_judge("xbench", client)
            assert (await judge.grade("首都?", "北京", "北京")).correct
            assert (await judge.grade("首都?", "北京", "北京")).correct
        with_rf = ["response_format" in b for b in server.requests]
        assert with_rf == [True, False, False]  # learnt once for the whole run
        assert all("temperature" not in b for b in server.requests)


async def test_a_refusal_that_names_nothing_keeps_structured_output() -> None:
    vague = {"messages": "Request contains an invalid argument."}
    with ScriptedServer.repeat(refusing(vague)) as server:
        async with opened(server, "gemini-2.0-flash-001", "sekret-key") as client:
            judge = build_judge("hle", client)
            with pytest.raises(LLMResponseError, match="invalid argument") as caught:
                await judge.grade("q", "a", "b")
        assert len(server.requests) == 1 and "response_format" in server.requests[0]
        assert "sekret" not in str(caught.value)


async def test_plain_text_judges_send_no_response_format_and_retry_5xx() -> None:
    with ScriptedServer(["Correct"], failures=[503]) as server:
        async with opened(server, "Qwen2.5-72B-Instruct", None) as client:
            assert (await build_judge("equivalence", client).grade("q", "a", "a")).correct
        body = server.requests[-1]
        assert "response_format" not in body and body["max_tokens"] == 4096
        assert "temperature" not in body


async def test_a_server_without_max_tokens_gets_no_cap() -> None:
    refuse = {"max_tokens": 'Invalid JSON payload received. Unknown name "max_tokens": '
                            "Cannot find field."}
    with ScriptedServer.repeat(refusing(refuse, "Correct")) as server:
        async with opened(server, "gemini-2.0-flash-001", None) as client:
            assert (await build_judge("equivalence", client).grade("q", "a", "a")).correct
        assert [("max_tokens" in b) for b in server.requests] == [True, False]
        assert client.dropped == {"max_tokens"}
