"""The wire formats: the exact system prompt, and parsing of model turns."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sounding._templates import load_template
from sounding.llm.base import Completion
from sounding.llm.protocols import STOP_SEQUENCES, NativeProtocol, TagsProtocol, split_think
from sounding.tools.search import SEARCH_SCHEMA
from sounding.tools.visit import VISIT_SCHEMA
from sounding.types import Message, ToolCall

SNAPSHOTS = Path(__file__).parent / "snapshots"
ROLE = load_template("sounding.agent", "role.txt")


def test_tags_system_prompt_snapshot() -> None:
    text = TagsProtocol().system_prompt(ROLE, [SEARCH_SCHEMA, VISIT_SCHEMA], date(2026, 11, 21))
    assert text == (SNAPSHOTS / "system_tags.txt").read_text(encoding="utf-8")


def test_tags_system_prompt_structure() -> None:
    text = TagsProtocol().system_prompt(ROLE, [SEARCH_SCHEMA, VISIT_SCHEMA], date(2026, 1, 2))
    assert "<answer></answer>" in text
    body = text.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    lines = [json.loads(line) for line in body.splitlines()]
    assert [t["function"]["name"] for t in lines] == ["search", "visit"]
    assert lines[1]["function"]["parameters"]["required"] == ["url", "goal"]
    assert text.endswith("Current date: 2026-01-02")
    assert '{"name": <function-name>, "arguments": <args-json-object>}' in text


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
