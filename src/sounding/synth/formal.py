"""WebShaper-style formal questions, grown layer by layer and decided by the executor.

A candidate starts from an answer node: its fuzzy facts go straight onto the target
(operators make them R-unions), and each linked entity becomes a variable constrained
by its own facts; exact constants appear only from layer `near` on (invariant 1), and
subjects are always variables (invariant 2). Branches are added until the answer is
unique, redundant ones are dropped, and `check()` has the last word.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .executor import Check, Executor, KnowledgeBase, check
from .obfuscate import entity_to_class, entity_to_one_of, fuzz_literal, name_to_initial
from .spec import Const, Spec, Triple, Value, Var

__all__ = ["Candidate", "FormalConfig", "FormalGenerator"]

LITERAL_SKIP = frozenset({"initial", "word_count", "class"})


@dataclass(frozen=True, slots=True)
class FormalConfig:
    layers: int = 2
    """Depth of the deepest variable below the target."""
    near: int = 1
    """Exact constants only on variables at least this many hops from the target."""
    max_branches: int = 4
    """Branches on the target before giving up on uniqueness."""
    min_triples: int = 2
    """Shorter specs are one-hop lookups, not research questions."""
    seed: int = 0


@dataclass
class Candidate:
    """One generated question: the spec, the node it was built for and its check."""

    index: int
    answer: int
    spec: Spec
    fuzzed: dict[int, tuple[str, str]] = field(default_factory=dict)
    ops: list[str] = field(default_factory=list)
    grounding: dict[str, int] = field(default_factory=dict)
    """Variable -> the node it stood for when the spec was built."""
    check: Check | None = None


class _Builder:
    def __init__(self, kb: KnowledgeBase, cfg: FormalConfig, rng: random.Random) -> None:
        self.kb, self.cfg, self.rng = kb, cfg, rng
        self.triples: list[Triple] = []
        self.fuzzed: dict[int, tuple[str, str]] = {}
        self.ops: list[str] = []
        self.grounding: dict[str, int] = {}

    def add(self, triple: Triple, words: tuple[str, str] | None = None) -> None:
        if words:
            self.fuzzed[len(self.triples)] = words
        if triple.op:
            self.ops.append(triple.op)
        self.triples.append(triple)

    def branch(self, node: int, var: str, depth: int, used: set[int]) -> bool:
        """Add one constraint on `var` (standing for `node`); False when none is left."""
        taken = {t.relation for t in self.triples if t.subject.name == var}
        options = [o for o in self._options(node, used) if o[0] not in taken or o[3]]
        if not options:
            return False
        rel, value, kind, inverse = options[self.rng.randrange(len(options))]
        if kind != "entity":
            fz = fuzz_literal(rel, value, kind, self.rng)
            if fz is not None:
                self.add(Triple(Var(var), rel, fz.term, fz.op), (fz.en, fz.zh))
            elif depth >= self.cfg.near:
                self.add(Triple(Var(var), rel, Const(value)))
            else:
                return False
            return True
        assert isinstance(value, int)
        used.add(value)
        if depth + 1 <= self.cfg.layers:
            new = f"v{len(self.grounding)}"
            self.grounding[new] = value
            link = Triple(Var(new), rel, Var(var)) if inverse else Triple(Var(var), rel, Var(new))
            self.add(link)
            for _ in range(1 + (depth + 1 < self.cfg.layers)):
                self.branch(value, new, depth + 1, used)
            return True
        if inverse:
            return False
        if depth >= self.cfg.near:
            self.add(Triple(Var(var), rel, Const(value)))
            return True
        fz = entity_to_one_of(self.kb, rel, value, 3, self.rng)
        if fz is None:
            return False
        self.add(Triple(Var(var), rel, fz.term, fz.op), (fz.en, fz.zh))
        return True

    def _options(self, node: int, used: set[int]) -> list[tuple[str, Value, str, bool]]:
        kb = self.kb
        out: list[tuple[str, Value, str, bool]] = []
        for rel, table in kb.fwd.items():
            if rel in LITERAL_SKIP:
                continue
            for value in table.get(node, ()):
                if value not in used or not kb.is_entity(rel):
                    out.append((rel, value, kb.kind[rel], False))
        for rel in ("mentions", "capital", "borders", "country"):
            subs = kb.inv.get(rel, {}).get(node, set())
            if subs:
                pick = self.rng.choice(sorted(subs))
                if pick not in used:
                    out.append((rel, pick, "entity", True))
        return out


class FormalGenerator:
    """Candidate formal questions, one per index (deterministic for a seed)."""

    def __init__(self, kb: KnowledgeBase, config: FormalConfig | None = None) -> None:
        self.kb = kb
        self.cfg = config or FormalConfig()
        self.executor = Executor(kb)
        self.pool = sorted(n for n in kb.titles if _richness(kb, n) >= 2)

    def candidate(self, index: int) -> Candidate:
        rng = random.Random(f"{self.cfg.seed}:{index}")
        answer = self.pool[rng.randrange(len(self.pool))]
        b = _Builder(self.kb, self.cfg, rng)
        b.grounding["T"] = answer
        used = {answer}
        self._fill(b, answer, used)
        spec = _prune(self.executor, Spec("T", tuple(b.triples)))
        kept = {t: i for i, t in enumerate(b.triples)}
        fuzzed = {j: b.fuzzed[kept[t]] for j, t in enumerate(spec.triples)
                  if kept[t] in b.fuzzed}
        cand = Candidate(index, answer, spec, fuzzed, [t.op for t in spec.triples if t.op],
                         {v: n for v, n in b.grounding.items() if v in spec.depth()})
        cand.check = check(self.executor, spec, near=self.cfg.near)
        if len(spec.triples) < self.cfg.min_triples:
            cand.check.invariant.append(f"fewer than {self.cfg.min_triples} triples")
        if cand.check.unique and answer not in cand.check.answers:
            raise AssertionError("the executor lost the node a spec was built from")
        return cand

    def _fill(self, b: _Builder, answer: int, used: set[int]) -> None:
        cls = entity_to_class(self.kb, answer)
        if cls is not None and b.rng.random() < 0.5:
            b.add(Triple(Var("T"), "class", cls.term, cls.op), (cls.en, cls.zh))
        for _ in range(self.cfg.max_branches):
            if not b.branch(answer, "T", 0, used):
                if b.rng.random() < 0.3:
                    fz = name_to_initial(self.kb.titles[answer])
                    b.add(Triple(Var("T"), fz.relation, fz.term, fz.op), (fz.en, fz.zh))
                break
            if len(self.executor.answers(Spec("T", tuple(b.triples)))) == 1:
                break


def _richness(kb: KnowledgeBase, node: int) -> int:
    return sum(1 for rel, table in kb.fwd.items()
               if rel not in LITERAL_SKIP and node in table)


def _prune(executor: Executor, spec: Spec) -> Spec:
    """Drop redundant triples, last first, while the answer stays unique.

    Triples are appended parent before child, so dropping from the end never shifts
    the index of a triple still to be tried.
    """
    if len(executor.answers(spec)) != 1:
        return spec
    for i in reversed(range(len(spec.triples))):
        if i >= len(spec.triples):
            continue
        smaller = spec.without({i})
        if smaller.triples and len(executor.answers(smaller)) == 1:
            spec = smaller
    return spec
