"""DeepResearch Bench: the loader on the real files, the criteria judge, the FACT-style
citation judge, and `sounding report score` on a folder of Markdown and a run directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sounding.errors import LLMResponseError
from sounding.eval.datasets import detect_format, load_dataset
from sounding.eval.datasets.drb import load
from sounding.eval.judges.citations import CitationJudge, extract_citations
from sounding.eval.judges.drb_criteria import CriteriaJudge, TaskCriteria
from sounding.llm.testing import ScriptedModel, ScriptedServer

from ..cli.test_ask import run_cli
from .helpers import EIFFEL

DRB = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "deepresearch-bench"
if not DRB.exists():
    DRB = Path("/work/shared/benchmarks/deepresearch-bench")
needs_drb = pytest.mark.skipif(not (DRB / "query.jsonl").exists(),
                               reason="the DeepResearch Bench files are not on this machine")


@needs_drb
def test_loader_on_the_real_files() -> None:
    assert detect_format(DRB / "query.jsonl") == "drb"
    assert detect_format(DRB / "criteria.jsonl") == "drb"
    name, items = load_dataset(DRB / "query.jsonl")
    assert name == "drb" and len(items) == 100
    langs = [it.metadata["language"] for it in items]
    assert langs.count("en") == 50 and langs.count("zh") == 50
    first = items[0]
    assert first.id == "drb-1" and first.question.startswith("收集整理目前中国9阶层")
    task = TaskCriteria.from_record(first.metadata)
    assert set(task.criteria) == {"comprehensiveness", "insight", "instruction_following",
                                  "readability"}
    assert abs(sum(task.dimension_weight.values()) - 1.0) < 1e-6
    assert len(load(DRB)) == 100  # the folder works too


def _criteria_reply(prompt: str, bad: bool = False) -> str:
    """Score criterion n with n (capped at 10); leave one out when `bad`."""
    count = len(re.findall(r"^\d+\. ", prompt.split("<criteria")[1].split("</criteria>")[0],
                           re.M))
    rows = [{"criterion": n, "reason": "ok", "score": min(n, 10)}
            for n in range(1, count + (0 if bad else 1))]
    return json.dumps({"scores": rows})


TASK = TaskCriteria.from_record({
    "dimension_weight": {"comprehensiveness": 0.6, "readability": 0.4},
    "criterions": {
        "comprehensiveness": [{"criterion": "a", "explanation": "x", "weight": 0.5},
                              {"criterion": "b", "explanation": "y", "weight": 0.5}],
        "readability": [{"criterion": "c", "explanation": "z", "weight": 0.25},
                        {"criterion": "d", "explanation": "w", "weight": 0.75}]}})


async def test_criteria_judge_weights() -> None:
    model = ScriptedModel.repeat(lambda r: _criteria_reply(r.messages[-1].content))
    score = await CriteriaJudge(model).score("task", "a report", TASK)
    # comprehensiveness: (1*.5 + 2*.5) * 10 = 15; readability: (1*.25 + 2*.75) * 10 = 17.5
    assert score.dimensions == {"comprehensiveness": 15.0, "readability": 17.5}
    assert score.overall == pytest.approx(0.6 * 15 + 0.4 * 17.5)
    assert len(score.criteria) == 4 and len(model.requests) == 2


async def test_criteria_judge_retries_then_fails() -> None:
    replies = iter([True, False, True, False])  # each dimension: one bad reply, then a good one
    model = ScriptedModel.repeat(lambda r: _criteria_reply(r.messages[-1].content, next(replies)))
    score = await CriteriaJudge(model).score("task", "a report", TASK)
    assert len(model.requests) == 4 and score.overall > 0
    broken = ScriptedModel.repeat(lambda r: _criteria_reply(r.messages[-1].content, True))
    with pytest.raises(LLMResponseError, match="no score for every"):
        await CriteriaJudge(broken).score("task", "a report", TASK)


MARKDOWN = """# A report

