"""Judges without a model: normalised exact match (GAIA's scorer rules) and token F1."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

from ...types import is_cjk
from .base import Verdict
from .gaia_scorer import gaia_score

__all__ = ["ExactMatchJudge", "GaiaScorerJudge", "TokenF1Judge", "exact_match",
           "normalize_answer", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("，。、；：？！“”‘’（）《》【】")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
# A gold answer is a number with thousands separators only when every group has 3 digits;
# otherwise its commas separate list elements ("1,2" is the list [1, 2], never 12).
_GROUPED = re.compile(r"^[-+]?\$?\d{1,3}(,\d{3})+(\.\d+)?%?$")


def normalize_answer(text: str) -> str:
    """Lower case, NFKC, no punctuation, no English articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _as_number(text: str) -> float | None:
    cleaned = text.strip().replace(",", "").replace("$", "").replace("%", "").strip()
    if _NUMBER.match(cleaned):
        return float(cleaned)
    return None


def _gold_number(text: str) -> float | None:
    text = text.strip()
    if "," in text and not _GROUPED.match(text):
        return None
    return _as_number(text)


def exact_match(predicted: str, gold: str) -> bool:
    """Numbers compare as numbers, lists element-wise, text normalised (NFKC, no articles).

    Looser than GAIA's own scorer (`gaia_scorer.gaia_score`) on text; the same on lists.
    """
    gold_num = _gold_number(gold)
    if gold_num is not None:
        pred_num = _as_number(predicted)
        return pred_num is not None and abs(pred_num - gold_num) <= 1e-9 * max(1.0, abs(gold_num))
    if any(sep in gold for sep in (",", ";")):
        g = [p for p in re.split(r"[,;]", gold)]
        p = [p for p in re.split(r"[,;]", predicted)]
        return len(g) == len(p) and all(exact_match(a, b) for a, b in zip(p, g, strict=True))
    return normalize_answer(predicted) == normalize_answer(gold)


def _tokens(text: str) -> list[str]:
    norm = normalize_answer(text)
    # CJK text has no spaces: count each character as a token.
    out: list[str] = []
    for word in norm.split():
        if is_cjk(word):
            out.extend(word)
        else:
            out.append(word)
    return out


def token_f1(predicted: str, gold: str) -> float:
    """SQuAD-style token F1 over normalised tokens."""
    pred, ref = _tokens(predicted), _tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _verdict(ok: bool, score: float, predicted: str) -> Verdict:
    return Verdict(ok, "correct" if ok else "incorrect", score, extracted=predicted)


class GaiaScorerJudge:
    """GAIA's leaderboard scorer as a judge (`--judge gaia`)."""

    name = "gaia"
    model = ""
    prompt_sha256 = None

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        ok = gaia_score(predicted, gold)
        return _verdict(ok, float(ok), predicted)


class ExactMatchJudge:
    """Correct when the normalised prediction equals the normalised gold answer."""

    name = "exact"
    model = ""
    prompt_sha256 = None

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        ok = exact_match(predicted, gold)
        return _verdict(ok, float(ok), predicted)


class TokenF1Judge:
    """Token F1 as `score`; correct when F1 reaches `threshold`."""

    name = "f1"
    model = ""
    prompt_sha256 = None

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        f1 = token_f1(predicted, gold)
        return _verdict(f1 >= self.threshold, f1, predicted)
