"""Formal questions as WebShaper triples: variables, constants, R-unions (sets and ranges).

A `Spec` is a tree of triples rooted at the target variable. Subjects are always
variables; objects are a variable, a constant, a constant set (`OneOf`, the
R-union of one relation over several constants) or a `Range` (a union over every
value in an interval). Intersection is several triples on one variable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from ..types import JSON

__all__ = ["Const", "OneOf", "Range", "Spec", "Term", "Triple", "Value", "Var"]

Value: TypeAlias = "int | float | str"


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Const:
    """One constant; `value` is a node id when the relation links entities."""

    value: Value


@dataclass(frozen=True, slots=True)
class OneOf:
    """R-union over a constant set: the relation holds for at least one of `values`."""

    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """R-union over an interval of numbers (inclusive), e.g. a decade of years."""

    lo: float
    hi: float


Term: TypeAlias = "Var | Const | OneOf | Range"


@dataclass(frozen=True, slots=True)
class Triple:
    """subject -relation-> object; `op` names the obfuscation operator that made it."""

    subject: Var
    relation: str
    object: Term
    op: str = ""

    def vars(self) -> Iterator[str]:
        yield self.subject.name
        if isinstance(self.object, Var):
            yield self.object.name


ENTITY_HINT = frozenset({"mentions", "capital", "borders", "continent", "country"})
"""Relations whose constants are node ids when no knowledge base says (rendering only)."""


@dataclass(frozen=True, slots=True)
class Spec:
    """A formal question: the target variable and a tree of triples around it."""

    target: str
    triples: tuple[Triple, ...]

    def on(self, var: str) -> list[int]:
        """Indexes of the triples touching `var`."""
        return [i for i, t in enumerate(self.triples) if var in t.vars()]

    def without(self, drop: set[int]) -> Spec:
        """The spec less the dropped triples and whatever they cut off from the target."""
        kept = [t for i, t in enumerate(self.triples) if i not in drop]
        reach = {self.target}
        changed = True
        while changed:
            changed = False
            for t in kept:
                names = set(t.vars())
                if names & reach and not names <= reach:
                    reach |= names
                    changed = True
        return Spec(self.target, tuple(t for t in kept if set(t.vars()) <= reach))

    def depth(self) -> dict[str, int]:
        """Distance of each variable from the target."""
        dist = {self.target: 0}
        frontier = [self.target]
        while frontier:
            nxt = []
            for var in frontier:
                for t in self.triples:
                    for other in t.vars():
                        if var in t.vars() and other not in dist:
                            dist[other] = dist[var] + 1
                            nxt.append(other)
            frontier = nxt
        return dist

    def to_json(self) -> dict[str, JSON]:
        return {"target": self.target, "triples": [_triple_json(t) for t in self.triples]}

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Spec:
        triples = data.get("triples")
        if not isinstance(triples, list):
            raise ValueError("a spec needs a list of triples")
        return cls(str(data["target"]), tuple(_triple_from(t) for t in triples))

    def webshaper(self, name: Callable[[int], str],
                  is_entity: Callable[[str], bool] = lambda r: r in ENTITY_HINT,
                  ) -> list[list[str]]:
        """The serialized form of WebShaper: V@var, C@constant, "?" for the target slot.

        `name` turns a node id into its title for relations where `is_entity` holds."""
        rows = []
        for t in self.triples:
            subj = "?" if t.subject.name == self.target else f"V@{t.subject.name}"
            rows.append([subj, t.relation, _render(t.object, is_entity(t.relation), name)])
        return rows


def _render(term: Term, entity: bool, name: Callable[[int], str]) -> str:
    def one(v: Value) -> str:
        return f"C@{name(v)}" if isinstance(v, int) and entity else f"C@{v}"

    if isinstance(term, Var):
        return f"V@{term.name}"
    if isinstance(term, Const):
        return one(term.value)
    if isinstance(term, OneOf):
        return " or ".join(one(v) for v in term.values)
    return f"C@[{_num(term.lo)}..{_num(term.hi)}]"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _term_json(term: Term) -> JSON:
    if isinstance(term, Var):
        return {"var": term.name}
    if isinstance(term, Const):
        return {"const": term.value}
    if isinstance(term, OneOf):
        return {"one_of": list(term.values)}
    return {"range": [term.lo, term.hi]}


def _term_from(data: JSON) -> Term:
    if not isinstance(data, dict):
        raise ValueError(f"not a term: {data!r}")
    if "var" in data:
        return Var(str(data["var"]))
    if "const" in data:
        return Const(_value(data["const"]))
    if "one_of" in data and isinstance(data["one_of"], list):
        return OneOf(tuple(_value(v) for v in data["one_of"]))
    if "range" in data and isinstance(data["range"], list) and len(data["range"]) == 2:
        lo, hi = data["range"]
        return Range(float(lo), float(hi))  # type: ignore[arg-type]
    raise ValueError(f"not a term: {data!r}")


def _value(v: JSON) -> Value:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"not a constant: {v!r}")
    return v


def _triple_json(t: Triple) -> JSON:
    return {"s": t.subject.name, "r": t.relation, "o": _term_json(t.object), "op": t.op}


def _triple_from(data: JSON) -> Triple:
    if not isinstance(data, dict):
        raise ValueError(f"not a triple: {data!r}")
    if isinstance(data.get("s"), dict):
        raise ValueError("constant-constant triple: a subject must be a variable")
    return Triple(Var(str(data["s"])), str(data["r"]), _term_from(data["o"]),
                  str(data.get("op") or ""))