The tower is in Paris [1]. It opened in 1889 [1, 2]. Towers are tall [3-4].
Gustave Eiffel built it, see [his page](https://en.wikipedia.org/wiki/Gustave_Eiffel).
铁塔位于巴黎[2]。

## References
[1] Eiffel Tower. https://en.wikipedia.org/wiki/Eiffel_Tower
2. [Expo](https://example.org/expo)
3. https://example.org/tower
4. [Block](https://example.org/block) (E9): "quote"
"""


def test_extract_citations() -> None:
    pairs = {(c.statement, c.url) for c in extract_citations(MARKDOWN)}
    assert pairs == {
        ("The tower is in Paris.", EIFFEL),
        ("It opened in 1889.", EIFFEL),
        ("It opened in 1889.", "https://example.org/expo"),
        ("Towers are tall.", "https://example.org/tower"),
        ("Towers are tall.", "https://example.org/block"),
        ("Gustave Eiffel built it, see his page.", "https://en.wikipedia.org/wiki/Gustave_Eiffel"),
        ("铁塔位于巴黎。", "https://example.org/expo"),
    }


def _fact_reply(prompt: str) -> str:
    page = prompt.split("<page", 1)[1].split("</page>", 1)[0].lower()
    rows = []
    for n, text in re.findall(r"^(\d+)\. (.*)$", prompt.split("<statements>")[1], re.M):
        words = re.findall(r"[a-z]{4,}", text.lower())
        rows.append({"statement": int(n), "supported": "yes" if words and all(
            w in page for w in words) else "no"})
    return json.dumps({"results": rows})


async def test_citation_judge() -> None:
    pages = {EIFFEL: "The Eiffel Tower is a lattice tower in Paris. It opened in 1889.",
             "https://example.org/expo": "The 1889 exposition was held in Paris.",
             "https://example.org/tower": "Towers are tall structures."}

    async def fetch(url: str) -> str | None:
        return pages.get(url)

    model = ScriptedModel.repeat(lambda r: _fact_reply(r.messages[-1].content))
    score = await CitationJudge(model, fetch).score(MARKDOWN)
    assert score.pairs == 7 and score.unreachable == 2  # block and Gustave_Eiffel: no page
    assert len(model.requests) == 3  # one call per reachable URL
    supported = {(d["statement"], d["url"]) for d in score.details if d["supported"]}
    assert ("The tower is in Paris.", EIFFEL) in supported
    assert ("Towers are tall.", "https://example.org/tower") in supported
    assert ("It opened in 1889.", "https://example.org/expo") not in supported
    assert score.judged == 5 and score.effective == score.supported
    assert score.accuracy == score.supported / 5


def _judge_server_reply(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    prompt = str(messages[-1]["content"])
    return _fact_reply(prompt) if "<statements>" in prompt else _criteria_reply(prompt)


@needs_drb
def test_score_a_folder_of_markdown(vital_cache: Path, tmp_path: Path) -> None:
    reports = tmp_path / "other-system"
    reports.mkdir()
    (reports / "51.md").write_text(
        "# Japan\n\nThe Eiffel Tower is a lattice tower on the Champ de Mars in Paris [1]. "
        "Japan has the oldest population [1].\n\n## References\n\n"
        f"1. [Eiffel Tower]({EIFFEL})\n")
    (reports / "notes.md").write_text("# Something that is no task\n")
    with ScriptedServer.repeat(_judge_server_reply) as judge:
        proc = run_cli(["report", "score", str(reports), "--tasks", str(DRB / "query.jsonl"),
                        "--json"],
                       {"SOUNDING_BASE_URL": judge.base_url, "SOUNDING_MODEL": "judge",
                        "SOUNDING_CACHE_DIR": str(vital_cache)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr and "notes.md" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["reports"] == 1
    assert summary["citation_accuracy"] == 0.5 and summary["effective_citations"] == 1.0
    assert 0 < summary["overall"] <= 100
    assert set(summary["dimensions"]) == {"comprehensiveness", "insight",
                                          "instruction_following", "readability"}
    rows = [json.loads(ln) for ln in (reports / "scores.jsonl").read_text().splitlines()]
    assert rows[0]["task"] == "drb-51" and rows[0]["language"] == "en"


@needs_drb
async def test_score_a_sounding_report_run(settings: object, tmp_path: Path,
                                           vital_cache: Path) -> None:
    """A `sounding report` run directory is matched to its task by topic and scored; its
    citations resolve to the corpus pages, so the citation judge finds them supported."""
    from sounding.corpus.backends import CorpusPageBackend
    from sounding.corpus.vital import open_default_corpus
    from sounding.eval.drb_score import find_reports, match_task, score_reports, summarize
    from sounding.report import generate_report

    from .helpers import ReportScript, planner_turns

    items = load(DRB)
    task = next(it for it in items if it.id == "drb-51")
    run = tmp_path / "runs" / "mine"
    await generate_report(task.question, settings, run,  # type: ignore[arg-type]
                          model=ReportScript(planner_turns(2)).model())
    reports = find_reports(tmp_path / "runs")
    assert [r.path for r in reports] == [run / "report.md"]
    assert match_task(reports[0], items) is task
    corpus = open_default_corpus(vital_cache)

    async def fetch(url: str) -> str | None:
        page = await CorpusPageBackend(corpus).fetch(url)
        return page.text if page is not None else None

    judge = ScriptedModel.repeat(lambda r: (_fact_reply if "<statements>" in r.messages[-1]
                                            .content else _criteria_reply)(r.messages[-1].content))
    try:
        rows = await score_reports([(reports[0], task)], CriteriaJudge(judge),
                                   CitationJudge(judge, fetch))
    finally:
        corpus.close()
    cit = rows[0]["citations"]
    assert isinstance(cit, dict) and cit["pairs"] > 0 and cit["unreachable"] == 0
    assert cit["supported"] == cit["judged"]  # every sentence quotes its page
    summary = summarize(rows)
    assert summary["citation_accuracy"] == 1.0 and summary["reports"] == 1
