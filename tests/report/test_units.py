"""The pieces: outline Markdown, sentence splitting, section tidying, the writer's bounded
context, the claim judge's batching, retries and structured-output fallback, PDF."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sounding.errors import ConfigError, LLMResponseError
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel
from sounding.report import Evidence, EvidenceBank, LLMClaimJudge, Outline, Point, Section
from sounding.report._text import ground_quote, sentences
from sounding.report.check import extract_claims
from sounding.report.pdf import pdf_available, write_pdf
from sounding.report.render import number_citations, parse_markdown
from sounding.report.writer import WrittenSection, section_prompt, tidy_section

OUTLINE_MD = """# Outline: Lighthouses

## 1. Early lights
- Fires on hills [E1, E2]
- The Pharos of Alexandria [E3]

## 2) Automation
* Keepers leave [E2]
"""


def test_outline_markdown_round_trip() -> None:
    outline = Outline.from_markdown(OUTLINE_MD)
    assert outline.topic == "Lighthouses"
    assert [s.title for s in outline.sections] == ["Early lights", "Automation"]
    assert outline.sections[0].points[0] == Point("Fires on hills", ("E1", "E2"))
    assert outline.sections[0].evidence == ("E1", "E2", "E3")
    assert Outline.from_markdown(outline.to_markdown()) == outline
    assert Outline.from_dict(outline.to_dict()) == outline
    with pytest.raises(ConfigError, match="no sections"):
        Outline.from_markdown("just text\n")


def test_sentences_keep_citations() -> None:
    text = "The light was lit in 1871 [E1]. It was automated in 1989. [E2] Who kept it?"
    assert sentences(text) == ["The light was lit in 1871 [E1].",
                               "It was automated in 1989. [E2]", "Who kept it?"]


def test_ground_quote() -> None:
    page = "Kestrel Point Lighthouse was lit in 1871.\nIt was automated in 1989. Ada kept it."
    assert ground_quote("It was automated in 1989.", page) == "It was automated in 1989."
    assert ground_quote("The lighthouse was automated in the year 1989", page) == \
        "It was automated in 1989."
    assert ground_quote("Penguins live in Antarctica.", page) is None


def _bank(n: int = 3) -> EvidenceBank:
    bank = EvidenceBank()
    for i in range(1, n + 1):
        bank.add(f"https://example.org/{i}", f"Page {i}", f"Quote number {i} about towers.")
    return bank


def test_evidence_ids_are_stable_and_deduplicated(tmp_path: Path) -> None:
    bank = EvidenceBank.load(tmp_path / "ev.jsonl")
    a = bank.add("https://a", "A", "one")
    assert bank.add("https://a", "A", "one") == a and bank.add("https://b", "B", "two").id == "E2"
    again = EvidenceBank.load(tmp_path / "ev.jsonl")
    assert [e.quote for e in again] == ["one", "two"]
    assert again.add("https://c", "C", "x").id == "E3"
    assert again.resolve(["E3", "E1", "E9", "E1"]) == [again.get("E3"), again.get("E1")]


def test_tidy_section() -> None:
    bank = _bank()
    raw = "<think>plan</think>## Heading\nTowers are tall [E1][E2]. Old ones fell【E3、E9】."
    assert tidy_section(raw, Section("x"), bank) == "Towers are tall [E1, E2]. Old ones fell [E3]."
    assert tidy_section("Tall [E1].\n\n**References**\n1. x", Section("x"), bank) == "Tall [E1]."


async def test_outline_tool_reads_a_json_encoded_array() -> None:
    from sounding.report._tools import OutlineTool, PlannerState
    from sounding.tools.base import ToolContext

    state = PlannerState("t", _bank(2))
    encoded = json.dumps([{"title": "One", "points": [{"text": "p", "evidence": ["E2"]}]}])
    out = await OutlineTool(state)({"sections": [encoded]}, ToolContext())
    assert state.outline is not None and state.outline.sections[0].evidence == ("E2",)
    assert "1 sections citing 1" in out.text


def test_writer_context_is_bounded() -> None:
    bank = _bank(3)
    sections = tuple(Section(f"Part {i}", (Point("p", ("E1",)),)) for i in range(1, 13))
    outline = Outline("Towers", sections)
    done = [WrittenSection(s.key(), s.title, f"Section {s.title} says things [E1].")
            for s in sections[:11]]
    prompt = section_prompt(outline, 12, bank, done)
    assert "Part 11: Section Part 11 says things." in prompt
    assert "Part 7:" not in prompt.split("do not repeat it):")[1]  # only the last 4 digested
    assert "[E1] Page 1" in prompt and "[E2]" not in prompt


def test_numbering_and_parse_back() -> None:
    texts, order = number_citations(["A [E3]. B [E1, E3].", "铁塔[E2]。"])
    assert texts == ["A [1]. B [2][1].", "铁塔[3]。"] and order == ["E3", "E1", "E2"]
    md = ("# T\n\n> check\n\n## One\n\nA [1]. B [2][1].\n\n## References\n\n"
          "1. [x](https://x) (E3): \"q\"\n2. [y](https://y) (E1): \"r\"\n")
    assert parse_markdown(md) == ("T", [("One", "A [E3]. B [E1, E3].")])


def _claims(n: int) -> list[object]:
    text = " ".join(f"Claim {i} is about towers [E1]." for i in range(n))
    return extract_claims([text])  # type: ignore[return-value]


def _verdicts(request: ChatRequest, skip: str | None = None) -> str:
    ids = re.findall(r"^Claim (c\d+):", request.messages[-1].content, re.M)
    return json.dumps({"verdicts": [{"claim": c, "verdict": "supported", "reason": "",
                                     "rewrite": ""} for c in ids if c != skip]})


async def test_judge_batches_concurrently() -> None:
    model = ScriptedModel.repeat(_verdicts, latency=0.05)
    judge = LLMClaimJudge(model, batch=8, concurrency=8)
    verdicts = await judge.judge(_claims(20), _bank())  # type: ignore[arg-type]
    assert [v.label for v in verdicts] == ["supported"] * 20
    assert len(model.requests) == 3
    fmt = model.requests[0].response_format
    assert fmt is not None and fmt["type"] == "json_schema"


async def test_judge_asks_again_for_skipped_claims() -> None:
    calls = iter([lambda r: _verdicts(r, skip="c2"), _verdicts, lambda r: _verdicts(r, "c1")])
    model = ScriptedModel.repeat(lambda r: next(calls)(r))
    verdicts = await LLMClaimJudge(model).judge(_claims(3), _bank())  # type: ignore[arg-type]
    assert [v.label for v in verdicts] == ["supported"] * 3
    assert "Claim c2:" in model.requests[1].messages[-1].content
    assert "Claim c1:" not in model.requests[1].messages[-1].content
    model2 = ScriptedModel.repeat(lambda r: _verdicts(r, skip="c1"))
    got = await LLMClaimJudge(model2).judge(_claims(2), _bank())  # type: ignore[arg-type]
    assert got[0].label == "unchecked" and got[1].label == "supported"


async def test_judge_falls_back_to_text_when_json_schema_is_refused() -> None:
    def reply(request: ChatRequest) -> str:
        if request.response_format is not None:
            raise LLMResponseError("json_schema is not supported", status=400)
        return "Here you go:\n```json\n" + _verdicts(request) + "\n```"

    model = ScriptedModel.repeat(reply)
    judge = LLMClaimJudge(model, batch=2)
    verdicts = await judge.judge(_claims(4), _bank())  # type: ignore[arg-type]
    assert [v.label for v in verdicts] == ["supported"] * 4 and not judge.structured


@pytest.mark.skipif(not pdf_available(), reason="WeasyPrint (the `pdf` extra) is not installed")
def test_pdf(tmp_path: Path) -> None:
    write_pdf("<html><body><h1>Report</h1><p>Text.</p></body></html>", tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def _overlap_nli(pairs: object) -> list[dict[str, float]]:
    """A tiny NLI stand-in: entailment = share of the hypothesis's words in the premise."""
    out = []
    for premise, hypothesis in pairs:  # type: ignore[attr-defined]
        words = re.findall(r"\w+", hypothesis.lower())
        share = sum(w in premise.lower() for w in words) / max(len(words), 1)
        out.append({"entailment": share, "neutral": 1 - share, "contradiction": 0.0})
    return out


