"""The executor: a knowledge projection per triple (a semi-join), intersected per variable.

`KnowledgeBase` holds the graph in memory (forward and inverse indexes per relation,
sorted values for range unions). `Executor.answers(spec)` returns the answer set;
`check()` decides uniqueness, redundancy (drop each triple and re-count), shortcut
(one branch of the target alone pins the answer) and the two WebShaper invariants.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from .spec import Const, OneOf, Range, Spec, Term, Triple, Var

__all__ = ["PSEUDO", "Check", "Executor", "KnowledgeBase", "check"]

Value = int | float | str
PSEUDO = ("initial", "word_count")
"""Relations computed from titles: first letter (upper case), number of words."""


def initial(title: str) -> str:
    return title[:1].upper()


def word_count(title: str) -> int:
    return title.strip().count(" ") + 1


class KnowledgeBase:
    """The graph in memory: per relation, subject -> objects and object -> subjects."""

    def __init__(self) -> None:
        self.titles: dict[int, str] = {}
        self.aliases: dict[int, list[str]] = defaultdict(list)
        self.fwd: dict[str, dict[int, set[Value]]] = defaultdict(lambda: defaultdict(set))
        self.inv: dict[str, dict[Value, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.kind: dict[str, str] = {}
        self.evidence: dict[tuple[int, str, Value], str] = {}
        self._sorted: dict[str, tuple[list[float], list[int]]] = {}

    @classmethod
    def load(cls, conn: sqlite3.Connection, *, evidence: bool = True) -> KnowledgeBase:
        kb = cls()
        for node, title in conn.execute("SELECT id, title FROM nodes"):
            kb.titles[node] = title
            kb.add(node, "initial", initial(title), "string")
            kb.add(node, "word_count", word_count(title), "number")
        for node, alias in conn.execute("SELECT node, alias FROM aliases ORDER BY rowid"):
            kb.aliases[node].append(alias)
        for src, dst, rel, ev in conn.execute("SELECT src, dst, relation, evidence FROM edges"):
            kb.add(src, rel, dst, "entity")
            if evidence:
                kb.evidence[(src, rel, dst)] = ev
        rows = conn.execute("SELECT node, relation, kind, num, text, evidence FROM facts")
        for node, rel, kind, num, text, ev in rows:
            value: Value = (int(num) if float(num).is_integer() else num) if num is not None \
                else text
            kb.add(node, rel, value, kind)
            if evidence:
                kb.evidence[(node, rel, value)] = ev
        return kb

    def add(self, subject: int, relation: str, value: Value, kind: str) -> None:
        self.fwd[relation][subject].add(value)
        self.inv[relation][value].add(subject)
        self.kind.setdefault(relation, kind)
        self._sorted.pop(relation, None)

    def is_entity(self, relation: str) -> bool:
        return self.kind.get(relation) == "entity"

    def in_range(self, relation: str, lo: float, hi: float) -> set[int]:
        if relation not in self._sorted:
            pairs = sorted((float(v), s) for v, subs in self.inv[relation].items()
                           if isinstance(v, int | float) for s in subs)
            self._sorted[relation] = ([p[0] for p in pairs], [p[1] for p in pairs])
        keys, subjects = self._sorted[relation]
        return set(subjects[bisect.bisect_left(keys, lo):bisect.bisect_right(keys, hi)])

    def objects(self, subject: int, relation: str) -> set[Value]:
        return self.fwd.get(relation, {}).get(subject, set())

    def subjects(self, relation: str, value: Value) -> set[int]:
        return self.inv.get(relation, {}).get(value, set())


class Executor:
    """Evaluates a tree-shaped Spec against a KnowledgeBase, bottom-up from the leaves.

    Branch results are cached, so the knowledge base must not change once queried.
    """

    def __init__(self, kb: KnowledgeBase, *, cache_size: int = 20_000) -> None:
        self.kb = kb
        # Checks re-run a spec once per dropped triple and generation re-runs it as it
        # grows: the answers of a branch depend only on the branch's own triples.
        self._cache: dict[tuple[str, Triple | None, tuple[Triple, ...]],
                          frozenset[int] | None] = {}
        self._cache_size = cache_size

    def answers(self, spec: Spec) -> frozenset[int]:
        found = self._solve(spec, spec.target, None, set())
        return frozenset(self.kb.titles if found is None else found)

    def _solve(self, spec: Spec, var: str, parent: int | None,
               seen: set[str]) -> frozenset[int] | set[int] | None:
        """Nodes that satisfy every triple on `var` but the parent's; None = unconstrained."""
        if var in seen:
            raise ValueError(f"the spec is not a tree (cycle through {var})")
        key = (var, spec.triples[parent] if parent is not None else None,
               _branch(spec, var, parent))
        if key in self._cache:
            return self._cache[key]
        found = self._evaluate(spec, var, parent, seen | {var})
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = None if found is None else frozenset(found)
        return found

    def _evaluate(self, spec: Spec, var: str, parent: int | None,
                  seen: set[str]) -> set[int] | frozenset[int] | None:
        result: set[int] | frozenset[int] | None = None
        for i in spec.on(var):
            if i == parent:
                continue
            t = spec.triples[i]
            if t.subject.name == var:
                part = self._subjects(spec, t.relation, t.object, i, seen)
            else:  # var is the object: project the subject's candidates forward
                subs = self._solve(spec, t.subject.name, i, seen)
                part = self._forward(t.relation, subs)
            result = part if result is None else result & part
            if not result:
                return set()
        return result

    def _subjects(self, spec: Spec, relation: str, obj: Term, index: int,
                  seen: set[str]) -> set[int]:
        kb = self.kb
        if isinstance(obj, Const):
            return set(kb.subjects(relation, obj.value))
        if isinstance(obj, OneOf):
            return _union(kb.subjects(relation, v) for v in obj.values)
        if isinstance(obj, Range):
            return kb.in_range(relation, obj.lo, obj.hi)
        objs = self._solve(spec, obj.name, index, seen)
        table = kb.fwd.get(relation, {})
        if objs is None:
            return set(table)
        if len(objs) > len(table):  # scanning the subjects is cheaper than the union
            return {s for s, values in table.items() if not values.isdisjoint(objs)}
        return _union(kb.subjects(relation, o) for o in objs)

    def _forward(self, relation: str, subjects: frozenset[int] | set[int] | None) -> set[int]:
        if subjects is None:  # every object of an entity relation is a node id
            return {o for o in self.kb.inv.get(relation, {}) if isinstance(o, int)}
        table = self.kb.fwd.get(relation, {})
        empty: set[Value] = set()
        found = set().union(*(table.get(s, empty) for s in subjects))
        return cast(set[int], found)


