"""A knowledge graph grown from the web: search and visit each entity, an LLM reads
triples off the pages, and a triple is kept only when two different sites agree.

The store has the schema of `graph.py`, so the formal and walk stages run on it
unchanged. Pages come through an Environment's own tools, so the tool layer's
cache and `--record` / `--replay` make a run reproducible; the stage folder holds
the kept and rejected triples (with reasons) and `entities.jsonl`, the crawl log a
resumed run replays instead of asking again.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._templates import render
from ..env import Environment
from ..eval.judges import normalize_answer
from ..llm.base import ChatModel
from ..tools.base import ToolContext
from ..types import JSON
from ._facts import Fact
from ._webagree import Claim, agree, parse_claims
from .graph import GraphStats, insert_fact, write_graph
from .stage import Progress, Stage, read_jsonl, trim_partial
from .verbalize import ask_json

__all__ = ["ENTITIES", "WebGraphConfig", "read_entity", "run_web_graph", "write_store"]

ENTITIES = "entities.jsonl"
GOAL = "every fact the page states about {entity}: dates, numbers, places, people, kinds"


@dataclass(frozen=True, slots=True)
class WebGraphConfig:
    layers: int = 2
    """Seeds are layer 0; entities found in layer L are crawled as layer L+1 < layers."""
    max_entities: int = 20
    """Entities crawled in all (seeds first), the bound on search and visit calls."""
    pages: int = 4
    """Search results visited per entity."""
    need: int = 2
    """Distinct sites (registrable domains) that must state a triple."""
    tolerance: float = 0.02
    """Relative difference under which two numbers agree."""
    years: int = 0
    """Years apart under which two years agree."""
    page_chars: int = 6000
    """Page text the extraction model reads."""


def _key(name: str) -> str:
    return normalize_answer(name) or name.strip().lower()


async def read_entity(model: ChatModel, env: Environment, entity: str, cfg: WebGraphConfig
                      ) -> tuple[list[Claim], list[str], int]:
    """(candidate triples from the first `pages` results, the URLs read, LLM calls)."""
    ctx = ToolContext(question=entity)
    found = await env.tools["search"]({"query": [entity]}, ctx)
    urls = list(dict.fromkeys(found.sources))[: cfg.pages]
    claims: list[Claim] = []
    for url in urls:
        page = await env.tools["visit"]({"url": [url], "goal": GOAL.format(entity=entity)}, ctx)
        data = await ask_json(model, render(
            "sounding.synth", "web_triples.txt", entity=entity, url=url,
            text=page.text[: cfg.page_chars]), "synth_web_triples")
        claims.extend(parse_claims(data, url))
    return claims, urls, len(urls)


def _object_text(claim: Claim) -> str:
    if isinstance(claim.object, float):
        return f"{claim.object:g}"
    return claim.object


async def _crawl(stage: Stage, model: ChatModel, env: Environment, entity: str, layer: int,
                 cfg: WebGraphConfig) -> dict[str, JSON]:
    """Read one entity, record every verdict in the stage, return its crawl-log row."""
    claims, urls, calls = await read_entity(model, env, entity, cfg)
    stage.llm_calls += calls
    found: list[str] = []
    for verdict in agree(claims, need=cfg.need, tolerance=cfg.tolerance, years=cfg.years):
        head = verdict.head
        obj = _object_text(head)
        key = f"{_key(entity)}|{_key(head.subject)}|{head.relation}|{head.kind}|{_key(obj)}"
        sources = list({c.site: c.url for c in reversed(verdict.claims)}.values())[::-1]
        row: dict[str, JSON] = {
            "entity": entity, "subject": head.subject, "relation": head.relation,
            "object": head.object, "kind": head.kind, "evidence": head.evidence,
            "sources": sources, "sites": verdict.sites}  # type: ignore[dict-item]
        if verdict.reason is None:
            names = [head.subject, obj] if head.kind == "entity" else [head.subject]
            found.extend(n for n in names if _key(n) != _key(entity))
        if key in stage.done:
            continue
        if verdict.reason is None:
            stage.keep(key, row)
        else:
            stage.reject(key, verdict.reason, {**row, "rivals": verdict.rivals})  # type: ignore[dict-item]
    pages: list[JSON] = list(urls)
    new: list[JSON] = list(dict.fromkeys(found))
    return {"entity": entity, "layer": layer, "pages": pages, "candidates": len(claims),
            "found": new}


async def run_web_graph(seeds: Sequence[str], out_dir: Path, *, model: ChatModel,
                        environment: Environment, config: WebGraphConfig | None = None,
                        progress: Progress | None = None,
                        on_entity: Callable[[dict[str, JSON]], None] | None = None,
                        ) -> tuple[Stage, GraphStats]:
    """Crawl breadth-first from `seeds`, keep agreeing triples, write graph.sqlite."""
    cfg = config or WebGraphConfig()
    params: dict[str, JSON] = {"seeds": list(seeds), **dataclasses.asdict(cfg)}
    with Stage(out_dir, "web_graph", params, progress) as stage:
        log = {_key(str(r["entity"])): r for r in read_jsonl(out_dir / ENTITIES)}
        queue = deque((s, 0) for s in dict.fromkeys(seeds))
        seen = {_key(s) for s in seeds}
        crawled = 0
        trim_partial(out_dir / ENTITIES)  # a killed run's cut row is crawled again
        with (out_dir / ENTITIES).open("a", encoding="utf-8") as fh:
            while queue and crawled < cfg.max_entities:
                entity, layer = queue.popleft()
                row = log.get(_key(entity))
                if row is None:
                    row = await _crawl(stage, model, environment, entity, layer, cfg)
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    fh.flush()
                    stage.checkpoint()
                    if on_entity is not None:
                        on_entity(row)
                crawled += 1
                names = row.get("found")
                for name in names if isinstance(names, list) and layer + 1 < cfg.layers else []:
                    if _key(str(name)) not in seen:
                        seen.add(_key(str(name)))
                        queue.append((str(name), layer + 1))
        stats = write_store(out_dir, stage.items())
    return stage, stats


def write_store(out_dir: Path, rows: Iterable[dict[str, JSON]]) -> GraphStats:
    """graph.sqlite from kept triples (built aside and renamed, like `build_graph`)."""
    return write_graph(out_dir, "web", lambda conn, stats: _fill(conn, rows, stats))


def _fill(conn: sqlite3.Connection, rows: Iterable[dict[str, JSON]], stats: GraphStats) -> None:
    nodes: dict[str, tuple[int, str, str]] = {}
    kinds: dict[str, str] = {}
    done: set[tuple[int, str, str]] = set()

    def node(name: str, url: str) -> int:
        old = nodes.get(_key(name))
        if old is None or (url and not old[2]):  # a subject's page beats an object's none
            nodes[_key(name)] = (old[0] if old else len(nodes) + 1, old[1] if old else name, url)
        return nodes[_key(name)][0]

    for row in rows:
        rel, kind, obj = str(row["relation"]), str(row["kind"]), row["object"]
        sources = [str(u) for u in row["sources"]] if isinstance(row["sources"], list) else []
        if kinds.setdefault(rel, kind) != kind:  # one kind per relation, as in the corpus graph
            continue
        src = node(str(row["subject"]), sources[0] if sources else "")
        value = _key(str(obj)) if kind == "entity" else str(obj)
        if (src, rel, value) in done:
            continue
        done.add((src, rel, value))
        evidence, source = str(row["evidence"]), "web " + " ".join(sources)
        if kind == "entity":
            dst = node(str(obj), "")
            if dst != src:
                conn.execute("INSERT INTO edges VALUES (?, ?, ?, ?, ?)",
                             (src, dst, rel, evidence, source))
                stats.typed_edges += 1
                # the formal and walk stages link entities by `mentions` (the corpus
                # graph's page links); a sentence naming both is the web's link
                if (src, "mentions", str(dst)) not in done:
                    done.add((src, "mentions", str(dst)))
                    conn.execute("INSERT INTO edges VALUES (?, ?, 'mentions', ?, ?)",
                                 (src, dst, evidence, source))
                    stats.mention_edges += 1
            continue
        literal = obj if isinstance(obj, int | float) else str(obj)
        insert_fact(conn, src, Fact(rel, literal, kind, evidence, source))
    for key, (ident, title, url) in nodes.items():
        conn.execute("INSERT INTO nodes VALUES (?, ?, ?, ?, '', '', '')", (ident, key, title, url))
        conn.execute("INSERT INTO aliases VALUES (?, ?, 'title')", (ident, title))
    stats.nodes = len(nodes)
