"""Environments as toolsets: lifecycle, composition, and the one tool boundary."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from sounding.config import Settings, override_settings
from sounding.env import Environment, StaticToolset, build_environment
from sounding.errors import ConfigError, ProviderError
from sounding.llm.base import ToolSchema
from sounding.providers.sandbox import bwrap_path
from sounding.tools.base import ToolContext, ToolOutput
from sounding.tools.decorator import tool
from sounding.types import JSON, ToolCall

ECHO = ToolSchema("echo", "Echo the text.", {
    "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})


class Echo:
    """Echoes `text`; reports one provider request into the call's stats."""

    schema = ECHO

    def __init__(self) -> None:
        self.seen: list[Mapping[str, JSON]] = []

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        self.seen.append(arguments)
        context.stats.used("echo-provider")
        context.stats.requests += 1
        return ToolOutput(text=f"echo: {arguments['text']}", sources=("https://echo.example/",),
                          meta={"length": len(str(arguments["text"]))})


class Raises:
    """A tool that fails the way a provider or a URL library would."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.schema = ToolSchema("visit", "Visit.", {"type": "object", "properties": {}})

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        raise self.exc


class Lifecycle(StaticToolset):
    """Records open and close, to check the order an environment drives them in."""

    def __init__(self, name: str, log: list[str], tools: Mapping[str, object] = {}) -> None:
        super().__init__(name, tools)  # type: ignore[arg-type]
        self.log = log

    async def open(self) -> None:
        self.log.append(f"open {self.name}")

    async def aclose(self) -> None:
        self.log.append(f"close {self.name}")


async def test_call_returns_observation_sources_meta_and_per_call_facts() -> None:
    echo = Echo()
    async with Environment("test", {"echo": echo}) as env:
        assert env.names() == ["echo"] and env.schemas() == [ECHO]
        result = await env.call(ToolCall("echo", {"text": "hi"}), ToolContext())
    assert result.text == "echo: hi" and result.error is None
    assert result.sources == ("https://echo.example/",) and result.meta == {"length": 2}
    assert result.provider == "echo-provider" and not result.cache_hit


async def test_unknown_arguments_are_ignored_and_noted() -> None:
    echo = Echo()
    env = Environment("test", {"echo": echo})
    result = await env.call(ToolCall("echo", {"text": "hi", "lang": "en", "k": 3}),
                            ToolContext())
    assert result.error is None and echo.seen == [{"text": "hi"}]
    assert result.meta["ignored_arguments"] == ["lang", "k"]


async def test_a_tool_this_environment_lacks_gets_an_observation_naming_it() -> None:
    env = Environment("offline", {"echo": Echo()})
    result = await env.call(ToolCall("google_scholar", {"query": ["x"]}), ToolContext())
    assert "no tool named 'google_scholar'" in result.text
    assert "Available tools: echo." in result.text
    assert result.error is not None and result.error.startswith("UnknownToolError")


async def test_missing_argument_and_parse_error_are_observations() -> None:
    env = Environment("test", {"echo": Echo()})
    missing = await env.call(ToolCall("echo", {}), ToolContext())
    assert "needs the argument 'text'" in missing.text
    assert missing.meta["error_type"] == "ToolArgumentError"
    broken = await env.call(ToolCall("echo", {}), ToolContext(), parse_error="bad JSON")
    assert broken.text.startswith("Your tool call could not be read: bad JSON.")


async def test_tool_errors_become_observations_with_the_traceback_recorded() -> None:
    env = Environment("test", {"visit": Raises(ProviderError("jina answered 502"))})
    result = await env.call(ToolCall("visit", {}), ToolContext())
    assert result.text == "Error: the visit tool failed: jina answered 502"
    assert result.error == "ProviderError: jina answered 502"
    assert "Traceback" in str(result.meta["traceback"])


async def test_strict_mode_reraises_our_bugs_and_lenient_mode_reports_them() -> None:
    bug = ValueError("Invalid IPv6 URL")
    strict = Environment("test", {"visit": Raises(bug)}, strict=True)
    with pytest.raises(ValueError, match="Invalid IPv6 URL"):
        await strict.call(ToolCall("visit", {}), ToolContext())
    lenient = Environment("test", {"visit": Raises(bug)}, strict=False)
    result = await lenient.call(ToolCall("visit", {}), ToolContext())
    assert result.text.startswith("Error: the visit tool failed unexpectedly "
                                  "(ValueError: Invalid IPv6 URL)")
    assert result.error == "ValueError: Invalid IPv6 URL"
    assert result.meta["error_type"] == "ValueError"
    assert "raise self.exc" in str(result.meta["traceback"])


def test_the_suite_runs_strict() -> None:
    assert Environment("test", {}).is_strict  # tests/conftest.py turns it on


async def test_a_user_tool_failure_is_an_observation_even_when_strict() -> None:
    @tool
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    env = Environment("test", {"divide": divide}, strict=True)
    result = await env.call(ToolCall("divide", {"a": 1, "b": 0}), ToolContext())
    assert result.text == "Error: the divide tool failed: ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in str(result.meta["traceback"])


async def test_toolsets_open_in_order_close_in_reverse_and_compose() -> None:
    log: list[str] = []
    base = Environment("base", toolsets=[Lifecycle("a", log, {"echo": Echo()})])
    env = base.with_toolsets(Lifecycle("b", log), Lifecycle("c", log))
    assert env.names() == ["echo"] and base.names() == []  # the new one owns them all
    async with env:
        await env.open()  # idempotent
        assert log == ["open a", "open b", "open c"]
    assert log[3:] == ["close c", "close b", "close a"]


async def test_two_toolsets_may_not_offer_one_name() -> None:
    with pytest.raises(ConfigError, match="two toolsets offer a tool named 'echo'"):
        Environment("x", toolsets=[StaticToolset("a", {"echo": Echo()}),
                                   StaticToolset("b", {"echo": Echo()})])


async def test_build_environment_keeps_its_path_and_adds_user_tools(settings: Settings) -> None:
    configured = override_settings(settings, {"tools": ["tests.env.sample_tools:shout"]})
    env = build_environment(configured, summary_model=None)
    async with env:
        assert env.names()[:2] == ["search", "visit"] and "shout" in env.names()
        result = await env.call(ToolCall("shout", {"text": "quiet"}), ToolContext())
    assert result.text == "QUIET!"


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is not installed")
async def test_offline_offers_a_working_python_interpreter(settings: Settings) -> None:
    offline = dataclasses.replace(settings, env="offline")
    async with build_environment(offline, summary_model=None) as env:
        assert "PythonInterpreter" in env.names()
        call = ToolCall("PythonInterpreter", {}, code="print(6 * 7)")
        result = await env.call(call, ToolContext())
    if result.error and "namespace" in result.error:
        pytest.skip(f"bubblewrap cannot create namespaces here: {result.error}")
    assert result.error is None and "42" in result.text
