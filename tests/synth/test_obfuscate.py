"""Each obfuscation operator: its fuzzy term holds the true value and reads right."""

from __future__ import annotations

import random

import pytest

from sounding.synth.executor import Executor, KnowledgeBase
from sounding.synth.obfuscate import (
    entity_to_class,
    entity_to_one_of,
    name_to_initial,
    name_to_word_count,
    number_to_magnitude,
    number_to_range,
    year_to_century_part,
    year_to_decade,
)
from sounding.synth.spec import Const, OneOf, Range, Spec, Triple, Var


def test_year_operators() -> None:
    decade = year_to_decade("birth_year", 1987)
    assert decade.term == Range(1980, 1989) and decade.en == "in the 1980s"
    assert decade.zh == "20世纪80年代"
    part = year_to_century_part("birth_year", 1987)
    assert part.term == Range(1967, 2000) and part.en == "in the late 20th century"
    assert part.zh == "20世纪后期"
    assert year_to_century_part("x", 1901).en == "in the early 20th century"
    assert year_to_century_part("x", 1950).term == Range(1934, 1966)
    assert year_to_decade("x", 1900).zh == "1900年代"


def test_number_operators() -> None:
    r = number_to_range("population", 66_987_244)
    assert isinstance(r.term, Range) and r.term.lo == 50_000_000
    assert r.term.lo <= 66_987_244 <= r.term.hi < 100_000_000
    assert r.en == "between 50 million and 100 million" and r.zh == "介于5000万到1亿之间"
    m = number_to_magnitude("population", 66_987_244)
    assert isinstance(m.term, Range) and (m.term.lo, round(m.term.hi)) == (10_000_000, 99_999_999)
    with pytest.raises(ValueError):
        number_to_range("population", 0)


def test_name_operators() -> None:
    assert name_to_initial("ada lovelace").term == Const("A")
    assert "begins with 'A'" in name_to_initial("ada lovelace").en
    wc = name_to_word_count("Grace Brewster Hopper")
    assert wc.term == Const(3) and wc.en == "whose name has 3 words"


def test_entity_operators(kb: KnowledgeBase) -> None:
    for node in (5, 6, 7):  # two more cities, so "city" is a class shared by enough pages
        kb.titles[node] = f"Town {node}"
        kb.add(node, "class", "city", "string")
    kb.add(12, "class", "city", "string")
    kb.titles[12] = "Paris"
    cls = entity_to_class(kb, 10)
    assert cls is not None and cls.term == Const("city") and cls.en == "a city"
    one = entity_to_one_of(kb, "mentions", 10, 3, random.Random(1))
    assert one is not None and isinstance(one.term, OneOf)
    assert 10 in one.term.values and len(set(one.term.values)) == 3
    assert one.en.startswith("one of ") and "London" in one.en
    # the union still contains the truth: every London-mentioner is still an answer
    ex = Executor(kb)
    assert {1, 2, 3} <= ex.answers(Spec("T", (Triple(Var("T"), "mentions", one.term),)))
    assert entity_to_class(kb, 1) is None  # "mathematician" is shared by too few pages
