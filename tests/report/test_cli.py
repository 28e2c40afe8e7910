"""`sounding report` as a user runs it: a subprocess against a scripted server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from sounding.llm.testing import ScriptedServer

from ..cli.test_ask import run_cli
from .helpers import PLANTED, ReportScript, planner_turns

TOPIC = "History of the Eiffel Tower"


def _env(llm: ScriptedServer, cache: Path) -> dict[str, str]:
    return {"SOUNDING_BASE_URL": llm.base_url, "SOUNDING_MODEL": "m",
            "SOUNDING_CACHE_DIR": str(cache)}


def test_plan_only_then_outline_then_verify(vital_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = ReportScript(planner_turns(6))
    with ScriptedServer.repeat(script.server_reply) as llm:
        proc = run_cli(["report", TOPIC, "--out", str(out), "--plan-only", "--json"],
                       _env(llm, vital_cache), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stage"] == "planned"
    outline = out / "outline.md"
    text = outline.read_text()
    assert text.count("\n## ") == 6
    outline.write_text(text.replace("## 6. Aspect 6", "## 6. Water towers"))
    script = ReportScript()
    with ScriptedServer.repeat(script.server_reply) as llm:
        proc = run_cli(["report", "--out", str(out), "--outline", str(outline), "--json"],
                       _env(llm, vital_cache), tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["stage"] == "done" and summary["sections"] == 6
    assert script.calls == {"write": 6, "judge": 2} and summary["model_calls"] == 8
    assert "model calls this run" in proc.stderr
    md = (out / "report.md").read_text()
    assert "## Water towers" in md
    (out / "report.md").write_text(md.replace("\n## Aspect 2\n",
                                              f"\nIt was {PLANTED} [2].\n\n## Aspect 2\n"))
    with ScriptedServer.repeat(ReportScript().server_reply) as llm:
        proc = run_cli(["report", "verify", str(out), "--json"], _env(llm, vital_cache),
                       tmp_path)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["initial"]["unsupported"] == 1 and counts["outcomes"]["flagged"] == 1


def test_resume_after_kill(vital_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    reached, release = threading.Event(), threading.Event()

    def hold_section_three(stage: str, prompt: str) -> None:
        if stage == "write" and "Now write section 3" in prompt:
            reached.set()
            release.wait(60)

    script = ReportScript(planner_turns(6), hook=hold_section_three)
    with ScriptedServer.repeat(script.server_reply) as llm:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "sounding", "report", TOPIC, "--out", str(out), "-q"],
            env={**clean, **_env(llm, vital_cache)}, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert reached.wait(90), "the run never reached section 3"
            proc.kill()
            proc.wait(30)
        finally:
            release.set()
    assert sorted(p.name for p in (out / "sections").iterdir()) == ["01.json", "02.json"]
    assert not (out / "report.md").exists()
    script = ReportScript()
    with ScriptedServer.repeat(script.server_reply) as llm:
        done = run_cli(["report", TOPIC, "--out", str(out), "--json"],
                       _env(llm, vital_cache), tmp_path)
    assert done.returncode == 0, done.stderr
    assert script.calls == {"write": 4, "judge": 2}
    assert json.loads(done.stdout)["stage"] == "done"


def test_bad_option(tmp_path: Path) -> None:
    proc = run_cli(["report", TOPIC, "--on-unsupported", "shrug"],
                   {"SOUNDING_BASE_URL": "http://127.0.0.1:9/v1", "SOUNDING_MODEL": "m"},
                   tmp_path)
    assert proc.returncode == 2 and "rewrite, remove, flag" in proc.stderr
