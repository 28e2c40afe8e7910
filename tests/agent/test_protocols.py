"""The wire formats: the exact system prompt, and parsing of model turns."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path

import pytest

from sounding._templates import load_template
from sounding.agent import arun
from sounding.config import Settings
from sounding.env import Environment, build_environment
from sounding.llm.base import Completion, ToolSchema
from sounding.llm.protocols import STOP_SEQUENCES, NativeProtocol, TagsProtocol, split_think
from sounding.llm.protocols.tags import OVERFLOW_SENTENCE, UPSTREAM_TOOL_NAMES, tools_block
from sounding.llm.testing import ScriptedModel
from sounding.providers.sandbox import BubblewrapSandbox, bwrap_path
from sounding.tools.base import check_arguments
from sounding.tools.python import PYTHON_NATIVE_SCHEMA, PythonTool
from sounding.tools.search import SEARCH_SCHEMA
from sounding.tools.visit import VISIT_SCHEMA
from sounding.types import Message, ToolCall

SNAPSHOTS = Path(__file__).parent / "snapshots"
ROLE = load_template("sounding.agent", "role.txt")
UPSTREAM_TOOLS = (SNAPSHOTS / "upstream_tools.txt").read_text(encoding="utf-8")
"""Upstream's five tool lines, copied from the `<tools>` block in tongyi-format.md."""


def test_tags_system_prompt_snapshot() -> None:
    text = TagsProtocol().system_prompt(ROLE, [SEARCH_SCHEMA, VISIT_SCHEMA], date(2026, 11, 21))
    assert text == (SNAPSHOTS / "system_tags.txt").read_text(encoding="utf-8")


def test_tags_system_prompt_structure() -> None:
    text = TagsProtocol().system_prompt(ROLE, [SEARCH_SCHEMA, VISIT_SCHEMA], date(2026, 1, 2))
    assert "<answer></answer>" in text
    body = text.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert body == UPSTREAM_TOOLS
    assert text.endswith("Current date: 2026-01-02")
    assert text.split("</tools>\n\n", 1)[1] == (
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n\n'
        "Current date: 2026-01-02")


def test_tools_block_is_upstreams_five_lines_whatever_the_environment() -> None:
    assert tools_block([SEARCH_SCHEMA]) == tools_block([VISIT_SCHEMA, SEARCH_SCHEMA])
    assert tools_block([PYTHON_NATIVE_SCHEMA]) == UPSTREAM_TOOLS
    names = re.findall(r'^\{"type": "function", "function": \{"name": "(\w+)"', UPSTREAM_TOOLS,
                       re.M)
    assert tuple(names) == UPSTREAM_TOOL_NAMES
    assert "\nExample of a correct call:\n<tool_call>" in UPSTREAM_TOOLS  # literal newlines kept


def test_upstream_snapshot_equals_the_format_notes() -> None:
    doc = Path("/work/shared/docs/tongyi-format.md")
    if not doc.is_file():
        pytest.skip("the shared format notes are not on this machine")
    text = doc.read_text(encoding="utf-8")
    fenced = text.split("```text\n", 1)[1].split("\n```", 1)[0]
    assert fenced == UPSTREAM_TOOLS


def test_user_tools_follow_as_json_lines_in_the_same_style() -> None:
    geo = ToolSchema("distance", "Great-circle distance in km between two places.",
                     {"type": "object", "properties": {"a": {"type": "string"},
                                                       "b": {"type": "string"}},
                      "required": ["a", "b"]})
    block = tools_block([SEARCH_SCHEMA, geo, VISIT_SCHEMA])
    head, _, extra = block.rpartition("\n")
    assert head == UPSTREAM_TOOLS
    assert json.loads(extra) == {"type": "function", "function": {
        "name": "distance", "description": geo.description, "parameters": dict(geo.parameters)}}
    assert extra.startswith('{"type": "function", "function": {"name": "distance", "descr')


