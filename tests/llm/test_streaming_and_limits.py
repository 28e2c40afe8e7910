"""Streaming, context-length refusals, /tokenize and token-level records, over real HTTP."""

from __future__ import annotations

import pytest

from sounding.config import LLMSettings, Sampling
from sounding.errors import ContextLengthError, LLMResponseError, MalformedReplyError
from sounding.llm import (
    ChatRequest,
    Completion,
    OpenAIChatModel,
    ScriptedServer,
    complete_streaming,
)
from sounding.llm._reply import context_limit, is_context_length_refusal
from sounding.llm.base import StreamChannel
from sounding.llm.openai_client import mask_key
from sounding.llm.testing import ScriptedModel
from sounding.llm.tokens import TiktokenCounter
from sounding.trace.trajectory import ModelCallRecord
from sounding.types import Message, ToolCall, Usage

from .test_tokens import QWEN

ASK = ChatRequest([Message("user", "What is 2+2?")], stop=("<tool_response>",))
REPLY = "<think>add them</think>\n<answer>4</answer>"


def model_for(server: ScriptedServer, **overrides: object) -> OpenAIChatModel:
    fields: dict[str, object] = {"base_url": server.base_url, "model": "tongyi",
                                 "api_key": "sk-test-key-0000", "backoff_base": 0.01,
                                 "max_retries": 2, "timeout": 10.0}
    fields.update(overrides)
    return OpenAIChatModel(LLMSettings(**fields))


def without_latency(done: Completion) -> Completion:
    return Completion(done.text, done.tool_calls, done.usage, done.finish_reason, 0.0,
                      done.retries, done.model, done.token_ids, done.logprobs,
                      done.prompt_token_ids, done.raw_text)


@pytest.mark.parametrize("reply", [
    REPLY,
    {"content": "\n<answer>4</answer>", "reasoning_content": "add them"},
    {"content": "<tool_call>{}</tool_call>\n<tool_response>invented</tool_response>"},
    {"content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "search", "arguments": '{"query": ["a"]}'}}]},
])
async def test_stream_ends_with_what_complete_returns(reply: object) -> None:
    with ScriptedServer([reply, reply]) as server:  # type: ignore[list-item]
        async with model_for(server, record_tokens=True) as model:
            plain = await model.complete(ASK)
            chunks = [c async for c in model.stream(ASK)]
    assert server.requests[1]["stream"] is True
    assert server.requests[1]["stream_options"] == {"include_usage": True}
    final = chunks[-1].completion
    assert final is not None and all(c.completion is None for c in chunks[:-1])
    assert without_latency(final) == without_latency(plain)
    text = "".join(c.delta for c in chunks if c.channel == "text")
    assert "<tool_response>" not in text and "invented" not in text


async def test_reasoning_deltas_come_on_their_own_channel() -> None:
    seen: list[tuple[str, StreamChannel]] = []
    reply = {"content": "<answer>4</answer>", "reasoning": "two plus two"}
    with ScriptedServer([reply]) as server:
        async with model_for(server) as model:
            done = await complete_streaming(model, ASK, lambda t, ch: seen.append((t, ch)))
    assert done.text == "<think>two plus two</think><answer>4</answer>"
    assert "".join(t for t, ch in seen if ch == "reasoning") == "two plus two"
    assert "".join(t for t, ch in seen if ch == "text") == "<answer>4</answer>"
    assert not done.usage.estimated


async def test_complete_streaming_with_scripted_and_plain_models() -> None:
    pieces: list[str] = []

    async def on_delta(text: str, channel: StreamChannel) -> None:
        pieces.append(text)

    done = await complete_streaming(ScriptedModel([REPLY]), ASK, on_delta)
    assert done.text == REPLY and "".join(pieces) == REPLY and len(pieces) > 1

    class CompleteOnly:  # a trainer's engine has no stream
        name = "engine"

        async def complete(self, request: ChatRequest) -> Completion:
            return Completion("whole", usage=Usage(1, 1))

        async def aclose(self) -> None:
            return None

    pieces.clear()
    assert (await complete_streaming(CompleteOnly(), ASK, on_delta)).text == "whole"  # type: ignore[arg-type]
    assert pieces == ["whole"]


async def test_window_refusal_is_context_length_error_not_retried() -> None:
    long_ask = ChatRequest([Message("user", "1234567890 " * 300)],
                           sampling=Sampling(max_tokens=1000))
    with ScriptedServer([REPLY], context_window=2048) as server:
        async with model_for(server) as model:
            with pytest.raises(ContextLengthError) as info:
                await model.complete(long_ask)
            assert server.refused == 1 and len(server.requests) == 1  # no retry
            short = await model.complete(ChatRequest(ASK.messages,
                                                     sampling=Sampling(max_tokens=1000)))
    assert "maximum context length is 2048 tokens. However, you requested" in str(info.value)
    assert info.value.status == 400 and info.value.retries == 0
    assert short.text == REPLY
    assert context_limit(str(info.value)) is not None
    window, requested = context_limit(str(info.value)) or (0, 0)
    assert window == 2048 and requested > 2048


async def test_window_refusal_while_streaming() -> None:
    with ScriptedServer([REPLY], context_window=10) as server:
        async with model_for(server) as model:
            with pytest.raises(ContextLengthError):
                _ = [c async for c in model.stream(ASK)]
    assert len(server.requests) == 1


@pytest.mark.parametrize("message", [
    "This model's maximum context length is 32768 tokens. However, you requested 40000 "
    "tokens (39000 in the messages, 1000 in the completion). Please reduce the length of "
    "the messages or completion.",
    "The input (140000 tokens) is longer than the model's context length (131072 tokens).",
    "Requested token count exceeds the model's maximum context length of 131072 tokens.",
    "This model's maximum context length is 128000 tokens. However, your messages resulted "
    "in 130000 tokens. Please reduce the length of the messages.",
])
async def test_server_wordings_of_context_refusal(message: str) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error",
                      "code": "context_length_exceeded"}}
    with ScriptedServer([(400, body)]) as server:
        async with model_for(server) as model:
            with pytest.raises(ContextLengthError):
                await model.complete(ASK)
    assert is_context_length_refusal(400, message)
    assert not is_context_length_refusal(400, "temperature must be at most 2")
    assert not is_context_length_refusal(500, message)


