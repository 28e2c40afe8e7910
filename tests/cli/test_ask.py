"""`sounding ask` end to end: a real subprocess, a scripted server on loopback, the real corpus."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sounding.llm.testing import ScriptedServer
from sounding.trace import read_trajectories

EIFFEL = "https://en.wikipedia.org/wiki/Eiffel_Tower"
EXTRACTION = json.dumps({
    "rational": "The lead paragraph names the engineer.",
    "evidence": "It is named after the engineer Gustave Eiffel, whose company designed "
                "and built the tower.",
    "summary": "The tower is named after Gustave Eiffel.",
})


def tags_call(name: str, **arguments: object) -> str:
    return (f"<think>next step</think>\n<tool_call>\n"
            f"{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>")


def router(turns: list[object]) -> Callable[[dict[str, object]], object]:
    """Answer extraction requests with JSON and agent turns from `turns`, in order."""
    pending = list(turns)

    def reply(body: dict[str, object]) -> object:
        messages = body["messages"]
        assert isinstance(messages, list)
        if str(messages[-1]["content"]).startswith("Please process the following webpage"):
            return EXTRACTION
        return pending.pop(0)

    return reply


@pytest.fixture
def cache_dir(vital_cache: Path) -> Path:
    return vital_cache


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
    return subprocess.run(
        [sys.executable, "-m", "sounding", *args], capture_output=True, text=True,
        env={**clean, **env}, cwd=cwd, timeout=120, check=False,
    )


def test_tags_search_visit_answer(cache_dir: Path, tmp_path: Path) -> None:
    turns = [
        tags_call("search", query=["Eiffel Tower engineer"]),
        tags_call("visit", url=[EIFFEL], goal="who the tower is named after"),
        "<think>found it</think>\n<answer>Gustave Eiffel</answer>",
    ]
    trace = tmp_path / "trace.jsonl"
    with ScriptedServer.repeat(router(turns)) as server:
        proc = run_cli(["ask", "Who is the Eiffel Tower named after?", "--json",
                        "--trace", str(trace)],
                       {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "tongyi",
                        "SOUNDING_CACHE_DIR": str(cache_dir)}, tmp_path)
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["answer"] == "Gustave Eiffel"
    assert result["termination"] == "answer"
    assert result["tool_calls"] == {"search": 1, "visit": 1}
    assert result["rounds"] == 3 and result["mode"] == "react"
    assert EIFFEL in result["sources"]
    assert result["usage"]["prompt_tokens"] > 0
    traj = result["trajectory"]
    search_obs = traj["tool_calls"][0]["observation"]
    assert search_obs.startswith("A Google search for 'Eiffel Tower engineer' found")
    assert f"]({EIFFEL})" in search_obs
    visit_obs = traj["tool_calls"][1]["observation"]
    assert visit_obs.startswith(f"The useful information in {EIFFEL} for user goal")
    assert "Evidence in page: \nIt is named after the engineer Gustave Eiffel" in visit_obs
    # the summary model's extraction call is part of the record (and of the usage)
    purposes = [c["purpose"] for c in traj["model_calls"]]
    assert purposes == ["turn", "turn", "extract", "turn"]
    extract = traj["model_calls"][2]
    assert traj["messages"][extract["prompt"][0]]["content"].startswith("Please process")
    # wire format: stop sequences, Tongyi sampling, tools in the system prompt
    turn = requests[0]
    assert turn["stop"] == ["\n<tool_response>", "<tool_response>"]
    assert (turn["temperature"], turn["top_p"], turn["presence_penalty"],
            turn["max_tokens"]) == (0.85, 0.95, 1.1, 10000)
    assert "tools" not in turn
    system = turn["messages"][0]["content"]
    assert '"name": "search"' in system and '"name": "visit"' in system
    assert "PythonInterpreter" in system  # upstream's five tool lines, whatever env provides
    # stderr shows live progress: round, tool, size, latency
    assert "round 1" in proc.stderr and "search" in proc.stderr and "chars" in proc.stderr
    saved = read_trajectories(trace)
    assert len(saved) == 1 and saved[0].answer == "Gustave Eiffel"


def test_native_search_visit_answer(cache_dir: Path, tmp_path: Path) -> None:
    def native_call(name: str, **arguments: object) -> dict[str, object]:
        return {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{name}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}]}

    turns = [
        native_call("search", query=["Eiffel Tower engineer"]),
        native_call("visit", url=[EIFFEL], goal="who the tower is named after"),
        {"role": "assistant", "content": "<answer>Gustave Eiffel</answer>",
         "reasoning": "The evidence names him."},
    ]
    with ScriptedServer.repeat(router(turns)) as server:
        proc = run_cli(["ask", "Who is the Eiffel Tower named after?", "--json",
                        "--protocol", "native"],
                       {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
                        "SOUNDING_CACHE_DIR": str(cache_dir)}, tmp_path)
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["answer"], result["termination"]) == ("Gustave Eiffel", "answer")
    assert result["tool_calls"] == {"search": 1, "visit": 1}
    turn_requests = [r for r in requests if "tools" in r]
    offered = [t["function"]["name"] for t in turn_requests[0]["tools"]]
    assert offered[:2] == ["search", "visit"]  # and PythonInterpreter where bubblewrap runs
    last = turn_requests[-1]["messages"]
    assert last[-1]["role"] == "tool" and last[-1]["tool_call_id"] == "call_visit"
    final_output = result["trajectory"]["model_calls"][-1]["output"]
    assert final_output.startswith("<think>The evidence names him.</think>")


def test_plain_output_prints_answer_and_sources(cache_dir: Path, tmp_path: Path) -> None:
    turns = [tags_call("visit", url=EIFFEL, goal="name"), "<answer>Gustave Eiffel</answer>"]
    with ScriptedServer.repeat(router(turns)) as server:
        proc = run_cli(["ask", "Who?", "--quiet"],
                       {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
                        "SOUNDING_CACHE_DIR": str(cache_dir)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "Gustave Eiffel"
    assert f"  - {EIFFEL}" in proc.stdout
    assert proc.stderr == ""


def test_retries_429_and_500_then_answers(cache_dir: Path, tmp_path: Path) -> None:
    with ScriptedServer(["<answer>ok</answer>"], failures=(429, 500)) as server:
        proc = run_cli(["ask", "q", "--json"],
                       {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
                        "SOUNDING_LLM__BACKOFF_BASE": "0.01",
                        "SOUNDING_CACHE_DIR": str(cache_dir)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["answer"] == "ok"
    assert result["trajectory"]["model_calls"][0]["retries"] == 2


def test_server_errors_after_retries_end_in_error_with_trajectory(cache_dir: Path,
                                                                  tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    with ScriptedServer([], failures=(500, 500, 500)) as server:
        proc = run_cli(["ask", "q", "--trace", str(trace)],
                       {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
                        "SOUNDING_LLM__BACKOFF_BASE": "0.01", "SOUNDING_LLM__MAX_RETRIES": "2",
                        "SOUNDING_CACHE_DIR": str(cache_dir)}, tmp_path)
    assert proc.returncode == 1
    assert "the run ended with an error" in proc.stderr
    [traj] = read_trajectories(trace)
    assert traj.termination == "error" and traj.answer is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["ask", "q"], {}, "no LLM endpoint configured: set --base-url / SOUNDING_BASE_URL"),
        (["ask", "q"], {"SOUNDING_BASE_URL": "http://127.0.0.1:1/v1"}, "--model / SOUNDING_MODEL"),
        (["ask", "   "], {}, "the question is empty"),
        (["ask", "q", "--protocol", "xml"], {"SOUNDING_BASE_URL": "http://x/v1",
                                              "SOUNDING_MODEL": "m"}, "must be one of tags"),
    ],
)
def test_clear_errors_exit_2(args: list[str], env: dict[str, str], expected: str,
                             tmp_path: Path) -> None:
    proc = run_cli(args, env, tmp_path)
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_unreachable_endpoint_exit_2(tmp_path: Path) -> None:
    proc = run_cli(["ask", "q"], {"SOUNDING_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
                                  "SOUNDING_MODEL": "m"}, tmp_path)
    assert proc.returncode == 2
    assert "cannot reach the LLM endpoint" in proc.stderr
    assert "SOUNDING_BASE_URL" in proc.stderr


def test_help_names_the_environment_variables() -> None:
    from typer.testing import CliRunner

    from sounding.cli.main import app

    result = CliRunner().invoke(app, ["ask", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    # Rich markup once swallowed "[env ...]" as a tag; every flag needs its help text.
    for name in ("SOUNDING_BASE_URL", "SOUNDING_MODEL", "SOUNDING_API_KEY"):
        assert f"[env {name}]" in result.output
    assert "iter, react or resum" in result.output
    assert "Sampling temperature (0.85)" in result.output


def test_budget_and_sampling_flags_reach_the_run(cache_dir: Path, tmp_path: Path) -> None:
    turns = [tags_call("search", query=["Eiffel"]), "<answer>forced</answer>"]
    with ScriptedServer.repeat(router(turns)) as server:
        proc = run_cli(["ask", "q", "--json", "--max-rounds", "1", "--temperature", "0.3",
                        "--mode", "react", "--protocol", "tags"],
                       {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
                        "SOUNDING_CACHE_DIR": str(cache_dir)}, tmp_path)
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["termination"], result["answer"], result["rounds"]) == (
        "forced_answer", "forced", 1)
    assert {r["temperature"] for r in requests} == {0.3}
    assert result["trajectory"]["settings"]["budgets"]["max_rounds"] == 1
