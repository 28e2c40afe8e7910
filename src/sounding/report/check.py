"""Claim check: every sentence that carries a citation, judged against what it cites.

The default judge is an LLM with structured output, called on batches of claims
concurrently; `NLIJudge` uses a local cross-encoder NLI model when one is installed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from .._templates import render
from ..config import Sampling
from ..errors import LLMResponseError
from ..llm.base import ChatModel, ChatRequest, Completion
from ..types import JSON, JSONObject, Message
from ._text import has_cjk, json_object, sentences
from .evidence import EVIDENCE_ID, EvidenceBank

__all__ = [
    "CLAIM_SCHEMA",
    "Claim",
    "ClaimJudge",
    "LLMClaimJudge",
    "Label",
    "Verdict",
    "extract_claims",
    "strip_citations",
]

Label = Literal["supported", "partly", "unsupported", "unchecked"]
_LABELS: tuple[Label, ...] = ("supported", "partly", "unsupported")
_CITE = re.compile(r"\s*\[(?:E\d+(?:\s*,\s*E\d+)*)\]")
JUDGE_SAMPLING = Sampling(temperature=0.0, top_p=1.0, presence_penalty=0.0, max_tokens=4096)
CLAIM_SCHEMA: dict[str, JSON] = {
    "type": "object", "additionalProperties": False, "required": ["verdicts"],
    "properties": {"verdicts": {"type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["claim", "verdict", "reason", "rewrite"],
        "properties": {"claim": {"type": "string"},
                       "verdict": {"type": "string", "enum": list(_LABELS)},
                       "reason": {"type": "string"}, "rewrite": {"type": "string"}}}}},
}


@dataclass(frozen=True, slots=True)
class Claim:
    """A cited sentence: where it sits (section, paragraph, sentence) and what it cites."""

    id: str
    section: int
    paragraph: int
    index: int
    text: str
    evidence: tuple[str, ...]

    @property
    def bare(self) -> str:
        return strip_citations(self.text)


@dataclass(frozen=True, slots=True)
class Verdict:
    claim: str
    label: Label
    reason: str = ""
    rewrite: str = ""

    def to_dict(self) -> JSONObject:
        return {"claim": self.claim, "label": self.label, "reason": self.reason,
                "rewrite": self.rewrite}


def strip_citations(text: str) -> str:
    return _CITE.sub("", text).strip()


def paragraphs(text: str) -> list[list[str]]:
    """A section as paragraphs of sentences (the unit claims point into)."""
    return [sentences(p) for p in text.split("\n") if p.strip()]


def join_paragraphs(paras: Sequence[Sequence[str]]) -> str:
    return "\n\n".join(("" if has_cjk("".join(p)) else " ").join(p) for p in paras if p)


def extract_claims(sections: Sequence[str]) -> list[Claim]:
    """Every sentence with at least one `[E..]` citation, numbered c1, c2, ..."""
    out: list[Claim] = []
    for s, text in enumerate(sections):
        for p, para in enumerate(paragraphs(text)):
            for i, sent in enumerate(para):
                ids = tuple(dict.fromkeys(f"E{n}" for c in _CITE.findall(sent)
                                          for n in EVIDENCE_ID.findall(c)))
                if ids:
                    out.append(Claim(f"c{len(out) + 1}", s, p, i, sent, ids))
    return out


class ClaimJudge(Protocol):
    """Judges claims against the evidence they cite, in any order, all at once."""

    async def judge(self, claims: Sequence[Claim], bank: EvidenceBank) -> list[Verdict]: ...


class LLMClaimJudge:
    """Batches of claims per call, several calls in flight; structured output when the
    server accepts it, else the JSON is read from plain text."""

    def __init__(self, model: ChatModel, *, batch: int = 8, concurrency: int = 8,
                 structured: bool = True,
                 on_call: _Recorder | None = None) -> None:
        self.model = model
        self.batch = batch
        self.structured = structured
        self._sem = asyncio.Semaphore(concurrency)
        self._on_call = on_call

    async def judge(self, claims: Sequence[Claim], bank: EvidenceBank) -> list[Verdict]:
        batches = [claims[i:i + self.batch] for i in range(0, len(claims), self.batch)]
        results = await asyncio.gather(*(self._batch(b, bank) for b in batches))
        return [v for r in results for v in r]

    def prompt(self, claims: Sequence[Claim], bank: EvidenceBank) -> str:
        blocks = []
        for c in claims:
            quotes = "\n".join(f"  [{ev.id}] \"{ev.quote}\"" for ev in bank.resolve(c.evidence))
            blocks.append(f"Claim {c.id}: {c.bare}\nCited evidence:\n{quotes or '  (none)'}")
        return render("sounding.report", "claim_judge.txt", claims="\n\n".join(blocks))

    async def _batch(self, claims: Sequence[Claim], bank: EvidenceBank) -> list[Verdict]:
        async with self._sem:
            got = await self._ask(claims, bank)
            missing = [c for c in claims if c.id not in got]
            if missing:  # one more try for the claims the reply skipped
                got.update(await self._ask(missing, bank))
        return [got.get(c.id) or Verdict(c.id, "unchecked", "the judge gave no verdict")
                for c in claims]

    async def _ask(self, claims: Sequence[Claim], bank: EvidenceBank) -> dict[str, Verdict]:
        request = ChatRequest([Message("user", self.prompt(claims, bank))],
                              sampling=JUDGE_SAMPLING, purpose="claim_check")
        completion = await self._complete(request)
        if self._on_call is not None:
            self._on_call(request, completion)
        return parse_verdicts(completion.text, {c.id for c in claims})

    async def _complete(self, request: ChatRequest) -> Completion:
        if not self.structured:
            return await self.model.complete(request)
        structured = replace(request, response_format={
            "type": "json_schema",
            "json_schema": {"name": "claim_verdicts", "strict": True, "schema": CLAIM_SCHEMA}})
        try:
            return await self.model.complete(structured)
        except LLMResponseError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status == 429:
                raise
            self.structured = False  # the server does not do json_schema: plain text from now
            return await self.model.complete(request)


class _Recorder(Protocol):
    def __call__(self, request: ChatRequest, completion: Completion, /) -> None: ...


def parse_verdicts(text: str, wanted: set[str]) -> dict[str, Verdict]:
    """Verdicts for the wanted claim ids found in a judge reply (tolerant JSON)."""
    data = json_object(text) or {}
    rows = data.get("verdicts")
    out: dict[str, Verdict] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        cid = str(row.get("claim") or "").strip()
        label = str(row.get("verdict") or "").strip().lower().replace("partially", "partly")
        label = "partly" if label.startswith("partly") else label
        if cid in wanted and label in _LABELS:
            out[cid] = Verdict(cid, label,
                               str(row.get("reason") or ""), str(row.get("rewrite") or ""))
    return out
