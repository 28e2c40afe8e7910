"""GAIA's own scorer: one case per rule of the judges README (and its edges)."""

from __future__ import annotations

import pytest

from sounding.eval.judges import build_judge, exact_match, gaia_score

CASES = [
    # A numeric gold answer: `$ % ,` removed from the prediction, then float ==, no tolerance.
    ("$1,000", "1000", True),
    ("1000.0", "1000", True),
    ("17%", "17", True),
    (" 42 ", "42", True),
    ("4.2e1", "42", True),
    ("1000.0001", "1000", False),
    ("about 1000", "1000", False),   # unparsable: wrong
    ("one thousand", "1000", False),
    ("0.1", ".1", True),
    # A gold answer with , or ; is a list: same length, element by element.
    ("a, b", "a,b", True),
    ("1; 2", "1,2", True),           # both separators split
    ("1, 2, 3", "1, 2", False),      # different lengths
    ("$1, 2%", "1, 2", True),        # numeric elements as numbers
    ("1.0, x", "1, x", True),
    ("Paris, rome", "paris, Rome", True),
    ("St Petersburg, Moscow", "St. Petersburg, Moscow", False),  # list keeps punctuation
    ("a, b.", "a, b", False),
    ("1000", "1,000", False),        # "1,000" is not a float: a two-element list
    ("12", "1,2", False),            # the exact judge's old comma-number bug
    # Anything else: no whitespace, no punctuation, lower case; no article removal.
    ("sea gull", "seagull", True),
    ("St. Petersburg", "St Petersburg", True),
    ("Hello!", "hello", True),
    ("The Beatles", "Beatles", False),
    ("Beatles", "the Beatles", False),
    ("right", "wrong", False),
]


@pytest.mark.parametrize(("predicted", "gold", "ok"), CASES)
def test_gaia_rules(predicted: str, gold: str, ok: bool) -> None:
    assert gaia_score(predicted, gold) is ok


def test_no_answer_is_wrong() -> None:
    assert gaia_score(None, "1000") is False


async def test_gaia_judge_and_exact_judge_on_lists_of_numbers() -> None:
    judge = build_judge("gaia")
    assert (await judge.grade("q", "3, 4", "3,4")).correct
    assert not (await judge.grade("q", "3, 4", "34")).correct
    # The exact judge stays looser on text (articles) but agrees on the comma cases.
    assert exact_match("the Beatles", "Beatles") and not gaia_score("the Beatles", "Beatles")
    for predicted, gold in (("12", "1,2"), ("34", "3, 4")):
        assert exact_match(predicted, gold) is gaia_score(predicted, gold) is False
