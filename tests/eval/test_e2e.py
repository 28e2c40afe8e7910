"""End to end: `sounding eval` on a generated 50-question set with the real agent loop,
a scripted OpenAI-compatible server on loopback, a tiny offline corpus, then the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sounding.agent import open_agent
from sounding.cli.eval import app
from sounding.corpus import CorpusBuilder, SourceDoc
from sounding.eval.agent_rollout import agent_rollout
from sounding.eval.judges import ExactMatchJudge
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.llm.testing import ScriptedModel, ScriptedServer

from .helpers import make_items


def corpus(tmp: Path) -> Path:
    docs = [SourceDoc(url="https://example.org/a", title="Items", text="Item 3 is answer 3.",
                      source="Example")]
    CorpusBuilder(tmp / "corpus").build([("tiny", docs)])
    return tmp / "corpus"


def answer_from(text: str) -> str:
    n = int(re.search(r"item (\d+)", text).group(1))  # type: ignore[union-attr]
    said = f"answer {n}" if n % 2 == 0 else "no idea"
    return f"<think>known</think>\n<answer>{said}</answer>"


def test_cli_run_resume_report(isolated_env: Path) -> None:
    data = isolated_env / "set.jsonl"
    data.write_text("".join(json.dumps({"id": i.id, "question": i.question, "answer": i.answer})
                            + "\n" for i in make_items(50)))
    out = isolated_env / "run"

    def reply(body: dict) -> str:  # type: ignore[type-arg]
        user = next(m for m in body["messages"] if m["role"] == "user")
        return answer_from(str(user["content"]))

    runner = CliRunner()
    with ScriptedServer.cycle([reply]) as server:
        args = [str(data), "--out", str(out), "--rollouts", "2", "--concurrency", "8",
                "--base-url", server.base_url, "--model", "scripted", "--corpus",
                str(corpus(isolated_env)), "--judge", "exact", "--price-prompt", "1",
                "--price-completion", "2", "--quiet"]
        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "Avg@2 50.0%" in first.output
        calls = len(server.requests) if hasattr(server, "requests") else None
        again = runner.invoke(app, args)  # a finished run resumes to no new work
        assert again.exit_code == 0, again.output
        if calls is not None:
            assert len(server.requests) == calls
        other = runner.invoke(app, [("f1" if a == "exact" else a) for a in args])
        assert other.exit_code == 2 and "different settings" in " ".join(other.output.split())
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 100 and len({(r["item_id"], r["rollout"]) for r in rows}) == 100
    assert all(r["termination"] == "answer" and r["cost"] > 0 for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["avg_at_k"] == 0.5 and metrics["complete"] and metrics["cost"] > 0
    rep = runner.invoke(app, ["report", str(out), "--compare", str(out)])
    assert rep.exit_code == 0, rep.output
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 4 and "Avg@k" in html and "<script" not in html
    md = (out / "report.md").read_text()
    assert "| Avg@k | 50.0% [" in md and "wins 0, loses 0, ties 50" in md


async def test_agent_rollout_shares_one_model_and_environment(tmp_path: Path,
                                                              settings: object) -> None:
    import dataclasses

    from sounding.config import Settings

    assert isinstance(settings, Settings)
    s = dataclasses.replace(settings, corpus=corpus(tmp_path))
    model = ScriptedModel.cycle([lambda req: answer_from(req.messages[-1].content)])
    items = make_items(6)
    man = build_manifest(dataset=Path("x"), dataset_sha256="h", fmt="generic",
                         judge=ExactMatchJudge(), agent={}, rollouts=2, limit=None,
                         item_ids=[i.id for i in items])
    async with open_agent(s, model=model) as resources:
        out = await run_eval(items, man, config=RunConfig(tmp_path / "run", rollouts=2,
                             concurrency=4), rollout=agent_rollout(s, resources),
                             judge=ExactMatchJudge())
    assert out.metrics["avg_at_k"] == 0.5 and out.rows_written == 12
    # One model served every rollout; it is the caller's, so open_agent left it open.
    assert len(model.requests) == 12 and not model.closed
    seeds = {r.sampling.seed for r in model.requests}
    assert len(seeds) == 12  # each rollout samples with its own seed


@pytest.mark.parametrize("bad", ["nope.jsonl"])
def test_cli_missing_dataset(isolated_env: Path, bad: str) -> None:
    res = CliRunner().invoke(app, [bad, "--out", "run"])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_cli_prices_the_judge_apart(isolated_env: Path) -> None:
    data = isolated_env / "set.jsonl"
    data.write_text("".join(json.dumps({"id": i.id, "question": i.question, "answer": i.answer})
                            + "\n" for i in make_items(4)))

    def agent(body: dict) -> str:  # type: ignore[type-arg]
        user = next(m for m in body["messages"] if m["role"] == "user")
        return answer_from(str(user["content"]))

    verdict = json.dumps({"extracted_final_answer": "x", "reasoning": "compared",
                          "correct": "yes", "confidence": 90})
    with ScriptedServer.cycle([agent]) as a, ScriptedServer.repeat(verdict) as j:
        args = [str(data), "--out", str(isolated_env / "run"), "--rollouts", "1",
                "--base-url", a.base_url, "--model", "scripted", "--corpus",
                str(corpus(isolated_env)), "--judge", "hle", "--judge-model", "grader",
                "--judge-base-url", j.base_url, "--price-prompt", "1", "--quiet"]
        res = CliRunner().invoke(app, [*args, "--judge-price-prompt", "2",
                                       "--judge-price-completion", "8"])
        assert res.exit_code == 0, res.output
        assert len(j.requests) == 4  # one judgement per rollout, on its own endpoint
    m = json.loads((isolated_env / "run" / "metrics.json").read_text())
    assert m["judge_cost"] > 0 and m["agent_cost"] > 0 and m["unpriced"] == []
    assert m["cost"] == round(m["agent_cost"] + m["judge_cost"], 6)
    bad = CliRunner().invoke(app, [str(data), "--out", "other", "--judge", "exact",
                                   "--judge-price-prompt", "1"])
    assert bad.exit_code == 2 and "no model to price" in " ".join(bad.output.split())
