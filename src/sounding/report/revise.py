"""What happens to unsupported claims (`rewrite`, `remove` or `flag`), and the counts the
report states about its own citations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ..types import JSONObject
from .check import (
    Claim,
    ClaimJudge,
    Label,
    Verdict,
    extract_claims,
    join_paragraphs,
    paragraphs,
    strip_citations,
)
from .evidence import EvidenceBank

__all__ = ["FLAG", "Action", "CheckStats", "CheckedClaim", "check_sections"]

Action = Literal["rewrite", "remove", "flag"]
FLAG = "[unsupported]"
"""Appended to a kept unsupported sentence (`--on-unsupported flag`)."""


@dataclass(frozen=True, slots=True)
class CheckedClaim:
    """A claim as first written, its verdict, and what became of it."""

    id: str
    section: int
    text: str
    evidence: tuple[str, ...]
    label: Label
    reason: str
    outcome: Literal["kept", "rewritten", "removed", "flagged"]
    final_text: str = ""
    final_label: Label | None = None
    """The verdict on the sentence as published (a rewrite is checked again)."""

    def to_dict(self) -> JSONObject:
        return {"id": self.id, "section": self.section, "text": self.text,
                "evidence": list(self.evidence), "label": self.label, "reason": self.reason,
                "outcome": self.outcome, "final_text": self.final_text,
                "final_label": self.final_label}

    @classmethod
    def from_dict(cls, d: JSONObject) -> CheckedClaim:
        ev = d.get("evidence")
        return cls(str(d["id"]), int(str(d["section"])), str(d["text"]),
                   tuple(str(e) for e in ev) if isinstance(ev, list) else (),
                   str(d["label"]), str(d.get("reason") or ""),  # type: ignore[arg-type]
                   str(d["outcome"]), str(d.get("final_text") or ""),  # type: ignore[arg-type]
                   d.get("final_label"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class CheckStats:
    """Counts before fixes (`initial`) and as published (`final`)."""

    initial: dict[str, int]
    final: dict[str, int]
    outcomes: dict[str, int]

    @property
    def precision(self) -> float | None:
        """Supported share of the checked cited sentences as published."""
        return _precision(self.final)

    @property
    def initial_precision(self) -> float | None:
        return _precision(self.initial)

    def sentence(self, chinese: bool = False) -> str:
        i, f, o = self.initial, self.final, self.outcomes
        prec = "n/a" if self.precision is None else f"{self.precision:.1%}"
        if chinese:
            return (f"引用核查：共核查 {sum(i.values())} 个带引用的句子，"
                    f"{i.get('supported', 0)} 个得到支持，{i.get('partly', 0)} 个部分支持，"
                    f"{i.get('unsupported', 0)} 个不受支持"
                    f"（改写 {o.get('rewritten', 0)}，删除 {o.get('removed', 0)}，标记 "
                    f"{o.get('flagged', 0)}）。发布版本的引用精确率：{prec}。")
        return (f"Citation check: {sum(i.values())} cited sentences checked against their "
                f"sources; {i.get('supported', 0)} supported, {i.get('partly', 0)} partly "
                f"supported, {i.get('unsupported', 0)} unsupported ({o.get('rewritten', 0)} "
                f"rewritten, {o.get('removed', 0)} removed, {o.get('flagged', 0)} flagged)"
                + (f", {i['unchecked']} unchecked" if i.get("unchecked") else "")
                + f". Citation precision as published: {prec} "
                f"({f.get('supported', 0)} of {sum(f.values())} cited sentences supported).")

    def to_dict(self) -> JSONObject:
        return {"initial": dict(self.initial), "final": dict(self.final),
                "outcomes": dict(self.outcomes), "precision": self.precision,
                "initial_precision": self.initial_precision}

    @classmethod
    def of(cls, claims: Sequence[CheckedClaim]) -> CheckStats:
        final = Counter(c.final_label for c in claims if c.outcome != "removed"
                        and c.final_label is not None)
        return cls(dict(Counter(str(c.label) for c in claims)),
                   {str(k): v for k, v in final.items()},
                   dict(Counter(c.outcome for c in claims)))


def _precision(counts: dict[str, int]) -> float | None:
    checked = sum(counts.get(k, 0) for k in ("supported", "partly", "unsupported"))
    return counts.get("supported", 0) / checked if checked else None


async def check_sections(texts: Sequence[str], bank: EvidenceBank, judge: ClaimJudge,
                         action: Action) -> tuple[list[str], list[CheckedClaim]]:
    """Judge every cited sentence, then apply `action` to the unsupported ones.

    A rewrite is judged again; one that still fails is removed, so `rewrite` never
    publishes an unsupported sentence.
    """
    claims = extract_claims(texts)
    verdicts = {v.claim: v for v in await judge.judge(claims, bank)}
    paras = [paragraphs(t) for t in texts]
    bad = [c for c in claims if verdicts[c.id].label == "unsupported"]
    second: dict[str, Verdict] = {}
    rewrites: dict[str, Claim] = {}
    if action == "rewrite":
        for c in bad:
            new = _rewritten(c, verdicts[c.id])
            if new is not None:
                rewrites[c.id] = new
        if rewrites:
            again = await judge.judge(list(rewrites.values()), bank)
            second = {v.claim: v for v in again}
    out: list[CheckedClaim] = []
    for c in claims:
        v = verdicts[c.id]
        record = _outcome(c, v, action, rewrites.get(c.id), second.get(c.id))
        new_text = record.final_text if record.outcome != "removed" else ""
        paras[c.section][c.paragraph][c.index] = new_text
        out.append(record)
    return [join_paragraphs([[s for s in p if s] for p in sec]) for sec in paras], out


def _rewritten(c: Claim, v: Verdict) -> Claim | None:
    text = v.rewrite.strip()
    if not text or strip_citations(text) == c.bare:
        return None
    if strip_citations(text) == text:  # keep the citation the judge's rewrite left out
        text = f"{text.rstrip()} [{', '.join(c.evidence)}]"
    return Claim(c.id, c.section, c.paragraph, c.index, text, c.evidence)


def _outcome(c: Claim, v: Verdict, action: Action, new: Claim | None,
             again: Verdict | None) -> CheckedClaim:
    kept = CheckedClaim(c.id, c.section, c.text, c.evidence, v.label, v.reason, "kept",
                        final_text=c.text, final_label=v.label)
    if v.label != "unsupported":
        return kept
    if action == "flag":
        return replace(kept, outcome="flagged", final_text=f"{c.text} {FLAG}")
    if new is not None and again is not None and again.label in ("supported", "partly"):
        return replace(kept, outcome="rewritten", final_text=new.text, final_label=again.label)
    return replace(kept, outcome="removed", final_text="", final_label=None)
