"""Obfuscation operators as code: each turns an exact value into a fuzzy, executable term.

year -> decade or part of a century; number -> 1-2-5 range or order of magnitude;
name -> initial or word count; entity -> class or one of k similar entities (an
R-union). Every operator returns the term the executor runs and its wording in
English and Chinese, so the question and the check read the same constraint.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .executor import KnowledgeBase, initial, word_count
from .spec import Const, OneOf, Range, Term

__all__ = ["OPERATORS", "Fuzzed", "entity_to_class", "entity_to_one_of", "human_number",
           "name_to_initial", "name_to_word_count", "number_to_magnitude", "number_to_range",
           "year_to_century_part", "year_to_decade"]


@dataclass(frozen=True, slots=True)
class Fuzzed:
    """A fuzzy constraint: `relation` -> `term`, worded as `en` / `zh`."""

    op: str
    relation: str
    term: Term
    en: str
    zh: str


def year_to_decade(relation: str, year: int) -> Fuzzed:
    lo = year - year % 10
    zh = f"{lo}年代" if lo % 100 == 0 else f"{lo // 100 + 1}世纪{lo % 100}年代"
    return Fuzzed("year_decade", relation, Range(lo, lo + 9), f"in the {lo}s", zh)


_PARTS = (("early", "初期", 1, 33), ("mid", "中期", 34, 66), ("late", "后期", 67, 100))


def year_to_century_part(relation: str, year: int) -> Fuzzed:
    century = (year - 1) // 100 + 1
    offset = year - (century - 1) * 100
    for en, zh, lo, hi in _PARTS:
        if lo <= offset <= hi:
            base = (century - 1) * 100
            return Fuzzed("year_century_part", relation, Range(base + lo, base + hi),
                          f"in the {en} {_ordinal(century)} century", f"{century}世纪{zh}")
    raise AssertionError("unreachable: an offset is always 1..100")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def number_to_range(relation: str, value: float) -> Fuzzed:
    """The 1-2-5 bucket holding `value`: 66,987,244 -> [50 million, 100 million)."""
    if value <= 0:
        raise ValueError("number_to_range needs a positive number")
    exp = math.floor(math.log10(value))
    steps = [m * 10 ** e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5)]
    lo = max(s for s in steps if s <= value)
    hi = min(s for s in steps if s > value)
    return Fuzzed("number_range", relation, Range(lo, hi - _eps(hi)),
                  f"between {human_number(lo)} and {human_number(hi)}",
                  f"介于{_zh_number(lo)}到{_zh_number(hi)}之间")


def number_to_magnitude(relation: str, value: float) -> Fuzzed:
    if value <= 0:
        raise ValueError("number_to_magnitude needs a positive number")
    exp = math.floor(math.log10(value))
    lo, hi = 10 ** exp, 10 ** (exp + 1)
    return Fuzzed("number_magnitude", relation, Range(lo, hi - _eps(hi)),
                  f"of the order of {human_number(lo)} (below {human_number(hi)})",
                  f"在{_zh_number(lo)}量级（不足{_zh_number(hi)}）")


def _eps(hi: float) -> float:
    return 1.0 if hi >= 10 else hi * 1e-9


def human_number(x: float) -> str:
    for size, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if x >= size:
            n = x / size
            return f"{n:g} {word}"
    return f"{x:g}"


def _zh_number(x: float) -> str:
    for size, word in ((1e8, "亿"), (1e4, "万")):
        if x >= size:
            return f"{x / size:g}{word}"
    return f"{x:g}"


def name_to_initial(title: str) -> Fuzzed:
    letter = initial(title)
    return Fuzzed("name_initial", "initial", Const(letter),
                  f"whose name begins with '{letter}'", f"名称以“{letter}”开头")


def name_to_word_count(title: str) -> Fuzzed:
    n = word_count(title)
    words = "word" if n == 1 else "words"
    return Fuzzed("name_word_count", "word_count", Const(n),
                  f"whose name has {n} {words}", f"名称由{n}个词组成")


MIN_CLASS = 5
"""A class shared by fewer pages names its member too plainly to count as fuzzy."""


def entity_to_class(kb: KnowledgeBase, node: int) -> Fuzzed | None:
    """The node's class as a constraint on a new variable ("a film"), if it has one."""
    classes = sorted((c for c in kb.objects(node, "class")
                      if len(kb.subjects("class", c)) >= MIN_CLASS), key=str)
    if not classes:
        return None
    cls = str(max(classes, key=lambda c: len(kb.subjects("class", c))))
    article = "an" if cls[:1] in "aeiou" else "a"
    return Fuzzed("entity_class", "class", Const(cls), f"{article} {cls}", f"某个{cls}")


def entity_to_one_of(kb: KnowledgeBase, relation: str, node: int, k: int,
                     rng: random.Random) -> Fuzzed | None:
    """One of k entities of the same class, the true one among them (an R-union)."""
    classes = sorted(str(c) for c in kb.objects(node, "class"))
    if not classes or k < 2:
        return None
    peers = sorted(kb.subjects("class", classes[0]) - {node})
    if len(peers) < k - 1:
        return None
    chosen = [node, *rng.sample(peers, k - 1)]
    rng.shuffle(chosen)
    names = [kb.titles[n] for n in chosen]
    en = "one of " + ", ".join(names[:-1]) + f" or {names[-1]}"
    return Fuzzed("entity_one_of", relation, OneOf(tuple(chosen)), en,
                  "以下之一：" + "、".join(names))


def fuzz_literal(relation: str, value: int | float | str, kind: str,
                 rng: random.Random) -> Fuzzed | None:
    """A random operator that fits a literal of this kind (None for plain strings)."""
    if kind == "year" and isinstance(value, int | float):
        op = rng.choice((year_to_decade, year_to_century_part))
        return op(relation, int(value))
    if kind == "number" and isinstance(value, int | float) and value > 0:
        return rng.choice((number_to_range, number_to_magnitude))(relation, value)
    return None


OPERATORS = ("year_decade", "year_century_part", "number_range", "number_magnitude",
             "name_initial", "name_word_count", "entity_class", "entity_one_of")