async def test_nli_judge_thresholds() -> None:
    from sounding.report.nli import NLIJudge

    bank = _bank(1)  # "Quote number 1 about towers."
    text = ("Quote number 1 about towers [E1]. Quote number about bridges and roads [E1]. "
            "Penguins swim fast [E1].")
    verdicts = await NLIJudge(_overlap_nli).judge(extract_claims([text]), bank)
    assert [v.label for v in verdicts] == ["supported", "partly", "unsupported"]


class _Pages:
    """A page backend over a dict (the corpus backend's interface)."""

    name = "dict"

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages

    async def fetch(self, url: str) -> object:
        from sounding.providers.base import Page

        text = self.pages.get(url)
        return Page(url, text) if text is not None else None


async def test_cited_snippets_are_checked_against_the_page(tmp_path: Path) -> None:
    from sounding.report._tools import PlannerState, verify_cited

    bank = EvidenceBank.load(tmp_path / "ev.jsonl")
    page = "The light was first lit in 1871. It was automated in 1989 by the board."
    a = bank.add("https://l", "L", "It was automated in 1989 by the board.", verbatim=False)
    b = bank.add("https://l", "L", "The light was ... lit in 1871", verbatim=False)
    c = bank.add("https://gone", "G", "Nothing here", verbatim=False)
    d = bank.add("https://l", "L", "Uncited snippet", verbatim=False)
    state = PlannerState("t", bank, pages=_Pages({"https://l": page}))  # type: ignore[arg-type]
    await verify_cited(state, [a.id, b.id, c.id])
    assert bank.get(a.id) == Evidence(a.id, a.url, "L", a.quote, verbatim=True)
    assert bank.get(b.id).quote == "The light was first lit in 1871."  # type: ignore[union-attr]
    assert not bank.get(c.id).verbatim and not bank.get(d.id).verbatim  # type: ignore[union-attr]
    saved = EvidenceBank.load(tmp_path / "ev.jsonl")
    assert [e.to_dict() for e in saved] == [e.to_dict() for e in bank]


def test_html_body_blocks() -> None:
    from sounding.report.render import Document, to_html

    bank = _bank(2)
    text = "Intro [E1].\n### Detail\n- First [E2].\n- Second.\nAfter the list."
    page = to_html(Document("Towers", [("One", text)], bank))
    assert ("<p>Intro <a class=\"cite\" href=\"#ref-1\" title=\"Quote number 1 about towers.\">"
            "[1]</a>.</p>") in page
    assert "<h3>Detail</h3>" in page
    assert re.search(r"<ul><li>First <a [^>]+>\[2\]</a>\.</li><li>Second\.</li></ul>"
                     r"\n<p>After the list\.</p>", page)
    zh = to_html(Document("铁塔", [("一", "铁塔很高[E1]。它在巴黎[E2]。")], bank))
    assert "</a>。它在巴黎" in zh
