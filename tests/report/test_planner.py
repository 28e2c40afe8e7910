"""The planner under the native protocol, and when a budget ends before an outline."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sounding.config import Settings
from sounding.llm.base import Completion
from sounding.report import ReportOptions, generate_report
from sounding.types import ToolCall

from .helpers import EIFFEL, ReportScript, tags_call

TOPIC = "History of the Eiffel Tower"


def _native(name: str, n: int, **arguments: object) -> Completion:
    return Completion(text="", tool_calls=(ToolCall(name, arguments, f"call_{n}"),))


async def test_native_protocol(settings: Settings, tmp_path: Path) -> None:
    native = dataclasses.replace(settings, protocol="native")
    sections = [{"title": "The tower", "points": [{"text": "what it is", "evidence": ["E1"]}]},
                {"title": "Its engineer", "evidence": ["E2"]}]
    script = ReportScript([_native("search", 0, query=["Eiffel Tower"]),  # type: ignore[list-item]
                           _native("write_outline", 1, sections=sections),
                           "All covered."])
    model = script.model()
    result = await generate_report(TOPIC, native, tmp_path, ReportOptions(), model=model)
    assert [s.title for s in result.outline.sections] == ["The tower", "Its engineer"]
    assert result.outline.sections[1].evidence == ("E2",)
    tools = {t.name for t in model.requests[0].tools}
    # PythonInterpreter joins them offline where bubblewrap runs.
    assert {"search", "visit", "write_outline"} <= tools <= {"search", "visit", "write_outline",
                                                             "PythonInterpreter"}
    assert script.calls == {"turn": 3, "write": 2, "judge": 1}


async def test_budget_ends_before_an_outline(settings: Settings, tmp_path: Path) -> None:
    tight = dataclasses.replace(settings, budgets=dataclasses.replace(settings.budgets,
                                                                      max_rounds=2))
    closing = json.dumps({"sections": [{"title": "Lead", "points": [
        {"text": "the lead", "evidence": ["E1", "E99"]}]}]})
    script = ReportScript([tags_call("search", query=["Eiffel Tower"]),
                           tags_call("visit", url=[EIFFEL], goal="history"),
                           f"<answer>{closing}</answer>"])
    result = await generate_report(TOPIC, tight, tmp_path, ReportOptions(),
                                   model=script.model())
    assert not script.pending and script.calls["turn"] == 3
    assert [s.title for s in result.outline.sections] == ["Lead"]
    assert result.outline.sections[0].evidence == ("E1",)  # the unknown id is dropped
    traj = json.loads((tmp_path / "trajectory.jsonl").read_text().splitlines()[-1])
    assert traj["termination"] == "max_rounds"
    assert [c["purpose"] for c in traj["model_calls"]][:4] == ["turn", "turn", "extract",
                                                               "outline"]


async def test_unreadable_closing_outline_falls_back_to_sources(settings: Settings,
                                                                 tmp_path: Path) -> None:
    tight = dataclasses.replace(settings, budgets=dataclasses.replace(settings.budgets,
                                                                      max_rounds=1))
    script = ReportScript([tags_call("search", query=["Eiffel Tower"]), "no idea"])
    result = await generate_report(TOPIC, tight, tmp_path, ReportOptions(max_sections=3),
                                   model=script.model())
    titles = [s.title for s in result.outline.sections]
    assert titles == ["Eiffel Tower", "Gustave Eiffel", "Tower"]
    assert result.stage == "done"


async def test_web_environment_against_corpus_serve(settings: Settings, tmp_path: Path) -> None:
    """`--env web` with SearXNG and Jina pointed at `sounding corpus serve`: the planner
    and the quote grounding work the same over real provider wire formats."""
    from sounding.config import load_settings
    from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
    from sounding.corpus.server import CorpusServer

    url = "https://harbour.example/lighthouse"
    text = ("Kestrel Point Lighthouse was lit in 1871 and automated in 1989. "
            "Its keeper for forty years was Ada Marlowe.")
    CorpusBuilder(tmp_path / "c", name="h").build(
        [("h", [SourceDoc(url=url, title="Kestrel Point Lighthouse", text=text, source="H")])])
    corpus = Corpus.open(tmp_path / "c")
    server = CorpusServer(corpus, "127.0.0.1", 0).start()
    try:
        web = load_settings({
            "llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "m", "env": "web",
            "web.search": "searxng", "web.searxng_url": server.url, "web.fetch": "jina",
            "web.jina_url": server.url, "web.scholar": "arxiv", "web.no_cache": True,
            "cache_dir": tmp_path / "cache"}, environ={}, config_file=None)
        outline = [{"title": "The keeper", "points": [{"text": "who", "evidence": ["E1"]}]}]
        script = ReportScript([tags_call("search", query=["Kestrel Point Lighthouse"]),
                               tags_call("visit", url=[url], goal="the keeper"),
                               tags_call("write_outline", sections=outline),
                               "<answer>done</answer>"])
        result = await generate_report("Kestrel Point Lighthouse", web, tmp_path / "run",
                                       ReportOptions(), model=script.model())
    finally:
        server.close()
        corpus.close()
    assert result.stage == "done"
    evidence = [json.loads(ln) for ln in
                (tmp_path / "run" / "evidence.jsonl").read_text().splitlines()]
    assert evidence[0]["url"] == url and evidence[0]["verbatim"]
    assert evidence[0]["quote"] in text
