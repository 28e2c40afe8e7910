"""`sounding trace show`: a recorded run as a readable transcript, robust to any content."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sounding.agent import Result
from sounding.cli.trace import app
from sounding.trace.trajectory import ModelCallRecord, RunError, ToolCallRecord, Trajectory
from sounding.types import ToolCall, Usage

HOSTILE = "[bold red]not markup[/] [link=http://x]y[/link] \x1b[31m"


def _run(question: str, *, branch: str | None = None, answer: str | None = "Gustave Eiffel",
         observation: str = "A Google search found 10 results. " + "word " * 400
         ) -> Trajectory:
    t = Trajectory(question=question, mode="react", model="tongyi", rounds=2, seconds=3.25,
                   answer=answer, termination="answer")
    call = ToolCall(name="search", arguments={"query": ["Eiffel Tower", HOSTILE]})
    t.model_calls += [
        ModelCallRecord(round=1, purpose="turn", prompt=[0], latency_s=1.5, branch=branch,
                        usage=Usage(1000, 50), output="<think>I should search for "
                        f"{HOSTILE}</think>\n<tool_call>{{}}</tool_call>"),
        ModelCallRecord(round=2, purpose="turn", prompt=[0], latency_s=0.5, branch=branch,
                        usage=Usage(2000, 10), output="<think>found</think>\n<answer>"
                        "Gustave Eiffel</answer>"),
    ]
    t.tool_calls.append(ToolCallRecord(round=1, call=call, observation=observation,
                                       latency_s=0.25, branch=branch))
    return t


def _show(path: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["show", str(path), *args], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return result.output


def test_transcript_of_a_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    _run("first question").append_to(path)
    _run(f"Who is it named after? {HOSTILE}").append_to(path)
    out = _show(path)  # the last run by default
    shown = HOSTILE.replace("\x1b", "\\x1b")  # printed as text, the escape made visible
    assert f"question: Who is it named after? {shown}" in out
    assert "\x1b" not in out
    assert "round 1" in out and "round 2" in out
    assert f"I should search for {shown}" in out
    assert "search" in out and '"Eiffel Tower"' in out
    assert "A Google search found 10 results." in out
    assert "more characters]" in out  # the long observation is cut
    assert "answer: Gustave Eiffel" in out
    assert "termination: answer, 2 rounds, 3.2 s, 3,000 prompt + 60 completion tokens" in out
    assert "first question" not in out
    assert "first question" in _show(path, "--index", "0")


def test_select_by_id_and_full_text(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    wanted = _run("wanted")
    for t in (_run("other"), wanted, _run("third")):
        t.append_to(path)
    out = _show(path, "--id", wanted.id[:10], "--max-chars", "0")
    assert "question: wanted" in out and "more characters" not in out


def test_heavy_branches_nested_and_errors_shown(tmp_path: Path) -> None:
    parent = Trajectory(question="heavy q", mode="heavy", answer=None, termination="error",
                        error=RunError("LLMConnectionError", "endpoint [down]"))
    parent.branches = [_run("heavy q", branch="b0"), _run("heavy q", branch="b1", answer=None)]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(Result.from_trajectory(parent).to_dict()) + "\n",
                    encoding="utf-8")  # a `--json` result works as well
    out = _show(path)
    assert "branch b0" in out and "branch b1" in out
    assert out.index("branch b0") < out.index("branch b1") < out.rindex("answer: (none)")
    assert "error: LLMConnectionError: endpoint [down]" in out


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    _run("q").append_to(path)
    runner = CliRunner()
    result = runner.invoke(app, ["show", str(path), "--index", "5"])
    assert result.exit_code == 2
    assert "holds 1 runs; --index must be 0..0" in result.output
    result = runner.invoke(app, ["show", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "cannot show" in result.output


def test_list_names_every_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    runs = [_run("first"), _run(f"second {HOSTILE}")]
    for t in runs:
        t.append_to(path)
    result = CliRunner().invoke(app, ["list", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["#", "id", "mode", "termination", "rounds", "question"]
    assert lines[1].split()[:5] == ["0", runs[0].id[:12], "react", "answer", "2"]
    assert "second [bold red]not markup[/]" in lines[2] and "\x1b" not in result.output
