"""The CLI side of the crash rule: one plain line, a result and a trajectory, whatever happens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sounding.cli._run import run_question
from sounding.config import Settings
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.trace import read_trajectories

from .test_ask import run_cli, tags_call


def _env(server: ScriptedServer, cache_dir: Path, **extra: str) -> dict[str, str]:
    return {"SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "m",
            "SOUNDING_CACHE_DIR": str(cache_dir), **extra}


def test_everything_checkable_fails_before_any_model_call(tmp_path: Path) -> None:
    missing = tmp_path / "[x] gone"
    with ScriptedServer(["<answer>never</answer>"]) as server:
        proc = run_cli(["ask", "q", "--files", str(missing), "--system-prompt",
                        str(tmp_path / "role.txt")], _env(server, tmp_path), tmp_path)
        assert server.requests == []
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    # printed as text: the [x] of the path is not taken for console markup
    assert f"--files (web.files_dir): {missing} does not exist" in lines[0]
    assert "--system-prompt (system_prompt_file)" in lines[0]
    assert proc.stdout == ""


def test_error_text_keeps_square_brackets(tmp_path: Path) -> None:
    proc = run_cli(["ask", "q", "--mode", "[dense]"], {}, tmp_path)
    assert proc.returncode == 2
    assert "'[dense]' is not one of 'react', 'iter', 'heavy', 'resum'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_failed_run_prints_one_line_json_and_trace(vital_cache: Path, tmp_path: Path) -> None:
    trace = tmp_path / "runs.jsonl"
    with ScriptedServer.repeat(RuntimeError("the server broke")) as server:
        env = _env(server, vital_cache, SOUNDING_LLM__MAX_RETRIES="0")
        proc = run_cli(["ask", "q", "--json", "--quiet", "--trace", str(trace)], env, tmp_path)
        debug = run_cli(["ask", "q", "--quiet", "--debug"], env, tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the run ended with an error: LLM")
    assert f"(trajectory in {trace})" in lines[0]
    result = json.loads(proc.stdout)
    assert result["termination"] == "error" and result["answer"] is None
    assert result["error"]["type"].startswith("LLM") and result["error"]["message"]
    assert list(result)[:4] == ["question", "answer", "termination", "error"]
    saved = read_trajectories(trace)
    assert len(saved) == 1 and saved[0].termination == "error" and saved[0].error is not None
    assert "Traceback" not in proc.stderr
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_a_crash_of_ours_still_yields_a_closed_trajectory(settings: Settings) -> None:
    model = ScriptedModel([RuntimeError("a bug of ours")])
    events: list[str] = []
    outcome = run_question("q", settings, lambda e: events.append(e.kind), model=model)
    trajectory = outcome.trajectory
    assert isinstance(outcome.exception, RuntimeError)
    assert trajectory.termination == "error" and trajectory.question == "q"
    assert trajectory.error is not None and trajectory.error.type == "RuntimeError"
    assert "a bug of ours" in trajectory.error.traceback
    assert "round_started" in events


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
def test_ctrl_c_writes_the_partial_trajectory(vital_cache: Path, tmp_path: Path) -> None:
    release = threading.Event()
    turns = iter([tags_call("search", query=["Eiffel Tower"])])

    def reply(body: dict[str, object]) -> str:
        for turn in turns:
            return turn
        release.wait(30)  # the second turn hangs until the test is over
        return "<answer>too late</answer>"

    trace = tmp_path / "runs.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
    with ScriptedServer.repeat(reply) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sounding", "ask", "q", "--trace", str(trace), "--json"],
            env={**clean, **_env(server, vital_cache)}, cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if "round 2" in line:
                    break
            assert server.wait_for_requests(2, timeout=30)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == f"error: interrupted (trajectory in {trace})"
    assert json.loads(stdout)["termination"] == "error"
    (saved,) = read_trajectories(trace)
    assert saved.termination == "error" and saved.error is not None
    assert saved.error.type == "KeyboardInterrupt"
    assert [t.call.name for t in saved.tool_calls] == ["search"]


def test_trace_file_problems_are_one_line(vital_cache: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with ScriptedServer.repeat("<answer>Paris</answer>") as server:
        env = _env(server, vital_cache)
        folder = run_cli(["ask", "q", "--trace", str(tmp_path)], env, tmp_path)
        assert server.requests == []  # refused before any model call
        unwritable = run_cli(["ask", "q", "--quiet", "--trace", str(blocker / "runs.jsonl")],
                             env, tmp_path)
    assert folder.returncode == 2 and "is a folder; name a file" in folder.stderr
    assert unwritable.returncode == 1
    assert unwritable.stdout.startswith("Paris")  # the answer is still printed
    lines = unwritable.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the trajectory to ")
