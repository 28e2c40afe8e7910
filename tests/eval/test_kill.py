"""A real `python -m sounding eval` process: SIGKILLed mid-run then resumed, and Ctrl-C.

The agent's endpoint is a ScriptedServer in this process; its latency keeps rollouts
in flight when the signal lands. Rollouts are told apart by their sampling seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sounding.eval.runner import rollout_seed
from sounding.llm.testing import ScriptedServer

from .helpers import make_items
from .test_e2e import answer_from, corpus

N_ITEMS, K = 20, 2


def reply(body: dict) -> str:  # type: ignore[type-arg]
    user = next(m for m in body["messages"] if m["role"] == "user")
    return answer_from(str(user["content"]))


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def rows(out: Path) -> list[dict]:  # type: ignore[type-arg]
    path = out / "results.jsonl"
    text = path.read_text() if path.is_file() else ""
    return [json.loads(x) for x in text.splitlines(keepends=True) if x.endswith("\n")]


def keys(requests: list[dict]) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    by_seed = {rollout_seed(f"q{i:03d}", r): (f"q{i:03d}", r)
               for i in range(N_ITEMS) for r in range(K)}
    return [by_seed[req["seed"]] for req in requests]


@contextmanager
def setup(tmp: Path, latency: float) -> Iterator[tuple[ScriptedServer, list[str], dict[str, str]]]:
    data = tmp / "set.jsonl"
    data.write_text("".join(json.dumps({"id": i.id, "question": i.question,
                                        "answer": i.answer}) + "\n"
                            for i in make_items(N_ITEMS)))
    env = clean_env(tmp)
    with ScriptedServer.cycle([reply], latency=latency) as server:
        cmd = [sys.executable, "-m", "sounding", "eval", str(data), "--out", str(tmp / "run"),
               "--rollouts", str(K), "--concurrency", "4", "--base-url", server.base_url,
               "--model", "scripted", "--corpus", str(corpus(tmp)), "--judge", "exact",
               "--quiet"]
        yield server, cmd, env


def start(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def clean_env(tmp: Path) -> dict[str, str]:
    """This environment without Sounding settings or API keys, config and cache in `tmp`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SOUNDING_") and not k.endswith("_API_KEY")}
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_CACHE_HOME=str(tmp / "cache"),
               PYTHONUNBUFFERED="1")
    return env


def kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str,
              timeout: float = 20.0) -> None:
    """SIGKILL `proc` once `ready()` holds (or it has exited), and check it died of it."""
    try:
        wait_until(lambda: ready() or proc.poll() is not None, what, timeout=timeout)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=timeout)
    assert proc.returncode == -signal.SIGKILL


def rerun(server: ScriptedServer, cmd: list[str], env: dict[str, str], cwd: Path,
          timeout: float = 60.0) -> tuple[subprocess.CompletedProcess[str], int]:
    """Once the killed run's requests have drained, run `cmd` again at full speed; the
    finished process and the count of requests the server had before it started."""
    wait_until(lambda: server.in_flight == 0, "the dead run's requests to drain")
    before = len(server.requests)
    server.latency = 0.0
    again = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                           timeout=timeout)
    assert again.returncode == 0, again.stderr
    return again, before


def check_resumed(out: Path, kept: list[dict[str, Any]],
                  resumed: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """After a kill and a rerun: only the missing rollouts ran again, each once, and every
    row is present exactly once; returns the final rows."""
    done = {(r["item_id"], r["rollout"]) for r in kept}
    assert not done & set(resumed)  # finished rows were not run again
    assert len(resumed) == len(set(resumed)) == N_ITEMS * K - len(kept)
    final = rows(out)
    assert sorted((r["item_id"], r["rollout"]) for r in final) == sorted(
        (f"q{i:03d}", r) for i in range(N_ITEMS) for r in range(K))
    return final


def test_sigkill_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with setup(tmp_path, latency=0.25) as (server, cmd, env):
        proc = start(cmd, env, tmp_path)
        # Some rows written and the next rollouts already asked for: those die in flight.
        kill_when(proc, lambda: (n := len(rows(out))) >= 4 and len(server.requests) > n,
                  "first rows")
        kept = rows(out)
        assert 4 <= len(kept) < N_ITEMS * K and not (out / "metrics.json").exists()
        _again, before = rerun(server, cmd, env, tmp_path)
        assert before > len(kept)  # rollouts were in flight when it died
        resumed = keys(server.requests[before:])
    final = check_resumed(out, kept, resumed)
    for row in kept:  # rows written before the kill survive unchanged
        assert next(f for f in final if f["item_id"] == row["item_id"]
                    and f["rollout"] == row["rollout"]) == row
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and metrics["rows_judged"] == N_ITEMS * K
    assert metrics["avg_at_k"] == 0.5
    ids = [json.loads(x)["id"] for x in (out / "trajectories.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(r["trajectory_id"] for r in final)  # no orphans of the kill


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with setup(tmp_path, latency=0.25) as (server, cmd, env):
        proc = start(cmd, env, tmp_path)
        try:
            wait_until(lambda: len(rows(out)) >= 4 or proc.poll() is not None, "first rows")
            seen = rows(out)
            proc.send_signal(signal.SIGINT)
        finally:
            _stdout, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
        assert server.max_in_flight == 4
    final = rows(out)
    assert len(final) < N_ITEMS * K
    assert {(r["item_id"], r["rollout"]) for r in seen} <= {
        (r["item_id"], r["rollout"]) for r in final}
    assert len({(r["item_id"], r["rollout"]) for r in final}) == len(final)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rows_judged"] == len(final) and metrics["complete"] is False
    ids = [json.loads(x)["id"] for x in (out / "trajectories.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(r["trajectory_id"] for r in final)
