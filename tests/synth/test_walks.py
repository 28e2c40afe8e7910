"""SailorFog walks: rare seeds, back-jumps, WL-hash structural dedup and levels."""

from __future__ import annotations

from pathlib import Path

from sounding.synth.pipeline import load_kb, run_walks
from sounding.synth.stage import read_jsonl
from sounding.synth.walks import WalkConfig, Walker, level_of, wl_hash


def test_wl_hash_is_structural() -> None:
    star = [(1, "mentions", 2), (1, "mentions", 3), (1, "mentions", 4)]
    relabelled = [(9, "mentions", 7), (9, "mentions", 5), (9, "mentions", 6)]
    chain = [(1, "mentions", 2), (2, "mentions", 3), (3, "mentions", 4)]
    assert wl_hash(star, 1) == wl_hash(relabelled, 9)
    assert wl_hash(star, 1) != wl_hash(chain, 1)
    # same shape, another root: another question
    assert wl_hash(star, 1) != wl_hash(star, 2)
    # relation labels count
    assert wl_hash(star, 1) != wl_hash([(1, "borders", 2), *star[1:]], 1)


def test_levels_from_topology() -> None:
    path = [(1, "m", 2), (2, "m", 3)]
    cycle = [(1, "m", 2), (2, "m", 3), (3, "m", 1)]
    assert level_of(path[:1], 1, 0) == 1
    assert level_of(path, 3, 2) == 2
    assert level_of(cycle, 4, 2) == 3
    assert level_of(cycle, 4, 1) == 2


def test_walks_on_the_vital_graph(vital_graph: Path, tmp_path: Path) -> None:
    kb = load_kb(vital_graph)
    walker = Walker(kb, WalkConfig(edges=4, p_back=0.5))
    mentions = kb.inv["mentions"]
    assert walker.seeds and all(1 <= len(mentions.get(s, ())) <= 3 for s in walker.seeds[:50])
    walk = walker.walk(3)
    assert walk.edges and len(set(walk.edges)) <= 4
    assert walk.edges[0][0] == walk.seed or walk.edges[0][2] == walk.seed
    assert walker.walk(3).edges == walk.edges  # deterministic per index
    stage = run_walks(vital_graph, tmp_path / "walks", n=60, max_per_shape=2, kb=kb,
                      config=WalkConfig(edges=3))
    rows = list(read_jsonl(tmp_path / "walks" / "items.jsonl"))
    assert rows and stage.kept == len(rows)
    shapes = [r["shape"] for r in rows]
    assert all(shapes.count(s) <= 2 for s in shapes)
    assert stage.reasons["shape_quota"] > 0
    for row in rows:  # every kept walk has exactly one answer, the seed
        assert row["provenance"]["checks"][0] == "unique"  # type: ignore[index]
        assert row["answer"] == kb.titles[row["answer_id"]]  # type: ignore[index]


def test_a_graph_without_walk_seeds_says_so(tmp_path: Path) -> None:
    """A graph with no entity that can start a walk (e.g. a small web graph whose pages
    state no class) is a clear error, not a crash inside the sampler."""
    import pytest

    from sounding.errors import ConfigError
    from sounding.synth.executor import KnowledgeBase

    empty = KnowledgeBase()
    with pytest.raises(ConfigError, match="no walk seeds"):
        run_walks(tmp_path, tmp_path / "walks", n=3, kb=empty)
