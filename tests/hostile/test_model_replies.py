"""A hostile OpenAI-compatible server: every reply a model server controls ends in a clean
error of that call (the right class, a message that says what is wrong), never a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

import sounding
from sounding.config import LLMSettings, Settings
from sounding.errors import LLMConnectionError, MalformedReplyError
from sounding.llm import ChatRequest, OpenAIChatModel
from sounding.llm.protocols import NativeProtocol, TagsProtocol
from sounding.types import Message

ASK = ChatRequest([Message("user", "q")])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def chat(message: object, **choice: object) -> dict[str, object]:
    return {"id": "x", "object": "chat.completion", "model": "hostile",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", **choice}]}


def call_reply(arguments: str) -> dict[str, object]:
    return chat({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "search", "arguments": arguments}}]})


class Hostile:
    """One aiohttp app on loopback; each test installs the handler it needs."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.bodies: list[bytes] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _route(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.read())
        assert self.handler is not None
        return await self.handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._route)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def model(self, **overrides: object) -> OpenAIChatModel:
        fields: dict[str, object] = {"base_url": f"http://127.0.0.1:{self.port}/v1",
                                     "model": "m", "max_retries": 2, "backoff_base": 0.001,
                                     "timeout": 10.0}
        fields.update(overrides)
        return OpenAIChatModel(LLMSettings(**fields))

    def reply_raw(self, payload: bytes, status: int = 200) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=payload, status=status, content_type="application/json")
        self.handler = handler

    def reply(self, data: object) -> None:
        self.reply_raw(json.dumps(data).encode())


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    await server.start()
    yield server
    assert server.runner is not None
    await server.runner.cleanup()


async def test_deeply_nested_body_is_malformed(hostile: Hostile) -> None:
    hostile.reply_raw(b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    async with hostile.model() as model:
        with pytest.raises(MalformedReplyError, match="nested too deep"):
            await model.complete(ASK)
    assert len(hostile.bodies) == 1  # refused at once, not retried


@pytest.mark.parametrize("arguments", [
    '{"query": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"query": ' + "[" * 200 + "]" * 200 + "}",
])
async def test_deeply_nested_tool_arguments_become_a_call_error(
        hostile: Hostile, arguments: str) -> None:
    hostile.reply(call_reply(arguments))
    async with hostile.model() as model:
        done = await model.complete(ASK)
    turn = NativeProtocol().parse(done, ["search"])
    assert turn.call_errors == ("the arguments of search are not a valid JSON object",)
    json.dumps([c.to_dict() for c in done.tool_calls])  # still encodable for the trajectory


@pytest.mark.parametrize("arguments", [
    '{"query": ["\\ud800 alone"]}',  # the escape inside the arguments string
    '{"query": ["\ud800 alone"]}',  # the escape in the body itself
])
async def test_lone_surrogate_does_not_break_the_next_request(
        hostile: Hostile, arguments: str) -> None:
    hostile.reply(call_reply(arguments))
    async with hostile.model() as model:
        done = await model.complete(ASK)
        assert done.tool_calls[0].arguments == {"query": ["\ufffd alone"]}
        proto = NativeProtocol()
        turn = proto.parse(done, ["search"])
        history = [*ASK.messages, proto.assistant_message(done, turn),
                   *proto.result_messages(turn.tool_calls, ["no results"])]
        hostile.reply(chat({"role": "assistant", "content": "<answer>ok</answer>"}))
        after = await model.complete(ChatRequest(history))
    assert after.text == "<answer>ok</answer>"
    sent = json.loads(hostile.bodies[-1])
    assert "\ufffd alone" in sent["messages"][1]["tool_calls"][0]["function"]["arguments"]


async def test_lone_surrogate_in_content_is_replaced(hostile: Hostile) -> None:
    hostile.reply_raw(b'{"choices": [{"message": {"role": "assistant", '
                      b'"content": "<answer>a\\udc00b</answer>"}}]}')
    async with hostile.model() as model:
        done = await model.complete(ASK)
    assert done.text == "<answer>a\ufffdb</answer>"
    done.text.encode("utf-8")


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_the_cap_is_refused(hostile: Hostile, chunked: bool) -> None:
    filler = "x" * (300 * 1024)

    async def handler(request: web.Request) -> web.StreamResponse:
        payload = json.dumps(chat({"role": "assistant", "content": filler})).encode()
        if not chunked:
            return web.Response(body=payload, content_type="application/json")
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(payload), 4096):
            await response.write(payload[i:i + 4096])
        await response.write_eof()
        return response

    hostile.handler = handler
    async with hostile.model(max_response_bytes=256 * 1024) as model:
        with pytest.raises(MalformedReplyError, match="262144-byte cap") as info:
            await model.complete(ASK)
    assert "llm.max_response_bytes" in str(info.value)
    assert len(hostile.bodies) == 1  # a refused body is not fetched again


