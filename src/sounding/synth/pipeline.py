"""The code-only stages: graph, formal questions and walks, each resumable in its folder."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from ..corpus import Corpus
from ..errors import ConfigError
from ..types import JSON
from .executor import KnowledgeBase
from .formal import FormalConfig, FormalGenerator
from .graph import GRAPH_DB, build_graph, connect_graph
from .items import make_item
from .stage import Progress, Stage
from .verify import sql_answers
from .walks import WalkConfig, Walker

__all__ = ["Progress", "load_kb", "run_formal", "run_graph", "run_walks"]

def run_graph(corpus: Corpus, out_dir: Path, *, tables: bool = True) -> dict[str, JSON]:
    """Build the knowledge graph (skipped when a finished one is already there)."""
    params: dict[str, JSON] = {"corpus": corpus.name, "tables": tables}
    with Stage(out_dir, "graph", params) as stage:
        if "graph" in stage.done and (out_dir / GRAPH_DB).is_file():
            stats = stage.items()[0]["stats"]
            return stats if isinstance(stats, dict) else {}
        built: dict[str, JSON] = build_graph(corpus, out_dir, tables=tables).as_dict()  # type: ignore[assignment]
        stage.keep("graph", {"stats": built})
    return built


def load_kb(graph_dir: Path) -> KnowledgeBase:
    conn = connect_graph(graph_dir)
    try:
        return KnowledgeBase.load(conn, evidence=False)
    finally:
        conn.close()


def run_formal(graph_dir: Path, out_dir: Path, *, n: int, config: FormalConfig | None = None,
               kb: KnowledgeBase | None = None, progress: Progress | None = None) -> Stage:
    """`n` candidates (index 0..n-1); kept ones are re-verified by the SQL executor."""
    cfg = config or FormalConfig()
    params: dict[str, JSON] = {"n": n, **dataclasses.asdict(cfg)}
    kb = kb or load_kb(graph_dir)
    generator = FormalGenerator(kb, cfg)
    conn = connect_graph(graph_dir)
    try:
        with Stage(out_dir, "formal", params, progress) as stage:
            for index in range(n):
                key = f"formal-{cfg.seed}-{index}"
                if key in stage.done:
                    continue
                cand = generator.candidate(index)
                assert cand.check is not None
                if not cand.check.ok:
                    stage.reject(key, cand.check.reason)
                elif sql_answers(conn, cand.spec) != {cand.answer}:
                    stage.reject(key, "verify_mismatch")
                else:
                    stage.keep(key, make_item(
                        kb, pipeline="formal", answer=cand.answer, spec=cand.spec,
                        fuzzed=cand.fuzzed, ops=cand.ops, grounding=cand.grounding,
                        result=cand.check, level=2 if len(cand.spec.depth()) > 1 else 1))
    finally:
        conn.close()
    return stage


def run_walks(graph_dir: Path, out_dir: Path, *, n: int, config: WalkConfig | None = None,
              max_per_shape: int = 50, kb: KnowledgeBase | None = None,
              progress: Progress | None = None) -> Stage:
    """`n` walks; unique, shortcut-free ones are kept, deduplicated by seed and WL hash."""
    cfg = config or WalkConfig()
    params: dict[str, JSON] = {"n": n, "max_per_shape": max_per_shape,
                               **dataclasses.asdict(cfg)}
    kb = kb or load_kb(graph_dir)
    walker = Walker(kb, cfg)
    if not walker.seeds:
        raise ConfigError(
            f"the graph in {graph_dir} has no walk seeds: walks start at an entity with a "
            f"`class` fact and 1 to {cfg.max_in} incoming mentions; build a larger graph "
            "or use the formal stage (`sounding synth formal`)")
    with Stage(out_dir, "walks", params, progress) as stage:
        kept = stage.items()  # a resumed run knows its seeds and shapes
        seen = {(row["answer_id"], row["shape"]) for row in kept}
        shapes = Counter(str(row["shape"]) for row in kept)
        for index in range(n):
            key = f"walk-{cfg.seed}-{index}"
            if key in stage.done:
                continue
            w = walker.walk(index)
            assert w.check is not None and w.spec is not None
            reason = _walk_reason(w.check.reason, w.check.unique, bool(w.check.shortcut),
                                  bool(w.check.invariant))
            if reason is None and (w.seed, w.shape) in seen:
                reason = "duplicate_structure"
            if reason is None and shapes[w.shape] >= max_per_shape:
                reason = "shape_quota"
            if reason is not None:
                stage.reject(key, reason, {"shape": w.shape})
            else:
                seen.add((w.seed, w.shape))
                shapes[w.shape] += 1
                item = make_item(kb, pipeline="walk", answer=w.seed, spec=w.spec,
                                 fuzzed=w.fuzzed, ops=w.ops, grounding=w.grounding,
                                 result=w.check, level=w.level)
                stage.keep(key, {**item, "shape": w.shape, "walk": [
                    [kb.titles[s], r, kb.titles[o]] for s, r, o in w.edges]})
    return stage


def _walk_reason(reason: str, unique: bool, shortcut: bool, invariant: bool) -> str | None:
    """Walk items keep redundant branches (they are the fog); the rest must pass."""
    if not unique or invariant or shortcut:
        return reason
    return None
