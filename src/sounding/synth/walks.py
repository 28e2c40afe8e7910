"""SailorFog-style walks: rare seeds, random walks with back-jumps, WL dedup, fuzzing.

A walk starts at a node of low in-degree (a rare entity), moves to a random
neighbour or, with probability `p_back`, jumps back to a node seen earlier (which
makes branching, cyclic subgraphs rather than chains) until it has `edges` edges.
The seed is the answer; the walk's spanning tree becomes a spec whose leaves are
constants and whose nodes get fuzzy facts until the executor finds one answer.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from .executor import Check, Executor, KnowledgeBase, check
from .obfuscate import (
    entity_to_class,
    entity_to_one_of,
    fuzz_literal,
    name_to_initial,
    name_to_word_count,
)
from .spec import Const, Spec, Triple, Var

__all__ = ["Walk", "WalkConfig", "Walker", "level_of", "wl_hash"]

Edge = tuple[int, str, int]
ENTITY_RELATIONS = ("mentions", "capital", "borders", "country", "continent")


@dataclass(frozen=True, slots=True)
class WalkConfig:
    edges: int = 4
    """Edge budget of one walk."""
    p_back: float = 0.3
    """Probability of jumping back to an earlier node instead of moving on."""
    max_in: int = 3
    """Seeds have at most this many incoming mentions (rare entities)."""
    near: int = 1
    seed: int = 0


@dataclass
class Walk:
    index: int
    seed: int
    edges: list[Edge]
    spec: Spec | None = None
    fuzzed: dict[int, tuple[str, str]] = field(default_factory=dict)
    ops: list[str] = field(default_factory=list)
    grounding: dict[str, int] = field(default_factory=dict)
    check: Check | None = None
    level: int = 0
    shape: str = ""


def wl_hash(edges: Sequence[Edge], root: int, iterations: int = 3) -> str:
    """Weisfeiler-Lehman hash of a walk, nodes labelled root/other, edges by relation."""
    nbrs: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for s, rel, o in set(edges):
        nbrs[s].append((f">{rel}", o))
        nbrs[o].append((f"<{rel}", s))
    labels = {n: "T" if n == root else "E" for n in nbrs}
    history = [",".join(sorted(labels.values()))]
    for _ in range(iterations):
        labels = {n: _h(labels[n] + "|" + ",".join(sorted(r + labels[m] for r, m in nbrs[n])))
                  for n in nbrs}
        history.append(",".join(sorted(labels.values())))
    return _h(";".join(history))


def _h(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def level_of(edges: Sequence[Edge], triples: int, fuzzed: int) -> int:
    """1: one constraint; 3: a cycle or branching with two fuzzed constraints; else 2."""
    if triples <= 1:
        return 1
    nodes = {n for s, _, o in edges for n in (s, o)}
    degree: dict[int, int] = defaultdict(int)
    for s, _, o in set(edges):
        degree[s] += 1
        degree[o] += 1
    cyclic = len(set(edges)) >= len(nodes)
    branching = any(d > 2 for d in degree.values())
    return 3 if (cyclic or branching) and fuzzed >= 2 else 2


class Walker:
    """Walks over the entity relations of a KnowledgeBase, turned into checked specs."""

    def __init__(self, kb: KnowledgeBase, config: WalkConfig | None = None) -> None:
        self.kb = kb
        self.cfg = config or WalkConfig()
        self.executor = Executor(kb)
        self.adj: dict[int, list[tuple[str, int, bool]]] = defaultdict(list)
        for rel in ENTITY_RELATIONS:
            for s, objs in kb.fwd.get(rel, {}).items():
                for o in objs:
                    if isinstance(o, int):
                        self.adj[s].append((rel, o, True))
                        self.adj[o].append((rel, s, False))
        mentions = kb.inv.get("mentions", {})
        self.seeds = sorted(n for n in self.adj if 1 <= len(mentions.get(n, ()))
                            <= self.cfg.max_in and kb.objects(n, "class"))

    def walk(self, index: int) -> Walk:
        rng = random.Random(f"walk:{self.cfg.seed}:{index}")
        seed = self.seeds[rng.randrange(len(self.seeds))]
        visited, current = [seed], seed
        edges: list[Edge] = []
        for _ in range(self.cfg.edges * 6):
            if len(set(edges)) >= self.cfg.edges:
                break
            if len(visited) > 1 and rng.random() < self.cfg.p_back:
                current = rng.choice(visited)
            options = self.adj.get(current, [])
            if not options:
                current = rng.choice(visited)
                continue
            rel, other, forward = options[rng.randrange(len(options))]
            edge = (current, rel, other) if forward else (other, rel, current)
            if edge not in edges:
                edges.append(edge)
            if other not in visited:
                visited.append(other)
            current = other
        result = Walk(index, seed, edges, shape=wl_hash(edges, seed))
        self._to_spec(result, rng)
        return result

    def _to_spec(self, w: Walk, rng: random.Random) -> None:
        names: dict[int, str] = {w.seed: "T"}
        triples: list[Triple] = []
        depth = {w.seed: 0}
        frontier = [w.seed]
        while frontier:  # breadth-first spanning tree of the walk
            nxt = []
            for node in frontier:
                for s, rel, o in w.edges:
                    other = o if s == node else s if o == node else None
                    if other is None or other in depth:
                        continue
                    depth[other] = depth[node] + 1
                    names[other] = f"v{len(names)}"
                    t = Triple(Var(names[s]), rel, Var(names[o]))
                    triples.append(t)
                    nxt.append(other)
            frontier = nxt
        fuzzed: dict[int, tuple[str, str]] = {}
        triples = self._leaves_to_constants(triples, names, depth, fuzzed, rng)
        w.grounding = {v: n for n, v in names.items()}
        self._fuzz_until_unique(w, triples, fuzzed, rng)

    def _leaves_to_constants(self, triples: list[Triple], names: dict[int, str],
                             depth: dict[int, int], fuzzed: dict[int, tuple[str, str]],
                             rng: random.Random) -> list[Triple]:
        node_of = {v: n for n, v in names.items()}
        out: list[Triple] = []
        for t in triples:
            assert isinstance(t.object, Var)
            child = t.object.name if depth[node_of[t.object.name]] > depth[
                node_of[t.subject.name]] else t.subject.name
            leaf = sum(1 for u in triples if child in u.vars()) == 1
            forward = child == t.object.name
            node = node_of[child]
            if not leaf or not forward:
                out.append(t)
                continue
            if depth[node_of[t.subject.name]] >= self.cfg.near:
                out.append(Triple(t.subject, t.relation, Const(node)))
                names.pop(node)
                continue
            fz = entity_to_one_of(self.kb, t.relation, node, 3, rng)
            if fz is None:
                out.append(t)
                continue
            fuzzed[len(out)] = (fz.en, fz.zh)
            out.append(Triple(t.subject, t.relation, fz.term, fz.op))
            names.pop(node)
        return out

    def _fuzz_until_unique(self, w: Walk, triples: list[Triple],
                           fuzzed: dict[int, tuple[str, str]], rng: random.Random) -> None:
        for var, node in sorted(w.grounding.items()):
            # the target's class makes the question read as a question ("which river ...")
            if var == "T" or len([t for t in triples if var in t.vars()]) < 2:
                cls = entity_to_class(self.kb, node)
                if cls is not None:
                    fuzzed[len(triples)] = (cls.en, cls.zh)
                    triples.append(Triple(Var(var), "class", cls.term, cls.op))
        pool = [(var, rel, value) for var, node in sorted(w.grounding.items())
                for rel, table in sorted(self.kb.fwd.items())
                if self.kb.kind.get(rel) in ("year", "number") and rel != "word_count"
                for value in sorted(table.get(node, ()), key=str)]
        rng.shuffle(pool)
        # Name operators last: they are the weakest clues, used when the facts run out.
        pool += [("T", "initial", self.kb.titles[w.seed]),
                 ("T", "word_count", self.kb.titles[w.seed])]
        pool += [(v, "initial", self.kb.titles[n]) for v, n in sorted(w.grounding.items())
                 if v != "T"]
        for var, rel, value in pool:
            spec = Spec("T", tuple(triples))
            if triples and len(self.executor.answers(spec)) == 1:
                break
            fz = name_to_initial(str(value)) if rel == "initial" else name_to_word_count(
                str(value)) if rel == "word_count" else fuzz_literal(
                rel, value, self.kb.kind[rel], rng)
            if fz is not None:
                fuzzed[len(triples)] = (fz.en, fz.zh)
                triples.append(Triple(Var(var), fz.relation, fz.term, fz.op))
        w.spec = Spec("T", tuple(triples))
        w.fuzzed = fuzzed
        w.ops = [t.op for t in triples if t.op]
        w.check = check(self.executor, w.spec, near=self.cfg.near)
        w.level = level_of(w.edges, len(triples), len(w.ops))
