"""The tool boundary (issue 11): whatever a tool, a provider, a parser or a URL library raises,
the model gets an observation naming the problem, the record keeps the error with its
traceback, and the run goes on. Strict mode (the suite's default) still surfaces our bugs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx
import pytest

from sounding import arun
from sounding.config import Settings, override_settings
from sounding.env import Environment
from sounding.llm.testing import ScriptedModel
from sounding.providers.base import CallStats, Page
from sounding.tools.base import ToolContext, ToolOutput
from sounding.tools.search import SEARCH_SCHEMA
from sounding.tools.visit import VisitTool
from sounding.types import JSON, ToolCall


def _deep_json() -> object:
    return json.loads("[" * 200_000 + "]" * 200_000)


FAILURES: dict[str, tuple[Callable[[], object], str]] = {
    "unclosed IPv6 bracket": (lambda: urlsplit("http://[::1"), "ValueError"),
    "empty IDNA label": (lambda: "a..example".encode("idna"), "UnicodeError"),
    "octal host in httpx": (lambda: httpx.URL("http://0177.0.0.1/"), "InvalidURL"),
    "deeply nested JSON": (_deep_json, "RecursionError"),
    "NUL in a file name": (lambda: open("a\0b"), "ValueError"),  # noqa: SIM115
}


class LibraryPages:
    """A page backend whose fetch runs a library call that raises (as a parser would)."""

    name = "hostile"

    def __init__(self, failing: Callable[[], object]) -> None:
        self.failing = failing

    async def fetch(self, url: str, *, stats: CallStats | None = None) -> Page | None:
        self.failing()
        return Page(url=url, text="never reached")


class HostileSearch:
    schema = SEARCH_SCHEMA

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        _deep_json()
        return ToolOutput(text="never reached")


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_library_exceptions_become_observations(case: str) -> None:
    failing, kind = FAILURES[case]
    env = Environment("hostile", {"visit": VisitTool(LibraryPages(failing), None)},
                      strict=False)
    call = ToolCall("visit", {"url": ["http://[::1"], "goal": "anything"})
    result = await env.call(call, ToolContext())
    assert result.text.startswith(f"Error: the visit tool failed unexpectedly ({kind}")
    assert result.error is not None and result.error.startswith(kind)
    assert result.meta["error_type"] == kind
    assert "Traceback (most recent call last)" in str(result.meta["traceback"])


async def test_a_run_survives_a_crashing_tool_and_records_the_error(settings: Settings) -> None:
    env = Environment("hostile", {"search": HostileSearch()}, strict=False)
    model = ScriptedModel([
        '<think>look</think>\n<tool_call>\n{"name": "search", "arguments": {"query": ["x"]}}'
        '\n</tool_call>',
        "<think>the tool broke</think>\n<answer>unknown</answer>",
    ])
    trajectory = await arun("q", settings, model=model, environment=env)
    assert (trajectory.answer, trajectory.termination) == ("unknown", "answer")
    (record,) = trajectory.tool_calls
    assert record.error is not None and record.error.startswith("RecursionError")
    assert "RecursionError" in model.requests[1].messages[-1].content
    assert "Traceback" in str(record.meta["traceback"])


async def test_strict_mode_lets_the_bug_stop_the_run(settings: Settings) -> None:
    env = Environment("hostile", {"search": HostileSearch()}, strict=True)
    model = ScriptedModel([
        '<think>look</think>\n<tool_call>\n{"name": "search", "arguments": {"query": ["x"]}}'
        '\n</tool_call>'], strict=False)
    with pytest.raises(RecursionError):
        await arun("q", settings, model=model, environment=env)


@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_offline_run_calling_a_tool_it_lacks_goes_on(settings: Settings,
                                                           protocol: str) -> None:
    from sounding.llm.base import Completion

    configured = override_settings(settings, {"protocol": protocol})
    arguments = {"query": ["graphene"]}
    if protocol == "native":
        first: object = Completion(text="<think>scholar</think>", tool_calls=(
            ToolCall("google_scholar", arguments, "call_1"),))
    else:
        first = ('<think>scholar</think>\n<tool_call>\n'
                 + json.dumps({"name": "google_scholar", "arguments": arguments})
                 + "\n</tool_call>")
    model = ScriptedModel([first, "<think>ok</think>\n<answer>done</answer>"])  # type: ignore[list-item]
    trajectory = await arun("q", configured, model=model)
    assert trajectory.answer == "done"
    (record,) = trajectory.tool_calls
    assert "no tool named 'google_scholar'" in record.observation
    assert "Available tools: search, visit" in record.observation


async def test_a_tool_returning_junk_is_reported_not_crashed_on() -> None:
    class Junk:
        schema = SEARCH_SCHEMA

        async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                           code: str | None = None) -> ToolOutput:
            return None  # type: ignore[return-value]

    env = Environment("hostile", {"search": Junk()}, strict=False)
    result = await env.call(ToolCall("search", {"query": ["x"]}), ToolContext())
    assert result.text.startswith("Error: the search tool failed unexpectedly (AttributeError")