@pytest.mark.parametrize(("message", "says"), [
    ({"role": "assistant"}, "content is missing"),
    ({"role": "assistant", "content": None}, "content is null"),
    ({"role": "assistant", "content": {"text": "hi"}}, "content is a dict"),
    ({"role": "assistant", "content": [1, 2]}, "content is a list"),
    ("just a string", "message that is not an object but str"),
])
async def test_content_of_the_wrong_shape_is_malformed_after_retries(
        hostile: Hostile, message: object, says: str) -> None:
    hostile.reply(chat(message))
    async with hostile.model() as model:
        with pytest.raises(MalformedReplyError, match=says) as info:
            await model.complete(ASK)
    assert info.value.retries == 2 and len(hostile.bodies) == 3
    assert "gave up after 2 retries" in str(info.value)


async def test_content_parts_are_still_read(hostile: Hostile) -> None:
    hostile.reply(chat({"role": "assistant", "content": [{"type": "text", "text": "a"},
                                                         {"type": "text", "text": "b"}]}))
    async with hostile.model() as model:
        assert (await model.complete(ASK)).text == "ab"


async def drip(request: web.Request) -> web.StreamResponse:
    """Headers at once, then a huge body one kilobyte at a time, never finished."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b'{"choices": [{"message": {"content": "')
    while True:
        await response.write(b"x" * 1024)
        await asyncio.sleep(0.02)


async def test_wall_time_budget_holds_while_a_huge_body_streams_in(hostile: Hostile) -> None:
    hostile.handler = drip
    async with hostile.model(timeout=60.0) as model:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):  # the run's wall-time budget
                await model.complete(ASK)
        assert time.monotonic() - start < 2.0


async def test_per_call_timeout_covers_the_body(hostile: Hostile) -> None:
    hostile.handler = drip
    async with hostile.model(timeout=0.4, max_retries=0) as model:
        start = time.monotonic()
        with pytest.raises(LLMConnectionError, match="timed out"):
            await model.complete(ASK)
        assert time.monotonic() - start < 2.0


async def test_streamed_reply_over_the_cap_or_too_deep(hostile: Hostile) -> None:
    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if b"deep" in await request.read():
            await response.write(b"data: " + b"[" * 50_000 + b"\n\n")
            await response.write_eof()
            return response
        for _ in range(200):
            event = {"choices": [{"index": 0, "delta": {"content": "y" * 1000}}]}
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write_eof()
        return response

    hostile.handler = sse
    async with hostile.model(max_response_bytes=64 * 1024) as model:
        with pytest.raises(MalformedReplyError, match="streamed more than 65536 bytes"):
            _ = [c async for c in model.stream(ASK)]
        deep = ChatRequest([Message("user", "deep")])
        with pytest.raises(MalformedReplyError, match="nested too deep"):
            _ = [c async for c in model.stream(deep)]


async def test_tags_turn_with_deep_json_in_text(hostile: Hostile) -> None:
    deep = "[" * 20_000
    hostile.reply(chat({"role": "assistant",
                        "content": f'<tool_call>{{"name": "search", "arguments": {deep}}}'}))
    async with hostile.model() as model:
        done = await model.complete(ASK)
    turn = TagsProtocol().parse(done, ["search"])
    assert turn.call_errors and turn.call_errors[0] is not None


async def test_a_run_against_a_broken_server_ends_cleanly(hostile: Hostile,
                                                          settings: Settings) -> None:
    """Through the public API: the run ends with termination `error` and the reason,
    after the retries, instead of a traceback or a hundred empty rounds."""
    hostile.reply(chat({"role": "assistant", "content": None}))
    llm = dataclasses.replace(settings.llm, base_url=f"http://127.0.0.1:{hostile.port}/v1",
                              max_retries=1, backoff_base=0.001)
    traj = await sounding.arun("q", dataclasses.replace(settings, llm=llm))
    assert traj.termination == "error" and traj.answer is None
    assert traj.error is not None and traj.error.type == "MalformedReplyError"
    assert "content is null" in traj.error.message
    assert len(hostile.bodies) == 2  # one call and its retry, not a hundred rounds


async def test_lone_surrogate_in_an_observation_is_sent_as_replacement(hostile: Hostile) -> None:
    hostile.reply(chat({"role": "assistant", "content": "ok"}))
    async with hostile.model() as model:
        await model.complete(ChatRequest([Message("user", "page text \udfff end")]))
    assert json.loads(hostile.bodies[0])["messages"][0]["content"] == "page text \ufffd end"


async def test_stream_cut_midway_is_a_connection_error(hostile: Hostile) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        event = {"choices": [{"index": 0, "delta": {"content": "partial"}}]}
        await response.write(f"data: {json.dumps(event)}\n\n".encode())
        assert request.transport is not None
        request.transport.close()  # gone mid-body, chunked encoding never finished
        return response

    hostile.handler = cut
    deltas: list[str] = []
    async with hostile.model() as model:
        with pytest.raises(LLMConnectionError, match="broke off its stream"):
            async for chunk in model.stream(ASK):
                deltas.append(chunk.delta)
    assert deltas == ["partial"]


async def test_consumer_may_stop_reading_a_stream(hostile: Hostile) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        event = {"choices": [{"index": 0, "delta": {"content": "more "}}]}
        while True:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            await asyncio.sleep(0.01)

    hostile.handler = endless
    async with hostile.model() as model:
        stream = model.stream(ASK)
        async for chunk in stream:
            assert chunk.delta == "more "
            break
        await stream.aclose()  # type: ignore[attr-defined]