def test_feedback_is_wrapped_as_a_tool_response() -> None:
    msg = TagsProtocol().feedback_message("Your last turn had neither a tool call nor an answer.")
    assert msg == Message("user", "<tool_response>\nYour last turn had neither a tool call nor "
                                  "an answer.\n</tool_response>")
    assert NativeProtocol().feedback_message("x") == Message("user", "x")
    assert OVERFLOW_SENTENCE.endswith(
        "format:<think>your final thinking</think>\n<answer>your answer</answer>")


def test_assistant_text_is_stripped_as_upstream() -> None:
    done = Completion(text="\n<think>t</think>\n<answer>a</answer>\n\n")
    proto = TagsProtocol()
    assert proto.assistant_message(done, proto.parse(done, [])).content == (
        "<think>t</think>\n<answer>a</answer>")


def test_empty_code_argument_beside_code_block_is_dropped() -> None:
    turn = parse('<tool_call>\n{"name": "PythonInterpreter", "arguments": {"code": ""}}\n'
                 "<code>\n\n  print(2)  \n\n</code>\n</tool_call>")
    call = turn.tool_calls[0]
    assert dict(call.arguments) == {} and call.code == "print(2)"
    inline = parse('<tool_call>{"name": "PythonInterpreter", "arguments": {"code": " print(3)\\n"}}'
                   "</tool_call>").tool_calls[0]
    assert dict(inline.arguments) == {} and inline.code == "print(3)"


def test_deeply_nested_tool_call_json_is_a_call_error() -> None:
    deep = "[" * 5000 + "]" * 5000
    turn = parse(f'<tool_call>{{"name": "search", "arguments": {{"query": {deep}}}}}</tool_call>')
    assert turn.tool_calls[0].name == "" and "nested too deeply" in str(turn.call_errors[0])


def test_native_python_keeps_code_in_its_arguments() -> None:
    done = Completion("", (ToolCall("PythonInterpreter", {"code": "  print(1)\n"}, "c1"),))
    call = NativeProtocol().parse(done, ["PythonInterpreter"]).tool_calls[0]
    assert call.code == "print(1)" and call.arguments == {"code": "print(1)"}
    assert check_arguments(PYTHON_NATIVE_SCHEMA, call.arguments) == {"code": "print(1)"}


def test_tags_request_has_stop_sequences_and_no_tools() -> None:
    req = TagsProtocol().request([Message("user", "q")], [SEARCH_SCHEMA], _sampling())
    assert req.stop == STOP_SEQUENCES == ("\n<tool_response>", "<tool_response>")
    assert not req.tools


def _sampling():  # type: ignore[no-untyped-def]
    from sounding.config import Sampling

    return Sampling()


def parse(text: str, names: tuple[str, ...] = ("search", "visit", "PythonInterpreter")):  # type: ignore[no-untyped-def]
    return TagsProtocol().parse(Completion(text=text), list(names))


def test_parse_tool_call_with_think() -> None:
    turn = parse('<think>need data</think>\n<tool_call>\n{"name": "search", "arguments": '
                 '{"query": ["python asyncio"]}}\n</tool_call>')
    assert turn.think == "need data"
    assert turn.tool_calls == (ToolCall("search", {"query": ["python asyncio"]}, "call_0"),)
    assert turn.answer is None and turn.call_errors == (None,)


def test_search_mentioning_python_is_routed_by_name() -> None:
    turn = parse('<tool_call>{"name": "search", "arguments": {"query": ["python interpreter '
                 'PythonInterpreter"]}}</tool_call>')
    assert [c.name for c in turn.tool_calls] == ["search"]
    assert turn.tool_calls[0].code is None


def test_python_call_with_code_block() -> None:
    turn = parse('<tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n<code>\n'
                 'print(1 + 1)\n</code>\n</tool_call>')
    call = turn.tool_calls[0]
    assert call.name == "PythonInterpreter" and call.code == "print(1 + 1)"
    assert dict(call.arguments) == {}


