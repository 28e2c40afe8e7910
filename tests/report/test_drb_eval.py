"""`sounding eval run --format drb` as a user runs it: two DRB tasks (English and Chinese)
written on the offline corpus by a scripted model, scored by a scripted judge, killed and
resumed; `report score` gives the same scores for the same reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from sounding.eval.drb_run import drb_metrics, read_rows
from sounding.llm.testing import ScriptedServer

from ..cli.test_ask import run_cli
from .helpers import ReportScript, planner_turns
from .test_drb import DRB, _criteria_reply, _fact_reply, needs_drb

TASKS = ("51", "1")  # English first, then Chinese


def _tasks(tmp: Path) -> Path:
    """A two-task DeepResearch Bench: the real records of tasks 51 and 1."""
    folder = tmp / "drb"
    folder.mkdir()
    for name in ("query.jsonl", "criteria.jsonl"):
        records = {str(json.loads(ln)["id"]): ln for ln in (DRB / name).read_text(
            encoding="utf-8").splitlines() if ln.strip()}
        (folder / name).write_text("".join(records[t] + "\n" for t in TASKS), encoding="utf-8")
    return folder / "query.jsonl"


def _server(script: ReportScript) -> Any:
    """One endpoint for the agent (the report script) and the judge (criteria, FACT)."""

    def reply(body: dict[str, Any]) -> str:
        prompt = str(body["messages"][-1]["content"])
        if "<statements>" in prompt:
            return _fact_reply(prompt)
        if "<criteria" in prompt:
            return _criteria_reply(prompt)
        return script.server_reply(body)

    return ScriptedServer.repeat(reply)


def _env(llm: ScriptedServer, cache: Path) -> dict[str, str]:
    return {"SOUNDING_BASE_URL": llm.base_url, "SOUNDING_MODEL": "m",
            "SOUNDING_CACHE_DIR": str(cache)}


def _run_args(tasks: Path, out: Path) -> list[str]:
    return ["eval", "run", str(tasks), "--format", "drb", "--out", str(out),
            "--judge-model", "judge", "--concurrency", "1", "-q"]


def _scores(row: dict[str, Any]) -> tuple[Any, Any]:
    """What the judges said, without token usage."""
    crit = {k: v for k, v in row["criteria"].items() if k != "usage"}
    cit = {k: v for k, v in row["citations"].items() if k != "usage"}
    return crit, cit


@needs_drb
def test_run_kill_resume_metrics_and_score(vital_cache: Path, tmp_path: Path) -> None:
    tasks, out = _tasks(tmp_path), tmp_path / "run"
    reached, release = threading.Event(), threading.Event()
    writes = [0]

    def hold_second_task(stage: str, prompt: str) -> None:
        writes[0] += stage == "write"
        if stage == "write" and writes[0] == 3:  # the Chinese task's first section
            reached.set()
            release.wait(60)

    script = ReportScript(planner_turns(2) * 2, hook=hold_second_task)
    with _server(script) as llm:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
        log = (tmp_path / "killed.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "sounding", *_run_args(tasks, out)],
                                env={**clean, **_env(llm, vital_cache)}, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            assert reached.wait(90), ("the run never reached the second task: "
                                      + (tmp_path / "killed.log").read_text())
            proc.kill()
            proc.wait(30)
        finally:
            release.set()
            log.close()
    assert list(read_rows(out)) == ["drb-51"]  # the English report was written and scored
    assert not (out / "reports" / "drb-1" / "report.md").exists()

    script = ReportScript()  # no planner turns: the Chinese task resumes at its sections
    with _server(script) as llm:
        done = run_cli(_run_args(tasks, out), _env(llm, vital_cache), tmp_path)
    assert done.returncode == 0, done.stderr
    assert script.calls.get("write") == 2 and "turn" not in script.calls
    rows = read_rows(out)
    assert list(rows) == ["drb-51", "drb-1"]
    assert [r["language"] for r in rows.values()] == ["en", "zh"]
    for row in rows.values():
        crit, cit = _scores(row)
        assert set(crit["dimensions"]) == {"comprehensiveness", "insight",
                                           "instruction_following", "readability"}
        assert 0 < crit["overall"] <= 100 and cit["pairs"] > 0 and cit["unreachable"] == 0
        assert (out / row["report"]).is_file()

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and metrics["rows_scored"] == 2 and metrics["errors"] == 0
    assert set(metrics["by_language"]) == {"en", "zh"}
    overall = [r["criteria"]["overall"] for r in rows.values()]
    assert metrics["overall"] == pytest.approx(sum(overall) / 2, abs=1e-3)
    low, high = metrics["overall_ci95"]
    assert min(overall) <= low <= high <= max(overall)
    assert metrics["by_language"]["zh"]["overall"] == rows["drb-1"]["criteria"]["overall"]
    assert "overall" in done.stdout and "scored 2/2" in done.stdout

    # The same reports through `report score`: the run directory, and "another system's"
    # folder of Markdown named by task id.
    other = tmp_path / "other-system"
    other.mkdir()
    shutil.copy(out / "reports" / "drb-51" / "report.md", other / "51.md")
    for target, expect in ((out, ["drb-51", "drb-1"]), (other, ["drb-51"])):
        with _server(ReportScript()) as llm:
            proc = run_cli(["report", "score", str(target), "--tasks", str(tasks),
                            "--judge-model", "judge", "--out", str(tmp_path / "s.jsonl")],
                           _env(llm, vital_cache), tmp_path)
        assert proc.returncode == 0, proc.stderr
        scored = [json.loads(ln) for ln in (tmp_path / "s.jsonl").read_text().splitlines()]
        assert sorted(r["task"] for r in scored) == sorted(expect)
        for row in scored:
            assert _scores(row) == _scores(rows[row["task"]])

    proc = run_cli(["eval", "report", str(out)], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    assert "citation accuracy" in md and "drb-1" in md and "| zh |" in md
    assert "<table>" in (out / "report.html").read_text()


@needs_drb
def test_no_judge_fails_before_work(tmp_path: Path) -> None:
    tasks, out = _tasks(tmp_path), tmp_path / "run"
    env = {"SOUNDING_BASE_URL": "http://127.0.0.1:9/v1", "SOUNDING_MODEL": "m"}
    proc = run_cli(["eval", "run", str(tasks), "--format", "drb", "--out", str(out)], env,
                   tmp_path)
    assert proc.returncode == 2 and "--judge-model" in proc.stderr
    assert not out.exists()
    proc = run_cli([*_run_args(tasks, out), "--shard", "0/2"], env, tmp_path)
    assert proc.returncode == 2 and "--shard" in proc.stderr and not out.exists()


def test_metrics_count_errors_and_resume_them() -> None:
    rows: dict[str, Any] = {
        "a": {"id": "a", "language": "en", "criteria": {"overall": 40.0, "dimensions": {}},
              "citations": {"judged": 4, "supported": 3}},
        "b": {"id": "b", "language": "zh", "error": "LLMError: down"}}
    metrics = drb_metrics(rows, ["a", "b", "c"])
    assert metrics["rows_scored"] == 1 and metrics["errors"] == 1 and not metrics["complete"]
    assert metrics["overall"] == 40.0 and metrics["citation_accuracy"] == 0.75
    assert set(metrics["by_language"]) == {"en"} and "overall_ci95" not in metrics
    assert metrics["failures"] == [{"id": "b", "error": "LLMError: down"}]


@needs_drb
async def test_failed_tasks_run_again_and_reports_come_from_any_writer(tmp_path: Path) -> None:
    """`run_drb` takes any report writer: here one that writes Markdown itself and fails
    once on a task; that task's error row is run again on resume, the others are kept."""
    from sounding.errors import LLMError
    from sounding.eval.datasets.drb import load
    from sounding.eval.drb_run import DrbJudges, run_drb
    from sounding.eval.judges.citations import CitationJudge
    from sounding.eval.judges.drb_criteria import CriteriaJudge
    from sounding.llm.testing import ScriptedModel

    from .helpers import EIFFEL

    items = load(_tasks(tmp_path))
    calls: list[str] = []

    async def write(item: Any, report_dir: Path) -> None:
        calls.append(item.id)
        if item.id == "drb-1" and calls.count("drb-1") == 1:
            raise LLMError("the endpoint went away")
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "report.md").write_text(
            "# Report\n\nThe Eiffel Tower is a lattice tower in Paris [1].\n\n"
            f"## References\n\n1. [Eiffel Tower]({EIFFEL})\n", encoding="utf-8")

    async def fetch(url: str) -> str | None:
        return "The Eiffel Tower is a wrought-iron lattice tower in Paris." if url == EIFFEL \
            else None

    judge = ScriptedModel.repeat(lambda r: (_fact_reply if "<statements>" in r.messages[-1]
                                            .content else _criteria_reply)(r.messages[-1].content))
    judges = DrbJudges(CriteriaJudge(judge), CitationJudge(judge, fetch))
    out = tmp_path / "run"
    first = await run_drb(items, out, write=write, judges=judges, concurrency=2)
    assert first["rows_scored"] == 1 and first["errors"] == 1 and not first["complete"]
    assert "LLMError: the endpoint went away" in str(first["failures"])
    second = await run_drb(items, out, write=write, judges=judges, concurrency=2)
    assert sorted(calls) == ["drb-1", "drb-1", "drb-51"]  # drb-51 was not written again
    assert second["complete"] and second["errors"] == 0
    assert second["citation_accuracy"] == 1.0 and second["effective_citations"] == 1.0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3  # the error row stays
