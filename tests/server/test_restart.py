"""`sounding serve` in a real process: killed with -9 mid-run, restarted, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sounding.llm.testing import ScriptedServer

from .conftest import KEY, free_port, research_reply, wait_done


def start(db: Path, port: int, llm: ScriptedServer, cache: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SOUNDING_SERVE_KEYS": KEY, "SOUNDING_CACHE_DIR": str(cache),
           "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    with (db.parent / "server.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sounding", "serve", "--port", str(port), "--database",
             str(db), "--base-url", llm.base_url, "--model", "scripted", "--max-rounds", "6",
             "--grace", "0", "--rate", "0"], env=env, stdout=subprocess.DEVNULL, stderr=log)


def wait_up(client: httpx.Client, proc: subprocess.Popen[bytes], db: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (db.parent / "server.log").read_text()
        try:
            if client.get("/v1/models").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up")


def test_kill_9_then_restart_marks_interrupted_and_reruns(
        tmp_path: Path, vital_cache: Path, isolated_env: Path) -> None:
    db, port = tmp_path / "jobs.db", free_port()
    with ScriptedServer.repeat(research_reply(3), latency=0.3) as llm:
        proc = start(db, port, llm, vital_cache)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                              headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        try:
            wait_up(client, proc, db)
            ids = [client.post("/v1/research", json={"question": f"q{i}"}).json()["id"]
                   for i in range(3)]
            assert llm.wait_for_requests(3, timeout=30)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            proc = start(db, port, llm, vital_cache)
            wait_up(client, proc, db)
            jobs = [client.get(f"/v1/research/{i}").json() for i in ids]
            assert [j["status"] for j in jobs] == ["interrupted"] * 3
            rerun = client.post(f"/v1/research/{ids[0]}/rerun")
            assert rerun.status_code == 202
            assert wait_done(client, ids[0])["status"] == "finished"
            text = client.get(f"/v1/research/{ids[0]}/events").text
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail("the server did not stop on SIGTERM")
            client.close()
    seqs = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
    assert seqs == list(range(1, len(seqs) + 1))  # no event lost or repeated
    assert "event: job_restarted" in text and text.rstrip().endswith("}")
    # uvicorn re-raises the signal once its shutdown is complete (so -15, not a crash).
    assert proc.returncode in (0, -signal.SIGTERM)
    log = (db.parent / "server.log").read_text()
    assert "Application shutdown complete" in log and "serving the web page at http" in log
    assert KEY not in log