def test_tolerant_json_and_multiple_calls() -> None:
    turn = parse("<tool_call>\n```json\n{'name': 'search', 'arguments': {'query': ['a']},}\n```"
                 '\n</tool_call>\n<tool_call>{"name": "visit", "arguments": {"url": "u", '
                 '"goal": "g"}}</tool_call>')
    assert [c.name for c in turn.tool_calls] == ["search", "visit"]
    assert turn.tool_calls[0].arguments == {"query": ["a"]}


def test_unreadable_call_is_reported_per_call() -> None:
    turn = parse("<tool_call>not json at all</tool_call>")
    assert turn.tool_calls[0].name == ""
    assert turn.call_errors[0] is not None and "JSON" in turn.call_errors[0]


def test_answer_and_no_action() -> None:
    turn = parse("<think>done</think><answer>Paris</answer>")
    assert turn.answer == "Paris" and not turn.tool_calls
    turn = parse("I think it might be Paris.")
    assert turn.problem is not None and "search, visit, PythonInterpreter" in turn.problem
    # an answer mentioned inside the thinking is not an answer
    turn = parse("<think>maybe <answer>x</answer></think>still thinking")
    assert turn.answer is None and turn.problem is not None


def test_results_are_user_messages_in_tool_response() -> None:
    msgs = TagsProtocol().result_messages(
        [ToolCall("search", {}, "a"), ToolCall("visit", {}, "b")], ["one", "two"])
    assert msgs == [Message("user", "<tool_response>\none\n</tool_response>\n"
                                    "<tool_response>\ntwo\n</tool_response>")]


@pytest.mark.parametrize(
    ("text", "think", "rest"),
    [
        ("<think>a</think>b", "a", "b"),
        ("a</think>b", "a", "b"),
        ("<think>unfinished", "unfinished", ""),
        ("plain", "", "plain"),
    ],
)
def test_split_think(text: str, think: str, rest: str) -> None:
    assert split_think(text) == (think, rest)


def test_native_protocol_roundtrip() -> None:
    proto = NativeProtocol()
    completion = Completion(text="", tool_calls=(
        ToolCall("search", {"query": "one"}, "call_x"),
        ToolCall("visit", {"__raw__": "{bad"}, "call_y"),
    ))
    turn = proto.parse(completion, ["search", "visit"])
    assert [c.id for c in turn.tool_calls] == ["call_x", "call_y"]
    assert turn.call_errors[0] is None and "not a valid JSON" in str(turn.call_errors[1])
    msgs = proto.result_messages(turn.tool_calls, ["r1", "r2"])
    assert [(m.role, m.tool_call_id) for m in msgs] == [("tool", "call_x"), ("tool", "call_y")]
    req = proto.request([Message("user", "q")], [SEARCH_SCHEMA], _sampling(), final=True)
    assert req.tool_choice == "none" and req.tools and not req.stop
    answer = proto.parse(Completion(text="<think>x</think>It is Paris."), ["search"])
    assert answer.answer == "It is Paris."


async def test_native_python_call_runs_end_to_end(settings: Settings) -> None:
    """A native PythonInterpreter call with its code in `code` runs in the sandbox (it used
    to be refused with "needs the argument 'code'")."""
    if bwrap_path() is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    offline = build_environment(settings, summary_model=None)
    env = Environment("offline", {**offline.tools, "PythonInterpreter": PythonTool(
        BubblewrapSandbox(), native=True)}, offline.closers)
    call = ToolCall("PythonInterpreter", {"code": "\nprint(6 * 7)\n"}, "call_1")
    model = ScriptedModel([Completion("", (call,)), "<answer>42</answer>"])
    native = dataclasses.replace(settings, protocol="native")
    try:
        traj = await arun("What is six times seven?", native, model=model, environment=env)
    finally:
        await env.aclose()
    model.assert_all_used()
    record = traj.tool_calls[0]
    if record.error and "namespace" in record.error:
        pytest.skip(f"the sandbox cannot start here: {record.error}")
    assert record.error is None, record.error
    assert record.observation.startswith("stdout:\n42")
    assert traj.answer == "42" and traj.termination == "answer"
    tool_message = model.requests[1].messages[-1]
    assert tool_message.role == "tool" and "42" in tool_message.content
