"""GAIA's own leaderboard scorer (quasi exact match), written from its rules in words.

Recorded beside the LLM verdict on every GAIA row. Rules (shared benchmarks README):
a numeric gold answer compares as a float after `$ % ,` are removed from the
prediction (no tolerance); a gold answer with `,` or `;` is a list compared element
by element (numbers as numbers, strings without whitespace, lower-cased, punctuation
kept); anything else compares without whitespace and punctuation, lower-cased.
"""

from __future__ import annotations

import re
import string

__all__ = ["gaia_score"]

_SPLIT = re.compile(r"[,;]")
_NO_PUNCT = str.maketrans("", "", string.punctuation)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str) -> float | None:
    """The prediction as a number after `$`, `%` and `,` are removed; None if unparsable."""
    for ch in "$%,":
        text = text.replace(ch, "")
    try:
        return float(text)
    except ValueError:
        return None


def _norm(text: str, *, remove_punct: bool = True) -> str:
    text = re.sub(r"\s", "", text).lower()
    return text.translate(_NO_PUNCT) if remove_punct else text


def gaia_score(predicted: str | None, gold: str) -> bool:
    """True when GAIA's scorer counts `predicted` equal to `gold`."""
    if predicted is None:
        return False
    if _is_float(gold):
        value = _number(predicted)
        return value is not None and value == float(gold)
    if "," in gold or ";" in gold:
        golds, preds = _SPLIT.split(gold), _SPLIT.split(predicted)
        if len(golds) != len(preds):
            return False
        for p, g in zip(preds, golds, strict=True):
            if _is_float(g):
                value = _number(p)
                if value is None or value != float(g):
                    return False
            elif _norm(p, remove_punct=False) != _norm(g, remove_punct=False):
                return False
        return True
    return _norm(predicted) == _norm(gold)
