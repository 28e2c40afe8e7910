"""A Chinese topic end to end on a small Chinese corpus: evidence, sections, the check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sounding.config import Settings, load_settings
from sounding.corpus import CorpusBuilder, SourceDoc
from sounding.report import ReportOptions, generate_report
from sounding.report._text import sentences

from .helpers import ReportScript, outline_call, tags_call

TOWER = "https://zh.example/埃菲尔铁塔"
DOCS = [
    SourceDoc(url=TOWER, title="埃菲尔铁塔",
              text="埃菲尔铁塔是位于法国巴黎战神广场的锻铁镂空塔。铁塔以设计它的工程师古斯塔夫·埃菲尔命名。"
                   "铁塔于1887年动工，1889年建成。", source="百科"),
    SourceDoc(url="https://zh.example/世界博览会", title="1889年世界博览会",
              text="1889年世界博览会在巴黎举行，埃菲尔铁塔是博览会的入口拱门。博览会纪念法国大革命一百周年。",
              source="百科"),
]


@pytest.fixture(scope="module")
def zh_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zh")
    CorpusBuilder(out, name="zh").build([("zh", DOCS)])
    return out


def test_sentences_split_chinese_and_keep_citations() -> None:
    text = "铁塔于1887年动工[E1]。它在1889年建成[E1, E2]。为什么？"
    assert sentences(text) == ["铁塔于1887年动工[E1]。", "它在1889年建成[E1, E2]。", "为什么？"]


async def test_chinese_topic(settings: Settings, zh_corpus: Path, tmp_path: Path) -> None:
    zh = load_settings({"llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "m",
                        "corpus": zh_corpus, "cache_dir": settings.cache_dir},
                       environ={}, config_file=None)
    turns = [tags_call("search", query=["埃菲尔铁塔"]),
             tags_call("visit", url=[TOWER], goal="铁塔的历史"),
             outline_call(["铁塔的由来", "世界博览会"], [["E1"], ["E2"]]),
             "<answer>done</answer>"]
    script = ReportScript(turns, plant_in=2, planted="铁塔曾被火星人涂成金色[E1]。")
    result = await generate_report("埃菲尔铁塔的历史", zh, tmp_path / "run",
                                   ReportOptions(on_unsupported="rewrite"), model=script.model())
    assert result.stage == "done" and not script.pending
    run = tmp_path / "run"
    evidence = [json.loads(ln) for ln in (run / "evidence.jsonl").read_text().splitlines()]
    quotes = {e["id"]: e["quote"] for e in evidence}
    assert all(e["verbatim"] for e in evidence)
    assert any("埃菲尔铁塔是位于法国巴黎战神广场的锻铁镂空塔" in q for q in quotes.values())
    md = (run / "report.md").read_text()
    assert "## 参考文献" in md and "## 铁塔的由来" in md
    assert "火星" not in md and "埃菲尔铁塔位于巴黎[1]。" in md
    assert "引用核查" in md and "1 个不受支持" in md
    assert result.stats is not None and result.stats.initial["unsupported"] == 1
    assert 'lang="zh"' in (run / "report.html").read_text()
    writer = script.writer_prompts[0]
    assert "简体中文" in writer and "[E1]" in writer
