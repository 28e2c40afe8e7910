"""Web verification: two agreeing sources per claim, and the hunt for a second answer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from sounding.config import Settings
from sounding.env import Environment
from sounding.llm.base import ChatRequest, ToolSchema
from sounding.llm.testing import ScriptedModel
from sounding.synth.stage import read_jsonl
from sounding.synth.web import corroborate, run_web_verify
from sounding.tools.base import ToolContext, ToolOutput
from sounding.tools.search import SEARCH_SCHEMA
from sounding.tools.visit import VISIT_SCHEMA
from sounding.types import JSON

PAGES = {
    "https://a.example/danube": "The Danube flows through Vienna and Budapest.",
    "https://a.example/other": "The Danube passes Vienna on its way east.",  # same site
    "https://b.example/river": "Vienna lies on the Danube.",
    "https://c.example/blog": "Rivers are wet.",
}


class Tool:
    def __init__(self, schema: ToolSchema, search: bool) -> None:
        self._schema, self.search, self.calls = schema, search, 0

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        self.calls += 1
        if self.search:
            return ToolOutput("\n".join(f"[page]({u})" for u in PAGES), sources=tuple(PAGES))
        url = str(arguments["url"][0])  # type: ignore[index]
        return ToolOutput(PAGES[url], sources=(url,))


def environment() -> Environment:
    return Environment("fake", {"search": Tool(SEARCH_SCHEMA, True),
                                "visit": Tool(VISIT_SCHEMA, False)})


def entails(request: ChatRequest) -> str:
    """A judge that reads the page: it entails the claim when the page names both ends."""
    text = request.messages[0].content
    if request.purpose == "synth_alternative_check":
        return json.dumps({"satisfies": "Rhine" in text})
    sentence = text.split("Sentence: ")[1].split("\n")[0]
    return json.dumps({"entailed": "Danube" in sentence and "Vienna" in sentence})


async def test_two_sources_from_two_sites() -> None:
    found = await corroborate(ScriptedModel.cycle([entails]), environment(), "Danube",
                              "flows_through", "Vienna")
    # the second page of a.example agrees too, but one site counts once
    assert found.agreeing == ["https://a.example/danube", "https://b.example/river"]
    assert found.checked == list(PAGES)[:3] and found.llm_calls == 3
    lonely = await corroborate(ScriptedModel.cycle([entails]), environment(), "Danube",
                               "flows_through", "Vienna", need=3)
    assert len(lonely.agreeing) == 2 and len(lonely.checked) == 4


async def test_web_verify_stage(settings: Settings, tmp_path: Path) -> None:
    def item(key: str, answer: str) -> dict[str, object]:
        return {"key": key, "answer": answer, "aliases": [answer],
                "question": {"en": f"Which river flows through Vienna? ({key})"},
                "provenance": {"pipeline": "walk", "checks": ["unique"], "subgraph": [
                    ["Danube", "flows_through", "Vienna"], ["Danube", "class", "C@river"]]}}

    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(item(k, "Danube")) + "\n" for k in ("one", "two")))
    hunts = iter(["NONE", "Rhine"])  # the agent finds no other river, then claims one

    def model(request: ChatRequest) -> str:
        if request.purpose in ("synth_corroborate", "synth_alternative_check"):
            return entails(request)
        return f"<think>searched</think>\n<answer>{next(hunts)}</answer>"

    stage = await run_web_verify(items, tmp_path / "v", settings,
                                 model=ScriptedModel.cycle([model]), environment=environment())
    assert stage.kept == 1 and stage.reasons == {"second_answer": 1}
    kept = next(read_jsonl(tmp_path / "v" / "items.jsonl"))
    assert kept["sources"]["Danube flows through Vienna"] == [  # type: ignore[index]
        "https://a.example/danube", "https://b.example/river"]
    assert "sources>=2" in kept["provenance"]["checks"]  # type: ignore[index,operator]
