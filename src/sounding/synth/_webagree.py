"""Candidate triples read off web pages, and the rule that keeps one: two sites agree.

Objects are compared normalised (case, accents, punctuation, a leading article), and
numbers and years within a tolerance, so "1,867" and "1867" or "1.86 million" and
"1,860,000" are the same claim; sites are registrable domains (www.a.org = b.a.org).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..eval.judges import normalize_answer
from ..types import JSON

__all__ = ["Claim", "Verdict", "agree", "parse_claims", "registrable_domain", "same_object"]

KINDS = ("entity", "year", "number", "string")
_RELATION = re.compile(r"^[a-z][a-z_]{1,40}$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
# second-level labels under which a country code registers names (bbc.co.uk, abc.net.au)
_SLD = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "gv", "or", "ne", "go"})


@dataclass(frozen=True, slots=True)
class Claim:
    """One candidate triple as one page states it."""

    subject: str
    relation: str
    object: str | float
    kind: str
    evidence: str
    url: str

    @property
    def site(self) -> str:
        return registrable_domain(self.url)


@dataclass
class Verdict:
    """A group of claims with the same subject, relation and (agreeing) object."""

    claims: list[Claim]
    reason: str | None = None
    """None when kept; else single_source or disagreeing_sources."""
    rivals: list[str] = field(default_factory=list)

    @property
    def head(self) -> Claim:
        return self.claims[0]

    @property
    def sites(self) -> list[str]:
        return list(dict.fromkeys(c.site for c in self.claims))


def registrable_domain(url: str) -> str:
    """The registrable part of a URL's host: the last two labels, three under co.uk-like."""
    host = (urlsplit(url).hostname or url).lower().rstrip(".")
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SLD:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _number(text: str) -> float | None:
    words = text.lower().replace(",", "").replace("\u00a0", " ").split()
    if not words:
        return None
    scale = _SCALE.get(words[1], 1.0) if len(words) > 1 else 1.0
    head = words[0].lstrip("~≈c.")
    return float(head) * scale if _NUMBER.match(head) else None


def parse_claims(data: Mapping[str, JSON] | None, url: str) -> list[Claim]:
    """The well-formed triples of one extraction reply (the rest are dropped)."""
    rows = data.get("triples") if data else None
    out: list[Claim] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        subject, obj = str(row.get("subject") or "").strip(), str(row.get("object") or "").strip()
        relation = re.sub(r"[\s-]+", "_", str(row.get("relation") or "").strip().lower())
        kind = str(row.get("kind") or "").strip().lower()
        if not subject or not obj or kind not in KINDS or not _RELATION.match(relation):
            continue
        value: str | float = obj
        if kind in ("year", "number"):
            num = _number(obj)
            if num is None or (kind == "year" and not num.is_integer()):
                continue
            value = num
        out.append(Claim(subject, relation, value, kind, str(row.get("evidence") or ""), url))
    return out


def same_object(a: Claim, b: Claim, *, tolerance: float = 0.02, years: int = 0) -> bool:
    """Whether two claims name the same object (numbers within `tolerance`, relative)."""
    if isinstance(a.object, float) and isinstance(b.object, float):
        if a.kind == "year" or b.kind == "year":
            return abs(a.object - b.object) <= years
        return abs(a.object - b.object) <= tolerance * max(abs(a.object), abs(b.object))
    return normalize_answer(str(a.object)) == normalize_answer(str(b.object))


def agree(claims: Iterable[Claim], *, need: int = 2, tolerance: float = 0.02,
          years: int = 0) -> list[Verdict]:
    """Group claims by subject, relation and object; a group is kept when `need` sites say it.

    A literal relation has one value: when sites give different values, only a value
    with `need` sites and more sites than any rival survives. An entity relation may
    have many objects (borders), so rivals there do not disagree with each other.
    """
    groups: dict[tuple[str, str, str], list[Verdict]] = {}
    for claim in claims:
        group = (normalize_answer(claim.subject), claim.relation, claim.kind)
        verdicts = groups.setdefault(group, [])
        match = next((v for v in verdicts
                      if same_object(v.head, claim, tolerance=tolerance, years=years)), None)
        if match is None:
            verdicts.append(Verdict([claim]))
        else:
            match.claims.append(claim)
    out: list[Verdict] = []
    for verdicts in groups.values():
        _decide(verdicts, need)
        out.extend(verdicts)
    return out


def _decide(verdicts: Sequence[Verdict], need: int) -> None:
    literal = verdicts[0].head.kind != "entity"
    best = max(len(v.sites) for v in verdicts)
    leaders = [v for v in verdicts if len(v.sites) == best]
    for v in verdicts:
        rivals = [str(r.head.object) for r in verdicts if r is not v]
        if literal and rivals:
            v.rivals = rivals
            if len(v.sites) < need or v not in leaders or len(leaders) > 1:
                v.reason = "disagreeing_sources"
        elif len(v.sites) < need:
            v.reason = "single_source"
