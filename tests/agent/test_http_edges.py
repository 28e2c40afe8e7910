"""End to end over HTTP: the real client against the scripted OpenAI-compatible server.

A run that reaches the window of a server enforcing it with vLLM's 400 ends with an answer,
in both protocols; with `llm.record_tokens` the trajectory holds, per model call, the
prompt token ids, the sampled token ids, their log-probs and the raw text.
"""

from __future__ import annotations

import json

import pytest

from sounding.agent import arun
from sounding.config import Settings, override_settings
from sounding.env import Environment
from sounding.llm.openai_client import OpenAIChatModel
from sounding.llm.testing import ScriptedServer
from sounding.types import JSON, JSONObject

from ._mode_fakes import fixed_env
from .test_context_edge import env_of


def digits_env(n: int) -> Environment:
    return env_of("TABLE " + "".join(str(i % 10) for i in range(n)))

QUESTION = "Which engineer built the tower?"


def call_reply(protocol: str, query: str) -> JSON:
    """A search call in the protocol's wire shape, as the server sends it."""
    if protocol == "native":
        return {"role": "assistant", "content": "<think>look it up</think>", "tool_calls": [
            {"id": "c1", "type": "function", "function": {
                "name": "search", "arguments": json.dumps({"query": [query]})}}]}
    call = json.dumps({"name": "search", "arguments": {"query": [query]}})
    return f"<think>look it up</think>\n<tool_call>\n{call}\n</tool_call>"


def settings_for(settings: Settings, server: ScriptedServer, protocol: str,
                 **flags: object) -> Settings:
    return override_settings(settings, {"llm.base_url": server.base_url, "llm.model": "scripted",
                                        "protocol": protocol, "llm.max_retries": 0, **flags})


@pytest.mark.parametrize("loop_window", [16384, 131072])
@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_a_server_enforcing_its_window_still_gets_an_answer(settings: Settings,
                                                                  protocol: str,
                                                                  loop_window: int) -> None:
    """The loop's own check sees the edge coming (its window is the server's), or the
    server's 400 mid-run tells it (the loop believes in a larger window)."""
    # Each search returns 6,000 digits (6,000 tokens for Qwen, 1,500 by characters / 4):
    # the third round no longer fits a 16k window, and the server would refuse it (400).
    def reply(body: JSONObject) -> JSON:
        last = body["messages"][-1]  # type: ignore[index]
        if "maximum context length" in str(last.get("content")):  # type: ignore[union-attr]
            return "<think>enough</think>\n<answer>Eiffel</answer>"
        return call_reply(protocol, f"q{len(body['messages'])}")  # type: ignore[arg-type]

    with ScriptedServer.repeat(reply, context_window=16384) as server:
        cfg = settings_for(settings, server, protocol, **{
            "llm.context_window": loop_window, "sampling.max_tokens": 1000,
            "budgets.max_context_tokens": 100_000})
        model = OpenAIChatModel(cfg.llm)
        try:
            traj = await arun(QUESTION, cfg, model=model, environment=digits_env(6000))
        finally:
            await model.aclose()
    assert traj.answer == "Eiffel" and traj.termination == "forced_answer"
    assert traj.error is None
    # Nothing the loop sent was longer than the window (the check comes before the call),
    # or, when the estimate let one through, the 400 led to the forced answer.
    assert traj.model_calls[-1].purpose == "forced_answer"
    if loop_window > 16384:  # the server refused a prompt before the loop noticed
        assert server.refused and any("refused the prompt" in w for w in
                                      traj.notes["warnings"])  # type: ignore[union-attr]


async def test_record_tokens_keeps_the_token_fields_per_call(settings: Settings) -> None:
    with ScriptedServer([call_reply("tags", "tower"),
                         "<think>found</think>\n<answer>Eiffel</answer>"]) as server:
        cfg = settings_for(settings, server, "tags", **{"llm.record_tokens": True})
        model = OpenAIChatModel(cfg.llm)
        try:
            traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=200))
        finally:
            await model.aclose()
    assert traj.answer == "Eiffel"
    assert [c.purpose for c in traj.model_calls] == ["turn", "turn"]
    for call in traj.model_calls:
        assert call.token_ids and call.logprobs and len(call.token_ids) == len(call.logprobs)
        assert call.prompt_token_ids and len(call.prompt_token_ids) == call.usage.prompt_tokens
        assert call.raw_output is not None and call.raw_output.startswith("<think>")
    saved = traj.to_dict()["model_calls"][0]
    assert {"token_ids", "logprobs", "prompt_token_ids", "raw_output"} <= set(saved)
    assert all(server.requests[i]["return_token_ids"] is True for i in range(2))
