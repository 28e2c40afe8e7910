"""`sounding eval --executor ray` as a real driver process joining the test's cluster:
SIGKILLed mid-run, then started again, it resumes with no duplicate and no missing row."""

from __future__ import annotations

import json
from pathlib import Path

from ..eval.test_kill import N_ITEMS, K, check_resumed, keys, kill_when, rerun, rows, setup, start


def test_driver_killed_then_restarted_resumes(ray_cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with setup(tmp_path, latency=0.25) as (server, cmd, env):
        cmd = [*cmd, "--executor", "ray", "--ray-address", ray_cluster, "--workers", "2",
               "--worker-concurrency", "2"]
        proc = start(cmd, env, tmp_path)
        kill_when(proc, lambda: (n := len(rows(out))) >= 4 and len(server.requests) > n,
                  "first rows", timeout=60)
        kept = rows(out)
        assert 4 <= len(kept) < N_ITEMS * K
        again, before = rerun(server, cmd, env, tmp_path, timeout=120)
        resumed = keys(server.requests[before:])
        assert server.max_in_flight <= 4  # 2 workers x 2 rollouts each
    assert "worker-1:" in again.stderr and "worker-2:" in again.stderr  # per-worker lines
    check_resumed(out, kept, resumed)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and metrics["rows_judged"] == N_ITEMS * K
    assert metrics["avg_at_k"] == 0.5
