"""The ReAct loop: actions, malformed turns, budgets and failures, each ending in an answer."""

from __future__ import annotations

import dataclasses
import json

from sounding.agent import arun
from sounding.config import Settings, override_settings
from sounding.env import Environment
from sounding.errors import LLMError, ProviderError
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ScriptedModel
from sounding.trace import Trajectory
from sounding.types import Usage

from .fakes import FakeTool


def call(name: str, **arguments: object) -> str:
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<think>plan</think>\n<tool_call>\n{body}\n</tool_call>"


async def run(settings: Settings, environment: Environment, *replies: object,
              **overrides: object) -> tuple[Trajectory, ScriptedModel]:
    model = ScriptedModel(list(replies))
    if overrides:
        settings = override_settings(settings, overrides)
    traj = await arun("Which city?", settings, model=model, environment=environment)
    return traj, model


async def test_search_visit_answer(settings: Settings, environment: Environment,
                                   tools: dict[str, FakeTool]) -> None:
    traj, model = await run(
        settings, environment,
        call("search", query=["python asyncio"]),
        call("visit", url="https://example.org/page", goal="find the city"),
        "<think>enough</think>\n<answer>Paris</answer>",
    )
    model.assert_all_used()
    assert (traj.answer, traj.termination, traj.rounds) == ("Paris", "answer", 3)
    assert tools["search"].calls == [({"query": ["python asyncio"]}, None)]
    assert tools["visit"].calls[0][0]["url"] == ["https://example.org/page"]  # string -> array
    assert traj.tool_counts() == {"search": 1, "visit": 1}
    last = model.requests[-1].messages
    assert [m.role for m in last] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert last[3].content.startswith("<tool_response>\nresult for")
    assert last[2].content.startswith("<think>plan</think>")
    assert traj.sources() == ["https://example.org/page"]
    # the record round-trips and points each call at its exact prompt
    again = Trajectory.from_json(traj.to_json())
    assert [m.content for m in again.prompt_of(again.model_calls[-1])] == [
        m.content for m in last]


async def test_python_code_reaches_interpreter(settings: Settings, environment: Environment,
                                               tools: dict[str, FakeTool]) -> None:
    code_call = ('<tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n<code>\n'
                 "print(1 + 1)\n</code>\n</tool_call>")
    traj, _ = await run(settings, environment, code_call, "<answer>2</answer>")
    assert tools["PythonInterpreter"].calls == [({}, "print(1 + 1)")]
    assert traj.answer == "2"


async def test_malformed_turns_get_corrective_observations(
    settings: Settings, environment: Environment, tools: dict[str, FakeTool]
) -> None:
    traj, model = await run(
        settings, environment,
        "I am not sure yet.",                                   # neither call nor answer
        "",                                                     # ... asked again: empty
        "<tool_call>{not json</tool_call>",                     # unreadable JSON
        call("browse", url="x"),                                # unknown tool
        call("search", query=[1, 2]),                           # wrong argument type
        call("visit", url=["u"]),                               # missing argument
        "<answer>done</answer>",
    )
    # The turn without action is asked again with the very same prompt, then corrected.
    assert model.requests[1].messages == model.requests[0].messages
    feedback = [r.messages[-1].content for r in model.requests[2:]]
    assert "neither a tool call nor a final answer" in feedback[0]
    assert "could not be read" in feedback[1] and "Available tools" in feedback[1]
    assert "no tool named 'browse'" in feedback[2]
    assert "array of strings" in feedback[3]
    assert "needs the argument 'goal'" in feedback[4]
    assert all("search, visit, PythonInterpreter" in f for f in feedback)
    assert tools["search"].calls == [] and tools["visit"].calls == []
    assert traj.termination == "answer" and traj.rounds == 6
    errors = [r.error for r in traj.tool_calls]
    assert [e.split(":")[0] for e in errors if e] == [
        "ToolCallParseError", "UnknownToolError", "ToolArgumentError", "ToolArgumentError"]


