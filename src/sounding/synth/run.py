"""The whole pipeline in one call: graph, formal and walk questions, (verbalisation), dedup,
trajectories and export, each stage in its own subfolder of `out` (so a rerun resumes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..corpus import Corpus
from ..env import Environment
from ..llm.base import ChatModel
from ..types import JSON
from .dedup import run_dedup
from .export import export
from .formal import FormalConfig
from .pipeline import load_kb, run_formal, run_graph, run_walks
from .stage import Progress, read_jsonl
from .trajectories import SampleConfig, run_trajectories
from .verbalize import run_verbalize

__all__ = ["RunPlan", "run_all"]


@dataclass(frozen=True, slots=True)
class RunPlan:
    formal: int = 200
    """Formal candidates."""
    walks: int = 200
    """Walk candidates."""
    verbalize: bool = True
    """Have the LLM write the questions (else the template questions are used)."""
    langs: tuple[str, ...] = ("en",)
    sample: SampleConfig = field(default_factory=SampleConfig)
    limit: int | None = None
    """Questions given to the agents (all when None)."""


def _merge(paths: list[Path], out: Path) -> Path:
    """One items file from several stages (rewritten each time: it is cheap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for path in paths:
            for row in read_jsonl(path):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


async def run_all(corpus: Corpus, out: Path, settings: Settings, *, model: ChatModel,
                  environment: Environment, plan: RunPlan | None = None,
                  progress: Progress | None = None) -> dict[str, JSON]:
    """Run every stage into `out/<stage>`; returns each stage's counts."""
    plan = plan or RunPlan()
    counts: dict[str, JSON] = {"graph": run_graph(corpus, out / "graph")}
    kb = load_kb(out / "graph")
    formal = run_formal(out / "graph", out / "formal", n=plan.formal, config=FormalConfig(),
                        kb=kb, progress=progress)
    walks = run_walks(out / "graph", out / "walks", n=plan.walks, kb=kb, progress=progress)
    counts.update(formal=formal.counts(), walks=walks.counts())
    items = _merge([out / "formal" / "items.jsonl", out / "walks" / "items.jsonl"],
                   out / "questions.jsonl")
    if plan.verbalize:
        stage = await run_verbalize(items, out / "verbalize", model, langs=plan.langs,
                                    limit=plan.limit, progress=progress)
        counts["verbalize"] = stage.counts()
        items = out / "verbalize" / "items.jsonl"
    dedup = run_dedup(items, out / "dedup", lang=plan.sample.lang, progress=progress)
    counts["dedup"] = dedup.counts()
    sampled = await run_trajectories(out / "dedup" / "items.jsonl", out / "trajectories",
                                     settings, model=model, environment=environment,
                                     config=plan.sample, limit=plan.limit, progress=progress)
    counts["trajectories"] = sampled.counts()
    counts["export"] = export(out / "trajectories", out / "export").counts()
    return counts