async def test_other_bad_request_stays_a_response_error() -> None:
    with ScriptedServer([(400, {"error": {"message": "bad top_p"}})]) as server:
        async with model_for(server) as model:
            with pytest.raises(LLMResponseError) as info:
                await model.complete(ASK)
    assert not isinstance(info.value, ContextLengthError)


async def test_server_window_counts_with_a_given_counter() -> None:
    pytest.importorskip("tiktoken")
    qwen = TiktokenCounter(QWEN)
    ask = ChatRequest([Message("user", "7" * 100)], sampling=Sampling(max_tokens=0))
    with ScriptedServer([REPLY], context_window=100 + 4, counter=qwen) as server:
        async with model_for(server) as model:
            assert await model.count_tokens(ask.messages) == 104
            assert (await model.complete(ask)).usage.prompt_tokens == 104
    with ScriptedServer([], context_window=103, counter=qwen) as server:
        async with model_for(server) as model:
            with pytest.raises(ContextLengthError):
                await model.complete(ask)


async def test_count_tokens_none_when_unsupported() -> None:
    with ScriptedServer([], tokenize=False) as server:
        async with model_for(server) as model:
            assert await model.count_tokens(ASK.messages) is None
            assert await model.count_tokens(ASK.messages) is None  # remembered
    with ScriptedServer([]) as server:
        async with model_for(server) as model:
            count = await model.count_tokens(ASK.messages)
    assert isinstance(count, int) and count > 0