async def test_parallel_calls_run_concurrently_in_order(
    settings: Settings, tools: dict[str, FakeTool]
) -> None:
    slow = FakeTool(tools["search"].schema, reply="r:{arguments}", delay=0.05)
    env = Environment("fake", {"search": slow})
    two = call("search", query=["a"]) + "\n" + call("search", query=["b"])
    _, model = await run(settings, env, two, "<answer>x</answer>")
    assert slow.max_active == 2
    content = model.requests[1].messages[-1].content
    assert content.index("['a']") < content.index("['b']")
    assert content.count("<tool_response>") == 2


async def test_tool_failure_becomes_observation(settings: Settings, tools: dict[str, FakeTool]
                                                ) -> None:
    broken = FakeTool(tools["search"].schema, error=ProviderError("serper: HTTP 503"))
    traj, model = await run(settings, Environment("fake", {"search": broken}),
                            call("search", query=["a"]), "<answer>x</answer>")
    assert "the search tool failed: serper: HTTP 503" in model.requests[1].messages[-1].content
    assert traj.tool_calls[0].error == "ProviderError: serper: HTTP 503"


async def test_round_budget_forces_answer_with_newest_evidence(
    settings: Settings, environment: Environment
) -> None:
    traj, model = await run(
        settings, environment,
        call("search", query=["a"]), call("search", query=["b"]),
        "<think>ok</think><answer>forced</answer>",
        **{"budgets.max_rounds": 2},
    )
    assert (traj.answer, traj.termination, traj.rounds) == ("forced", "forced_answer", 2)
    final = model.requests[-1]
    assert final.purpose == "forced_answer"
    assert "<tool_response>" in final.messages[-2].content and "['b']" in final.messages[-2].content
    assert "Do not call any more tools" in final.messages[-1].content


async def test_context_budget_forces_answer(settings: Settings, environment: Environment) -> None:
    big = Completion(text=call("search", query=["a"]), usage=Usage(5000, 100))
    traj, model = await run(settings, environment, big, "<answer>from context</answer>",
                            **{"budgets.max_context_tokens": 5000})
    assert traj.termination == "forced_answer" and traj.answer == "from context"
    assert "maximum context length" in model.requests[-1].messages[-1].content


async def test_forced_answer_without_answer_tag_keeps_text(
    settings: Settings, environment: Environment
) -> None:
    traj, _ = await run(settings, environment, call("search", query=["a"]),
                        "<think>hmm</think>probably Lyon", **{"budgets.max_rounds": 1})
    assert (traj.termination, traj.answer) == ("max_rounds", "probably Lyon")


async def test_forced_answer_failure_ends_with_max_rounds(
    settings: Settings, environment: Environment
) -> None:
    traj, _ = await run(settings, environment, call("search", query=["a"]),
                        LLMError("server down"), **{"budgets.max_rounds": 1})
    assert (traj.termination, traj.answer) == ("max_rounds", None)


async def test_time_budget_forces_answer(settings: Settings, environment: Environment) -> None:
    slow = FakeTool(environment.tools["search"].schema, delay=0.3)
    env = Environment("fake", {"search": slow})
    traj, model = await run(settings, env, call("search", query=["a"]),
                            "<answer>late</answer>", **{"budgets.max_seconds": 0.2})
    assert (traj.termination, traj.answer) == ("forced_answer", "late")
    assert "time available" in model.requests[-1].messages[-1].content


async def test_slow_model_turn_is_cut_by_time_budget(settings: Settings,
                                                     environment: Environment) -> None:
    import asyncio

    async def never(request: ChatRequest) -> str:
        await asyncio.sleep(10)
        return "unreachable"

    class Slow(ScriptedModel):
        async def complete(self, request: ChatRequest) -> Completion:
            if request.purpose == "turn":
                await never(request)
            return await super().complete(request)

    model = Slow(["<answer>in time</answer>"])
    s = override_settings(settings, {"budgets.max_seconds": 0.1})
    traj = await arun("q", s, model=model, environment=environment)
    assert (traj.termination, traj.answer) == ("forced_answer", "in time")


