"""Eval against a full disk and a damaged results file: one clear line, a resumable run,
and damaged lines counted and reported."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sounding.cli.eval import app
from sounding.eval import store
from sounding.llm.testing import ScriptedServer

from ..eval.helpers import make_items
from ..eval.test_e2e import answer_from, corpus


def agent(body: dict) -> str:  # type: ignore[type-arg]
    user = next(m for m in body["messages"] if m["role"] == "user")
    return answer_from(str(user["content"]))


def dataset(folder: Path, n: int) -> Path:
    path = folder / "set.jsonl"
    path.write_text("".join(json.dumps({"id": i.id, "question": i.question, "answer": i.answer})
                            + "\n" for i in make_items(n)))
    return path


def args(data: Path, out: Path, base_url: str, corpus_dir: Path) -> list[str]:
    return [str(data), "--out", str(out), "--rollouts", "2", "--concurrency", "2",
            "--base-url", base_url, "--model", "scripted", "--corpus", str(corpus_dir),
            "--judge", "exact", "--quiet"]


def rows(out: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


class FillingDisk:
    """`os` as the run store sees it, on a disk that fills after `room` writes: the write
    that hits the end lands half a line, then every write fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def write(self, fd: int, data: memoryview) -> int:
        self.room -= 1
        if self.room == 0:
            return os.write(fd, data[: len(data) // 2])
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


def test_full_disk_ends_with_one_line_and_resumes(isolated_env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data, out = dataset(isolated_env, 10), isolated_env / "run"
    monkeypatch.setattr(store, "os", FillingDisk(room=7))
    runner = CliRunner()
    with ScriptedServer.cycle([agent]) as server:
        cli = args(data, out, server.base_url, corpus(isolated_env))
        first = runner.invoke(app, cli)
        assert first.exit_code == 1
        assert "Traceback" not in first.output
        errors = [x for x in first.output.splitlines() if x.startswith("error:")]
        assert len(errors) == 1 and len(first.output.strip().splitlines()) == 2, first.output
        assert "No space left on device" in errors[0] and "resumable" in errors[0]
        monkeypatch.undo()  # space freed
        second = runner.invoke(app, cli)
        assert second.exit_code == 0, second.output
    done = rows(out)
    assert len(done) == 20 and len({(r["item_id"], r["rollout"]) for r in done}) == 20
    assert json.loads((out / "metrics.json").read_text())["complete"] is True


def test_damaged_lines_are_counted_and_reported(isolated_env: Path) -> None:
    data, out = dataset(isolated_env, 4), isolated_env / "run"
    runner = CliRunner()
    with ScriptedServer.cycle([agent]) as server:
        cli = args(data, out, server.base_url, corpus(isolated_env))
        assert runner.invoke(app, cli).exit_code == 0
        good = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
        # Two rows damaged on disk: a torn line and invalid UTF-8.
        damaged = [good[0][:20] + b"\n", b"\xff\xfe not json\n", *good[2:]]
        (out / "results.jsonl").write_bytes(b"".join(damaged))
        again = runner.invoke(app, cli)
        assert again.exit_code == 0, again.output
        assert "skipped 2 unreadable line(s) in the results" in again.output
        assert len(server.requests) == 8 + 2  # exactly the two damaged rows ran again
    assert len(rows(out)) == 8
    assert json.loads((out / "metrics.json").read_text())["skipped_lines"] == 2


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics are Linux's")
def test_file_size_limit_in_a_real_process(isolated_env: Path) -> None:
    """The OS refuses the write (EFBIG, like a full disk): one line on stderr, resumable."""
    data, out = dataset(isolated_env, 12), isolated_env / "run"
    corpus_dir = corpus(isolated_env)

    def limit() -> None:
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    with ScriptedServer.cycle([agent]) as server:
        cmd = [sys.executable, "-m", "sounding", "eval",
               *args(data, out, server.base_url, corpus_dir)]
        hit = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=limit,
                             timeout=120, check=False)
        assert hit.returncode == 1, hit.stderr
        assert "Traceback" not in hit.stderr and "File too large" in hit.stderr
        assert len([x for x in hit.stderr.splitlines() if x.strip()]) <= 2, hit.stderr
        ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                            check=False)
        assert ok.returncode == 0, ok.stderr
    done = rows(out)
    assert len(done) == 24 and len({(r["item_id"], r["rollout"]) for r in done}) == 24