def _branch(spec: Spec, var: str, parent: int | None) -> tuple[Triple, ...]:
    """The triples reachable from `var` without crossing the parent triple, in order."""
    reach, found = {var}, {parent} if parent is not None else set()
    changed = True
    while changed:
        changed = False
        for i, t in enumerate(spec.triples):
            if i not in found and reach & set(t.vars()):
                found.add(i)
                reach |= set(t.vars())
                changed = True
    found.discard(parent)
    return tuple(spec.triples[i] for i in sorted(found))


def _union(sets: Iterable[set[int]]) -> set[int]:
    return set().union(*sets)


@dataclass
class Check:
    """What code decided about a spec; `ok` means keep."""

    answers: frozenset[int]
    redundant: list[int] = field(default_factory=list)
    shortcut: list[int] = field(default_factory=list)
    invariant: list[str] = field(default_factory=list)

    @property
    def unique(self) -> bool:
        return len(self.answers) == 1

    @property
    def ok(self) -> bool:
        return self.unique and not self.redundant and not self.shortcut and not self.invariant

    @property
    def reason(self) -> str:
        if not self.answers:
            return "no_answer"
        if not self.unique:
            return "not_unique"
        if self.invariant:
            return "invariant"
        if self.shortcut:
            return "shortcut"
        return "redundant" if self.redundant else "ok"


def check(executor: Executor, spec: Spec, *, near: int = 1) -> Check:
    """Uniqueness, redundancy, shortcut and invariants of `spec`, all by executing it."""
    result = Check(executor.answers(spec), invariant=invariants(spec, near=near))
    if not result.unique or result.invariant:
        return result
    for i in range(len(spec.triples)):
        if len(executor.answers(spec.without({i}))) == 1:
            result.redundant.append(i)
    branches = spec.on(spec.target)
    if len(branches) > 1:
        for i in branches:
            alone = spec.without(set(branches) - {i})
            if len(executor.answers(alone)) == 1:
                result.shortcut.append(i)
    return result


def invariants(spec: Spec, *, near: int = 1) -> list[str]:
    """WebShaper's rules: no exact constant within `near` hops of the target (fuzzy
    constants made by an obfuscation operator are allowed), and no constant-constant
    triple (subjects are variables by construction, so only cycles are left to refuse)."""
    problems: list[str] = []
    depth = spec.depth()
    for i, t in enumerate(spec.triples):
        if not isinstance(t.object, Var) and not t.op and depth.get(t.subject.name, 0) < near:
            problems.append(f"triple {i}: exact constant next to {t.subject.name}")
        if t.subject.name not in depth:
            problems.append(f"triple {i}: not connected to the target")
    for var in depth:
        if var != spec.target and len(spec.on(var)) < 2:
            problems.append(f"variable {var} has no constraint of its own")
    if len(depth) != len(spec.triples) + 1 - sum(
            1 for t in spec.triples if not isinstance(t.object, Var)):
        problems.append("not a tree")
    return problems

