"""The synthesis prompts: rendered text snapshot, and a missing variable is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from sounding._templates import render

SNAPSHOT = Path(__file__).parent / "snapshots" / "synth_prompts.txt"
VALUES = {
    "verbalize.txt": {"language": "English", "constraints": "- X is a river\n- X ..."},
    "readback.txt": {"question": "Which river ...?", "relations": "class, mentions"},
    "closed_book.txt": {"question": "Which river ...?"},
    "rewrite.txt": {"language": "Chinese (简体中文)", "question": "哪条河？",
                    "constraint": "ask instead for how many years X lasted"},
    "relation_type.txt": {"evidence": "Paris is the capital of France.", "source": "Paris",
                          "target": "France"},
    "entailment.txt": {"evidence": "Paris is the capital of France.", "source": "Paris",
                       "relation": "capital of", "target": "France"},
    "alternative.txt": {"question": "Which river ...?", "answer": "Danube"},
    "satisfies.txt": {"question": "Which river ...?", "candidate": "Rhine"},
}


def rendered() -> str:
    return "".join(f"===== {name}\n{render('sounding.synth', name, **values)}"
                   for name, values in VALUES.items())


def test_prompt_snapshot() -> None:
    assert rendered() == SNAPSHOT.read_text(encoding="utf-8")


def test_missing_variable_fails() -> None:
    with pytest.raises(KeyError, match="question"):
        render("sounding.synth", "readback.txt", relations="class")
