"""`sounding ask --tool ... --mcp ...` end to end: a real subprocess, a scripted server on
loopback, a user tool loaded from a file and a real MCP server over stdio."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sounding.llm.base import Completion
from sounding.llm.testing import ScriptedServer
from sounding.types import JSON, ToolCall

pytest.importorskip("mcp", reason="MCP tests need the mcp extra")

HERE = Path(__file__).resolve().parent


def turn(protocol: str, name: str, arguments: dict[str, JSON]) -> str | Completion:
    if protocol == "native":
        return Completion(text="<think>next</think>",
                          tool_calls=(ToolCall(name, arguments, f"call_{name}"),))
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<think>next</think>\n<tool_call>\n{body}\n</tool_call>"


@pytest.mark.parametrize("protocol", ["tags", "native"])
def test_ask_with_a_python_tool_and_an_mcp_server(vital_cache: Path, tmp_path: Path,
                                                  protocol: str) -> None:
    turns = [turn(protocol, "shout", {"text": "hello"}),
             turn(protocol, "add", {"a": 20, "b": 22}),
             "<think>done</think>\n<answer>HELLO! and 42</answer>"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
    with ScriptedServer(turns) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "sounding", "ask", "Shout and add", "--json",
             "--protocol", protocol, "--tool", f"{HERE / 'sample_tools.py'}:shout",
             "--mcp", f"{sys.executable} {HERE / 'mcp_server.py'}"],
            capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
            env={**clean, "SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
                 "SOUNDING_CACHE_DIR": str(vital_cache)})
        first = server.requests[0]
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["answer"], result["termination"]) == ("HELLO! and 42", "answer")
    assert result["tool_calls"] == {"shout": 1, "add": 1}
    shout, add = result["trajectory"]["tool_calls"]
    assert shout["observation"] == "HELLO!" and add["observation"] == "42"
    assert add["provider"] == "mcp:mcp_server.py"
    if protocol == "native":
        names = [t["function"]["name"] for t in first["tools"]]
    else:
        # Upstream's PythonInterpreter line holds raw newlines, so read names, not JSON lines.
        names = re.findall(r'"function": \{"name": "(\w+)"', first["messages"][0]["content"])
    assert {"shout", "add", "server_pid"} <= set(names)


@pytest.mark.parametrize("protocol", ["tags", "native"])
def test_python_api_takes_the_same_tool_and_mcp_names(vital_cache: Path, protocol: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`sounding.ask(..., tool=[...], mcp=[...])`: the CLI's names, the same toolsets."""
    import sounding
    from sounding.llm.testing import ScriptedModel

    monkeypatch.setenv("SOUNDING_CACHE_DIR", str(vital_cache))
    model = ScriptedModel([turn(protocol, "shout", {"text": "hi"}),
                           turn(protocol, "add", {"a": 1, "b": 2}),
                           "<think>done</think>\n<answer>HI! and 3</answer>"])
    result = sounding.ask("Shout and add", model=model, protocol=protocol,
                          tool=[f"{HERE / 'sample_tools.py'}:shout"],
                          mcp=[f"{sys.executable} {HERE / 'mcp_server.py'}"])
    assert (result.answer, result.termination) == ("HI! and 3", "answer")
    shout, add = result.trajectory.tool_calls
    assert (shout.observation, add.observation) == ("HI!", "3")
    assert add.provider == "mcp:mcp_server.py"
