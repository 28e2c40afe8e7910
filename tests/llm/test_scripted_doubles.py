"""ScriptedModel and ScriptedServer behave like the real things they stand in for."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest

from sounding.llm import ChatModel, ChatRequest, Completion
from sounding.llm.testing import ScriptedModel, ScriptedServer, ScriptExhausted
from sounding.types import JSONObject, Message, ToolCall, Usage, estimate_tokens

ASK = ChatRequest([Message("user", "Who wrote Hamlet?")])


async def test_scripted_model_plays_replies_in_order_and_records() -> None:
    model = ScriptedModel(["one", Completion("two", usage=Usage(7, 3)),
                           lambda req: f"echo {req.messages[-1].content}"])
    assert isinstance(model, ChatModel)
    texts = [(await model.complete(ASK)).text for _ in range(3)]
    assert texts == ["one", "two", "echo Who wrote Hamlet?"]
    assert model.requests == [ASK, ASK, ASK]
    model.assert_all_used()


async def test_scripted_model_is_strict() -> None:
    model = ScriptedModel(["only"])
    await model.complete(ASK)
    with pytest.raises(ScriptExhausted, match="Who wrote Hamlet") as info:
        await model.complete(ASK)
    assert isinstance(info.value, AssertionError)
    assert len(model.requests) == 2


async def test_assert_all_used_reports_leftovers() -> None:
    model = ScriptedModel(["a", "b"])
    await model.complete(ASK)
    with pytest.raises(AssertionError, match="1 of 2"):
        model.assert_all_used()


async def test_non_strict_repeats_last_reply() -> None:
    model = ScriptedModel(["x", "y"], strict=False)
    assert [(await model.complete(ASK)).text for _ in range(4)] == ["x", "y", "y", "y"]


async def test_scripted_model_honours_stop_then_tool_response() -> None:
    text = "<think>t</think>\n<tool_call>{}</tool_call>\nSTOPHERE<tool_response>x"
    model = ScriptedModel([text, text])
    stopped = await model.complete(ChatRequest(ASK.messages, stop=("STOPHERE", "</tool_call>")))
    assert stopped.text == "<think>t</think>\n<tool_call>{}"
    cut = await model.complete(ASK)
    assert cut.text == "<think>t</think>\n<tool_call>{}</tool_call>\nSTOPHERE"


async def test_scripted_model_usage_and_metadata() -> None:
    call = ToolCall("search", {"query": ["q"]}, id="c1")
    model = ScriptedModel(["eight characters", Completion("", (call,), usage=Usage(11, 2))],
                          name="fake")
    estimated = await model.complete(ASK)
    assert estimated.usage.estimated
    assert estimated.usage.completion_tokens == estimate_tokens("eight characters")
    assert estimated.usage.prompt_tokens > 0
    assert estimated.model == "fake" and estimated.finish_reason == "stop"
    given = await model.complete(ASK)
    assert given.usage == Usage(11, 2) and given.finish_reason == "tool_calls"


async def test_scripted_model_raises_scripted_exception() -> None:
    boom = RuntimeError("boom")
    model = ScriptedModel([boom, "after"])
    with pytest.raises(RuntimeError, match="boom"):
        await model.complete(ASK)
    assert (await model.complete(ASK)).text == "after"


async def test_repeat_and_cycle_never_run_out() -> None:
    rep = ScriptedModel.repeat("same")
    cyc = ScriptedModel.cycle(["a", "b"])
    assert {(await rep.complete(ASK)).text for _ in range(5)} == {"same"}
    assert [(await cyc.complete(ASK)).text for _ in range(5)] == ["a", "b", "a", "b", "a"]
    rep.assert_all_used()


async def test_scripted_model_latency_overlaps() -> None:
    model = ScriptedModel.repeat("z", latency=0.2)
    start = time.monotonic()
    await asyncio.gather(*(model.complete(ASK) for _ in range(100)))
    assert time.monotonic() - start < 1.5


async def test_server_models_stop_and_exhaustion() -> None:
    with ScriptedServer(["alpha END beta"], model="tongyi") as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            models = (await http.get("/models")).json()
            assert models["data"][0]["id"] == "tongyi"
            body = {"model": "tongyi", "messages": [{"role": "user", "content": "hi"}],
                    "stop": ["END"]}
            ok = (await http.post("/chat/completions", json=body)).json()
            extra = await http.post("/chat/completions", json=body)
    choice = ok["choices"][0]
    assert choice["message"]["content"] == "alpha "
    assert (choice["finish_reason"], choice["stop_reason"]) == ("stop", "END")
    assert ok["usage"]["prompt_tokens"] > 0
    assert extra.status_code == 500
    assert "exhausted" in extra.json()["error"]["message"]
    assert server.unexpected_calls == 1
    assert len(server.requests) == 2


async def test_server_failures_come_first_with_retry_after() -> None:
    with ScriptedServer(["fine"], failures=(429,), retry_after=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            body: JSONObject = {"messages": []}
            first = await http.post("/chat/completions", json=body)
            second = await http.post("/chat/completions", json=body)
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    assert first.json()["error"]["code"] == 429
    assert second.json()["choices"][0]["message"]["content"] == "fine"
    server.assert_all_used()


def test_server_reads_chunked_bodies_and_keeps_connections_alive() -> None:
    payload = json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode()
    chunked = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with ScriptedServer(["one", "two"]) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(2):  # two requests on one connection
            sock.sendall(head + chunked)
        assert server.wait_for_requests(2)
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
            data += sock.recv(65536)
    assert b'"one"' in data and b'"two"' in data
    assert server.requests[0]["messages"] == [{"role": "user", "content": "x"}]
