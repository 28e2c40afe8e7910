"""Verification on the web: two agreeing sources per triple, and an agentic hunt for a
second answer (uniqueness when there is no executor).

Both run over an Environment's own `search` and `visit` tools, so the tool layer's
cache and record/replay (`--record` / `--replay` in the web settings) make a run
reproducible. The corpus served by `sounding corpus serve` works the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._templates import render
from ..agent import arun
from ..config import Settings
from ..env import Environment
from ..llm.base import ChatModel
from ..tools.base import ToolContext
from ..types import JSON
from .checker import accept
from .items import aliases_of
from .stage import Progress, Stage, passed
from .trajectories import question_of
from .verbalize import ask_json

__all__ = ["Corroboration", "alternative_answer", "corroborate", "run_web_verify"]


@dataclass
class Corroboration:
    claim: str
    agreeing: list[str] = field(default_factory=list)
    """URLs whose page entails the claim."""
    checked: list[str] = field(default_factory=list)
    llm_calls: int = 0


async def corroborate(model: ChatModel, env: Environment, subject: str, relation: str,
                      obj: str, *, need: int = 2, pages: int = 4) -> Corroboration:
    """Search for the claim, read up to `pages` results, and ask per page whether it
    entails "subject relation object"; stops once `need` distinct sites agree."""
    claim = f"{subject} {relation.replace('_', ' ')} {obj}"
    result = Corroboration(claim)
    ctx = ToolContext(question=claim)
    found = await env.tools["search"]({"query": [f"{subject} {obj}"]}, ctx)
    hosts: set[str] = set()
    for url in list(dict.fromkeys(found.sources))[:pages]:
        page = await env.tools["visit"]({"url": [url], "goal": f"is it true that {claim}"}, ctx)
        result.checked.append(url)
        verdict = await ask_json(model, render(
            "sounding.synth", "entailment.txt", evidence=page.text[:4000], source=subject,
            relation=relation.replace("_", " "), target=obj), "synth_corroborate")
        result.llm_calls += 1
        host = url.split("/")[2] if "://" in url else url
        if verdict and verdict.get("entailed") is True and host not in hosts:
            hosts.add(host)
            result.agreeing.append(url)
            if len(result.agreeing) >= need:
                break
    return result


async def alternative_answer(model: ChatModel, settings: Settings, env: Environment,
                             question: str, answer: str,
                             aliases: Sequence[str]) -> tuple[str | None, int]:
    """(a second entity the agent found and a check confirmed, or None; LLM calls)."""
    hunt = render("sounding.synth", "alternative.txt", question=question, answer=answer)
    traj = await arun(hunt, settings, model=model, environment=env)
    calls = len(traj.model_calls)
    other = (traj.answer or "").strip()
    if not other or other.lower().strip(". ") == "none" or accept(other, answer, aliases).ok:
        return None, calls
    check = await ask_json(model, render("sounding.synth", "satisfies.txt", question=question,
                                         candidate=other), "synth_alternative_check")
    calls += 1
    return (other if check and check.get("satisfies") is True else None), calls


def _claims(item: Mapping[str, JSON]) -> list[tuple[str, str, str]]:
    """The grounded triples of an item between two named things (not literals' ranges)."""
    prov = item.get("provenance")
    rows = prov.get("subgraph") if isinstance(prov, dict) else None
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, list) and len(row) == 3 and not str(row[2]).startswith("C@["):
            s, r, o = (str(x) for x in row)
            if r not in ("initial", "word_count", "class") and " or C@" not in o:
                out.append((s, r, o.removeprefix("C@")))
    return out


async def run_web_verify(items_path: Path, out_dir: Path, settings: Settings, *,
                         model: ChatModel, environment: Environment, need: int = 2,
                         lang: str = "en", limit: int | None = None,
                         progress: Progress | None = None) -> Stage:
    """Keep items whose every claim has `need` agreeing sources and no second answer."""
    params: dict[str, JSON] = {"items": str(items_path), "need": need, "lang": lang}
    with Stage(out_dir, "web_verify", params, progress) as stage:
        for key, item in stage.todo(items_path, limit):
            sources: dict[str, JSON] = {}
            reason = None
            for s, r, o in _claims(item):
                found = await corroborate(model, environment, s, r, o, need=need)
                stage.llm_calls += found.llm_calls
                sources[found.claim] = found.agreeing  # type: ignore[assignment]
                if len(found.agreeing) < need:
                    reason = "too_few_sources"
                    break
            if reason is None:
                aliases = aliases_of(item)
                other, calls = await alternative_answer(
                    model, settings, environment, question_of(item, lang), str(item["answer"]),
                    aliases)
                stage.llm_calls += calls
                reason = "second_answer" if other else None
                sources["alternative"] = other
            if reason:
                stage.reject(key, reason, {"sources": sources})
                continue
            stage.keep(key, passed(item, [f"sources>={need}", "no_alternative_answer"],
                                   {"sources": sources}))
    return stage
