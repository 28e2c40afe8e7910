"""The web graph: triples read off pages served by `sounding corpus serve`, kept when two
sites agree, stored in the corpus graph's schema and fed to the formal and walk stages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sounding.config import Settings, load_settings
from sounding.corpus import Corpus, CorpusBuilder, SourceDoc
from sounding.corpus.server import CorpusServer
from sounding.env import build_environment
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.synth._webagree import Claim, agree, parse_claims, registrable_domain
from sounding.synth.graph import connect_graph
from sounding.synth.pipeline import run_formal, run_walks
from sounding.synth.stage import read_jsonl
from sounding.synth.webgraph import ENTITIES, WebGraphConfig, run_web_graph
from sounding.types import JSON

from .test_cli import cli

PAGES = {
    "https://a.example/curie": "Marie Curie was born in Warsaw. Marie Curie was born in 1867. "
                               "Marie Curie worked in Paris. Marie Curie worked in Lyon. "
                               "Marie Curie was a physicist.",
    "https://www.b.org/bio/curie": "Marie Curie was born in Warsaw. Marie Curie was born in "
                                   "1867. Marie Curie worked in Paris. Marie Curie was a "
                                   "physicist.",
    "https://c.net/curie": "Marie Curie was born in 1868.",
    "https://a.example/curie-letters": "Marie Curie worked in Lyon.",  # same site as the first
    "https://a.example/warsaw": "Warsaw is a city. Warsaw is located in Poland. Warsaw has a "
                                "population of 1,860,000.",
    "https://news.d.co.uk/warsaw": "Warsaw is a city. Warsaw is located in Poland. Warsaw has a "
                                   "population of 1.86 million.",
    "https://a.example/paris": "Paris is a city. Paris is located in France. Paris has a "
                               "population of 2,100,000.",
    "https://e.com/paris": "Paris is a city. Paris is located in France. Paris has a population "
                           "of 2,102,650.",
}
RULES = [(re.compile(r"([A-Z]\w+(?: [A-Z]\w+)?) (?:is|was) a ([a-z]+)"), "class", "string"),
         (re.compile(r"([A-Z]\w+(?: [A-Z]\w+)?) was born in (\d{4})"), "birth_year", "year"),
         (re.compile(r"([A-Z]\w+(?: [A-Z]\w+)?) was born in ([A-Z]\w+)"), "born_in", "entity"),
         (re.compile(r"([A-Z]\w+(?: [A-Z]\w+)?) worked in ([A-Z]\w+)"), "worked_in", "entity"),
         (re.compile(r"([A-Z]\w+) is located in ([A-Z]\w+)"), "located_in", "entity"),
         (re.compile(r"([A-Z]\w+) has a population of ([\d.,]+(?: million)?)"), "population",
          "number")]


def reader(request: ChatRequest) -> str:
    """A model that reads: visit's extraction echoes the page, triple extraction applies
    the RULES to the page text it is given (nothing from memory)."""
    return read(request.messages[-1].content)


def read(prompt: str) -> str:
    if "## **Webpage Content**" in prompt:  # visit's goal-directed extraction
        page = prompt.split("## **Webpage Content**")[1].split("## **User Goal**")[0]
        return json.dumps({"rational": "", "evidence": page.strip(), "summary": ""})
    page = prompt.split("## Page")[1].split("## Task")[0]
    triples = [{"subject": m[1], "relation": rel, "object": m[2].rstrip("."), "kind": kind,
                "evidence": m[0]} for pattern, rel, kind in RULES for m in pattern.finditer(page)]
    return json.dumps({"triples": triples})


def test_sites_and_agreement() -> None:
    assert registrable_domain("https://news.d.co.uk/x") == "d.co.uk"
    assert registrable_domain("https://www.b.org/bio") == registrable_domain("http://b.org")

    def claim(obj: str, url: str, kind: str = "year") -> Claim:
        row: dict[str, JSON] = {"subject": "Marie Curie", "relation": "Birth Year",
                                "object": obj, "kind": kind, "evidence": "e"}
        data: dict[str, JSON] = {"triples": [row]}
        return parse_claims(data, url)[0]

    verdicts = agree([claim("1867", "https://a.org/1"), claim("1867", "https://a.org/2"),
                      claim("1868", "https://b.org/"), claim("1867", "https://c.org/")])
    assert [(v.head.object, v.sites, v.reason) for v in verdicts] == [
        (1867.0, ["a.org", "c.org"], None), (1868.0, ["b.org"], "disagreeing_sources")]
    pops = agree([claim("1.86 million", "https://a.org/", "number"),
                  claim("1,860,000", "https://b.org/", "number")])
    assert len(pops) == 1 and pops[0].reason is None and pops[0].head.object == 1_860_000
    lonely = agree([claim("The Sorbonne", "https://a.org/", "entity"),
                    claim("Paris", "https://b.org/", "entity"),
                    claim("sorbonne", "https://c.org/", "entity")])
    assert [(v.head.object, v.reason) for v in lonely] == [
        ("The Sorbonne", None), ("Paris", "single_source")]  # entities may have many objects
    assert parse_claims({"triples": [{"subject": "X", "relation": "1bad", "object": "y",
                                      "kind": "entity"}]}, "https://a.org/") == []


def _web(server: CorpusServer, tmp_path: Path, **extra: object) -> Settings:
    return load_settings({
        "llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "m", "env": "web",
        "web.search": "searxng", "web.searxng_url": server.url, "web.fetch": "jina",
        "web.jina_url": server.url, "web.scholar": "arxiv", "web.no_cache": True,
        "web.rate_limits": "searxng=1000,jina=1000",  # the loopback needs no politeness
        "cache_dir": tmp_path / "cache", **extra}, environ={}, config_file=None)


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    docs = [SourceDoc(url=u, title=u.rsplit("/", 1)[1], text=t, source="S")
            for u, t in PAGES.items()]
    CorpusBuilder(tmp_path / "c", name="web").build([("web", docs)])
    corpus = Corpus.open(tmp_path / "c")
    server = CorpusServer(corpus, "127.0.0.1", 0).start()
    yield server
    server.close()
    corpus.close()


async def _grow(settings: Settings, out: Path, model: ScriptedModel):  # type: ignore[no-untyped-def]
    env = build_environment(settings, summary_model=model)
    try:
        return await run_web_graph(["Marie Curie"], out, model=model, environment=env,
                                   config=WebGraphConfig(layers=2, pages=5))
    finally:
        await env.aclose()


async def test_web_graph_feeds_formal_and_walks(served: CorpusServer, tmp_path: Path) -> None:
    record = tmp_path / "rec"
    stage, stats = await _grow(_web(served, tmp_path, **{"web.record_dir": record}),
                               tmp_path / "g", ScriptedModel.cycle([reader]))
    kept = {(r["subject"], r["relation"], r["object"]) for r in stage.items()}
    assert ("Marie Curie", "birth_year", 1867.0) in kept
    assert ("Marie Curie", "born_in", "Warsaw") in kept
    assert ("Warsaw", "population", 1_860_000.0) in kept
    assert ("Paris", "located_in", "France") in kept
    rejected = {(r["object"], r["reason"]) for r in read_jsonl(tmp_path / "g" / "rejected.jsonl")}
    assert (1868.0, "disagreeing_sources") in rejected and ("Lyon", "single_source") in rejected
    assert not any(r[2] == "Lyon" for r in kept)  # two pages of one site are one source
    crawl = [json.loads(x) for x in (tmp_path / "g" / ENTITIES).read_text().splitlines()]
    assert [(c["entity"], c["layer"]) for c in crawl] == [
        ("Marie Curie", 0), ("Warsaw", 1), ("Paris", 1)]  # Poland, France: layer 2, not read
    manifest = stage.manifest()
    assert manifest["status"] == "done" and manifest["counts"]["rejected"]["single_source"] >= 1
    conn = connect_graph(tmp_path / "g")
    titles = {t for (t,) in conn.execute("SELECT title FROM nodes")}
    conn.close()
    assert titles == {"Marie Curie", "Warsaw", "Paris", "Poland", "France"}
    assert stats.nodes == 5 and stats.by_relation["population"] == 2

    formal = run_formal(tmp_path / "g", tmp_path / "f", n=30)  # re-verified in SQL when kept
    item = formal.items()[0]
    assert item["answer"] == "Marie Curie" and "population" in json.dumps(item["spec"])
    walks = run_walks(tmp_path / "g", tmp_path / "w", n=30)  # walks the mention edges
    assert walks.seen == 30 and walks.manifest()["status"] == "done"

    # the recording replays the same graph with the server gone; a resumed run asks nothing
    served.close()
    again, _ = await _grow(_web(served, tmp_path, **{"web.replay_dir": record}), tmp_path / "r",
                           ScriptedModel.cycle([reader]))
    assert again.items() == [{**r} for r in stage.items()]
    resumed, _ = await _grow(_web(served, tmp_path), tmp_path / "g", ScriptedModel([]))
    assert resumed.kept == stage.kept and resumed.llm_calls == stage.llm_calls

    # a run killed mid-row: the cut row is dropped and that entity crawled again
    log = tmp_path / "g" / ENTITIES
    log.write_text(log.read_text()[:-20], encoding="utf-8")
    cut, _ = await _grow(_web(served, tmp_path, **{"web.replay_dir": record}), tmp_path / "g",
                         ScriptedModel.cycle([reader]))
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["entity"] for r in rows] == ["Marie Curie", "Warsaw", "Paris"]
    assert cut.kept == stage.kept


def test_cli_web_graph(served: CorpusServer, tmp_path: Path) -> None:
    (tmp_path / "seeds.txt").write_text("# people\nMarie Curie\n")

    def reply(body: dict[str, JSON]) -> str:
        messages = body["messages"]
        assert isinstance(messages, list) and isinstance(messages[-1], dict)
        return read(str(messages[-1]["content"]))

    with ScriptedServer.repeat(reply) as llm:
        env = {"SOUNDING_BASE_URL": llm.base_url, "SOUNDING_MODEL": "m",
               "SOUNDING_CACHE_DIR": str(tmp_path / "cache"), "SOUNDING_WEB__SEARCH": "searxng",
               "SOUNDING_WEB__SEARXNG_URL": served.url, "SOUNDING_WEB__FETCH": "jina",
               "SOUNDING_WEB__JINA_URL": served.url,
               "SOUNDING_WEB__RATE_LIMITS": "searxng=1000,jina=1000"}
        proc = cli(["web-graph", "seeds.txt", "--out", "g", "--layers", "1", "--pages", "5"],
                   env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Marie Curie (layer 0): 4 pages" in proc.stderr  # every page naming her
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert manifest["stage"] == "web_graph" and manifest["params"]["seeds"] == ["Marie Curie"]
    assert manifest["counts"]["rejected"] == {"disagreeing_sources": 1, "single_source": 1}
    conn = connect_graph(tmp_path / "g")
    facts = conn.execute("SELECT relation, num, text FROM facts ORDER BY relation").fetchall()
    conn.close()
    assert facts == [("birth_year", 1867.0, None), ("class", None, "physicist")]