async def test_record_tokens_asks_vllm_and_keeps_the_fields() -> None:
    with ScriptedServer([REPLY, REPLY]) as server:
        async with model_for(server, record_tokens=True) as model:
            done = await model.complete(ASK)
        async with model_for(server) as plain:
            bare = await plain.complete(ASK)
    body = server.requests[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 0
    assert body["return_token_ids"] is True
    assert done.token_ids and done.logprobs and len(done.token_ids) == len(done.logprobs)
    assert done.prompt_token_ids and len(done.prompt_token_ids) == done.usage.prompt_tokens
    assert done.raw_text == REPLY
    assert "return_token_ids" not in server.requests[1] and "logprobs" not in server.requests[1]
    assert bare.token_ids is None and bare.logprobs is None and bare.prompt_token_ids is None


async def test_missing_token_fields_stay_none() -> None:
    reply = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "hi"}, "token_ids": ["junk"]}]}
    with ScriptedServer([(200, reply)]) as server:
        async with model_for(server, record_tokens=True) as model:
            done = await model.complete(ASK)
    assert done.text == "hi" and done.raw_text == "hi"
    assert done.token_ids is None and done.logprobs is None and done.prompt_token_ids is None


async def test_server_without_return_token_ids_is_asked_again_without_it() -> None:
    refusal = (400, {"error": {"message": "Unrecognized request argument supplied: "
                               "return_token_ids"}})
    with ScriptedServer([refusal, "ok", "again"]) as server:
        async with model_for(server, record_tokens=True) as model:
            first = await model.complete(ASK)
            await model.complete(ASK)
    assert first.text == "ok" and first.logprobs is not None and first.token_ids is None
    assert "return_token_ids" not in server.requests[1]
    assert "return_token_ids" not in server.requests[2]


def test_model_call_record_round_trips_token_fields() -> None:
    record = ModelCallRecord(round=1, purpose="turn", prompt=[0], output="x", usage=Usage(3, 1),
                             latency_s=0.1, token_ids=(5,), logprobs=(-0.5,),
                             prompt_token_ids=(1, 2, 3), raw_output="<think>t</think>x")
    data = record.to_dict()
    assert data["prompt_token_ids"] == [1, 2, 3] and data["raw_output"] == "<think>t</think>x"
    assert ModelCallRecord.from_dict(data) == record
    bare = ModelCallRecord(round=1, purpose="turn", prompt=[], output="", usage=Usage(),
                           latency_s=0.0).to_dict()
    assert "prompt_token_ids" not in bare and "raw_output" not in bare


def test_short_keys_are_masked_as_whole_tokens_only() -> None:
    text = "model endpoint answered HTTP 401: invalid key a for user alice (a)"
    assert mask_key(text, "a") == ("model endpoint answered HTTP 401: invalid key *** for "
                                   "user alice (***)")
    assert mask_key("token sk-1234567890 leaked", "sk-1234567890") == "token *** leaked"
    assert mask_key("keyabc12345xyz", "abc12345") == "key***xyz"
    assert mask_key("nothing here", None) == "nothing here"


async def test_malformed_content_is_retried_then_reported() -> None:
    bad = (200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": None},
                              "finish_reason": "stop"}]})
    with ScriptedServer([bad, bad, bad]) as server:
        async with model_for(server) as model:
            with pytest.raises(MalformedReplyError, match="content is null") as info:
                await model.complete(ASK)
    assert info.value.retries == 2 and len(server.requests) == 3


def test_tool_call_with_code_survives_native_round_trip() -> None:
    call = ToolCall("PythonInterpreter", {}, "c1", "print(1)")
    assert call.code == "print(1)"


async def test_stream_retries_before_the_first_byte() -> None:
    with ScriptedServer([REPLY], failures=[503, 429]) as server:
        async with model_for(server) as model:
            chunks = [c async for c in model.stream(ASK)]
    final = chunks[-1].completion
    assert final is not None and final.text == REPLY and final.retries == 2
    assert len(server.requests) == 3 and all(r["stream"] for r in server.requests)


async def test_sglang_per_choice_prompt_ids_are_read() -> None:
    reply = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "hi"}, "prompt_token_ids": [1, 2], "token_ids": [7]}]}
    with ScriptedServer([(200, reply)]) as server:
        async with model_for(server, record_tokens=True) as model:
            done = await model.complete(ASK)
    assert done.prompt_token_ids == (1, 2) and done.token_ids == (7,)
