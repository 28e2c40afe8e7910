"""Benchmark extras and subsets: HLE calibration and 2,154 text-only, SimpleQA figures,
categories, GAIA subsets and its scorer on every row, xbench releases, judge choice."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from sounding.errors import ConfigError, DatasetError
from sounding.eval.datasets import Item, file_sha256, load_dataset
from sounding.eval.judges import JudgeParams
from sounding.eval.judging import JudgeEndpoint, choose_judge
from sounding.eval.metrics import compute_metrics
from sounding.eval.metrics_extra import calibration_error
from sounding.eval.rows import ResultRow, read_rows
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.eval.subsets import dataset_release, select_subset
from sounding.trace import Trajectory

from .helpers import REAL, trajectory


def graded(item: str, r: int, grade: str, **kw: object) -> ResultRow:
    return ResultRow(item, r, "ok", answer="x", correct=grade == "correct", grade=grade,  # type: ignore[arg-type]
                     score=float(grade == "correct"), **kw)  # type: ignore[arg-type]


def reference_calib_err(conf: list[float], correct: list[bool], beta: int = 100) -> float:
    """HLE's calib_err (p="2") transcribed step by step, as the test's oracle."""
    order = sorted(range(len(conf)), key=lambda i: conf[i])
    c = [conf[i] for i in order]
    ok = [float(correct[i]) for i in order]
    bins = [[i * beta, (i + 1) * beta] for i in range(len(c) // beta)]
    bins[-1] = [bins[-1][0], len(c)]
    err = 0.0
    for i in range(len(bins) - 1):
        lo, hi = bins[i]
        diff = abs(sum(c[lo:hi]) / (hi - lo) - sum(ok[lo:hi]) / (hi - lo))
        err += (hi - lo) / len(c) * diff ** 2
    return math.sqrt(err)


def test_calibration_error_follows_hle() -> None:
    # 350 answers: confidences 0.00..0.99 with distinct values so the order is unambiguous.
    conf = [((i * 37) % 350) / 350 for i in range(350)]
    correct = [(i * 7) % 3 == 0 for i in range(350)]
    assert calibration_error(conf, correct) == pytest.approx(
        reference_calib_err(conf, correct), abs=1e-6)
    perfect = [1.0] * 250
    assert calibration_error(perfect, [True] * 250) == 0.0
    assert calibration_error(perfect, [False] * 250) == pytest.approx(
        math.sqrt(100 / 250), abs=1e-6)  # the last bin (150, with the remainder) is left out
    assert calibration_error([0.5] * 99, [True] * 99) is None


def test_hle_metrics_with_confidence_and_categories() -> None:
    rows = [graded(f"q{i}", 0, "correct" if i % 2 else "incorrect",
                   verdict={"confidence": 90.0}, category="Math" if i < 150 else "Bio")
            for i in range(300)]
    m = compute_metrics(rows, k=1, judge="hle", ask_confidence=True)
    conf = [0.9] * 300
    assert m["calibration_error"] == pytest.approx(
        reference_calib_err(conf, [bool(i % 2) for i in range(300)]), abs=1e-6)
    assert m["calibration_rows"] == 300
    cats = m["by_category"]
    assert isinstance(cats, dict) and set(cats) == {"Math", "Bio"}
    assert cats["Math"] == {"items": 150, "avg_at_k": 0.5, "pass_at_k": 0.5,
                            "best_pass_at_1": 0.5}
    assert "calibration_error" not in compute_metrics(rows, k=1, judge="hle")


def test_simpleqa_figures() -> None:
    # 10 rows: 4 correct, 2 incorrect, 3 not attempted, 1 failed (counts incorrect).
    grades = ["correct"] * 4 + ["incorrect"] * 2 + ["not_attempted"] * 3
    rows = [graded(f"q{i}", 0, g) for i, g in enumerate(grades)]
    rows.append(ResultRow("q9", 0, "error"))
    sq = compute_metrics(rows, k=1, judge="simpleqa")["simpleqa"]
    assert isinstance(sq, dict)
    given = 0.4 / 0.7
    assert sq["correct"] == 0.4 and sq["not_attempted"] == 0.3 and sq["incorrect"] == 0.3
    assert sq["accuracy_given_attempted"] == pytest.approx(given, abs=1e-6)
    assert sq["f1"] == pytest.approx(2 * given * 0.4 / (given + 0.4), abs=1e-6)


def test_hle_text_only_is_asserted_on_the_full_file(tmp_path: Path) -> None:
    recs = [{"id": f"h{i}", "question": f"q{i}", "answer": "a", "answer_type": "exactMatch",
             "image": "img.png" if i < 346 else "", "category": "Math"} for i in range(2500)]
    path = tmp_path / "hle.json"
    path.write_text(json.dumps(recs))
    fmt, items = load_dataset(path)
    assert fmt == "hle" and len(items) == 2154 and items[0].metadata["category"] == "Math"
    recs[400]["image"] = "broken.png"
    path.write_text(json.dumps(recs))
    with pytest.raises(DatasetError, match="2,154"):
        load_dataset(path)


def gaia_items(n: int, with_files: int) -> list[Item]:
    return [Item(f"t{i}", f"q{i}", "a", {"level": 1},
                 (Path(f"/f/{i}.pdf"),) if i < with_files else ()) for i in range(n)]


def test_gaia_subsets(tmp_path: Path) -> None:
    items = gaia_items(165, 38)
    assert len(select_subset("gaia", items, "validation")) == 165
    assert len(select_subset("gaia", items, "text-only")) == 127
    with pytest.raises(DatasetError, match="165"):
        select_subset("gaia", items[:100], "validation")
    ids = tmp_path / "text103.txt"
    ids.write_text("\n".join(f"t{i}" for i in range(50, 153)))
    chosen = select_subset("gaia", items, "text-103", ids)
    assert [it.id for it in chosen] == [f"t{i}" for i in range(50, 153)]
    # without --subset-ids, the shipped list: the real GAIA ids, absent from these items
    with pytest.raises(DatasetError, match="103 task ids are not in the dataset"):
        select_subset("gaia", items, "text-103")
    ids.write_text("t1\nt2\nnope")
    with pytest.raises(DatasetError, match="not in the dataset"):
        select_subset("gaia", items, "text-103", ids)
    with pytest.raises(DatasetError, match="not a subset of xbench"):
        select_subset("xbench", items, "text-only")


def test_shipped_text_103_ids_select_the_published_list() -> None:
    from sounding.eval.subsets import TEXT_103_IDS

    lines = [ln for ln in TEXT_103_IDS.read_text(encoding="utf-8").splitlines()
             if not ln.startswith("#")]
    assert len(lines) == len(set(lines)) == 103
    assert all(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", ln) for ln in lines)
    items = [Item(t, f"q{i}", "a", {"level": 1}) for i, t in enumerate(lines)]
    items += [Item(f"other{i}", "q", "a", {"level": 1}) for i in range(62)]
    chosen = select_subset("gaia", items, "text-103")
    assert [it.id for it in chosen] == lines


def test_xbench_release_is_named() -> None:
    for release in ("2505", "2510"):
        path = REAL / f"xbench-deepsearch-{release}.csv"
        if not path.is_file():
            pytest.skip(f"the shared benchmarks folder is not here ({REAL})")
        assert dataset_release("xbench", Path("renamed.csv"), file_sha256(path)) == release
    assert dataset_release("xbench", Path("my-2510-copy.csv"), "0" * 64) == "2510"
    assert dataset_release("xbench", Path("x.csv"), "0" * 64) == "unknown"
    assert dataset_release("hle", Path("x.json"), "0" * 64) is None


async def test_gaia_scorer_is_recorded_on_every_row(tmp_path: Path) -> None:
    items = [Item("t1", "How many?", "1,000"), Item("t2", "Which bird?", "seagull"),
             Item("t3", "Who?", "Ada Lovelace", {"level": 2})]
    said = {"t1": "1000", "t2": "sea gull", "t3": "the Ada Lovelace"}

    async def rollout(item: Item, r: int) -> Trajectory:
        return trajectory(item, said[item.id])

    from sounding.eval.judges import ExactMatchJudge

    man = build_manifest(dataset=Path("gaia.jsonl"), dataset_sha256="x", fmt="gaia",
                         judge=ExactMatchJudge(), agent={}, rollouts=1, limit=None,
                         item_ids=[i.id for i in items])
    out = await run_eval(items, man, config=RunConfig(tmp_path, rollouts=1, gaia_scorer=True,
                                                      fsync=False),
                         rollout=rollout, judge=ExactMatchJudge())
    rows = read_rows(tmp_path)
    # "1,000" is a list for GAIA's scorer; the exact judge reads it as a number.
    assert {k[0]: (r.correct, r.gaia_scorer) for k, r in rows.items()} == {
        "t1": (True, False), "t2": (False, True), "t3": (True, False)}
    assert rows[("t3", 0)].category == "2"
    gaia = out.metrics["gaia_scorer"]
    assert isinstance(gaia, dict)
    assert gaia["avg_at_k"] == pytest.approx(1 / 3, abs=1e-6) and gaia["rows"] == 3
    assert gaia["agreement_with_judge"] == 0.0


def test_judge_choice() -> None:
    auto = choose_judge("auto", "hle", JudgeEndpoint())
    assert auto.judge.name == "exact" and auto.client is None
    assert "not comparable" in auto.warnings[0] and auto.facts["comparable"] is False
    assert choose_judge("auto", "gaia", JudgeEndpoint()).judge.name == "gaia"
    official = choose_judge("auto", "hle", JudgeEndpoint(base_url="http://127.0.0.1:9/v1"))
    assert official.judge.name == "hle" and official.judge.model == "o3-mini"
    assert official.facts == {"official_judge": "hle", "published_judge_model": "o3-mini",
                              "comparable": True} and not official.warnings
    assert official.client is not None and official.client.params == JudgeParams()
    other = choose_judge("hle", "browsecomp", JudgeEndpoint("gpt-4o-mini", "http://x/v1"))
    assert other.facts["comparable"] is False
    assert "graded by gpt-4o-2024-08-06" in other.warnings[0]
    mine = choose_judge("sounding-hle", "hle", JudgeEndpoint("o3-mini", "http://x/v1"))
    assert "not the grader of the published hle numbers" in mine.warnings[0]
    with pytest.raises(ConfigError, match="needs --judge-model"):
        choose_judge("sounding-hle", "hle", JudgeEndpoint(base_url="http://x/v1"))
    with pytest.raises(ConfigError, match="unknown judge"):
        choose_judge("hle2", "hle", JudgeEndpoint())


def test_cli_ask_confidence_reaches_the_agent_not_the_judge(isolated_env: Path) -> None:
    from typer.testing import CliRunner

    from sounding.cli.eval import app
    from sounding.llm.testing import ScriptedServer

    from .test_e2e import corpus

    recs = [{"id": f"h{i}", "question": f"What is item {i}?", "answer": f"answer {i}",
             "answer_type": "exactMatch", "image": "", "category": "Math"} for i in range(3)]
    data = isolated_env / "hle.json"
    data.write_text(json.dumps(recs))
    verdict = json.dumps({"extracted_final_answer": "x", "reasoning": "r", "correct": "yes",
                          "confidence": 70, "strict": True})
    answer = "<answer>answer\nConfidence: 70%</answer>"
    with ScriptedServer.repeat(answer) as agent, ScriptedServer.repeat(verdict) as judge:
        res = CliRunner().invoke(app, [
            str(data), "--out", str(isolated_env / "run"), "--rollouts", "1", "--base-url",
            agent.base_url, "--model", "scripted", "--corpus", str(corpus(isolated_env)),
            "--judge-base-url", judge.base_url, "--ask-confidence", "--quiet"])
        assert res.exit_code == 0, res.output
        user = next(m for m in agent.requests[0]["messages"] if m["role"] == "user")  # type: ignore[union-attr]
        assert "Confidence: {your confidence score between 0% and 100%" in str(user["content"])
        prompt = str(judge.requests[0]["messages"][0]["content"])  # type: ignore[index]
        assert "[question]: What is item" in prompt and "your confidence score" not in prompt
        assert judge.requests[0]["model"] == "o3-mini"
    man = json.loads((isolated_env / "run" / "manifest.json").read_text())
    assert man["ask_confidence"] is True and man["comparable"] is True
    m = json.loads((isolated_env / "run" / "metrics.json").read_text())
    assert m["calibration_rows"] == 3 and m["calibration_error"] is None  # < 100 answers
    assert m["by_category"]["Math"]["items"] == 3
