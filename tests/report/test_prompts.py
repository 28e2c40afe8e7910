"""Snapshot of every report and DRB prompt as rendered (update the file on purpose)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sounding._templates import load_template, render
from sounding.eval.judges.drb_criteria import CriteriaJudge, Criterion
from sounding.llm.testing import ScriptedModel
from sounding.report import EvidenceBank, LLMClaimJudge, Outline, Point, Section
from sounding.report.check import extract_claims
from sounding.report.writer import WrittenSection, section_prompt

SNAPSHOT = Path(__file__).parent / "snapshots" / "report_prompts.txt"


def rendered() -> str:
    bank = EvidenceBank()
    bank.add("https://a.example/1", "Page A", "The tower opened in 1889.")
    bank.add("https://b.example/2", "Page B", "It is 330 metres tall.")
    outline = Outline("The tower", (Section("Opening", (Point("When", ("E1",)),)),
                                    Section("Size", (Point("How tall", ("E2",)),))))
    done = [WrittenSection("k", "Opening", "It opened in 1889 [E1].")]
    claims = extract_claims(["It opened in 1889 [E1]. It is 330 metres tall [E1, E2]."])
    criteria = (Criterion("Coverage", "Covers the history.", 0.6),
                Criterion("Depth", "Explains causes.", 0.4))
    parts = [
        load_template("sounding.report", "planner_role.txt"),
        render("sounding.report", "planner_task.txt", topic="The tower", max_sections=6),
        render("sounding.report", "planner_final.txt", reason="Time is up.", max_sections=6,
               evidence="[E1] Page A (https://a.example/1): \"The tower opened in 1889.\""),
        section_prompt(outline, 2, bank, done),
        LLMClaimJudge(ScriptedModel()).prompt(claims, bank),
        CriteriaJudge(ScriptedModel()).prompt("Write about the tower.", "# Report\nText.",
                                              "insight", criteria),
        render("sounding.eval", "fact_judge.txt", url="https://a.example/1",
               page="The tower opened in 1889.", statements="1. It opened in 1889."),
    ]
    return "\n-----\n".join(p.rstrip() for p in parts) + "\n"


def test_report_prompts_snapshot() -> None:
    assert rendered() == SNAPSHOT.read_text(encoding="utf-8")
    with pytest.raises(KeyError, match="digest"):
        render("sounding.report", "writer.txt", topic="t", outline="o")