async def test_llm_failure_ends_run_with_error_and_record(
    settings: Settings, environment: Environment
) -> None:
    traj, _ = await run(settings, environment, call("search", query=["a"]),
                        LLMError("HTTP 500 after 5 retries", status=500))
    assert traj.termination == "error" and traj.answer is None
    assert traj.error is not None and "HTTP 500" in traj.error.message
    assert "Traceback" in traj.error.traceback
    # the error never enters the transcript as if the model had said it
    assert all("HTTP 500" not in m.content for m in traj.messages)


async def test_token_ceiling(settings: Settings, environment: Environment) -> None:
    spend = Completion(text=call("search", query=["a"]), usage=Usage(900, 200))
    traj, _ = await run(settings, environment, spend, "<answer>cheap</answer>",
                        **{"budgets.max_total_tokens": 1000})
    assert traj.termination == "forced_answer"


async def test_native_protocol_run(settings: Settings, environment: Environment,
                                   tools: dict[str, FakeTool]) -> None:
    from sounding.types import ToolCall

    s = dataclasses.replace(settings, protocol="native")
    model = ScriptedModel([
        Completion(text="", tool_calls=(ToolCall("search", {"query": ["x"]}, "c1"),)),
        Completion(text="It is Paris."),
    ])
    traj = await arun("Which city?", s, model=model, environment=environment)
    assert (traj.answer, traj.termination) == ("It is Paris.", "answer")
    second = model.requests[1]
    assert [t.name for t in second.tools] == ["search", "visit", "PythonInterpreter"]
    assert (second.messages[-1].role, second.messages[-1].tool_call_id) == ("tool", "c1")
    assert second.messages[-2].tool_calls[0].id == "c1"
    assert "<tools>" not in second.messages[0].content


async def test_custom_system_prompt_file(settings: Settings, environment: Environment,
                                         tmp_path) -> None:  # type: ignore[no-untyped-def]
    role = tmp_path / "role.txt"
    role.write_text("You are a careful librarian. Answer inside <answer></answer>.",
                    encoding="utf-8")
    s = dataclasses.replace(settings, system_prompt_file=role)
    model = ScriptedModel(["<answer>ok</answer>"])
    await arun("q", s, model=model, environment=environment)
    system = model.requests[0].messages[0].content
    assert system.startswith("You are a careful librarian.") and "<tools>" in system


async def test_bug_in_one_tool_cancels_its_siblings(settings: Settings,
                                                    tools: dict[str, FakeTool]) -> None:
    import asyncio

    import pytest

    started = asyncio.Event()

    class Hanging(FakeTool):
        cancelled = False

        async def __call__(self, arguments, context, *, code=None):  # type: ignore[no-untyped-def]
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
            raise AssertionError("unreachable")

    class Buggy(FakeTool):
        async def __call__(self, arguments, context, *, code=None):  # type: ignore[no-untyped-def]
            await started.wait()
            raise RuntimeError("a bug of ours")

    hanging = Hanging(tools["search"].schema)
    env = Environment("fake", {"search": hanging, "visit": Buggy(tools["visit"].schema)})
    two = call("search", query=["a"]) + "\n" + call("visit", url=["u"], goal="g")
    with pytest.raises(RuntimeError, match="a bug of ours"):
        await run(settings, env, two)
    assert hanging.cancelled  # not left running against a closed environment


async def test_a_hanging_forced_answer_is_cut_off(settings: Settings,
                                                  environment: Environment) -> None:
    import asyncio

    class Hangs(ScriptedModel):
        async def complete(self, request: ChatRequest) -> Completion:
            if request.purpose == "forced_answer":
                await asyncio.sleep(10)
            return await super().complete(request)

    model = Hangs([call("search", query=["a"])])
    s = override_settings(settings, {"budgets.max_rounds": 1,
                                     "budgets.answer_grace_seconds": 0.05})
    traj = await arun("q", s, model=model, environment=environment)
    assert (traj.termination, traj.answer) == ("max_rounds", None)
