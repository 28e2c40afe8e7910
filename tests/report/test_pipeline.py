"""`generate_report` on the embedded offline corpus with scripted models: evidence, the
claim check and its three actions, verify, plan-only then outline, resume, HTML, Chinese."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sounding.config import Settings
from sounding.errors import ConfigError
from sounding.report import EvidenceBank, LLMClaimJudge, ReportOptions, generate_report
from sounding.report.verify import verify_report

from .helpers import EIFFEL, PLANTED, REWRITE, ReportScript, planner_turns

TOPIC = "History of the Eiffel Tower"


async def _report(settings: Settings, out: Path, script: ReportScript,
                  **options: object) -> object:
    model = script.model()
    return await generate_report(TOPIC, settings, out, ReportOptions(**options),  # type: ignore[arg-type]
                                 model=model)


async def test_six_sections_and_evidence_resolves_to_quotes(
        settings: Settings, tmp_path: Path, page_text: Callable[[str], str]) -> None:
    script = ReportScript(planner_turns(6))
    result = await _report(settings, tmp_path, script)
    assert result.stage == "done" and len(result.outline.sections) == 6  # type: ignore[attr-defined]
    assert not script.pending
    # 4 planner turns, 1 extraction, 6 sections, 2 judge batches (13 claims, 8 a batch)
    assert script.calls == {"turn": 4, "extract": 1, "write": 6, "judge": 2}
    assert result.model_calls == 13  # type: ignore[attr-defined]
    bank = EvidenceBank.load(tmp_path / "evidence.jsonl")
    assert len(bank) == 10  # ten search snippets; the visit's quote is the first one again
    cited = set(result.outline.evidence())  # type: ignore[attr-defined]
    assert cited == {f"E{i}" for i in range(1, 8)}
    for ev in bank:  # offline snippets are page text; the cited ones were checked
        assert ev.quote in page_text(ev.url), ev
        assert ev.verbatim == (ev.id in cited), ev
    eiffel = bank.get("E1")
    assert eiffel is not None and eiffel.url == EIFFEL
    data = json.loads((tmp_path / "report.json").read_text())
    for ref in data["references"]:
        ev = bank.get(ref["evidence"])
        assert ev is not None and ref["quote"] == ev.quote and ref["url"] == ev.url
    md = (tmp_path / "report.md").read_text()
    # each [n] in the text cites the evidence the writer cited as E-id
    order = [r["evidence"] for r in data["references"]]
    section1 = json.loads((tmp_path / "sections" / "01.json").read_text())["text"]
    first_ids = re.findall(r"E\d+", section1)
    assert order[: len(dict.fromkeys(first_ids))] == list(dict.fromkeys(first_ids))
    assert "Citation precision as published: 100.0%" in md
    traj = (tmp_path / "trajectory.jsonl").read_text().splitlines()
    assert len(json.loads(traj[-1])["model_calls"]) == 13


@pytest.mark.parametrize("action", ["rewrite", "remove", "flag"])
async def test_planted_unsupported_claim(settings: Settings, tmp_path: Path, action: str) -> None:
    script = ReportScript(planner_turns(3), plant_in=2)
    result = await _report(settings, tmp_path, script, on_unsupported=action)
    stats = result.stats  # type: ignore[attr-defined]
    assert stats.initial["unsupported"] == 1
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    claims = json.loads((tmp_path / "report.json").read_text())["claims"]
    planted = [c for c in claims if PLANTED in c["text"]]
    assert len(planted) == 1 and planted[0]["label"] == "unsupported"
    if action == "rewrite":
        assert PLANTED not in md and REWRITE in md
        assert planted[0]["outcome"] == "rewritten" and stats.precision == 1.0
        assert "1 rewritten" in md
    elif action == "remove":
        assert PLANTED not in md and REWRITE not in md
        assert planted[0]["outcome"] == "removed" and "1 removed" in md
    else:
        assert f"{PLANTED} in 1999 [1]. [unsupported]" in md
        assert 'class="unsupported"' in page and PLANTED in page
        assert stats.precision is not None and stats.precision < 1.0


async def test_verify_an_edited_report(settings: Settings, tmp_path: Path) -> None:
    await _report(settings, tmp_path, ReportScript(planner_turns(3)))
    md_path = tmp_path / "report.md"
    md = md_path.read_text()
    assert "[unsupported]" not in md
    edited = md.replace("\n## Aspect 2\n", f"\nThe tower was {PLANTED} in 1999 [1].\n\n"
                        "## Aspect 2\n", 1)
    md_path.write_text(edited)
    script = ReportScript()
    stats, claims = await verify_report(tmp_path, LLMClaimJudge(script.model()), "flag")
    assert stats.initial.get("unsupported") == 1 and stats.outcomes["flagged"] == 1
    bad = [c for c in claims if c.label == "unsupported"]
    assert bad[0].evidence == ("E1",) and PLANTED in bad[0].text
    assert script.calls == {"judge": 1}
    again = md_path.read_text()
    assert f"{PLANTED} in 1999 [1]. [unsupported]" in again
    assert "1 flagged" in again
    # verify of the flagged report finds the same claim, not a new one
    stats2, _ = await verify_report(tmp_path, LLMClaimJudge(ReportScript().model()), "remove")
    assert stats2.outcomes["removed"] == 1 and PLANTED not in md_path.read_text()


async def test_plan_only_then_edited_outline(settings: Settings, tmp_path: Path) -> None:
    first = ReportScript(planner_turns(4))
    result = await _report(settings, tmp_path, first, plan_only=True)
    assert result.stage == "planned"  # type: ignore[attr-defined]
    assert first.calls.get("write") is None and not (tmp_path / "report.md").exists()
    outline_md = (tmp_path / "outline.md").read_text()
    assert "## 1. Aspect 1" in outline_md and "[E1, E2]" in outline_md
    edited = tmp_path / "edited.md"
    edited.write_text("# Outline: History of the Eiffel Tower\n\n## The engineer\n"
                      "- Who built it [E1]\n- His other work [E2]\n\n## Towers in general\n"
                      "- What a tower is [E3]\n")
    second = ReportScript()  # no planner turns: a planner call would fail
    result = await _report(settings, tmp_path, second, outline_file=edited)
    assert [s.title for s in result.outline.sections] == ["The engineer",  # type: ignore[attr-defined]
                                                          "Towers in general"]
    assert second.calls == {"write": 2, "judge": 1}
    md = (tmp_path / "report.md").read_text()
    assert "## The engineer" in md and "## Aspect 1" not in md
    bad = tmp_path / "bad.md"
    bad.write_text("## Only\n- a point [E999]\n")
    with pytest.raises(ConfigError, match="E999"):
        await _report(settings, tmp_path, ReportScript(), outline_file=bad)


async def test_resume_after_a_failure_mid_writing(settings: Settings, tmp_path: Path) -> None:
    def die_at_three(stage: str, prompt: str) -> None:
        if stage == "write" and "Now write section 3" in prompt:
            raise RuntimeError("killed")

    first = ReportScript(planner_turns(5), hook=die_at_three)
    with pytest.raises(RuntimeError, match="killed"):
        await _report(settings, tmp_path, first)
    assert sorted(p.name for p in (tmp_path / "sections").iterdir()) == ["01.json", "02.json"]
    second = ReportScript()
    result = await _report(settings, tmp_path, second)
    assert result.stage == "done"  # type: ignore[attr-defined]
    assert second.calls["write"] == 3 and "turn" not in second.calls
    assert all("Now write section 1\n" not in p and "section 2," not in p
               for p in second.writer_prompts)
    # a finished run resumed again makes no model call at all
    third = ReportScript()
    await _report(settings, tmp_path, third)
    assert third.calls == {}


async def test_html_references(settings: Settings, tmp_path: Path) -> None:
    await _report(settings, tmp_path, ReportScript(planner_turns(2)))
    page = (tmp_path / "report.html").read_text()
    data = json.loads((tmp_path / "report.json").read_text())
    assert "<link" not in page and "<script" not in page and "http-equiv" not in page
    for ref in data["references"]:
        n = ref["n"]
        assert f'<li id="ref-{n}" value="{n}"><a href="{ref["url"]}">' in page
        assert f"<blockquote>{ref['quote']}</blockquote>" in page.replace("&#x27;", "'")
        assert re.search(rf'<a class="cite" href="#ref-{n}" title="[^"]+">\[{n}\]</a>', page)
    first = data["references"][0]
    assert f'title="{first["quote"][:40]}' in page.replace("&#x27;", "'")


def test_topic_must_match_the_run(settings: Settings, tmp_path: Path) -> None:
    import asyncio

    (tmp_path / "state.json").write_text(json.dumps({"topic": "Something else"}))
    with pytest.raises(ConfigError, match="Something else"):
        asyncio.run(_report(settings, tmp_path, ReportScript()))


async def test_outline_names_the_topic_of_a_new_run(settings: Settings, tmp_path: Path) -> None:
    outline = tmp_path / "outline.md"
    outline.write_text("# Outline: Lighthouses\n\n## Early lights\n- Fires on hills\n")
    script = ReportScript()
    result = await generate_report(None, settings, tmp_path / "run",
                                   ReportOptions(outline_file=outline), model=script.model())
    assert result.outline.topic == "Lighthouses" and script.calls == {"write": 1}
    assert (tmp_path / "run" / "report.md").read_text().startswith("# Lighthouses\n")
    cited = tmp_path / "cited.md"
    cited.write_text("# Outline: Lighthouses\n\n## Early lights\n- Fires [E1]\n")
    with pytest.raises(ConfigError, match="E1"):
        await generate_report(None, settings, tmp_path / "run2",
                              ReportOptions(outline_file=cited), model=ReportScript().model())
