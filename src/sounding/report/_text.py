"""Sentence splitting, citation markers and quote grounding, for English and Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise

from ..corpus._text import cjk_terms, has_cjk
from ..llm.reply_json import json_object

__all__ = ["best_passage", "ground_quote", "has_cjk", "json_object", "sentences", "terms"]

# A sentence ends at . ! ? (followed by space or end) or at a full-width 。！？; any
# citation markers right after the stop stay with the sentence they close.
_SENT = re.compile(
    r"(.+?(?:[.!?](?:\s*\[[^\]\n]{1,40}\])*(?=\s|$)|[。！？](?:\s*\[[^\]\n]{1,40}\])*|$))\s*",
    re.S)


def sentences(text: str) -> list[str]:
    """The sentences of a paragraph (citation markers kept with their sentence)."""
    flat = " ".join(text.split()) if not has_cjk(text) else text.strip()
    out = [m.group(1).strip() for m in _SENT.finditer(flat)]
    return [s for s in out if s]


def terms(text: str) -> set[str]:
    """Lower-cased words (and CJK bigrams), for overlap scores."""
    return {t for t in cjk_terms(text.lower()).split() if len(t) > 1 or has_cjk(t)}


def overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a) if a else 0.0


def best_passage(query: str, candidates: Iterable[str]) -> tuple[str, float]:
    """The candidate sharing the most of `query`'s terms, and that share (0..1)."""
    want = terms(query)
    best, score = "", 0.0
    for cand in candidates:
        s = overlap(want, terms(cand))
        if s > score:
            best, score = cand, s
    return best, score


def ground_quote(claimed: str, page: str, *, min_overlap: float = 0.5) -> str | None:
    """`claimed` when it occurs verbatim in `page`; else the page sentence (or pair of
    sentences) that best matches it; None when nothing in the page is close enough."""
    claimed = claimed.strip().strip('"“”')
    if not claimed:
        return None
    if claimed in page or " ".join(claimed.split()) in " ".join(page.split()):
        return " ".join(claimed.split()) if claimed not in page else claimed
    sents = [s for para in page.split("\n") for s in sentences(para)]
    pairs = [f"{a} {b}" if not has_cjk(a) else a + b for a, b in pairwise(sents)]
    best, score = best_passage(claimed, sents)
    pair, pair_score = best_passage(claimed, pairs)
    if pair_score > score + 0.15:  # a quote spanning two sentences, clearly better
        best, score = pair, pair_score
    return best if score >= min_overlap else None


