"""`eval rejudge` and `eval report --compare` end to end; an incomplete run tells the truth."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from sounding.cli.eval import app
from sounding.eval.datasets import Item
from sounding.eval.judges import ExactMatchJudge
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.eval.store import Shard
from sounding.llm.testing import ScriptedServer
from sounding.trace import Trajectory

from .helpers import make_items, trajectory


def manifest(items: list[Item], k: int = 2) -> dict:  # type: ignore[type-arg]
    return build_manifest(dataset=Path("set.jsonl"), dataset_sha256="abc", fmt="generic",
                          judge=ExactMatchJudge(), agent={"mode": "react", "model": "m"},
                          rollouts=k, limit=None, item_ids=[i.id for i in items],
                          extra={"official_judge": "equivalence", "comparable": False,
                                 "published_judge_model": "Qwen2.5-72B-Instruct"})


async def answered_run(out: Path, items: list[Item]) -> None:
    """Even questions answered word for word; odd ones with the answer in other words."""
    async def rollout(item: Item, r: int) -> Trajectory:
        n = int(item.id[1:])
        return trajectory(item, item.answer if n % 2 == 0 else f"It is {item.answer}.")

    await run_eval(items, manifest(items), config=RunConfig(out, rollouts=2, fsync=False),
                   rollout=rollout, judge=ExactMatchJudge())


def equivalence(body: dict) -> str:  # type: ignore[type-arg]
    """A judge that sees through "It is X.": compares the labelled and predicted answers."""
    prompt = str(body["messages"][0]["content"])
    gold = re.search(r"Labeled Answer: (.*)", prompt).group(1)  # type: ignore[union-attr]
    said = re.search(r"Predicted Answer: (.*)", prompt).group(1)  # type: ignore[union-attr]
    return "Correct" if gold in said else "Incorrect"


def test_rejudge_then_compare(isolated_env: Path) -> None:
    items = make_items(6)
    src, new = isolated_env / "exact", isolated_env / "official"
    asyncio.run(answered_run(src, items))
    before = json.loads((src / "metrics.json").read_text())
    assert before["avg_at_k"] == 0.5
    runner = CliRunner()
    with ScriptedServer.repeat(equivalence) as judge:
        args = ["rejudge", str(src), "--out", str(new), "--judge", "auto",
                "--judge-base-url", judge.base_url]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert len(judge.requests) == 12  # every stored answer graded, no rollout rerun
        assert judge.requests[0]["model"] == "Qwen2.5-72B-Instruct"  # the published judge
        assert "Avg@2 100.0%" in res.output and "warning" not in res.output
        again = runner.invoke(app, args)  # resumes: nothing left to grade
        assert again.exit_code == 0 and len(judge.requests) == 12
    man = json.loads((new / "manifest.json").read_text())
    assert man["judge"] == "equivalence" and man["comparable"] is True
    assert man["rejudged_from"] == str(src.resolve()) and len(man["judge_prompt_sha256"]) == 64
    assert (new / "trajectories.jsonl").read_bytes() == (src / "trajectories.jsonl").read_bytes()
    rows = [json.loads(x) for x in (new / "results.jsonl").read_text().splitlines()]
    old = {(r["item_id"], r["rollout"]): r for r in map(json.loads, (
        src / "results.jsonl").read_text().splitlines())}
    for r in rows:  # same answers and trajectories, new verdicts
        o = old[(r["item_id"], r["rollout"])]
        assert (r["answer"], r["trajectory_id"], r["prompt_tokens"]) == (
            o["answer"], o["trajectory_id"], o["prompt_tokens"])
        assert r["correct"] is True and r["verdict"]["raw"] == "Correct"
    rep = runner.invoke(app, ["report", str(new), "--compare", str(src)])
    assert rep.exit_code == 0, rep.output
    md = (new / "report.md").read_text()
    assert "official wins 3, loses 0, ties 3" in md
    assert "re-grades the answers of" in md
    assert "exact: NOT comparable with the published numbers" in md
    html = (new / "report.html").read_text()
    for header in ("question id", "gold", "answer", "verdict", "termination", "rounds",
                   "trajectory id"):
        assert f"<th>{header}</th>" in html
    assert html.count('<td class="correct">correct</td>') == 12
    assert "max-width:980px" not in html and "margin:1.5em 2vw" in html


def test_rejudge_with_another_model_warns(isolated_env: Path) -> None:
    items = make_items(2)
    src = isolated_env / "a"
    asyncio.run(answered_run(src, items))
    with ScriptedServer.repeat(equivalence) as judge:
        res = CliRunner().invoke(app, ["rejudge", str(src), "--out", str(isolated_env / "b"),
                                       "--judge-base-url", judge.base_url,
                                       "--judge-model", "gpt-4o-mini"])
    assert res.exit_code == 0, res.output
    assert "warning: the published generic numbers were graded by Qwen2.5-72B-Instruct" \
        in " ".join(res.output.split())
    bad = CliRunner().invoke(app, ["rejudge", str(src), "--out", str(src)])
    assert bad.exit_code == 2 and "another directory" in bad.output


def test_incomplete_shard_run_exits_1_with_reasons(isolated_env: Path) -> None:
    items = make_items(4)
    out = isolated_env / "run"

    async def failing(item: Item, r: int) -> Trajectory:
        raise RuntimeError(f"endpoint down for {item.id}")

    asyncio.run(run_eval(select_shard(items), manifest(items, k=1),
                         config=RunConfig(out, rollouts=1, shard=Shard(0, 2), fsync=False),
                         rollout=failing, judge=ExactMatchJudge()))
    res = CliRunner().invoke(app, ["merge", str(out)])
    text = " ".join(res.output.split())
    assert res.exit_code == 1, res.output
    assert "Avg@1 n/a" in text and "Pass@1 n/a" in text  # nothing judged: unknown, not 0%
    assert "incomplete: 2 failed (error 2); 2 not run yet of 4 rollouts" in text
    assert "q000 rollout 0: agent RuntimeError: endpoint down for q000" in text
    assert "missing by shard: shard 1/2: 2 rows (no results file)" in text
    rep = CliRunner().invoke(app, ["report", str(out)])
    assert rep.exit_code == 0
    md = (out / "report.md").read_text()
    assert "> **run is INCOMPLETE: 0 of 4 rollouts judged (2 failed, 2 not run)" in md
    assert "| Avg@k | n/a |" in md


def select_shard(items: list[Item]) -> list[Item]:
    return [it for i, it in enumerate(items) if i % 2 == 0]


def test_judge_name_is_checked_before_any_work(isolated_env: Path) -> None:
    res = CliRunner().invoke(app, ["missing.jsonl", "--out", "run", "--judge", "hle-oficial"])
    assert res.exit_code == 2 and "unknown judge 'hle-oficial'" in res.output
    assert not (isolated_env / "run").exists()
    res = CliRunner().invoke(app, ["missing.jsonl", "--out", "run", "--subset", "text-103"])
    assert res.exit_code == 2 and "does not exist" in res.output


async def test_rejudge_retries_judge_failures_on_resume(tmp_path: Path) -> None:
    from sounding.eval.judges import build_judge
    from sounding.eval.rejudge import rejudge_run
    from sounding.llm.testing import ScriptedModel

    items = make_items(2)
    src, new = tmp_path / "src", tmp_path / "new"
    await answered_run(src, items[:1])  # one question, two rollouts
    verdict = json.dumps({"extracted_final_answer": "a", "reasoning": "same", "correct": "yes",
                          "confidence": 100, "strict": True})
    model = ScriptedModel(["no verdict in this reply", verdict, verdict], name="o3-mini")
    judge = build_judge("hle", model)
    first = await rejudge_run(src, new, judge, concurrency=1)
    assert first.metrics["rows_failed"] == {"error": 0, "judge_error": 1}
    second = await rejudge_run(src, new, judge, concurrency=1)
    assert second.rows_written == 1 and second.metrics["complete"] is True
    assert second.metrics["avg_at_k"] == 1.0
    model.assert_all_used()


def test_error_text_keeps_its_brackets(isolated_env: Path) -> None:
    res = CliRunner().invoke(app, ["data[1].jsonl", "--out", "run"])
    assert res.exit_code == 2 and "dataset data[1].jsonl does not exist" in res.output
