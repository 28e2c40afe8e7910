"""visit: token-aware chunks, merge, one repair attempt, BM25 fallback, unreadable pages."""

from __future__ import annotations

import json

from sounding.errors import LLMError, ProviderError
from sounding.llm.testing import ScriptedModel
from sounding.providers.base import Page
from sounding.tools.base import ToolContext
from sounding.tools.visit import (
    UNREADABLE_EVIDENCE,
    VisitTool,
    best_passages,
    format_visit,
    split_token_chunks,
)
from sounding.types import estimate_tokens


class Pages:
    name = "pages"

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages

    async def fetch(self, url: str, *, stats: object = None) -> Page | None:
        if url == "https://error.example/":
            raise ProviderError("connection refused", retryable=True)
        text = self.pages.get(url)
        return Page(url, text) if text is not None else None


def reply(evidence: str, summary: str) -> str:
    return json.dumps({"rational": "r", "evidence": evidence, "summary": summary})


def test_token_chunks_fit_the_budget_for_latin_and_cjk() -> None:
    latin = "\n".join(f"Paragraph {i} " + "word " * 60 for i in range(200))
    chunks = split_token_chunks(latin, 1000)
    assert len(chunks) > 1 and all(estimate_tokens(c) <= 1000 for c in chunks)
    assert "".join(c.replace("\n", "") for c in chunks) == latin.replace("\n", "")
    chinese = "深度研究助手。" * 3000  # one long line, about 21,000 tokens
    parts = split_token_chunks(chinese, 2000)
    assert all(estimate_tokens(p) <= 2000 for p in parts) and "".join(parts) == chinese
    assert split_token_chunks("short", 100) == ["short"]


async def test_single_chunk_extraction_in_the_trained_frame() -> None:
    model = ScriptedModel([reply("The tower is 330 m tall.", "Height found.")])
    tool = VisitTool(Pages({"https://a.example/": "The tower is 330 m tall."}), model)
    out = await tool({"url": ["https://a.example/"], "goal": "height"}, ToolContext())
    assert out.text == format_visit("https://a.example/", "height", None).replace(
        UNREADABLE_EVIDENCE, "The tower is 330 m tall.").replace(
        "The webpage content could not be processed, and therefore, no information is "
        "available.", "Height found.").strip()  # upstream strips the whole observation
    assert out.sources == ("https://a.example/",) and out.meta["fallbacks"] == 0
    model.assert_all_used()


async def test_long_page_is_split_and_merged_not_truncated() -> None:
    text = "\n".join([f"Section {i}: " + "filler text " * 80 for i in range(45)]
                     + ["The answer hides at the very end: 1887."])
    seen: list[str] = []

    def answer(request: object) -> str:
        prompt = request.messages[-1].content  # type: ignore[attr-defined]
        seen.append(prompt)
        return reply("1887", "Found the year.") if "1887" in prompt else reply("", "")

    model = ScriptedModel([answer], strict=False)
    tool = VisitTool(Pages({"https://long.example/": text}), model, chunk_tokens=2000,
                     max_chunks=50)
    out = await tool({"url": ["https://long.example/"], "goal": "year"}, ToolContext())
    assert len(seen) == len(split_token_chunks(text, 2000)) > 3
    assert "Evidence in page: \n1887" in out.text and "Found the year." in out.text


async def test_too_many_chunks_keeps_those_nearest_the_goal() -> None:
    text = "\n".join([f"Chapter {i}: " + "unrelated prose " * 120 for i in range(40)]
                     + ["Zeppelin airship capacity was 72 passengers."])
    model = ScriptedModel([reply("72 passengers", "Capacity found.")] * 2, strict=False)
    tool = VisitTool(Pages({}), model, chunk_tokens=1500, max_chunks=2)
    chunks = tool.chunks(text, "zeppelin airship capacity")
    assert len(chunks) == 2 and any("Zeppelin" in c for c in chunks)


async def test_bad_json_gets_one_repair_then_succeeds() -> None:
    model = ScriptedModel(["I think the page says it is tall.", reply("330 m", "Tall.")])
    tool = VisitTool(Pages({"https://a.example/": "The tower is 330 m tall."}), model)
    out = await tool({"url": ["https://a.example/"], "goal": "height"}, ToolContext())
    assert "330 m" in out.text
    repair = model.requests[1].messages
    assert len(repair) == 3 and "JSON object" in repair[-1].content


async def test_still_bad_after_repair_falls_back_to_best_passages() -> None:
    page = "\n\n".join(["Opening remarks about the weather."] * 5
                       + ["The bridge spans 1,280 metres across the strait."]
                       + ["Closing remarks about lunch."] * 5)
    model = ScriptedModel(["nope", "still not json"])
    tool = VisitTool(Pages({"https://b.example/": page}), model)
    out = await tool({"url": ["https://b.example/"], "goal": "bridge span metres"},
                     ToolContext())
    assert "1,280 metres" in out.text and out.meta["fallbacks"] == 1
    model.assert_all_used()


async def test_model_failure_and_no_model_use_passages() -> None:
    pages = Pages({"https://c.example/": "Alpha.\n\nThe capital is Canberra.\n\nOmega."})
    failing = VisitTool(pages, ScriptedModel([LLMError("endpoint down")]))
    out = await failing({"url": ["https://c.example/"], "goal": "capital"}, ToolContext())
    assert "Canberra" in out.text
    none = VisitTool(pages, None)
    out = await none({"url": ["https://c.example/"], "goal": "capital"}, ToolContext())
    assert "Canberra" in out.text and out.meta["fallbacks"] == 1


async def test_unreadable_pages_say_so_in_the_trained_frame() -> None:
    tool = VisitTool(Pages({"https://ok.example/": "fine"}), ScriptedModel([reply("f", "s")]))
    out = await tool({"url": ["https://missing.example/", "https://error.example/",
                              "https://ok.example/"], "goal": "g"}, ToolContext())
    parts = out.text.split("\n=======\n")
    missing = "there is no page at this address (HTTP 404 or 410, or not in the corpus)"
    assert parts[0] == format_visit("https://missing.example/", "g", None, missing)
    assert UNREADABLE_EVIDENCE + "\nReason: " + missing in parts[0]
    assert parts[1].startswith("The useful information in https://error.example/ for user "
                               "goal g as follows: \n\nEvidence in page: \n"
                               + UNREADABLE_EVIDENCE + "\nReason: ")
    assert out.sources == ("https://ok.example/",) and out.meta["unreadable"] == 2
    assert set(out.meta["errors"]) == {"https://missing.example/",
                                       "https://error.example/"}


def test_best_passages_ranks_by_goal() -> None:
    text = "\n".join(["cats and dogs"] * 10 + ["the eiffel tower height is 330 metres"])
    assert any("eiffel" in p for p in best_passages(text, "eiffel tower height", k=1,
                                                     passage_chars=40))
