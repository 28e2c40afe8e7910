"""OpenAIChatModel over real HTTP against a ScriptedServer on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from sounding.config import LLMSettings, Sampling
from sounding.errors import ConfigError, LLMConnectionError, LLMError, LLMResponseError
from sounding.llm import ChatRequest, Completion, OpenAIChatModel, ScriptedServer, ToolSchema
from sounding.llm.testing import forbid_real_requests
from sounding.types import JSONObject, Message, ToolCall

KEY = "sk-test-SECRET-123"
ASK = ChatRequest([Message("system", "be brief"), Message("user", "What is 2+2?")])


def make_model(server: ScriptedServer, **overrides: object) -> OpenAIChatModel:
    fields: dict[str, object] = {"base_url": server.base_url, "model": "tongyi", "api_key": KEY,
                                 "backoff_base": 0.01, "max_retries": 3, "timeout": 10.0}
    fields.update(overrides)
    return OpenAIChatModel(LLMSettings(**fields))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_plain_reply_and_request_mapping() -> None:
    request = ChatRequest(
        [Message("user", "hi")],
        sampling=Sampling(temperature=0.6, top_p=0.9, presence_penalty=1.1, max_tokens=77, seed=3),
        stop=("\n<tool_response>", "<tool_response>"),
    )
    with ScriptedServer(["<think>ok</think>\n<answer>4</answer>"]) as server:
        async with make_model(server) as model:
            done = await model.complete(request)
    assert done.text == "<think>ok</think>\n<answer>4</answer>"
    assert done.finish_reason == "stop"
    assert done.retries == 0 and done.latency_s > 0
    assert not done.usage.estimated and done.usage.prompt_tokens > 0
    assert done.model == "scripted"  # the server's echo wins
    body = server.requests[0]
    assert body["model"] == "tongyi"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert (body["temperature"], body["top_p"], body["presence_penalty"]) == (0.6, 0.9, 1.1)
    assert (body["max_tokens"], body["seed"]) == (77, 3)
    assert body["stop"] == ["\n<tool_response>", "<tool_response>"]
    assert "tools" not in body and "response_format" not in body and "logprobs" not in body
    server.assert_all_used()


async def test_native_request_mapping() -> None:
    call = ToolCall("search", {"query": ["a", "b"]}, id="call_1")
    request = ChatRequest(
        [Message("user", "q"), Message("assistant", "", (call,)),
         Message("tool", "results", tool_call_id="call_1")],
        tools=[ToolSchema("search", "web search", {"type": "object", "properties": {}})],
        tool_choice="none", response_format={"type": "json_object"}, logprobs=True,
    )
    with ScriptedServer(["{}"]) as server:
        async with make_model(server) as model:
            await model.complete(request)
    body = server.requests[0]
    assert "stop" not in body  # only sent when non-empty
    sent_call = body["messages"][1]["tool_calls"][0]
    assert sent_call["id"] == "call_1" and sent_call["type"] == "function"
    assert json.loads(sent_call["function"]["arguments"]) == {"query": ["a", "b"]}
    assert body["messages"][2] == {"role": "tool", "content": "results",
                                   "tool_call_id": "call_1"}
    assert body["tools"][0]["function"]["name"] == "search"
    assert body["tool_choice"] == "none"
    assert body["response_format"] == {"type": "json_object"}
    assert body["logprobs"] is True


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
async def test_separate_reasoning_goes_back_into_think(field: str) -> None:
    reply = {"content": "\n<answer>4</answer>", field: "2+2 is 4"}
    with ScriptedServer([reply]) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)
    assert done.text == "<think>2+2 is 4</think>\n<answer>4</answer>"


async def test_no_double_think_and_reasoning_preferred() -> None:
    replies = [{"content": "<think>mine</think>x", "reasoning": "theirs"},
               {"content": "y", "reasoning": "new", "reasoning_content": "old"}]
    with ScriptedServer(replies) as server:
        async with make_model(server) as model:
            first = await model.complete(ASK)
            second = await model.complete(ASK)
    assert first.text == "<think>mine</think>x"
    assert second.text == "<think>new</think>y"


async def test_text_after_tool_response_is_cut() -> None:
    leaked = '<tool_call>{"name": "search"}</tool_call>\n<tool_response>\nfake\n</tool_response>'
    with ScriptedServer([leaked]) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)  # ASK sends no stop: the client must cut
    assert done.text == '<tool_call>{"name": "search"}</tool_call>\n'


async def test_native_tool_calls_are_parsed() -> None:
    message = {"content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "search", "arguments": '{"query": ["x"]}'}},
        {"id": "c2", "type": "function",
         "function": {"name": "visit", "arguments": '{"url": ["u"], '}},
    ]}
    with ScriptedServer([message]) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)
    assert done.finish_reason == "tool_calls"
    assert done.text == ""
    assert done.tool_calls[0] == ToolCall("search", {"query": ["x"]}, id="c1")
    assert done.tool_calls[1].name == "visit"
    assert done.tool_calls[1].arguments == {"__raw__": '{"url": ["u"], '}


async def test_usage_estimated_when_server_sends_none() -> None:
    with ScriptedServer(["four words of reply"], include_usage=False) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)
    assert done.usage.estimated
    # Four common English words are four Qwen tokens; the estimate says so too.
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens == 4


async def test_logprobs_and_token_ids() -> None:
    with ScriptedServer(["a b c"]) as server:
        model = OpenAIChatModel(LLMSettings(base_url=server.base_url, model="m"),
                                extra_body={"return_token_ids": True})
        async with model:
            done = await model.complete(ChatRequest([Message("user", "x")], logprobs=True))
    assert done.logprobs == (-0.25, -0.25, -0.25)
    assert done.token_ids == (1000, 1001, 1002)
    assert server.requests[0]["return_token_ids"] is True


@pytest.mark.parametrize("failures", [(429,), (500,), (429, 503, 408)])
async def test_transient_statuses_are_retried(failures: tuple[int, ...]) -> None:
    with ScriptedServer(["fine"], failures=failures) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)
    assert done.text == "fine"
    assert done.retries == len(failures)
    assert len(server.requests) == len(failures) + 1


async def test_retry_after_is_honoured_up_to_60s() -> None:
    with ScriptedServer(["ok"], failures=(429,), retry_after=0.3) as server:
        async with make_model(server, backoff_base=0.001) as model:
            start = time.monotonic()
            await model.complete(ASK)
            assert time.monotonic() - start >= 0.3
    with ScriptedServer(["ok"], failures=(429,), retry_after=3600) as server:
        async with make_model(server, backoff_base=0.001) as model:
            start = time.monotonic()
            await model.complete(ASK)  # an hour is ignored: back off as usual
            assert time.monotonic() - start < 5


async def test_retries_exhausted_raises_llm_error_with_count() -> None:
    with ScriptedServer(["never"], failures=(500,) * 4) as server:
        async with make_model(server, max_retries=3) as model:
            with pytest.raises(LLMError) as info:
                await model.complete(ASK)
    assert type(info.value) is LLMError
    assert info.value.status == 500 and info.value.retries == 3
    assert len(server.requests) == 4


async def test_client_error_is_not_retried_and_key_not_leaked() -> None:
    error: JSONObject = {"error": {"message": f"Incorrect API key provided: {KEY}",
                                   "type": "invalid_request_error", "code": 401}}
    with ScriptedServer([(401, error)]) as server:
        async with make_model(server) as model:
            with pytest.raises(LLMResponseError) as info:
                await model.complete(ASK)
    assert info.value.status == 401 and info.value.retries == 0
    assert "Incorrect API key provided" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(model)
    assert len(server.requests) == 1


async def test_bad_request_is_not_retried() -> None:
    error: JSONObject = {"object": "error", "message": "context too long", "code": 400}
    with ScriptedServer([(400, error)]) as server:
        async with make_model(server) as model:
            with pytest.raises(LLMResponseError, match="context too long") as info:
                await model.complete(ASK)
    assert info.value.status == 400
    assert len(server.requests) == 1


async def test_error_inside_http_200_is_retried() -> None:
    in_band: JSONObject = {"error": {"code": 502, "message": "Provider disconnected"}}
    with ScriptedServer([(200, in_band), "ok"]) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)
    assert done.text == "ok" and done.retries == 1


async def test_unreachable_endpoint_raises_connection_error_quickly() -> None:
    settings = LLMSettings(base_url=f"http://127.0.0.1:{closed_port()}/v1", model="m",
                           api_key=KEY, backoff_base=0.01, max_retries=2)
    start = time.monotonic()
    async with OpenAIChatModel(settings) as model:
        with pytest.raises(LLMConnectionError) as info:
            await model.complete(ASK)
    assert time.monotonic() - start < 5
    assert info.value.retries == 2 and info.value.status is None
    assert KEY not in str(info.value)


async def test_timeout_counts_as_connection_error() -> None:
    with ScriptedServer(["late"], latency=2.0) as server:
        async with make_model(server, timeout=0.2, max_retries=0) as model:
            with pytest.raises(LLMConnectionError, match="timed out"):
                await model.complete(ASK)


async def test_response_format_fallback_is_remembered() -> None:
    def reply(body: JSONObject) -> str | tuple[int, JSONObject]:
        if "response_format" in body:
            return 400, {"error": {"message": "response_format not supported", "code": 400}}
        return '{"answer": 4}'

    request = ChatRequest([Message("user", "json please")],
                          response_format={"type": "json_object"})
    with ScriptedServer.repeat(reply) as server:
        async with make_model(server) as model:
            first = await model.complete(request)
            assert not model.supports_response_format
            second = await model.complete(request)
    assert first.text == second.text == '{"answer": 4}'
    assert [("response_format" in b) for b in server.requests] == [True, False, False]


async def test_max_completion_tokens_fallback() -> None:
    def reply(body: JSONObject) -> str | tuple[int, JSONObject]:
        if "max_tokens" in body:
            return 400, {"error": {"message": "Unsupported parameter: 'max_tokens'. Use "
                                              "'max_completion_tokens' instead.", "code": 400}}
        return "ok"

    with ScriptedServer.repeat(reply) as server:
        async with make_model(server) as model:
            assert (await model.complete(ASK)).text == "ok"
            await model.complete(ASK)
    assert [("max_tokens" in b) for b in server.requests] == [True, False, False]


async def test_concurrent_calls_overlap() -> None:
    with ScriptedServer.repeat("pong", latency=0.2) as server:
        async with make_model(server) as model:
            start = time.monotonic()
            done = await asyncio.gather(*(model.complete(ASK) for _ in range(50)))
            elapsed = time.monotonic() - start
    assert all(d.text == "pong" for d in done)
    assert server.max_in_flight >= 40  # the calls were served side by side
    assert elapsed < 1.5


async def test_forbid_real_requests_blocks_remote_but_not_loopback() -> None:
    remote = OpenAIChatModel(LLMSettings(base_url="https://api.openai.com/v1", model="m"))
    with ScriptedServer(["local ok"]) as server, forbid_real_requests():
        async with remote, make_model(server) as local:
            with pytest.raises(LLMConnectionError, match="forbidden"):
                await remote.complete(ASK)
            assert (await local.complete(ASK)).text == "local ok"


def test_missing_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="model"):
        OpenAIChatModel(LLMSettings(base_url="http://127.0.0.1:1/v1"))


async def test_completion_replies_round_trip_through_the_server() -> None:
    call = ToolCall("visit", {"url": ["https://a.example"], "goal": "g"}, id="v1")
    with ScriptedServer([Completion("", (call,))]) as server:
        async with make_model(server) as model:
            done = await model.complete(ASK)
    assert done.tool_calls == (call,)
    assert done.finish_reason == "tool_calls"


async def test_broken_scripted_callable_is_reported_not_retried() -> None:
    def broken(body: JSONObject) -> str:
        raise KeyError("oops")

    with ScriptedServer([broken, "unused"]) as server:
        async with make_model(server) as model:
            with pytest.raises(LLMResponseError, match="oops"):
                await model.complete(ASK)
    assert server.remaining == 1
